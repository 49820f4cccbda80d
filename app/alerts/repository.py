from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts.models import Alarm, AlarmEngineState

_ENGINE_STATES = cast(Table, AlarmEngineState.__table__)
_SAVE_ENGINE_STATE = (
    update(_ENGINE_STATES)
    .where(_ENGINE_STATES.c.session_id == bindparam("b_session_id"))
    .values(
        state=bindparam("b_state", type_=_ENGINE_STATES.c.state.type),
        updated_at=bindparam("b_now", type_=_ENGINE_STATES.c.updated_at.type),
    )
)

ACTIVE = "active"
CLEARED = "cleared"


class AlarmRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _insert(self) -> Any:
        dialect = self.session.get_bind().dialect.name
        return postgresql.insert if dialect == "postgresql" else sqlite.insert

    async def lock_engine_state(
        self, session_id: uuid.UUID, *, empty: dict[str, Any], now: datetime
    ) -> AlarmEngineState:
        """The session's engine state row, created if missing, locked until commit."""
        stmt = (
            self._insert()(AlarmEngineState)
            .values(session_id=session_id, state=empty, updated_at=now)
            .on_conflict_do_nothing(index_elements=["session_id"])
        )
        await self.session.execute(stmt)
        row = await self.session.scalar(
            select(AlarmEngineState)
            .where(AlarmEngineState.session_id == session_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        assert row is not None
        return row

    async def lock_engine_states(
        self, session_ids: Sequence[uuid.UUID], *, empty: dict[str, Any], now: datetime
    ) -> dict[uuid.UUID, dict[str, Any]]:
        """The engine state (JSON) of many sessions, rows locked until commit: existing rows in
        session id order (the lock order of every evaluation), missing ones created and locked
        after. Plain rows, no ORM objects: an ingest group reads and writes hundreds."""
        wanted = sorted(set(session_ids))
        if not wanted:
            return {}
        found = await self._locked(wanted)
        missing = [sid for sid in wanted if sid not in found]
        if missing:
            await self.session.execute(
                self._insert()(_ENGINE_STATES).on_conflict_do_nothing(
                    index_elements=["session_id"]
                ),
                [{"session_id": sid, "state": empty, "updated_at": now} for sid in missing],
            )
            found.update(await self._locked(missing))
        return found

    async def _locked(self, session_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
        stmt = (
            select(_ENGINE_STATES.c.session_id, _ENGINE_STATES.c.state)
            .where(_ENGINE_STATES.c.session_id.in_(session_ids))
            .order_by(_ENGINE_STATES.c.session_id)
            .with_for_update()
        )
        rows = (await self.session.execute(stmt)).all()
        return {row.session_id: row.state for row in rows}

    async def save_engine_states(
        self, states: dict[uuid.UUID, dict[str, Any]], now: datetime
    ) -> None:
        """Write back states locked by `lock_engine_states` (one executemany UPDATE)."""
        if states:
            await self.session.execute(
                _SAVE_ENGINE_STATE,
                [
                    {"b_session_id": sid, "b_state": state, "b_now": now}
                    for sid, state in sorted(states.items())
                ],
            )

    async def insert_if_episode_free(self, values: dict[str, Any]) -> Alarm | None:
        """Insert an active alarm unless its episode already has one (unique open_episode)."""
        stmt = (
            self._insert()(Alarm)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["session_id", "open_episode"])
            .returning(Alarm.id)
        )
        alarm_id = await self.session.scalar(stmt)
        if alarm_id is None:
            return None
        return await self.session.get(Alarm, alarm_id)

    async def update_if(
        self, alarm_id: uuid.UUID, where: Sequence[Any], values: dict[str, Any]
    ) -> bool:
        """A conditional update: True when this transaction changed the row (scheduler safety)."""
        stmt = (
            update(Alarm)
            .where(Alarm.id == alarm_id, Alarm.state == ACTIVE, *where)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        result = await self.session.execute(stmt)
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def reload(self, alarm_id: uuid.UUID) -> Alarm:
        row = await self.session.scalar(
            select(Alarm).where(Alarm.id == alarm_id).execution_options(populate_existing=True)
        )
        assert row is not None
        return row

    async def active_for_sessions(self, session_ids: Sequence[uuid.UUID]) -> list[Alarm]:
        if not session_ids:
            return []
        stmt = (
            select(Alarm)
            .where(Alarm.session_id.in_(session_ids), Alarm.state == ACTIVE)
            .order_by(Alarm.raised_at, Alarm.id)
        )
        return list((await self.session.scalars(stmt)).all())

    async def all_active(self) -> list[Alarm]:
        stmt = select(Alarm).where(Alarm.state == ACTIVE).order_by(Alarm.raised_at, Alarm.id)
        return list((await self.session.scalars(stmt)).all())

    async def get_in_clinic(
        self, clinic_id: uuid.UUID, alarm_id: uuid.UUID, *, for_update: bool = False
    ) -> Alarm | None:
        stmt = select(Alarm).where(Alarm.id == alarm_id, Alarm.clinic_id == clinic_id)
        if for_update:
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt.execution_options(populate_existing=True))

    async def listing(
        self,
        clinic_id: uuid.UUID,
        *,
        session_id: uuid.UUID | None,
        state: str | None,
        limit: int,
        offset: int,
    ) -> tuple[list[Alarm], int]:
        where = [Alarm.clinic_id == clinic_id]
        if session_id is not None:
            where.append(Alarm.session_id == session_id)
        if state is not None:
            where.append(Alarm.state == state)
        total = await self.session.scalar(select(func.count()).select_from(Alarm).where(*where))
        stmt = (
            select(Alarm)
            .where(*where)
            .order_by(Alarm.raised_at.desc(), Alarm.id)
            .limit(limit)
            .offset(offset)
        )
        return list((await self.session.scalars(stmt)).all()), int(total or 0)

    async def count_active(self, session_id: uuid.UUID) -> int:
        stmt = (
            select(func.count())
            .select_from(Alarm)
            .where(Alarm.session_id == session_id, Alarm.state == ACTIVE)
        )
        return int(await self.session.scalar(stmt) or 0)
