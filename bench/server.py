"""The app under test as real uvicorn processes on 127.0.0.1, and what /proc says about them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-secret-key-that-is-long-enough-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    cpu_start_s: float = 0.0
    wall_start: float = field(default_factory=time.time)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def mark(self) -> None:
        """Start of the measured window."""
        self.cpu_start_s = _cpu_s(self.process.pid)
        self.wall_start = time.time()

    def cpu_pct(self) -> float:
        wall = time.time() - self.wall_start
        return round(100 * (_cpu_s(self.process.pid) - self.cpu_start_s) / max(wall, 1e-9), 1)

    def peak_rss_mb(self) -> float:
        return round(_peak_rss_mb(self.process.pid), 1)

    def metrics(self) -> str:
        return httpx.get(f"http://{self.host}/metrics", timeout=10).text

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start(database_url: str, *, redis_url: str | None = None, log: Path) -> Server:
    port = free_port()
    env = {
        **os.environ,
        "APP_ENV": "development",
        "APP_DATABASE_URL": database_url,
        "APP_SECRET_KEY": SECRET,
        "APP_LOG_LEVEL": "WARNING",
        "APP_DB_POOL_SIZE": "20",
    }
    if redis_url:
        env["APP_REDIS_URL"] = redis_url
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "app.main:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
        "--ws-per-message-deflate",
        "false",  # as `ketamine-monitor serve` runs it
    ]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT
    )
    server = Server(port, process)
    deadline = time.time() + 60
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}; see {log}")
        try:
            if httpx.get(f"http://{server.host}/readyz", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"the server did not become ready in 60 s; see {log}")
