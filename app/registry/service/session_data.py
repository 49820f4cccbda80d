"""Everything known about one session for its summary, PDF, FHIR document and export rows:
the session read model, its readings and alarms (through their domains' services), the
registry records, and the pure summary numbers (`app.registry.domain.summary`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts import views as alerts_views
from app.alerts.models import Alarm
from app.protocols.domain import Metric, Priority
from app.registry.domain import (
    AlarmRaised,
    SessionSummary,
    SessionTimes,
    SummaryReading,
    summarize_session,
)
from app.registry.models import SessionAdverseEvent, SessionSideEffects
from app.registry.repository import RegistryRepository
from app.registry.schemas import BloodPressureRead, DrugRead, SessionSummaryRead
from app.sessions import service as sessions_service
from app.sessions.schemas import SessionRead
from app.vitals import service as vitals_service
from app.vitals.models import VitalReading

_ENDED_STATES = ("recovery", "stopped")


def _first_entry(read: SessionRead, *states: str) -> datetime | None:
    return next((h.at for h in read.history if h.state in states), None)


def session_times(read: SessionRead) -> SessionTimes | None:
    """The session's instants from its state history; None before check-in."""
    checked_in = _first_entry(read, "checked_in")
    if checked_in is None:
        return None
    return SessionTimes(
        checked_in_at=checked_in,
        infusion_started_at=_first_entry(read, "infusing"),
        infusion_ended_at=_first_entry(read, *_ENDED_STATES),
        discharged_at=_first_entry(read, "discharged"),
    )


@dataclass(frozen=True, slots=True)
class SessionData:
    read: SessionRead
    times: SessionTimes | None
    readings: list[VitalReading]
    alarms: list[Alarm]
    summary: SessionSummary | None
    side_effects: SessionSideEffects | None
    adverse_events: list[SessionAdverseEvent]

    @property
    def discharged_by(self) -> str | None:
        """The discharging physician's name, from the discharge state change."""
        return next((h.actor_name for h in self.read.history if h.event == "discharge"), None)


def _summary_readings(read: SessionRead, rows: list[VitalReading]) -> list[SummaryReading]:
    """Stored readings plus the frozen pre-infusion baseline (check-in vitals are kept on the
    session, not as readings) so that "BP pre" is the baseline the start was judged on."""
    known = {m.value for m in Metric}
    out = [
        SummaryReading(Metric(r.metric), r.value, r.observed_at, r.excluded_at is not None)
        for r in rows
        if r.metric in known
    ]
    base = read.baseline
    if base is not None and not any(
        r.metric is Metric.SBP and r.observed_at == base.taken_at for r in out
    ):
        for metric, value in (
            (Metric.SBP, base.sbp_mmhg),
            (Metric.DBP, base.dbp_mmhg),
            (Metric.SPO2, base.spo2_pct),
        ):
            if value is not None:
                out.append(SummaryReading(metric, value, base.taken_at))
    return out


async def session_data(
    db: AsyncSession, *, clinic_id: uuid.UUID, session_id: uuid.UUID, now: datetime
) -> SessionData:
    """Gather one session of the clinic (404 otherwise) with its summary numbers."""
    read = await sessions_service.get_session(
        db, clinic_id=clinic_id, session_id=session_id, now=now
    )
    readings = await vitals_service.session_readings(db, session_id)
    alarms = await alerts_views.session_alarms(db, clinic_id=clinic_id, session_id=session_id)
    times = session_times(read)
    summary = None
    if times is not None:
        summary = summarize_session(
            times,
            _summary_readings(read, readings),
            [AlarmRaised(Priority(a.priority), a.raised_at) for a in alarms],
        )
    repo = RegistryRepository(db)
    return SessionData(
        read=read,
        times=times,
        readings=readings,
        alarms=alarms,
        summary=summary,
        side_effects=await repo.side_effects(session_id),
        adverse_events=list(await repo.adverse_events([session_id])),
    )


def _bp(value: object) -> BloodPressureRead | None:
    return None if value is None else BloodPressureRead.model_validate(value, from_attributes=True)


def summary_read(data: SessionData) -> SessionSummaryRead:
    """The session summary numbers as the API shows them."""
    read, s, t = data.read, data.summary, data.times
    order = read.order
    counts = (
        {str(p): 0 for p in Priority}
        if s is None
        else {str(p): n for p, n in s.alarm_counts.items()}
    )
    drug = read.drug
    return SessionSummaryRead(
        session_id=read.id,
        patient_id=read.patient_id,
        infusion_number=read.infusion_number,
        state=read.state,
        checked_in_at=None if t is None else t.checked_in_at,
        infusion_started_at=None if t is None else t.infusion_started_at,
        infusion_ended_at=None if t is None else t.infusion_ended_at,
        discharged_at=None if t is None else t.discharged_at,
        dose_mg=None if order is None else order.dose_mg,
        mg_per_kg=None if order is None else order.mg_per_kg,
        weight_kg=None if order is None else order.weight_kg,
        bp_pre=None if s is None else _bp(s.bp_pre),
        bp_40_min=None if s is None else _bp(s.bp_40_min),
        bp_end=None if s is None else _bp(s.bp_end),
        min_spo2_pct=None if s is None else s.min_spo2_pct,
        max_sbp_mmhg=None if s is None else s.max_sbp_mmhg,
        alarm_counts=counts,
        monitoring_minutes=None if s is None else s.monitoring_minutes,
        ready_to_leave_minutes=None if s is None else s.ready_to_leave_minutes,
        drug=DrugRead(
            lot=None if drug is None else drug.lot,
            prepared_ml=None if drug is None else drug.prepared_ml,
            given_ml=None if drug is None else drug.given_ml,
            wasted_ml=None if drug is None else drug.wasted_ml,
        ),
    )
