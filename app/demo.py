"""Demo data for ``ketamine-monitor demo``: the default protocol approved, a monitor on each chair,
and fictional patients with signed screenings whose sessions are in different states when the
demo starts (discharged this morning, in recovery, paused, infusing, checked in, booked later).

Everything goes through the real services, so the audit chain, the gates and the segment
arithmetic are the production ones. The services take ``now``: each step runs at a time
relative to the real current time, which back-dates the history. Audit rows name the system
("demo") as the actor; clinical records are attributed to the demo nurse and physician.
Seeded once: nothing is added when the demo patients exist. Nothing here prints or logs.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.domain import Actor
from app.auth import service as auth_service
from app.auth.domain import Principal
from app.clinics.models import Chair
from app.core.migrations import PROJECT_ROOT
from app.core.types import Role
from app.devices import service as devices_service
from app.devices.schemas import DeviceCreate
from app.patients import service as patients_service
from app.patients.schemas import PatientCreate, WeightCreate
from app.protocols import service as protocols_service
from app.protocols.models import ProtocolVersion
from app.screening import service as screening_service
from app.screening.schemas import ScreeningCreate
from app.sessions import service as sessions_service
from app.sessions.schemas import (
    CheckInCreate,
    DischargeCreate,
    ScaleEntryCreate,
    SessionCreate,
    VitalsCheckCreate,
    VitalsIn,
)

DEMO_ACTOR = Actor("system", None, "demo")
DEMO_PROTOCOL = PROJECT_ROOT / "protocols" / "ketamine-iv-0.5mgkg-40min.toml"
MRN_PREFIX = "DEMO-"

CHECKLIST = (
    "consent_offlabel",
    "escort_confirmed",
    "no_driving_ack",
    "fasting_confirmed",
    "pregnancy_test_if_applicable",
    "medication_changes",
    "substance_use_last_12h",
    "new_symptoms",
    "bladder_symptoms",
)
CADSS_PRE = {f"item_{i:02d}": 1 if i == 4 else 0 for i in range(1, 24)}
CADSS_40MIN = {
    f"item_{i:02d}": 2 if i in (3, 4, 8) else 1 if i in (1, 12) else 0 for i in range(1, 24)
}
BPRS_QUIET = {
    "conceptual_disorganisation": 0,
    "suspiciousness": 0,
    "hallucinations": 0,
    "unusual_thought_content": 0,
}
ALDRETE_FULL = {"activity": 2, "respiration": 2, "circulation": 2, "consciousness": 2, "spo2": 2}


@dataclass(frozen=True, slots=True)
class DemoPatient:
    """A fictional patient. The name is PHI-shaped test data: never printed or logged."""

    mrn: str
    name: str
    birth_date: date
    sex: Literal["female", "male"]
    weight_kg: Decimal


PATIENTS = (
    DemoPatient("DEMO-0001", "Ingrid Fjeldstad", date(1968, 2, 11), "female", Decimal("64.5")),
    DemoPatient("DEMO-0002", "Lars Haugen", date(1979, 9, 3), "male", Decimal("82.0")),
    DemoPatient("DEMO-0003", "Sofie Brekke", date(1991, 6, 27), "female", Decimal("58.2")),
    DemoPatient("DEMO-0004", "Anders Moe", date(1985, 12, 14), "male", Decimal("94.6")),
    DemoPatient("DEMO-0005", "Marte Lie", date(1973, 4, 30), "female", Decimal("71.3")),
    DemoPatient("DEMO-0006", "Jonas Strand", date(1996, 1, 8), "male", Decimal("77.8")),
)


@dataclass(frozen=True, slots=True)
class _DemoPrincipal(Principal):
    """Acts for a demo staff member (recorded-by columns) but is audited as the system."""

    @property
    def actor(self) -> Actor:
        return DEMO_ACTOR


@dataclass(frozen=True, slots=True)
class Seeded:
    """What `seed` did: False when the demo patients already existed (nothing added)."""

    created: bool
    sessions: int


def _screening(measured_at: datetime, weight_kg: Decimal) -> ScreeningCreate:
    """A complete screening without findings under the default protocol."""
    at = measured_at.isoformat()
    body: dict[str, Any] = {
        "psychosis": "none",
        "mania": "none",
        "bipolar_disorder": False,
        "substance_use_disorder": "none",
        "hypertension": "none",
        "aneurysmal_vascular_disease": False,
        "intracranial_haemorrhage": False,
        "stroke": False,
        "significant_cardiac_disease": False,
        "raised_intracranial_pressure": False,
        "raised_intraocular_pressure": False,
        "pregnancy_applicable": True,
        "pregnant": False,
        "breastfeeding": False,
        "hyperthyroidism": "none",
        "hepatic_impairment": "none",
        "liver_tests": {
            "measured_at": at,
            "alt_u_per_l": "31",
            "alt_uln_u_per_l": "45",
            "ast_u_per_l": "27",
            "ast_uln_u_per_l": "40",
        },
        "ketamine_hypersensitivity": False,
        "medications": [{"name": "sertraline", "classes": ["other"]}],
        "resting_vitals": {
            "measured_at": at,
            "sbp_mmhg": 126,
            "dbp_mmhg": 80,
            "hr_bpm": 70,
            "spo2_pct": 98,
        },
        "weight_kg": str(weight_kg),
        "weight_measured_at": at,
        "consent_off_label": True,
        "failed_antidepressant_trials": 3,
    }
    return ScreeningCreate.model_validate(body)


def _vitals(at: datetime, sbp: float = 124, dbp: float = 78, hr: float = 72) -> VitalsIn:
    return VitalsIn(taken_at=at, sbp_mmhg=sbp, dbp_mmhg=dbp, hr_bpm=hr, spo2_pct=98, rr_per_min=14)


class _Board:
    """Drives the services for one demo clinic at times relative to `now`."""

    def __init__(
        self,
        db: AsyncSession,
        *,
        clinic_id: uuid.UUID,
        protocol: ProtocolVersion,
        nurse: Principal,
        physician: Principal,
        now: datetime,
        timezone: ZoneInfo,
    ) -> None:
        self.db, self.clinic_id, self.protocol = db, clinic_id, protocol
        self.nurse, self.physician, self.now = nurse, physician, now
        local_day = now.astimezone(timezone).date()
        self.day_start = datetime.combine(local_day, time(0), tzinfo=timezone)
        self.day_end = datetime.combine(local_day + timedelta(days=1), time(0), tzinfo=timezone)

    def at(self, minutes: float) -> datetime:
        return self.now + timedelta(minutes=minutes)

    def slot(self, minutes: float) -> datetime:
        """The booked time, kept inside today's clinic day so the board lists every session."""
        wanted = self.at(minutes)
        return min(max(wanted, self.day_start), self.day_end - timedelta(minutes=1))

    async def patient(self, demo: DemoPatient, physician_id: uuid.UUID) -> uuid.UUID:
        """Registered and weighed two days ago; screened and signed eligible the same day."""
        screened = self.now - timedelta(days=2)
        found = await patients_service.create_patient(
            self.db,
            clinic_id=self.clinic_id,
            data=PatientCreate(
                mrn=demo.mrn,
                name=demo.name,
                birth_date=demo.birth_date,
                sex=demo.sex,
                weight=WeightCreate(weight_kg=demo.weight_kg, measured_at=screened),
            ),
            actor=DEMO_ACTOR,
            now=screened,
        )
        patient_id = found.patient.id
        view = await screening_service.create_screening(
            self.db,
            clinic_id=self.clinic_id,
            patient_id=patient_id,
            data=_screening(screened, demo.weight_kg),
            actor=DEMO_ACTOR,
            now=screened + timedelta(minutes=10),
        )
        await screening_service.sign_screening(
            self.db,
            clinic_id=self.clinic_id,
            screening_id=view.screening.id,
            signer_id=physician_id,
            decision="eligible",
            note=None,
            justifications={},
            actor=DEMO_ACTOR,
            now=screened + timedelta(minutes=40),
        )
        return patient_id

    async def book(
        self, patient_id: uuid.UUID, chair: Chair, *, booked: float, slot: float
    ) -> uuid.UUID:
        return await sessions_service.schedule_session(
            self.db,
            principal=self.nurse,
            data=SessionCreate(
                patient_id=patient_id,
                chair_id=chair.id,
                protocol_id=self.protocol.id,
                scheduled_for=self.slot(slot),
            ),
            now=self.at(booked),
        )

    async def check_in(
        self, session_id: uuid.UUID, monitor_id: uuid.UUID, minutes: float, sbp: float = 124
    ) -> None:
        at = self.at(minutes)
        await sessions_service.check_in(
            self.db,
            principal=self.nurse,
            session_id=session_id,
            data=CheckInCreate(
                device_id=monitor_id,
                checklist=list(CHECKLIST),
                vitals=_vitals(at - timedelta(minutes=1), sbp=sbp, dbp=min(88, sbp - 46)),
                cadss=CADSS_PRE,
            ),
            now=at,
        )
        await self.scale(session_id, "bprs_plus", BPRS_QUIET, "bprs_plus_pre", minutes + 1)

    async def start(self, session_id: uuid.UUID, minutes: float) -> None:
        await sessions_service.start_infusion(
            self.db, principal=self.nurse, session_id=session_id, now=self.at(minutes)
        )

    async def bp(
        self,
        session_id: uuid.UUID,
        minutes: float,
        checkpoint_id: str,
        sbp: float = 130,
        dbp: float = 82,
    ) -> None:
        at = self.at(minutes)
        await sessions_service.record_vitals_check(
            self.db,
            principal=self.nurse,
            session_id=session_id,
            data=VitalsCheckCreate(
                taken_at=at,
                sbp_mmhg=sbp,
                dbp_mmhg=dbp,
                hr_bpm=76,
                spo2_pct=97,
                checkpoint_id=checkpoint_id,
            ),
            now=at,
        )

    async def scale(
        self,
        session_id: uuid.UUID,
        scale_id: str,
        answers: dict[str, int],
        checkpoint_id: str | None,
        minutes: float,
    ) -> None:
        await sessions_service.record_scale_entry(
            self.db,
            principal=self.nurse,
            session_id=session_id,
            scale_id=scale_id,
            data=ScaleEntryCreate(answers=answers, checkpoint_id=checkpoint_id),
            now=self.at(minutes),
        )

    async def infused(self, session_id: uuid.UUID, start: float, until: float) -> None:
        """Started at `start` (minutes from now) with BP every 10 min until `until`."""
        await self.start(session_id, start)
        for offset in range(10, int(until - start) + 1, 10):
            await self.bp(session_id, start + offset, "nibp_infusing", sbp=128 + offset / 2)
        if until - start >= 40:
            await self.scale(session_id, "cadss", CADSS_40MIN, "cadss_40min", start + 40)
            await self.scale(session_id, "bprs_plus", BPRS_QUIET, "bprs_plus_40min", start + 40)

    async def complete(self, session_id: uuid.UUID, minutes: float) -> None:
        """Confirm completion at `minutes`, or when the server's figure says the dose is in
        (the rounded pump rate can need a few seconds more than the planned minutes)."""
        at = self.at(minutes)
        view = await sessions_service.get_session(
            self.db, clinic_id=self.clinic_id, session_id=session_id, now=at
        )
        if view.progress is not None and view.progress.completes_at is not None:
            at = max(at, view.progress.completes_at)
        await sessions_service.complete_infusion(
            self.db, principal=self.nurse, session_id=session_id, now=at
        )

    async def discharge(self, session_id: uuid.UUID, minutes: float) -> None:
        await sessions_service.discharge_session(
            self.db,
            principal=self.physician,
            session_id=session_id,
            # The router checks the re-entered password; the demo signs as the system.
            data=DischargeCreate(
                password="not checked by the service",
                aldrete_answers=ALDRETE_FULL,
                escort_present=True,
                advice_no_driving_given=True,
                advice_no_alcohol_given=True,
            ),
            now=self.at(minutes),
        )


