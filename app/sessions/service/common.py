"""Shared pieces of the session use cases: loading a session scoped to the caller's clinic with
its pinned protocol and history, applying an event through `SessionMachine` (state change row
plus audit row in the same transaction), progress from the rate segments, scale definitions."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, Literal, overload

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.auth.domain import Principal
from app.core.errors import AppError, Blocked, Conflict, NotFound
from app.core.migrations import PROJECT_ROOT
from app.protocols import service as protocols_service
from app.protocols.domain import (
    InfusionProgress,
    ProtocolDefinition,
    RateSegment,
    infusion_progress,
)
from app.protocols.models import ProtocolVersion
from app.scales.definitions import load_scale_definitions
from app.scales.domain import ScaleDefinition
from app.sessions.domain import (
    Blocker,
    DischargeInputs,
    InvalidTransition,
    SessionEvent,
    SessionMachine,
    SessionState,
    StartInputs,
    StateChange,
    TransitionRefused,
    transition,
)
from app.sessions.models import (
    InfusionSession,
    SessionDoseOrder,
    SessionRateSegment,
    SessionStateChange,
)
from app.sessions.repository import SessionRepository
from app.sessions.service.board import state_events

AUDIT_ACTIONS: Mapping[SessionEvent, str] = {
    SessionEvent.CHECK_IN: "SESSION_CHECKED_IN",
    SessionEvent.START: "SESSION_STARTED",
    SessionEvent.PAUSE: "SESSION_PAUSED",
    SessionEvent.RESUME: "SESSION_RESUMED",
    SessionEvent.CHANGE_RATE: "SESSION_RATE_CHANGED",
    SessionEvent.STOP: "SESSION_STOPPED",
    SessionEvent.COMPLETE: "SESSION_COMPLETED",
    SessionEvent.DISCHARGE: "SESSION_DISCHARGED",
    SessionEvent.CANCEL: "SESSION_CANCELLED",
}


@lru_cache(maxsize=1)
def scale_definitions() -> Mapping[str, ScaleDefinition]:
    """The scale files under protocols/scales, loaded once per process."""
    return load_scale_definitions(PROJECT_ROOT / "protocols" / "scales")


def scale_definition(scale_id: str) -> ScaleDefinition:
    found = scale_definitions().get(scale_id)
    if found is None:
        raise NotFound(f"no scale {scale_id!r} (known: {', '.join(sorted(scale_definitions()))})")
    return found


@dataclass(slots=True)
class Loaded:
    """A session row with its pinned protocol and its state machine rebuilt from the history."""

    row: InfusionSession
    version: ProtocolVersion
    protocol: ProtocolDefinition
    history: list[SessionStateChange]
    machine: SessionMachine

    @property
    def state(self) -> SessionState:
        return self.machine.state


def to_machine(
    protocol: ProtocolDefinition, history: Sequence[SessionStateChange]
) -> SessionMachine:
    return SessionMachine(
        protocol,
        tuple(
            StateChange(
                SessionState(h.state),
                h.at,
                None if h.event is None else SessionEvent(h.event),
                h.reason,
            )
            for h in history
        ),
    )


async def load(
    db: AsyncSession, *, clinic_id: uuid.UUID, session_id: uuid.UUID, for_update: bool = False
) -> Loaded:
    """The session of the caller's clinic (404 otherwise) with its pinned protocol version."""
    repo = SessionRepository(db)
    row = await repo.get(clinic_id, session_id, for_update=for_update)
    if row is None:
        raise NotFound("session not found")
    version = await protocols_service.get_version(db, clinic_id, row.protocol_version_id)
    if version.sha256 != row.protocol_sha256:
        raise Conflict(
            f"protocol version {version.id} no longer matches the SHA-256 the session pinned"
        )
    protocol = protocols_service.definition_of(version)
    history = list(await repo.history(row.id))
    return Loaded(row, version, protocol, history, to_machine(protocol, history))


async def load_many(
    db: AsyncSession, session_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Loaded | AppError]:
    """`load` for many sessions of any clinic, in three queries (the scheduler's jobs run over
    every active session every few seconds). A session that cannot be loaded (its protocol no
    longer matches the pinned hash) maps to the error, so it cannot stop the others."""
    pinned = await load_pinned(db, session_ids, strict=False)
    history = await SessionRepository(db).history_of(list(pinned))
    out: dict[uuid.UUID, Loaded | AppError] = {}
    for session_id, found in pinned.items():
        if isinstance(found, AppError):
            out[session_id] = found
            continue
        changes = history.get(session_id, [])
        out[session_id] = Loaded(
            found.row, found.version, found.protocol, changes, to_machine(found.protocol, changes)
        )
    return out


@dataclass(frozen=True, slots=True)
class Pinned:
    """A session row with its pinned protocol, without the history (what alarm evaluation of
    an ingest batch needs, loaded for many sessions at once)."""

    row: InfusionSession
    version: ProtocolVersion
    protocol: ProtocolDefinition


@overload
async def load_pinned(
    db: AsyncSession, session_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Pinned]: ...
