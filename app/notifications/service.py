"""Signed webhook notifications (issue 7 point 7): recorded in the caller's transaction by
`enqueue`, sent by the scheduler job `delivery_job`, at least once, retried with backoff.

Pager and SMS gateways plug in as webhook receivers: they get one signed JSON POST per
configured URL, and dedupe on the `X-Ketamine-Delivery` header.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.notifications import domain
from app.notifications.domain import DeliveryStatus
from app.notifications.models import NotificationDelivery
from app.notifications.repository import ClaimedDelivery, NotificationDeliveryRepository

log = structlog.get_logger(__name__)

# Rows sent per scheduler run and instance; the rest wait for the next run.
BATCH_SIZE = 50
# A claim outlives the sends it covers (all run concurrently, each bounded by the timeout) by
# this much, so a slow run is not overtaken, while a crashed instance's rows are retried soon.
CLAIM_MARGIN = timedelta(seconds=60)
USER_AGENT = "ketamine-monitor-notifications"
_MAX_ERROR_CHARS = 500


async def enqueue(
    db: AsyncSession,
    *,
    urls: Sequence[str],
    clinic_id: uuid.UUID,
    subject_id: uuid.UUID,
    kind: str,
    dedupe_key: str,
    payload: Mapping[str, Any],
    now: datetime,
) -> int:
    """Record one pending delivery per URL, due now; returns how many rows were inserted.

    Idempotent per (subject_id, kind, url, dedupe_key): enqueuing the same notification again
    (another scheduler instance, a retried run) inserts nothing. The payload must be JSON
    (no PHI beyond what the receiver needs) and may not use the envelope's keys
    (`domain.RESERVED_KEYS`). Side effects: rows in the caller's transaction; the delivery job
    sends them once it commits.
    """
    # Fails now, in the caller's use case, rather than at every send attempt.
    domain.build_body(payload, delivery_id="", kind=kind, created_at=now)
    targets = list(dict.fromkeys(urls))
    if not targets:
        return 0
    rows = [
        {
            "id": uuid.uuid4(),
            "clinic_id": clinic_id,
            "subject_id": subject_id,
            "kind": kind,
            "dedupe_key": dedupe_key,
            "url": url,
            "payload": dict(payload),
            "status": DeliveryStatus.PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for url in targets
    ]
    return await NotificationDeliveryRepository(db).add_unless_exists(rows)


async def deliveries_for(db: AsyncSession, subject_id: uuid.UUID) -> list[NotificationDelivery]:
    """Every delivery recorded for a subject (an alarm), oldest first."""
    return await NotificationDeliveryRepository(db).for_subject(subject_id)


@dataclass(frozen=True, slots=True)
class _Outcome:
    status_code: int | None
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class DeliveryJob:
    """The scheduler job `(db, now) -> int` that sends due deliveries; returns how many POSTs it
    made.

    No transaction stays open across the network: the claim (a conditional UPDATE that sets
    `claimed_until` and counts the attempt) commits in a short session of its own, so other
    instances skip the rows while they are sent and, on SQLite, writers are not kept waiting
    for the lock; the outcomes are then written in the scheduler's transaction, each only if
    the claim is still ours. A crash between the two leaves the rows claimed until
    `claimed_until` passes, then they are sent again: delivery is at least once.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        secret = settings.notification_secret
        self._secret = secret.get_secret_value().encode() if secret is not None else None
        self._timeout_s = settings.notification_timeout_s
        self._max_attempts = settings.notification_max_attempts
        self._transport = transport
        self._batch_size = batch_size

    async def __call__(self, db: AsyncSession, now: datetime) -> int:
        secret = self._secret
        if secret is None:
            # Settings refuse webhook URLs without a secret, so nothing was enqueued.
            return 0
        claimed = await self._claim(db, now)
        if not claimed:
            return 0
        async with httpx.AsyncClient(
            transport=self._transport,
            timeout=self._timeout_s,
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
        ) as client:
            outcomes = await asyncio.gather(*(self._send(client, secret, d) for d in claimed))
        repo = NotificationDeliveryRepository(db)
        for delivery, outcome in zip(claimed, outcomes, strict=True):
            await self._settle(repo, delivery, outcome, now)
        return len(claimed)

    async def _claim(self, db: AsyncSession, now: datetime) -> list[ClaimedDelivery]:
        if db.bind is None:
            raise RuntimeError("the delivery job needs a session bound to an engine")
        claimed_until = now + timedelta(seconds=self._timeout_s) + CLAIM_MARGIN
        # Its own short transaction (a savepoint when `db` is bound to a connection in one).
        async with (
            AsyncSession(
                bind=db.bind,
                expire_on_commit=False,
                autoflush=False,
                join_transaction_mode="create_savepoint",
            ) as claim_db,
            claim_db.begin(),
        ):
            return await NotificationDeliveryRepository(claim_db).claim_due(
                now=now, claimed_until=claimed_until, limit=self._batch_size
            )

    async def _send(
        self, client: httpx.AsyncClient, secret: bytes, delivery: ClaimedDelivery
    ) -> _Outcome:
        try:
            body = domain.build_body(
                delivery.payload,
                delivery_id=str(delivery.id),
                kind=delivery.kind,
                created_at=delivery.created_at,
            )
            headers = {
                "Content-Type": "application/json",
                domain.SIGNATURE_HEADER: domain.sign(secret, body),
                domain.DELIVERY_HEADER: str(delivery.id),
                domain.EVENT_HEADER: delivery.kind,
            }
            # httpx's timeout bounds each phase; this bounds the whole request, and so the claim.
            async with asyncio.timeout(self._timeout_s):
                response = await client.post(delivery.url, content=body, headers=headers)
        except TimeoutError:
            return _Outcome(None, f"timed out after {self._timeout_s:g} s")
        except Exception as exc:
            # Any failure of one delivery (network, bad URL) is that delivery's outcome; the
            # others are still recorded.
            return _Outcome(None, _describe(exc))
        if 200 <= response.status_code < 300:
            return _Outcome(response.status_code, None)
        # Status only: a receiver's response body may echo the payload (patient initials).
        return _Outcome(
            response.status_code, f"HTTP {response.status_code} {response.reason_phrase}".strip()
        )

    async def _settle(
        self,
        repo: NotificationDeliveryRepository,
        delivery: ClaimedDelivery,
        outcome: _Outcome,
        now: datetime,
    ) -> None:
        context: dict[str, Any] = {
            "delivery_id": str(delivery.id),
            "kind": delivery.kind,
            "host": urlsplit(delivery.url).hostname,  # not the URL: its path may be a token
            "attempts": delivery.attempts,
            "status_code": outcome.status_code,
        }
        values: dict[str, Any] = {"last_status_code": outcome.status_code}
        if outcome.delivered:
            values |= {"status": DeliveryStatus.DELIVERED, "delivered_at": now, "last_error": None}
            event, level = "notification_delivered", "info"
        elif domain.should_give_up(delivery.attempts, self._max_attempts):
            values |= {"status": DeliveryStatus.FAILED, "last_error": outcome.error}
            event, level = "notification_delivery_failed", "warning"
            context["error"] = outcome.error
        else:
            delay_s = domain.next_attempt_delay_s(delivery.attempts)
            values |= {
                "last_error": outcome.error,
                "next_attempt_at": now + timedelta(seconds=delay_s),
            }
            event, level = "notification_delivery_retrying", "info"
            context |= {"error": outcome.error, "retry_in_s": delay_s}
        if not await repo.settle(delivery, values):
            # Our claim expired and another instance took the row over; its outcome stands.
            log.info("notification_claim_lost", **context)
            return
        getattr(log, level)(event, **context)


def delivery_job(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    batch_size: int = BATCH_SIZE,
) -> DeliveryJob:
    """The scheduler job that sends due notification deliveries (see `DeliveryJob`)."""
    return DeliveryJob(settings, transport=transport, batch_size=batch_size)


def _describe(exc: Exception) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text[:_MAX_ERROR_CHARS]
