"""Notification settings: http(s) URLs only, a secret whenever URLs are set."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.core.config import Settings

PROD_KEY = "x" * 48


def test_defaults_send_nothing():
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.notification_webhook_urls == []
    assert s.notification_secret is None
    assert (s.notification_timeout_s, s.notification_max_attempts) == (5.0, 8)


def test_urls_come_from_the_environment_as_a_json_list(monkeypatch):
    monkeypatch.setenv(
        "APP_NOTIFICATION_WEBHOOK_URLS", '["https://pager.example/hook", "http://10.0.0.5/sms"]'
    )
    monkeypatch.setenv("APP_NOTIFICATION_SECRET", "s3cret")
    s = Settings()
    assert s.notification_webhook_urls == ["https://pager.example/hook", "http://10.0.0.5/sms"]
    assert s.notification_secret is not None
    assert s.notification_secret.get_secret_value() == "s3cret"


@pytest.mark.parametrize("url", ["ftp://x.example/", "pager.example/hook", "https:///path", ""])
def test_refuses_urls_that_are_not_http(url):
    with pytest.raises(ValidationError, match="http"):
        Settings(notification_webhook_urls=[url], notification_secret="s")


def test_refuses_a_url_longer_than_the_column():
    with pytest.raises(ValidationError, match="500"):
        Settings(
            notification_webhook_urls=["https://x.example/" + "a" * 500], notification_secret="s"
        )


def test_urls_need_a_secret():
    with pytest.raises(ValidationError, match="APP_NOTIFICATION_SECRET must be set"):
        Settings(notification_webhook_urls=["https://pager.example/hook"])
    with pytest.raises(ValidationError, match="APP_NOTIFICATION_SECRET must be set"):
        Settings(notification_webhook_urls=["https://pager.example/hook"], notification_secret="")


def test_production_needs_a_long_secret():
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings(
            env="production",
            secret_key=PROD_KEY,
            notification_webhook_urls=["https://pager.example/hook"],
            notification_secret="short",
        )
    s = Settings(
        env="production",
        secret_key=PROD_KEY,
        notification_webhook_urls=["https://pager.example/hook"],
        notification_secret="y" * 40,
    )
    assert s.notification_webhook_urls


def test_production_without_webhooks_needs_no_notification_secret():
    assert Settings(env="production", secret_key=PROD_KEY).notification_secret is None


@pytest.mark.parametrize(
    ("field", "value"),
    [("notification_timeout_s", 0), ("notification_max_attempts", 0)],
)
def test_refuses_non_positive_limits(field, value):
    with pytest.raises(ValidationError):
        Settings(**{field: value})
