"""Pure rules for staff authentication."""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from app.audit.domain import Actor
from app.core.types import Role

MIN_PASSWORD_LENGTH = 10


def login_retry_after_s(
    failures_at: Sequence[datetime], *, now: datetime, max_failures: int, window: timedelta
) -> int | None:
    """Seconds until another attempt is allowed, or None when the attempt may proceed.

    Failures are counted per (address, username), so only someone at the same address can slow a
    user down; after ``max_failures`` inside ``window`` the next try waits until the oldest of the
    recent failures leaves the window.
    """
    recent = sorted(at for at in failures_at if now - at < window)
    if len(recent) < max_failures:
        return None
    free_at = recent[-max_failures] + window
    return max(1, math.ceil((free_at - now).total_seconds()))


def password_problem(password: str, username: str) -> str | None:
    """Why a new password is refused, or None. Length over composition rules (NIST SP 800-63B)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"password must be at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > 256:
        return "password must be at most 256 characters"
    if password.lower() == username.lower():
        return "password must not equal the username"
    return None


def normalize_username(username: str) -> str:
    """Usernames compare case-insensitively and without surrounding spaces."""
    return username.strip().lower()


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of a request: a staff user (token or browser session) or a device."""

    role: Role
    clinic_id: uuid.UUID
    name: str
    via: Literal["bearer", "cookie", "device_key"]
    user_id: uuid.UUID | None = None
    device_id: uuid.UUID | None = None
    browser_session_id: uuid.UUID | None = None
    token_jti: str | None = None
    token_expires_at: datetime | None = None

    @property
    def actor(self) -> Actor:
        if self.device_id is not None:
            return Actor("device", str(self.device_id), self.name)
        return Actor("user", str(self.user_id), self.name)
