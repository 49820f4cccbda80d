"""`ketamine-monitor demo` (what `make demo` runs) starts a usable server with printed logins."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.fixtures.proxy import free_port


@pytest.mark.slow
def test_demo_serves_and_its_printed_passwords_work(tmp_path: Path):
    port = free_port()
    script = Path(sys.executable).parent / "ketamine-monitor"
    env = {k: v for k, v in os.environ.items() if not k.startswith("APP_")}
    proc = subprocess.Popen(
        [str(script), "demo", "--port", str(port), "--data-dir", str(tmp_path / "data")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    output: list[str] = []
    try:
        deadline = time.monotonic() + 60
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            output.append(line)
            if "Open http://" in line:
                break
        base = f"http://127.0.0.1:{port}"
        assert f"Open {base}/" in "".join(output)
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail("demo did not answer /healthz:\n" + "".join(output))
        text = "".join(output)
        creds = dict(re.findall(r"username (\w+)\s+password (\S+)", text))
        assert set(creds) == {"nurse", "physician", "admin"}
        r = httpx.post(
            f"{base}/api/v1/auth/login",
            json={"username": "nurse", "password": creds["nurse"]},
            timeout=5,
        )
        assert r.status_code == 200, r.text
        chairs = httpx.get(
            f"{base}/api/v1/chairs",
            headers={"Authorization": f"Bearer {r.json()['access_token']}"},
            timeout=5,
        )
        assert len(chairs.json()["items"]) == 4
        assert (tmp_path / "data" / "demo.db").exists()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
