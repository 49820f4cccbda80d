from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.fixtures.cli import run_cli, scalar
from tests.fixtures.factories import PASSWORD


def create_user(
    url: str, username: str, role: str = "nurse", clinic: str = "Oslo", password: str = PASSWORD
):
    return run_cli(
        url,
        "create-user",
        "--clinic",
        clinic,
        "--username",
        username,
        "--role",
        role,
        "--password-stdin",
        stdin=password + "\n",
    )


class TestCreateUser:
    def test_creates_the_clinic_and_the_user(self, migrated_url):
        result = create_user(migrated_url, "kari", "physician")
        assert result.exit_code == 0, result.output
        assert "created physician 'kari' in clinic 'Oslo'" in result.output
        assert scalar(migrated_url, "SELECT count(*) FROM clinic") == 1
        stored = scalar(
            migrated_url, "SELECT password_hash FROM staff_user WHERE username = 'kari'"
        )
        assert stored.startswith("$argon2id$")
        assert PASSWORD not in stored

    def test_duplicate_username_fails_cleanly(self, migrated_url):
        create_user(migrated_url, "kari")
        result = create_user(migrated_url, "kari")
        assert result.exit_code == 1
        assert "username 'kari' is taken" in result.output

    def test_short_password_is_refused(self, migrated_url):
        result = create_user(migrated_url, "kari", password="short")
        assert result.exit_code == 1
        assert "at least 10 characters" in result.output

    def test_bad_role_is_refused(self, migrated_url):
        result = create_user(migrated_url, "kari", role="surgeon")
        assert result.exit_code == 1
        assert "--role" in result.output

    def test_prompts_for_the_password_without_stdin_flag(self, migrated_url):
        result = run_cli(
            migrated_url,
            "create-user",
            "--clinic",
            "Oslo",
            "--username",
            "ola",
            "--role",
            "admin",
            stdin=f"{PASSWORD}\n{PASSWORD}\n",
        )
        assert result.exit_code == 0, result.output
        assert PASSWORD not in result.output


class TestCreateDevice:
    def test_prints_the_key_alone_on_the_last_line_and_stores_only_its_hash(self, migrated_url):
        create_user(migrated_url, "kari")
        result = run_cli(
            migrated_url,
            "create-device",
            "--clinic",
            "Oslo",
            "--name",
            "Monitor 1",
            "--chair",
            "Chair 1",
        )
        assert result.exit_code == 0, result.output
        key = result.output.strip().splitlines()[-1]
        assert key.startswith("kmd_")
        assert len(key) > 40
        assert (
            scalar(migrated_url, f"SELECT count(*) FROM device_key WHERE key_hash = '{key}'") == 0
        )
        assert scalar(migrated_url, "SELECT count(*) FROM chair WHERE name = 'Chair 1'") == 1

    def test_unknown_clinic_fails_cleanly(self, migrated_url):
        result = run_cli(migrated_url, "create-device", "--clinic", "Nowhere", "--name", "M")
        assert result.exit_code == 1
        assert "no clinic named 'Nowhere'" in result.output


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "ketamine-monitor"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    for command in (
        "serve",
        "demo",
        "migrate",
        "create-user",
        "create-device",
        "verify-audit",
        "backup",
        "restore",
    ):
        assert command in result.stdout


class TestProtocolsCommand:
    def test_loads_every_shipped_file_as_pending_and_is_idempotent(self, migrated_url):
        create_user(migrated_url, "kari")
        result = run_cli(migrated_url, "protocols", "load", "--clinic", "Oslo")
        assert result.exit_code == 0, result.output
        assert result.output.count(": loaded: ") == 2
        assert "[pending]" in result.output
        again = run_cli(migrated_url, "protocols", "load", "--clinic", "Oslo")
        assert again.output.count("already loaded") == 2
        assert scalar(migrated_url, "SELECT count(*) FROM protocol_version") == 2

    def test_a_bad_file_is_refused_naming_file_and_key(self, migrated_url, tmp_path, project_root):
        create_user(migrated_url, "kari")
        bad = tmp_path / "bad.toml"
        text = (project_root / "protocols" / "ketamine-iv-0.5mgkg-40min.toml").read_text()
        bad.write_text(text.replace("limit = 92", "limit = 150", 1))  # the SpO2 < 92 medium rule
        result = run_cli(migrated_url, "protocols", "load", "--clinic", "Oslo", str(bad))
        assert result.exit_code == 1
        assert "bad.toml" in result.output
        assert "alarms.rules[" in result.output
        assert "150" in result.output
        assert scalar(migrated_url, "SELECT count(*) FROM protocol_version") == 0
