"""Password hashing (Argon2), access tokens (JWT) and random secrets."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from pwdlib import PasswordHash

_hasher = PasswordHash.recommended()
# Verified against when the username is unknown, so both paths cost one Argon2 run.
_DUMMY_HASH = _hasher.hash("not-a-real-password-" + secrets.token_hex(8))

JWT_ALGORITHM = "HS256"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    if password_hash is None:
        _hasher.verify(password, _DUMMY_HASH)
        return False
    return _hasher.verify(password, password_hash)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def hmac_hex(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: uuid.UUID
    jti: str
    expires_at: datetime


def encode_access_token(
    *,
    secret: str,
    user_id: uuid.UUID,
    role: str,
    clinic_id: uuid.UUID,
    now: datetime,
    lifetime: timedelta,
) -> tuple[str, datetime]:
    expires_at = now + lifetime
    claims = {
        "sub": str(user_id),
        "role": role,
        "clinic": str(clinic_id),
        "typ": "access",
        "jti": uuid.uuid4().hex,
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
    }
    return jwt.encode(claims, secret, algorithm=JWT_ALGORITHM), expires_at


class InvalidToken(ValueError):
    pass


def decode_access_token(token: str, *, secret: str, now: datetime) -> AccessClaims:
    """Verify signature, algorithm and expiry against ``now`` (the injected clock)."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[JWT_ALGORITHM],
            options={
                "require": ["sub", "exp", "jti", "typ"],
                # Expiry is checked below against the injected clock, not the wall clock.
                "verify_exp": False,
                "verify_iat": False,
            },
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"invalid token: {exc}") from exc
    if claims.get("typ") != "access":
        raise InvalidToken("invalid token: not an access token")
    exp = claims["exp"]
    if not isinstance(exp, int) or exp <= int(now.timestamp()):
        raise InvalidToken("token expired")
    try:
        user_id = uuid.UUID(str(claims["sub"]))
    except ValueError as exc:
        raise InvalidToken("invalid token: bad subject") from exc
    return AccessClaims(
        user_id=user_id,
        jti=str(claims["jti"]),
        expires_at=datetime.fromtimestamp(exp, tz=UTC),
    )