async def _approved_protocol(
    db: AsyncSession, clinic_id: uuid.UUID, now: datetime
) -> ProtocolVersion:
    """The default protocol loaded and approved (the demo approves it without a password)."""
    loaded = await protocols_service.load_version(
        db,
        clinic_id=clinic_id,
        content=DEMO_PROTOCOL.read_bytes(),
        source_name=DEMO_PROTOCOL.name,
        actor=DEMO_ACTOR,
        now=now,
    )
    version = loaded.version
    if version.status == protocols_service.PENDING:
        await protocols_service.activate(
            db, version, approver=DEMO_ACTOR, approver_id=None, now=now
        )
    active = await protocols_service.active_version(db, clinic_id, version.protocol_key)
    return active or version


async def _monitors(
    db: AsyncSession, clinic_id: uuid.UUID, chairs: Sequence[Chair], now: datetime
) -> dict[uuid.UUID, uuid.UUID]:
    """A monitor bound to each chair (created when missing). Keys are not shown: an admin
    rotates one to connect a real monitor or a simulator."""
    by_name = {d.name: d for d in await devices_service.list_devices(db, clinic_id)}
    monitors: dict[uuid.UUID, uuid.UUID] = {}
    for chair in chairs:
        name = f"{chair.name} monitor"
        device = by_name.get(name)
        if device is None:
            issued = await devices_service.create_device(
                db,
                clinic_id=clinic_id,
                data=DeviceCreate(name=name, chair_id=chair.id),
                actor=DEMO_ACTOR,
                now=now,
            )
            device = issued.device
        monitors[chair.id] = device.id
    return monitors


