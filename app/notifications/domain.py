"""Pure rules of signed webhook notifications: body, signature, retry schedule (issue 7 point 7).

No I/O and no clock: the delivery id and times come in as arguments.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

SIGNATURE_HEADER = "X-Ketamine-Signature"
DELIVERY_HEADER = "X-Ketamine-Delivery"
EVENT_HEADER = "X-Ketamine-Event"
SIGNATURE_PREFIX = "sha256="

# First retry after 5 s, doubling each time, never more than 10 min between tries.
BACKOFF_BASE_S = 5.0
BACKOFF_CAP_S = 600.0

# Keys the envelope adds to every body; a caller's payload must not use them.
RESERVED_KEYS = frozenset({"delivery_id", "event", "created_at"})


class DeliveryStatus(StrEnum):
    """Where one delivery stands; `delivered` and `failed` are final."""

    PENDING = "pending"  # waiting for its (next) attempt at next_attempt_at
    DELIVERED = "delivered"  # the receiver answered 2xx
    FAILED = "failed"  # max attempts used without a 2xx; no more tries


def sign(secret: bytes, body: bytes) -> str:
    """The `X-Ketamine-Signature` value: ``sha256=`` + hex HMAC-SHA256 of the exact body bytes.

    Receivers recompute it with the shared secret (APP_NOTIFICATION_SECRET) and compare in
    constant time (`verify`).
    """
    return SIGNATURE_PREFIX + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(secret: bytes, body: bytes, signature: str) -> bool:
    """Whether `signature` (a header value) is `sign(secret, body)`, compared in constant time."""
    return hmac.compare_digest(sign(secret, body), signature)


def next_attempt_delay_s(attempts: int) -> float:
    """Seconds to wait before the next try after `attempts` (>= 1) failed ones.

    Exponential backoff: 5, 10, 20, 40 ... s, capped at 600 s (BACKOFF_BASE_S, BACKOFF_CAP_S).
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    # Cap the exponent too: 2**attempts for a large count would overflow a float.
    exponent = min(attempts - 1, 32)
    return min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2.0**exponent)


def should_give_up(attempts: int, max_attempts: int) -> bool:
    """True once `attempts` tries have been made and that is all `max_attempts` allows."""
    return attempts >= max_attempts


def check_payload(payload: Mapping[str, Any]) -> None:
    """Refuse a payload that would shadow an envelope key (`RESERVED_KEYS`)."""
    clash = RESERVED_KEYS.intersection(payload)
    if clash:
        raise ValueError(f"payload uses reserved key(s): {', '.join(sorted(clash))}")


def build_body(
    payload: Mapping[str, Any], *, delivery_id: str, kind: str, created_at: datetime
) -> bytes:
    """The canonical JSON body: the payload's fields plus ``delivery_id``, ``event`` (the kind)
    and ``created_at`` (ISO 8601, when the delivery was recorded), keys sorted, no spaces, UTF-8.

    The same row always gives the same bytes, so every retry carries the same body and signature.
    """
    check_payload(payload)
    if created_at.tzinfo is None:
        raise ValueError("created_at must carry a time zone")
    document = {
        **payload,
        "delivery_id": delivery_id,
        "event": kind,
        "created_at": created_at.isoformat(),
    }
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()