@overload
async def load_pinned(
    db: AsyncSession, session_ids: Sequence[uuid.UUID], *, strict: Literal[False]
) -> dict[uuid.UUID, Pinned | AppError]: ...
async def load_pinned(
    db: AsyncSession, session_ids: Sequence[uuid.UUID], *, strict: bool = True
) -> dict[uuid.UUID, Pinned] | dict[uuid.UUID, Pinned | AppError]:
    """Sessions by id with their pinned protocol versions: two queries for any number. A
    version that no longer matches the pinned SHA-256 is a 409 Conflict, raised (``strict``)
    or returned in the session's place."""
    rows = await SessionRepository(db).by_ids(session_ids)
    versions = await protocols_service.versions_by_id(
        db, sorted({row.protocol_version_id for row in rows})
    )
    out: dict[uuid.UUID, Pinned | AppError] = {}
    for row in rows:
        version = versions[row.protocol_version_id]
        if version.sha256 != row.protocol_sha256:
            problem = Conflict(
                f"protocol version {version.id} no longer matches the SHA-256 the session pinned"
            )
            if strict:
                raise problem
            out[row.id] = problem
            continue
        out[row.id] = Pinned(row, version, protocols_service.definition_of(version))
    return out


def blocker_dict(blocker: Blocker) -> dict[str, Any]:
    return {
        "code": str(blocker.code),
        "message": blocker.message,
        "resolution": blocker.resolution,
        "subject": blocker.subject,
        "available_at": None if blocker.available_at is None else blocker.available_at.isoformat(),
        "final": blocker.final,
    }


def require_legal(loaded: Loaded, event: SessionEvent) -> None:
    """409 naming both states when `event` is not legal now (`transition`)."""
    try:
        transition(loaded.state, event)
    except InvalidTransition as exc:
        raise Conflict(exc.message) from exc


async def apply_event(
    db: AsyncSession,
    loaded: Loaded,
    event: SessionEvent,
    *,
    principal: Principal,
    now: datetime,
    reason: str | None = None,
    start: StartInputs | None = None,
    discharge: DischargeInputs | None = None,
    progress: InfusionProgress | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Apply `event` through the machine's guards; store the state change and audit it.

    409 (Conflict) for an illegal move naming both states; 409 (Blocked) listing each unmet
    guard with what lifts it. Side effects: a `session_state_change` row and an audit row
    SESSION_<EVENT> with the actor, time, reason, before/after state.
    """
    try:
        machine = loaded.machine.apply(
            event, now, start=start, discharge=discharge, progress=progress, reason=reason
        )
    except InvalidTransition as exc:
        raise Conflict(exc.message) from exc
    except TransitionRefused as exc:
        raise Blocked(exc.message, [blocker_dict(b) for b in exc.blockers]) from exc
    before = loaded.state
    actor = principal.actor
    entry = SessionStateChange(
        id=uuid.uuid4(),
        session_id=loaded.row.id,
        seq=len(loaded.history) + 1,
        state=str(machine.state),
        event=str(event),
        at=now,
        actor_type=actor.actor_type,
        actor_id=actor.actor_id,
        actor_name=actor.actor_name,
        reason=reason,
    )
    SessionRepository(db).add(entry)
    loaded.history.append(entry)
    loaded.machine = machine
    loaded.row.state = str(machine.state)
    await audit_service.record(
        db,
        actor=actor,
        action=AUDIT_ACTIONS[event],
        entity_type="infusion_session",
        entity_id=loaded.row.id,
        clinic_id=loaded.row.clinic_id,
        now=now,
        before={"state": str(before)},
        after={"state": str(machine.state), "reason": reason, **(details or {})},
    )
    await SessionRepository(db).flush()
    await state_events(db, loaded.row, before=before, event=event, reason=reason, now=now)


async def audit_session(
    db: AsyncSession,
    loaded: Loaded,
    action: str,
    *,
    principal: Principal,
    now: datetime,
    after: Mapping[str, Any],
) -> None:
    """An audit row for a session record that is not a state change (vitals, scale, drug)."""
    await audit_service.record(
        db,
        actor=principal.actor,
        action=action,
        entity_type="infusion_session",
        entity_id=loaded.row.id,
        clinic_id=loaded.row.clinic_id,
        now=now,
        after=after,
    )


def current_order(orders: Sequence[SessionDoseOrder]) -> SessionDoseOrder | None:
    return orders[-1] if orders else None


def to_segments(rows: Sequence[SessionRateSegment]) -> tuple[RateSegment, ...]:
    return tuple(RateSegment(r.start_at, Decimal(r.rate_mg_per_h), r.end_at) for r in rows)


def progress_of(
    order: SessionDoseOrder | None, segments: Sequence[SessionRateSegment], at: datetime
) -> InfusionProgress | None:
    """Delivered mg, minutes infused, remaining time and volume from the segments at `at`."""
    if order is None:
        return None
    return infusion_progress(
        Decimal(order.dose_mg), Decimal(order.volume_ml), to_segments(segments), at
    )


def open_segment(segments: Sequence[SessionRateSegment]) -> SessionRateSegment | None:
    return next((s for s in reversed(segments) if s.end_at is None), None)
