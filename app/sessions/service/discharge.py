"""Physician discharge: the protocol's criteria over the recorded recovery values."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts import views as alerts_views
from app.auth.domain import Principal
from app.core.errors import Unprocessable
from app.sessions.domain import RECOVERY_STATES, DischargeInputs, SessionEvent, SessionState
from app.sessions.repository import SessionRepository
from app.sessions.schemas import DischargeCreate
from app.sessions.service.checkin import CADSS, record_scale
from app.sessions.service.common import Loaded, apply_event, load, require_legal

ALDRETE = "aldrete_modified"
_RECOVERY_VALUES = {str(s) for s in RECOVERY_STATES}


async def discharge_session(
    db: AsyncSession,
    *,
    principal: Principal,
    session_id: uuid.UUID,
    data: DischargeCreate,
    now: datetime,
) -> Loaded:
    """Discharge (physician, password checked by the caller) when every criterion holds:
    minimum observation since the end of infusion, modified Aldrete, SpO2 and BP (latest
    recovery vitals check) against the frozen baseline and medium alarm limits, CADSS back to
    its pre-infusion value, escort, advice, no uncleared alarm. Otherwise 409 naming each unmet
    criterion. Aldrete answers are scored and stored. Audited as SESSION_DISCHARGED."""
    loaded = await load(db, clinic_id=principal.clinic_id, session_id=session_id, for_update=True)
    require_legal(loaded, SessionEvent.DISCHARGE)
    row, repo = loaded.row, SessionRepository(db)
    aldrete = data.aldrete_total
    if data.aldrete_answers is not None:
        entry = await record_scale(db, loaded, ALDRETE, data.aldrete_answers, None, principal, now)
        aldrete = entry.total
    elif aldrete is None:
        raise Unprocessable("give aldrete_answers or aldrete_total")
    checks = [c for c in await repo.vitals_checks(row.id) if c.state in _RECOVERY_VALUES]
    bp = checks[-1] if checks else None
    spo2 = next((c.spo2_pct for c in reversed(checks) if c.spo2_pct is not None), None)
    cadss = [e for e in await repo.scale_entries(row.id) if e.scale_id == CADSS]
    pre = [e.total for e in cadss if e.state == SessionState.CHECKED_IN]
    latest = [e.total for e in cadss if e.state in _RECOVERY_VALUES]
    inputs = DischargeInputs(
        physician_evaluation=True,
        aldrete_total=aldrete,
        spo2_pct=spo2,
        sbp_mmhg=None if bp is None else bp.sbp_mmhg,
        dbp_mmhg=None if bp is None else bp.dbp_mmhg,
        baseline_sbp_mmhg=row.baseline_sbp_mmhg,
        baseline_dbp_mmhg=row.baseline_dbp_mmhg,
        cadss_latest=latest[-1] if latest else None,
        cadss_pre=pre[-1] if pre else None,
        escort_present=data.escort_present,
        advice_no_driving_given=data.advice_no_driving_given,
        advice_no_alcohol_given=data.advice_no_alcohol_given,
        uncleared_alarm_count=await alerts_views.uncleared_alarm_count(db, row.id),
    )
    evaluation = {
        "aldrete_total": aldrete,
        "spo2_pct": inputs.spo2_pct,
        "sbp_mmhg": inputs.sbp_mmhg,
        "dbp_mmhg": inputs.dbp_mmhg,
        "cadss_latest": inputs.cadss_latest,
        "cadss_pre": inputs.cadss_pre,
        "escort_present": data.escort_present,
        "advice_no_driving_given": data.advice_no_driving_given,
        "advice_no_alcohol_given": data.advice_no_alcohol_given,
        "uncleared_alarm_count": inputs.uncleared_alarm_count,
    }
    await apply_event(
        db,
        loaded,
        SessionEvent.DISCHARGE,
        principal=principal,
        now=now,
        discharge=inputs,
        details={"evaluation": evaluation},
    )
    row.discharge_evaluation = evaluation
    row.discharged_by = principal.user_id
    await repo.flush()
    return loaded
