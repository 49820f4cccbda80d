from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.notifications.domain import DeliveryStatus
from app.notifications.models import NotificationDelivery


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """What sending one claimed row needs; `claimed_until` is the claim's token."""

    id: uuid.UUID
    kind: str
    url: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime
    claimed_until: datetime


class NotificationDeliveryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_unless_exists(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Insert the rows, skipping any whose (subject, kind, url, dedupe key) exists; returns
        how many were inserted. A concurrent identical insert waits and then skips (PostgreSQL)."""
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = (
            insert(NotificationDelivery)
            .values(list(rows))
            .on_conflict_do_nothing(
                index_elements=[
                    NotificationDelivery.subject_id,
                    NotificationDelivery.kind,
                    NotificationDelivery.url,
                    NotificationDelivery.dedupe_key,
                ]
            )
            .returning(NotificationDelivery.id)
        )
        return len((await self.session.execute(stmt)).all())

    async def claim_due(
        self, *, now: datetime, claimed_until: datetime, limit: int
    ) -> list[ClaimedDelivery]:
        """Claim up to `limit` due pending rows (oldest due first) for one sender and count the
        attempt. The UPDATE re-checks every condition on the row it changes, so of two
        concurrent claimers only one gets a row; on PostgreSQL rows another claimer has locked
        are skipped rather than waited for."""
        due = (
            NotificationDelivery.status == DeliveryStatus.PENDING,
            NotificationDelivery.next_attempt_at <= now,
            or_(
                NotificationDelivery.claimed_until.is_(None),
                NotificationDelivery.claimed_until < now,
            ),
        )
        # Picked in a statement of its own: as a subquery of the UPDATE, PostgreSQL may run the
        # LIMIT ... SKIP LOCKED select more than once and claim more than `limit` rows.
        candidates = (
            select(NotificationDelivery.id)
            .where(*due)
            .order_by(NotificationDelivery.next_attempt_at, NotificationDelivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        ids = list((await self.session.scalars(candidates)).all())
        if not ids:
            return []
        stmt = (
            update(NotificationDelivery)
            .where(NotificationDelivery.id.in_(ids), *due)
            .values(claimed_until=claimed_until, attempts=NotificationDelivery.attempts + 1)
            .returning(
                NotificationDelivery.id,
                NotificationDelivery.kind,
                NotificationDelivery.url,
                NotificationDelivery.payload,
                NotificationDelivery.attempts,
                NotificationDelivery.created_at,
            )
            .execution_options(synchronize_session=False)
        )
        rows = (await self.session.execute(stmt)).all()
        claimed = [
            ClaimedDelivery(
                id=row.id,
                kind=row.kind,
                url=row.url,
                payload=row.payload,
                attempts=row.attempts,
                created_at=row.created_at,
                claimed_until=claimed_until,
            )
            for row in rows
        ]
        return sorted(claimed, key=lambda c: (c.created_at, str(c.id)))

    async def settle(self, delivery: ClaimedDelivery, values: Mapping[str, Any]) -> bool:
        """Record an attempt's outcome and release the claim, only if the claim is still ours
        (an expired claim may have been taken over); returns whether it was recorded."""
        stmt = (
            update(NotificationDelivery)
            .where(
                NotificationDelivery.id == delivery.id,
                NotificationDelivery.status == DeliveryStatus.PENDING,
                NotificationDelivery.claimed_until == delivery.claimed_until,
            )
            .values(claimed_until=None, **values)
            .returning(NotificationDelivery.id)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.execute(stmt)).first() is not None

    async def for_subject(self, subject_id: uuid.UUID) -> list[NotificationDelivery]:
        stmt = (
            select(NotificationDelivery)
            .where(NotificationDelivery.subject_id == subject_id)
            .order_by(NotificationDelivery.created_at, NotificationDelivery.url)
            # Fresh values: the delivery job updates these rows with Core statements.
            .execution_options(populate_existing=True)
        )
        return list((await self.session.scalars(stmt)).all())
