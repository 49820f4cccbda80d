from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import String, Table, Uuid, any_, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.vitals.models import VitalReading


def _array(name: str, items: list[Any], item_type: Any) -> Any:
    return bindparam(name, value=items, type_=postgresql.ARRAY(item_type))


class ReadingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_source_ids(
        self, keys: Sequence[tuple[uuid.UUID, str]]
    ) -> dict[tuple[uuid.UUID, str], VitalReading]:
        """Stored readings by (device id, source id)."""
        if not keys:
            return {}
        wanted = set(keys)
        devices = sorted({d for d, _ in wanted})
        sources = sorted({s for _, s in wanted})
        if self.session.get_bind().dialect.name == "postgresql":
            # One array parameter each, not an IN list of a thousand rendered per statement.
            stmt = select(VitalReading).where(
                VitalReading.device_id == any_(_array("devices", devices, Uuid())),
                VitalReading.source_id == any_(_array("sources", sources, String())),
            )
        else:
            stmt = select(VitalReading).where(
                VitalReading.device_id.in_(devices), VitalReading.source_id.in_(sources)
            )
        rows = (await self.session.scalars(stmt)).all()
        out: dict[tuple[uuid.UUID, str], VitalReading] = {}
        for row in rows:
            if row.device_id is not None and (row.device_id, row.source_id) in wanted:
                out[(row.device_id, row.source_id)] = row
        return out

    async def newest_per_metric(
        self, session_ids: Sequence[uuid.UUID]
    ) -> dict[tuple[uuid.UUID, str], datetime]:
        if not session_ids:
            return {}
        stmt = (
            select(VitalReading.session_id, VitalReading.metric, func.max(VitalReading.observed_at))
            .where(VitalReading.session_id.in_(session_ids), VitalReading.excluded_at.is_(None))
            .group_by(VitalReading.session_id, VitalReading.metric)
        )
        rows = (await self.session.execute(stmt)).all()
        out: dict[tuple[uuid.UUID, str], datetime] = {}
        for session_id, metric, newest in rows:
            if session_id is not None:
                out[(session_id, metric)] = newest
        return out

    async def insert_new(self, rows: Sequence[dict[str, Any]]) -> set[tuple[uuid.UUID, str]]:
        """Insert rows, skipping any whose (device, source id) exists; returns the inserted keys.

        ON CONFLICT DO NOTHING makes two concurrent identical batches store each reading once.
        """
        if not rows:
            return set()
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        # Parameters passed separately (executemany / "insertmanyvalues"), not as .values():
        # one cached statement instead of compiling 1,000 × 19 bind parameters per batch.
        # The table, not the ORM entity: the ORM's bulk path costs as much again per row.
        table = cast(Table, VitalReading.__table__)
        stmt = (
            insert(table)
            .on_conflict_do_nothing(index_elements=["device_id", "source_id"])
            .returning(table.c.device_id, table.c.source_id)
        )
        result = await self.session.execute(stmt, list(rows))
        return {(device_id, source_id) for device_id, source_id in result}

    async def latest_received(self, session_id: uuid.UUID) -> dict[str, datetime]:
        """Server receive time of the session's newest reading per metric (excluded ones too:
        an artefact still shows the monitor is sending)."""
        stmt = (
            select(VitalReading.metric, func.max(VitalReading.received_at))
            .where(VitalReading.session_id == session_id)
            .group_by(VitalReading.metric)
        )
        return {m: at for m, at in (await self.session.execute(stmt)).all() if at is not None}

    async def latest_received_many(
        self, session_ids: Sequence[uuid.UUID], metrics: Sequence[str]
    ) -> dict[uuid.UUID, dict[str, datetime]]:
        """`latest_received` of many sessions. PostgreSQL: one statement, one index probe per
        (session, metric) on (session_id, metric, received_at) however many readings there
        are; SQLite (the single-machine demo): a grouped query per session."""
        wanted = sorted(set(session_ids))
        if self.session.get_bind().dialect.name != "postgresql":
            return {sid: await self.latest_received(sid) for sid in wanted}
        if not wanted:
            return {}
        ids = func.unnest(_array("ids", wanted, Uuid())).table_valued("session_id").render_derived()
        newest = [
            select(func.max(VitalReading.received_at))
            .where(VitalReading.session_id == ids.c.session_id, VitalReading.metric == metric)
            .scalar_subquery()
            for metric in metrics
        ]
        out: dict[uuid.UUID, dict[str, datetime]] = {}
        for session_id, *times in (
            await self.session.execute(select(ids.c.session_id, *newest))
        ).all():
            out[session_id] = {
                m: at for m, at in zip(metrics, times, strict=True) if at is not None
            }
        return out

    async def mark_late(self, reading_ids: set[uuid.UUID]) -> None:
        """Flag readings the alarm engine found late (older than one already evaluated)."""
        if reading_ids:
            await self.session.execute(
                update(VitalReading)
                .where(VitalReading.id.in_(sorted(reading_ids)))
                .values(late=True)
                .execution_options(synchronize_session=False)
            )

    async def add_all(self, rows: Sequence[VitalReading]) -> None:
        self.session.add_all(rows)
        await self.session.flush()

    async def get_in_clinic(
        self, clinic_id: uuid.UUID, reading_id: uuid.UUID, *, for_update: bool = False
    ) -> VitalReading | None:
        stmt = select(VitalReading).where(
            VitalReading.id == reading_id, VitalReading.clinic_id == clinic_id
        )
        if for_update:
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt)

    async def for_session(
        self, session_id: uuid.UUID, *, metric: str | None, include_excluded: bool
    ) -> list[VitalReading]:
        """A session's readings in observed_at order (ties: metric, then id, for stable pages)."""
        stmt = select(VitalReading).where(VitalReading.session_id == session_id)
        if metric is not None:
            stmt = stmt.where(VitalReading.metric == metric)
        if not include_excluded:
            stmt = stmt.where(VitalReading.excluded_at.is_(None))
        stmt = stmt.order_by(VitalReading.observed_at, VitalReading.metric, VitalReading.id)
        return list((await self.session.scalars(stmt)).all())

    async def latest_per_metric(
        self, session_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, dict[str, tuple[float, str, datetime]]]:
        """The newest non-excluded reading per (session, metric): value, unit, observed_at."""
        if not session_ids:
            return {}
        newest = (
            select(
                VitalReading.session_id,
                VitalReading.metric,
                func.max(VitalReading.observed_at).label("observed_at"),
            )
            .where(
                VitalReading.session_id.in_(list(session_ids)), VitalReading.excluded_at.is_(None)
            )
            .group_by(VitalReading.session_id, VitalReading.metric)
            .subquery()
        )
        stmt = (
            select(
                VitalReading.session_id,
                VitalReading.metric,
                VitalReading.value,
                VitalReading.unit,
                VitalReading.observed_at,
            )
            .join(
                newest,
                (VitalReading.session_id == newest.c.session_id)
                & (VitalReading.metric == newest.c.metric)
                & (VitalReading.observed_at == newest.c.observed_at),
            )
            .where(VitalReading.excluded_at.is_(None))
        )
        out: dict[uuid.UUID, dict[str, tuple[float, str, datetime]]] = {}
        for session_id, metric, value, unit, observed_at in (
            await self.session.execute(stmt)
        ).all():
            if session_id is not None:
                out.setdefault(session_id, {})[metric] = (float(value), unit, observed_at)
        return out
