from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.core.config import DEVELOPMENT_SECRET_KEY, Settings
from tests.fixtures.cli import run_cli


def test_defaults_are_the_embedded_sqlite_file_and_oslo():
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.database_url.startswith("sqlite+aiosqlite:///./data/")
    assert s.clinic_timezone == "Europe/Oslo"
    assert s.access_token_minutes == 15


def test_environment_variables_use_the_app_prefix(monkeypatch):
    monkeypatch.setenv("APP_CLINIC_TIMEZONE", "America/New_York")
    monkeypatch.setenv("APP_DATABASE_URL", "postgresql+asyncpg://u@h/db")
    s = Settings()
    assert s.clinic_timezone == "America/New_York"
    assert s.database_url == "postgresql+asyncpg://u@h/db"


def test_production_refuses_the_development_secret():
    with pytest.raises(ValidationError, match="APP_SECRET_KEY must be set"):
        Settings(env="production")


def test_production_refuses_a_short_secret():
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings(env="production", secret_key="short")


def test_production_accepts_a_real_secret():
    s = Settings(env="production", secret_key="x" * 48)
    assert s.secure_cookies is True
    assert s.secret_key.get_secret_value() != DEVELOPMENT_SECRET_KEY


def test_unknown_timezone_is_refused():
    with pytest.raises(ValidationError, match="unknown time zone"):
        Settings(clinic_timezone="Mars/Olympus")


def test_serve_in_production_without_secret_exits_with_a_clear_message(monkeypatch, migrated_url):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.delenv("APP_SECRET_KEY", raising=False)
    from typer.testing import CliRunner

    from app.cli import cli

    result = CliRunner().invoke(
        cli, ["serve"], env={"APP_DATABASE_URL": migrated_url, "APP_ENV": "production"}
    )
    assert result.exit_code == 2
    assert "APP_SECRET_KEY must be set" in result.output


def test_serve_refuses_an_unmigrated_database(tmp_path):
    result = run_cli(f"sqlite+aiosqlite:///{tmp_path}/empty.db", "serve", "--port", "1")
    assert result.exit_code == 1
    assert "run `ketamine-monitor migrate` first" in result.output