async def _staff(db: AsyncSession, clinic_id: uuid.UUID, role: Role) -> uuid.UUID:
    for user in await auth_service.list_users(db, clinic_id):
        if user.role == role and user.is_active:
            return user.id
    raise LookupError(f"the demo clinic has no active {role}")


async def seed(
    db: AsyncSession,
    *,
    clinic_id: uuid.UUID,
    chairs: Sequence[Chair],
    now: datetime,
    timezone: ZoneInfo,
) -> Seeded:
    """Approve the default protocol, bind a monitor to each chair, and, unless the demo
    patients exist, add them with signed screenings and today's sessions. Needs four chairs
    and the clinic's demo nurse and physician. Audited as the system ("demo")."""
    protocol = await _approved_protocol(db, clinic_id, now)
    monitors = await _monitors(db, clinic_id, chairs, now)
    _, existing = await patients_service.list_patients(
        db, clinic_id=clinic_id, query=MRN_PREFIX, limit=1, offset=0, actor=DEMO_ACTOR, now=now
    )
    if existing:
        return Seeded(created=False, sessions=0)
    nurse_id = await _staff(db, clinic_id, Role.NURSE)
    physician_id = await _staff(db, clinic_id, Role.PHYSICIAN)
    board = _Board(
        db,
        clinic_id=clinic_id,
        protocol=protocol,
        nurse=_DemoPrincipal(Role.NURSE, clinic_id, "demo", "bearer", user_id=nurse_id),
        physician=_DemoPrincipal(Role.PHYSICIAN, clinic_id, "demo", "bearer", user_id=physician_id),
        now=now,
        timezone=timezone,
    )
    patients = [await board.patient(p, physician_id) for p in PATIENTS]
    chair_1, chair_2, chair_3, chair_4 = chairs[:4]

    # Chair 4, this morning: infused, observed 60 min, discharged by the physician.
    s = await board.book(patients[0], chair_4, booked=-190, slot=-180)
    await board.check_in(s, monitors[chair_4.id], -182)
    await board.infused(s, start=-175, until=-135)
    await board.complete(s, -135)
    for minutes in (-120, -105, -90, -77):
        await board.bp(s, minutes, "nibp_recovery", sbp=126, dbp=80)
    await board.scale(s, "cadss", CADSS_PRE, "cadss_discharge", -76)
    await board.discharge(s, -74)

    # Chair 1: infusion complete 30 min ago, in recovery.
    s = await board.book(patients[1], chair_1, booked=-80, slot=-75)
    await board.check_in(s, monitors[chair_1.id], -76)
    await board.infused(s, start=-70, until=-30)
    await board.complete(s, -30)
    await board.bp(s, -15, "nibp_recovery", sbp=134, dbp=84)

    # Chair 3: paused 6 min ago at minute 22 (nausea).
    s = await board.book(patients[2], chair_3, booked=-35, slot=-30)
    await board.check_in(s, monitors[chair_3.id], -33)
    await board.infused(s, start=-28, until=-8)
    await sessions_service.pause_infusion(
        db,
        principal=board.nurse,
        session_id=s,
        reason="Nausea; pump paused while an antiemetic is given",
        now=board.at(-6),
    )

    # Chair 2: infusing, 15 min in.
    s = await board.book(patients[3], chair_2, booked=-25, slot=-20)
    await board.check_in(s, monitors[chair_2.id], -20)
    await board.infused(s, start=-15, until=-5)

    # Chair 4 again: checked in with BP 146/88, waiting for the physician's acknowledgement.
    s = await board.book(patients[4], chair_4, booked=-60, slot=-5)
    await board.check_in(s, monitors[chair_4.id], -3, sbp=146)

    # Chair 1, later today: booked, not yet arrived.
    await board.book(patients[5], chair_1, booked=-120, slot=90)
    return Seeded(created=True, sessions=6)
