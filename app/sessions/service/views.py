"""A session as the API shows it at `now`: history, order, progress from the segments, start
blockers (what lifts each), due and overdue checkpoints, records."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.protocols.domain import InfusionProgress
from app.sessions.domain import (
    CheckpointRecord,
    CheckpointStatus,
    SessionState,
    allowed_events,
    due_checkpoints,
    start_blockers,
)
from app.sessions.models import SessionDoseOrder, SessionScaleEntry, SessionVitalsCheck
from app.sessions.repository import SessionRepository
from app.sessions.schemas import (
    BaselineRead,
    BlockerRead,
    CheckpointRead,
    DoseOrderRead,
    DrugRecordRead,
    PreVitalsRead,
    ProgressRead,
    RateSegmentRead,
    ScaleEntryRead,
    SessionRead,
    StateChangeRead,
    VitalsCheckRead,
)
from app.sessions.service.checkin import start_inputs
from app.sessions.service.common import Loaded, blocker_dict, current_order, load, progress_of


def _order(o: SessionDoseOrder) -> DoseOrderRead:
    return DoseOrderRead(
        version=o.version,
        mg_per_kg=o.mg_per_kg,
        weight_kg=o.weight_kg,
        weight_measured_at=o.weight_measured_at,
        minutes=o.minutes,
        dose_mg=o.dose_mg,
        rate_mg_per_h=o.rate_mg_per_h,
        rate_ml_per_h=o.rate_ml_per_h,
        volume_ml=o.volume_ml,
        concentration_mg_per_ml=o.concentration_mg_per_ml,
        ordered_at=o.ordered_at,
        ordered_by=o.ordered_by,
        reason=o.reason,
    )


def _statuses(
    loaded: Loaded,
    scales: Sequence[SessionScaleEntry],
    checks: Sequence[SessionVitalsCheck],
    at: datetime,
) -> tuple[CheckpointStatus, ...]:
    records = [CheckpointRecord(e.scale_id, e.at, e.checkpoint_id) for e in scales]
    records += [CheckpointRecord("nibp", c.taken_at, c.checkpoint_id) for c in checks]
    return due_checkpoints(
        loaded.protocol.checkpoints, history=loaded.machine.history, completed=records, now=at
    )


async def checkpoint_statuses(
    db: AsyncSession, loaded: Sequence[Loaded], now: datetime
) -> dict[uuid.UUID, tuple[CheckpointStatus, ...]]:
    """Each session's checkpoints at `now` (upcoming, due, overdue, done), as its view shows
    them, without building the rest of the view (the overdue job runs this every few seconds
    over every active session: two queries for all of them)."""
    repo = SessionRepository(db)
    ids = [one.row.id for one in loaded]
    scales = await repo.scale_entries_of(ids)
    checks = await repo.vitals_checks_of(ids)
    return {
        one.row.id: _statuses(
            one,
            scales.get(one.row.id, []),
            checks.get(one.row.id, []),
            max(now, one.history[-1].at),
        )
        for one in loaded
    }


def progress_read(progress: InfusionProgress | None) -> ProgressRead | None:
    if progress is None:
        return None
    return ProgressRead(
        at=progress.at,
        ordered_dose_mg=progress.ordered_dose_mg,
        delivered_mg=progress.delivered_mg,
        remaining_mg=progress.remaining_mg,
        delivered_volume_ml=progress.delivered_volume_ml,
        remaining_volume_ml=progress.remaining_volume_ml,
        minutes_infused=progress.minutes_infused,
        current_rate_mg_per_h=progress.current_rate_mg_per_h,
        remaining_minutes=progress.remaining_minutes,
        complete=progress.complete,
        completes_at=progress.completes_at,
    )


@dataclass(frozen=True, slots=True)
class BoardRow:
    """What a board tile shows of a session besides vitals and alarms."""

    session_id: uuid.UUID
    chair_id: uuid.UUID
    patient_id: uuid.UUID
    state: str
    scheduled_for: datetime
    infusion_number: int
    progress: ProgressRead | None


async def board_rows(
    db: AsyncSession, *, clinic_id: uuid.UUID, session_ids: Sequence[uuid.UUID], now: datetime
) -> dict[uuid.UUID, BoardRow]:
    """Board tiles of the clinic's sessions, three queries for any number of sessions (a board
    of a busy clinic connects without a query per chair); sessions of other clinics are left
    out."""
    repo = SessionRepository(db)
    rows = [r for r in await repo.by_ids(session_ids) if r.clinic_id == clinic_id]
    ids = [r.id for r in rows]
    orders = await repo.orders_of(ids)
    segments = await repo.segments_of(ids)
    return {
        r.id: BoardRow(
            session_id=r.id,
            chair_id=r.chair_id,
            patient_id=r.patient_id,
            state=r.state,
            scheduled_for=r.scheduled_for,
            infusion_number=r.infusion_number,
            progress=progress_read(
                progress_of(current_order(orders.get(r.id, [])), segments.get(r.id, []), now)
            ),
        )
        for r in rows
    }


async def read_loaded(db: AsyncSession, loaded: Loaded, now: datetime) -> SessionRead:
    """The read model of a loaded session at `now` (start blockers only while checked in)."""
    row, repo = loaded.row, SessionRepository(db)
    at = max(now, loaded.history[-1].at)
    orders = await repo.orders(row.id)
    segments = await repo.segments(row.id)
    pre_vitals = await repo.pre_vitals(row.id)
    scales = await repo.scale_entries(row.id)
    checks = await repo.vitals_checks(row.id)
    progress = progress_of(current_order(orders), segments, at)
    blockers: list[BlockerRead] = []
    if loaded.state is SessionState.CHECKED_IN:
        inputs = await start_inputs(db, loaded, at)
        blockers = [
            BlockerRead.model_validate(blocker_dict(b))
            for b in start_blockers(loaded.protocol, inputs, now=at)
        ]
    statuses = _statuses(loaded, scales, checks, at)
    baseline = None
    if row.baseline_taken_at is not None:
        baseline = BaselineRead(
            taken_at=row.baseline_taken_at,
            sbp_mmhg=row.baseline_sbp_mmhg,
            dbp_mmhg=row.baseline_dbp_mmhg,
            hr_bpm=row.baseline_hr_bpm,
            spo2_pct=row.baseline_spo2_pct,
            rr_per_min=row.baseline_rr_per_min,
        )
    drug = None
    if (
        row.drug_lot is not None
        and row.drug_prepared_ml is not None
        and row.drug_given_ml is not None
        and row.drug_wasted_ml is not None
        and row.drug_witness_id is not None
        and row.drug_recorded_at is not None
    ):
        drug = DrugRecordRead(
            lot=row.drug_lot,
            prepared_ml=row.drug_prepared_ml,
            given_ml=row.drug_given_ml,
            wasted_ml=row.drug_wasted_ml,
            witness_user_id=row.drug_witness_id,
            recorded_by=row.drug_recorded_by,
            recorded_at=row.drug_recorded_at,
        )
    return SessionRead(
        id=row.id,
        at=at,
        clinic_id=row.clinic_id,
        patient_id=row.patient_id,
        chair_id=row.chair_id,
        state=row.state,
        scheduled_for=row.scheduled_for,
        infusion_number=row.infusion_number,
        planned_infusions=row.planned_infusions,
        protocol_version_id=row.protocol_version_id,
        protocol_sha256=row.protocol_sha256,
        proposed_mg_per_kg=row.proposed_mg_per_kg,
        proposal_reason=row.proposal_reason,
        ordered_mg_per_kg=row.ordered_mg_per_kg,
        ordered_by=row.ordered_by,
        device_id=row.device_id,
        checklist_confirmed=list(row.checklist_confirmed),
        physician_ack_at=row.physician_ack_at,
        allowed_events=[str(e) for e in allowed_events(loaded.state)],
        history=[
            StateChangeRead(
                state=h.state,
                event=h.event,
                at=h.at,
                actor_type=h.actor_type,
                actor_id=h.actor_id,
                actor_name=h.actor_name,
                reason=h.reason,
            )
            for h in loaded.history
        ],
        pre_vitals=[
            PreVitalsRead(
                taken_at=v.taken_at,
                sbp_mmhg=v.sbp_mmhg,
                dbp_mmhg=v.dbp_mmhg,
                hr_bpm=v.hr_bpm,
                pr_bpm=v.pr_bpm,
                spo2_pct=v.spo2_pct,
                rr_per_min=v.rr_per_min,
            )
            for v in pre_vitals
        ],
        baseline=baseline,
        start_blockers=blockers,
        order=None if not orders else _order(orders[-1]),
        orders=[_order(o) for o in orders],
        segments=[
            RateSegmentRead(
                start_at=s.start_at,
                end_at=s.end_at,
                rate_mg_per_h=s.rate_mg_per_h,
                set_by=s.set_by,
                reason=s.reason,
            )
            for s in segments
        ],
        progress=progress_read(progress),
        checkpoints=[
            CheckpointRead(
                checkpoint_id=c.checkpoint_id,
                item=c.item,
                state=str(c.state),
                due_at=c.due_at,
                overdue_at=c.overdue_at,
                done_at=c.done_at,
            )
            for c in statuses
        ],
        scales=[
            ScaleEntryRead(
                scale_id=e.scale_id,
                checkpoint_id=e.checkpoint_id,
                state=e.state,
                answers=dict(e.answers),
                total=e.total,
                band=e.band,
                at=e.at,
            )
            for e in scales
        ],
        vitals_checks=[
            VitalsCheckRead(
                checkpoint_id=c.checkpoint_id,
                state=c.state,
                taken_at=c.taken_at,
                sbp_mmhg=c.sbp_mmhg,
                dbp_mmhg=c.dbp_mmhg,
                hr_bpm=c.hr_bpm,
                spo2_pct=c.spo2_pct,
            )
            for c in checks
        ],
        drug=drug,
        discharge_evaluation=row.discharge_evaluation,
    )


async def get_session(
    db: AsyncSession, *, clinic_id: uuid.UUID, session_id: uuid.UUID, now: datetime
) -> SessionRead:
    """One session of the caller's clinic (404 otherwise) as the API shows it at `now`."""
    return await read_loaded(db, await load(db, clinic_id=clinic_id, session_id=session_id), now)
