"""Check-in (monitor, checklist, weight, pre-vitals, pre CADSS), the BP repeat, the physician's
acknowledgement of elevated BP, and the start inputs every start gate reads."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.domain import Principal
from app.core.errors import Conflict, Unprocessable
from app.devices import service as devices_service
from app.patients import service as patients_service
from app.protocols.domain import CheckpointAnchor, Metric, WeightMeasurement
from app.scales.domain import InvalidScaleAnswers, score
from app.screening import service as screening_service
from app.sessions.domain import SessionEvent, SessionState, StartInputs, VitalsSet
from app.sessions.models import SessionPreVitals, SessionScaleEntry
from app.sessions.repository import SessionRepository
from app.sessions.schemas import CheckInCreate, VitalsIn
from app.sessions.service.common import (
    Loaded,
    apply_event,
    audit_session,
    load,
    require_legal,
    scale_definition,
)

CADSS = "cadss"


def _vitals_set(row: SessionPreVitals) -> VitalsSet:
    readings: dict[Metric, float] = {
        Metric.SBP: row.sbp_mmhg,
        Metric.DBP: row.dbp_mmhg,
        Metric.SPO2: row.spo2_pct,
        Metric.RR: row.rr_per_min,
    }
    if row.hr_bpm is not None:
        readings[Metric.HR] = row.hr_bpm
    if row.pr_bpm is not None:
        readings[Metric.PR] = row.pr_bpm
    return VitalsSet(row.taken_at, readings)


def _add_pre_vitals(
    repo: SessionRepository, loaded: Loaded, vitals: VitalsIn, principal: Principal, now: datetime
) -> None:
    if vitals.taken_at > now:
        raise Unprocessable("vitals.taken_at is in the future")
    repo.add(
        SessionPreVitals(
            id=uuid.uuid4(),
            session_id=loaded.row.id,
            taken_at=vitals.taken_at,
            sbp_mmhg=vitals.sbp_mmhg,
            dbp_mmhg=vitals.dbp_mmhg,
            hr_bpm=vitals.hr_bpm,
            pr_bpm=vitals.pr_bpm,
            spo2_pct=vitals.spo2_pct,
            rr_per_min=vitals.rr_per_min,
            recorded_at=now,
            recorded_by=principal.user_id,
        )
    )


def _pre_cadss_checkpoint(loaded: Loaded) -> str | None:
    return next(
        (
            c.id
            for c in loaded.protocol.checkpoints
            if c.item == CADSS and c.anchor is CheckpointAnchor.BEFORE_START
        ),
        None,
    )


async def check_in(
    db: AsyncSession,
    *,
    principal: Principal,
    session_id: uuid.UUID,
    data: CheckInCreate,
    now: datetime,
) -> Loaded:
    """Check the patient in: the monitor bound to the chair (recorded), confirmed checklist
    items, a new weight if given, pre-infusion vitals and pre CADSS (scored).

    409 when the chair or the patient already has an active session, or the device is not the
    chair's monitor; 422 for an unknown checklist item or an invalid CADSS item. Audited as
    SESSION_CHECKED_IN (and PATIENT weight audit by the patients service).
    """
    loaded = await load(db, clinic_id=principal.clinic_id, session_id=session_id, for_update=True)
    require_legal(loaded, SessionEvent.CHECK_IN)
    row, repo = loaded.row, SessionRepository(db)
    busy = await repo.active_on_chair(row.chair_id)
    if busy is not None:
        raise Conflict(
            f"chair busy: session {busy.id} is {busy.state} on this chair; it must be "
            "discharged or cancelled first"
        )
    other = await repo.active_for_patient(row.patient_id)
    if other is not None:
        raise Conflict(f"the patient already has an active session {other.id} ({other.state})")
    monitors = await devices_service.devices_on_chair(
        db, clinic_id=principal.clinic_id, chair_id=row.chair_id
    )
    if data.device_id not in {d.id for d in monitors}:
        bound = ", ".join(str(d.id) for d in monitors) or "none"
        raise Conflict(
            f"device {data.device_id} is not the monitor bound to this chair (bound: {bound})"
        )
    unknown = sorted(set(data.checklist) - set(loaded.protocol.pre_session.checklist))
    if unknown:
        raise Unprocessable(f"checklist: unknown item(s) {', '.join(unknown)}")
    if data.weight is not None:
        await patients_service.record_weight(
            db,
            clinic_id=principal.clinic_id,
            patient_id=row.patient_id,
            data=data.weight,
            actor=principal.actor,
            now=now,
        )
    row.device_id = data.device_id
    row.checklist_confirmed = sorted(set(data.checklist))
    await apply_event(
        db,
        loaded,
        SessionEvent.CHECK_IN,
        principal=principal,
        now=now,
        details={"device_id": str(data.device_id), "checklist": row.checklist_confirmed},
    )
    if data.vitals is not None:
        _add_pre_vitals(repo, loaded, data.vitals, principal, now)
    if data.cadss is not None:
        await record_scale(
            db, loaded, CADSS, data.cadss, _pre_cadss_checkpoint(loaded), principal, now
        )
    await repo.flush()
    return loaded


async def record_scale(
    db: AsyncSession,
    loaded: Loaded,
    scale_id: str,
    answers: dict[str, int],
    checkpoint_id: str | None,
    principal: Principal,
    now: datetime,
) -> SessionScaleEntry:
    """Validate every item and score (422 naming the item); store with the current state."""
    definition = scale_definition(scale_id)
    try:
        scored = score(definition, answers)
    except InvalidScaleAnswers as exc:
        raise Unprocessable(str(exc)) from exc
    if checkpoint_id is not None and not any(
        c.id == checkpoint_id and c.item == scale_id for c in loaded.protocol.checkpoints
    ):
        raise Unprocessable(f"checkpoint_id: {checkpoint_id!r} is no {scale_id} checkpoint")
    entry = SessionScaleEntry(
        id=uuid.uuid4(),
        session_id=loaded.row.id,
        scale_id=scale_id,
        checkpoint_id=checkpoint_id,
        state=str(loaded.state),
        answers=dict(scored.answers),
        total=scored.total,
        band=None if scored.band is None else scored.band.id,
        at=now,
        recorded_by=principal.user_id,
    )
    SessionRepository(db).add(entry)
    await audit_session(
        db,
        loaded,
        "SESSION_SCALE_RECORDED",
        principal=principal,
        now=now,
        after={"scale_id": scale_id, "checkpoint_id": checkpoint_id, "total": scored.total},
    )
    return entry


async def add_pre_vitals(
    db: AsyncSession, *, principal: Principal, session_id: uuid.UUID, data: VitalsIn, now: datetime
) -> Loaded:
    """Another pre-infusion vitals set (the BP repeat); the latest is in force. Audited."""
    loaded = await load(db, clinic_id=principal.clinic_id, session_id=session_id, for_update=True)
    if loaded.state is not SessionState.CHECKED_IN:
        raise Conflict(f"pre-infusion vitals are recorded when checked_in, not {loaded.state}")
    repo = SessionRepository(db)
    _add_pre_vitals(repo, loaded, data, principal, now)
    await audit_session(
        db,
        loaded,
        "SESSION_PRE_VITALS_RECORDED",
        principal=principal,
        now=now,
        after={"taken_at": data.taken_at.isoformat(), "sbp": data.sbp_mmhg, "dbp": data.dbp_mmhg},
    )
    await repo.flush()
    return loaded


async def physician_ack(
    db: AsyncSession, *, principal: Principal, session_id: uuid.UUID, now: datetime
) -> Loaded:
    """A physician acknowledges the elevated BP in force (password checked by the caller).
    Audited as SESSION_BP_ACKNOWLEDGED."""
    loaded = await load(db, clinic_id=principal.clinic_id, session_id=session_id, for_update=True)
    if loaded.state is not SessionState.CHECKED_IN:
        raise Conflict(f"BP is acknowledged before the start (checked_in), not {loaded.state}")
    loaded.row.physician_ack_at = now
    loaded.row.physician_ack_by = principal.user_id
    await audit_session(
        db, loaded, "SESSION_BP_ACKNOWLEDGED", principal=principal, now=now, after={}
    )
    await SessionRepository(db).flush()
    return loaded


async def start_inputs(db: AsyncSession, loaded: Loaded, now: datetime) -> StartInputs:
    """Everything the start gates read, loaded at `now` (eligibility asked at `now`)."""
    row, repo = loaded.row, SessionRepository(db)
    answer = await screening_service.eligibility(
        db, clinic_id=row.clinic_id, patient_id=row.patient_id, at=now
    )
    weight_row = await patients_service.newest_weight(
        db, patient_id=row.patient_id, measured_by=now
    )
    weight = (
        None
        if weight_row is None
        else WeightMeasurement(Decimal(weight_row.weight_kg), weight_row.measured_at)
    )
    pre_cadss = [
        e
        for e in await repo.scale_entries(row.id)
        if e.scale_id == CADSS and e.state == SessionState.CHECKED_IN
    ]
    starts = [at for _, at in await repo.infusion_starts(row.patient_id, excluding=row.id)]
    return StartInputs(
        screening_eligible=answer.eligible,
        screening_reason="; ".join(answer.reasons) or "not eligible",
        pre_vitals=tuple(_vitals_set(v) for v in await repo.pre_vitals(row.id)),
        checklist_confirmed=frozenset(row.checklist_confirmed),
        weight=weight,
        pre_cadss_total=pre_cadss[-1].total if pre_cadss else None,
        previous_infusion_starts=tuple(starts),
        physician_ack_at=row.physician_ack_at,
    )
