"""Settings read from the environment (prefix ``APP_``); clinical numbers live in protocol files."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_SECRET_KEY = "development-only-secret-key-change-me"
DEFAULT_DATA_DIR = Path("data")


class Settings(BaseSettings):
    """Process configuration. Tests build their own instance instead of mutating the environment."""

    model_config = SettingsConfigDict(env_prefix="APP_", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    database_url: str = f"sqlite+aiosqlite:///./{DEFAULT_DATA_DIR}/ketamine-monitor.db"
    secret_key: SecretStr = SecretStr(DEVELOPMENT_SECRET_KEY)
    clinic_timezone: str = "Europe/Oslo"
    redis_url: str | None = None

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    base_url: str | None = None

    access_token_minutes: int = Field(default=15, ge=1, le=24 * 60)
    browser_session_idle_minutes: int = Field(default=30, ge=1, le=7 * 24 * 60)
    cookie_secure: bool | None = None
    login_max_failures: int = Field(default=5, ge=1)
    login_failure_window_minutes: int = Field(default=15, ge=1)
    device_key_overlap_minutes: int = Field(default=60, ge=0, le=30 * 24 * 60)
    # Device-key guessing: this many unusable keys from one client address within the window,
    # and that address gets 429 for every device-key request until the oldest failure ages out.
    device_key_max_failures: int = Field(default=20, ge=1)
    device_key_failure_window_s: float = Field(default=60.0, gt=0)

    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    # PostgreSQL: connect and pool timeout. SQLite: how long a writer waits for the lock.
    db_connect_timeout_s: float = Field(default=5.0, gt=0)
    db_pool_size: int = Field(default=10, ge=1)
    readiness_timeout_s: float = Field(default=2.0, gt=0)
    retry_after_s: int = Field(default=5, ge=1)
    # The periodic jobs (overdue checkpoints, later alarm escalation) run in every instance;
    # their writes are unique-keyed, so several instances do not double them.
    scheduler_enabled: bool = True
    scheduler_interval_s: float = Field(default=5.0, gt=0)
    # Escalated alarms are POSTed, signed with the secret (HMAC-SHA256), to each URL (a JSON
    # list in APP_NOTIFICATION_WEBHOOK_URLS); retried with backoff up to max attempts.
    notification_webhook_urls: list[str] = []
    notification_secret: SecretStr | None = None
    notification_timeout_s: float = Field(default=5.0, gt=0, le=60)
    notification_max_attempts: int = Field(default=8, ge=1, le=50)

    # Live boards: events waiting per connection before a slow client is cut off, and how far
    # back a reconnecting board may resume (older: gap + fresh snapshot).
    board_queue_size: int = Field(default=10_000, ge=8)
    board_resume_window_hours: float = Field(default=24.0, gt=0)

    # HL7 v2 over MLLP: listen when a port is set (2575 is the usual one); senders are registered
    # by MSH-3/4 and address in device profiles. TLS when both certificate files are given.
    mllp_port: int | None = Field(default=None, ge=0, le=65535)
    mllp_host: str | None = None  # default: APP_HOST
    mllp_tls_cert_file: Path | None = None
    mllp_tls_key_file: Path | None = None

    log_level: str = "INFO"
    log_json: bool = True

    @field_validator("clinic_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name such as Europe/Oslo)"
            ) from exc
        return value

    @field_validator("notification_webhook_urls")
    @classmethod
    def _http_urls(cls, value: list[str]) -> list[str]:
        for index, url in enumerate(value):
            # The URL itself is not echoed: its path may carry the receiver's token.
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 500:
                raise ValueError(
                    f"notification webhook URL #{index + 1} must be an http(s)://host/... URL "
                    "of at most 500 characters"
                )
        return value

    @model_validator(mode="after")
    def _webhooks_need_a_secret(self) -> Settings:
        if not self.notification_webhook_urls:
            return self
        secret = self.notification_secret
        value = secret.get_secret_value() if secret is not None else ""
        if not value:
            raise ValueError(
                "APP_NOTIFICATION_SECRET must be set when APP_NOTIFICATION_WEBHOOK_URLS is: "
                "receivers verify the HMAC signature with it"
            )
        if self.env == "production" and len(value) < 32:
            raise ValueError(
                "APP_NOTIFICATION_SECRET must be a random value of at least 32 characters when "
                "APP_ENV=production; generate one with: "
                "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        return self

    @model_validator(mode="after")
    def _refuse_default_secret_in_production(self) -> Settings:
        secret = self.secret_key.get_secret_value()
        if self.env == "production" and (secret == DEVELOPMENT_SECRET_KEY or len(secret) < 32):
            raise ValueError(
                "APP_SECRET_KEY must be set to a random value of at least 32 characters when "
                "APP_ENV=production; generate one with: "
                "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        return self

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.clinic_timezone)

    @property
    def secure_cookies(self) -> bool:
        return self.env == "production" if self.cookie_secure is None else self.cookie_secure

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
