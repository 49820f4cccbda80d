"""Records kept on a session: controlled drug accountability, rating scales, manual vitals."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import service as auth_service
from app.auth.domain import Principal
from app.core.errors import Conflict, NotFound, Unprocessable
from app.core.types import Role
from app.sessions.domain import FINAL_STATES, SessionState
from app.sessions.models import SessionVitalsCheck
from app.sessions.repository import SessionRepository
from app.sessions.schemas import DrugRecordCreate, ScaleEntryCreate, VitalsCheckCreate
from app.sessions.service.checkin import record_scale
from app.sessions.service.common import (
    Loaded,
    audit_session,
    current_order,
    load,
    progress_of,
)
from app.vitals import manual as vitals_manual
from app.vitals.schemas import ManualReadingIn

_NOT_OBSERVED = FINAL_STATES | {SessionState.SCHEDULED}


def _require_observed(loaded: Loaded, what: str) -> None:
    if loaded.state in _NOT_OBSERVED:
        raise Conflict(f"{what} is recorded from check-in until discharge, not when {loaded.state}")


async def record_drug(
    db: AsyncSession,
    *,
    principal: Principal,
    session_id: uuid.UUID,
    data: DrugRecordCreate,
    now: datetime,
) -> Loaded:
    """Controlled drug: lot, prepared and wasted mL, given mL from the rate segments; the
    witness is another active nurse of the clinic. Once per session, after the infusion has
    started (409 otherwise). 422 when given + wasted exceed prepared. Audited."""
    loaded = await load(db, clinic_id=principal.clinic_id, session_id=session_id, for_update=True)
    row, repo = loaded.row, SessionRepository(db)
    order = current_order(await repo.orders(row.id))
    if order is None:
        raise Conflict(f"the drug is accounted for once the infusion has started ({loaded.state})")
    if row.drug_lot is not None:
        raise Conflict("the drug of this session is already accounted for")
    try:
        witness = await auth_service.get_user(db, data.witness_user_id)
    except NotFound:
        witness = None
    if (
        witness is None
        or witness.clinic_id != principal.clinic_id
        or witness.role != Role.NURSE
        or not witness.is_active
        or witness.id == principal.user_id
    ):
        raise Unprocessable(
            "witness_user_id: the witness must be another active nurse of this clinic"
        )
    progress = progress_of(order, await repo.segments(row.id), now)
    assert progress is not None
    given = progress.delivered_volume_ml
    if given + data.wasted_ml > data.prepared_ml:
        raise Unprocessable(
            f"given {given} mL (from the pump segments) + wasted {data.wasted_ml} mL exceed "
            f"the prepared {data.prepared_ml} mL"
        )
    row.drug_lot = data.lot
    row.drug_prepared_ml = data.prepared_ml
    row.drug_given_ml = given
    row.drug_wasted_ml = data.wasted_ml
    row.drug_witness_id = witness.id
    row.drug_recorded_by = principal.user_id
    row.drug_recorded_at = now
    await audit_session(
        db,
        loaded,
        "SESSION_DRUG_ACCOUNTED",
        principal=principal,
        now=now,
        after={
            "lot": data.lot,
            "prepared_ml": str(data.prepared_ml),
            "given_ml": str(given),
            "wasted_ml": str(data.wasted_ml),
            "witness_user_id": str(witness.id),
        },
    )
    await repo.flush()
    return loaded


async def record_scale_entry(
    db: AsyncSession,
    *,
    principal: Principal,
    session_id: uuid.UUID,
    scale_id: str,
    data: ScaleEntryCreate,
    now: datetime,
) -> Loaded:
    """A rating scale (e.g. CADSS at 40 min): each item validated (422 naming it), scored and
    stored with the state it was taken in. 404 for an unknown scale. Audited."""
    loaded = await load(db, clinic_id=principal.clinic_id, session_id=session_id, for_update=True)
    _require_observed(loaded, "a scale")
    await record_scale(db, loaded, scale_id, data.answers, data.checkpoint_id, principal, now)
    await SessionRepository(db).flush()
    return loaded


_CHECK_METRICS = (
    ("sbp", "sbp_mmhg", "mm[Hg]"),
    ("dbp", "dbp_mmhg", "mm[Hg]"),
    ("hr", "hr_bpm", "/min"),
    ("spo2", "spo2_pct", "%"),
)


async def _as_readings(
    db: AsyncSession, principal: Principal, loaded: Loaded, data: VitalsCheckCreate, now: datetime
) -> None:
    """The check's values are also stored as manual readings, so trends, alarms (SBP 210) and
    the NIBP-overdue technical alarm see the BP the nurse took (issue 7 point 8)."""
    mid = f"vitals-check-{uuid.uuid4().hex}"
    present = [(m, f, u, v) for m, f, u in _CHECK_METRICS if (v := getattr(data, f)) is not None]
    readings = [
        ManualReadingIn(
            metric=metric, value=value, unit=unit, observed_at=data.taken_at, measurement_id=mid
        )
        for metric, _, unit, value in present
    ]
    outcomes = await vitals_manual.enter_readings(
        db, principal=principal, session_id=loaded.row.id, readings=readings, now=now
    )
    refused = [o for o in outcomes if o.status != "created"]
    if refused:
        first = refused[0]
        raise Unprocessable(f"{present[first.index][1]}: {first.message}")


async def record_vitals_check(
    db: AsyncSession,
    *,
    principal: Principal,
    session_id: uuid.UUID,
    data: VitalsCheckCreate,
    now: datetime,
) -> Loaded:
    """A manual BP (and optionally HR, SpO2) for the checkpoints; recovery values feed the
    discharge criteria. Audited."""
    loaded = await load(db, clinic_id=principal.clinic_id, session_id=session_id, for_update=True)
    _require_observed(loaded, "a vitals check")
    if data.taken_at > now:
        raise Unprocessable("taken_at is in the future")
    if data.checkpoint_id is not None and not any(
        c.id == data.checkpoint_id and c.item == "nibp" for c in loaded.protocol.checkpoints
    ):
        raise Unprocessable(f"checkpoint_id: {data.checkpoint_id!r} is no NIBP checkpoint")
    repo = SessionRepository(db)
    repo.add(
        SessionVitalsCheck(
            id=uuid.uuid4(),
            session_id=loaded.row.id,
            checkpoint_id=data.checkpoint_id,
            state=str(loaded.state),
            taken_at=data.taken_at,
            sbp_mmhg=data.sbp_mmhg,
            dbp_mmhg=data.dbp_mmhg,
            hr_bpm=data.hr_bpm,
            spo2_pct=data.spo2_pct,
            recorded_by=principal.user_id,
        )
    )
    await _as_readings(db, principal, loaded, data, now)
    await audit_session(
        db,
        loaded,
        "SESSION_VITALS_CHECKED",
        principal=principal,
        now=now,
        after={"taken_at": data.taken_at.isoformat(), "sbp": data.sbp_mmhg, "dbp": data.dbp_mmhg},
    )
    await repo.flush()
    return loaded
