"""A fresh, migrated database with one clinic, N chairs, N monitors and N sessions infusing.

Seeding goes through the services (as the demo does), so the sessions are real: screened,
checked in with a baseline, started. Keys and a nurse token are returned for the load.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
from sqlalchemy.engine import make_url

from app import demo
from app.auth import service as auth_service
from app.auth.schemas import UserCreate
from app.clinics import service as clinics_service
from app.clinics.schemas import ChairCreate
from app.core.config import Settings
from app.core.db import create_engine, create_sessionmaker
from app.core.migrations import upgrade
from app.core.types import Role
from app.devices import service as devices_service
from app.devices.schemas import DeviceCreate

PASSWORD = "bench-password-123"  # a throwaway local database


@dataclass(frozen=True, slots=True)
class Seeded:
    clinic_id: str
    device_keys: list[str]
    device_ids: list[str]
    session_ids: list[str]
    nurse_token: str


def _admin_dsn(url: str) -> str:
    return (
        make_url(url)
        .set(drivername="postgresql", database="postgres")
        .render_as_string(hide_password=False)
    )


async def fresh_postgres(base_url: str, name: str) -> str:
    """Drop and create database `name` next to `base_url`'s; returns its URL."""
    conn = await asyncpg.connect(_admin_dsn(base_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return make_url(base_url).set(database=name).render_as_string(hide_password=False)


async def drop_postgres(url: str) -> None:
    conn = await asyncpg.connect(_admin_dsn(url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
    finally:
        await conn.close()


async def seed(
    settings: Settings,
    sessions: int,
    *,
    batch: int = 25,
    label: str = "Bench",
    nurse: str = "bench-nurse",
    physician: str = "bench-physician",
    password: str = PASSWORD,
) -> Seeded:
    """Migrate, then create the clinic (``"<label> clinic"``), a nurse and a physician
    (``password``) and `sessions` chairs, each with its monitor (device key) and a session
    screened, checked in and infusing since a minute ago, all through the services as the demo
    does (in batches of `batch` per transaction). The reliability tests seed with it too."""
    await asyncio.to_thread(upgrade, settings.database_url)
    engine = create_engine(settings)
    maker = create_sessionmaker(engine)
    now = datetime.now(UTC)
    try:
        async with maker() as db, db.begin():
            clinic = await clinics_service.get_or_create_clinic(
                db, name=f"{label} clinic", actor=demo.DEMO_ACTOR, now=now
            )
            staff = {}
            for role, username in ((Role.NURSE, nurse), (Role.PHYSICIAN, physician)):
                staff[role] = await auth_service.create_user(
                    db,
                    clinic_id=clinic.id,
                    data=UserCreate(username=username, role=role.value, password=password),
                    actor=demo.DEMO_ACTOR,
                    now=now,
                )
            protocol = await demo._approved_protocol(db, clinic.id, now)
        keys: list[str] = []
        device_ids: list[str] = []
        session_ids: list[str] = []
        for start in range(0, sessions, batch):
            async with maker() as db, db.begin():
                board = demo._Board(
                    db,
                    clinic_id=clinic.id,
                    protocol=protocol,
                    nurse=demo._DemoPrincipal(
                        Role.NURSE, clinic.id, nurse, "bearer", user_id=staff[Role.NURSE].id
                    ),
                    physician=demo._DemoPrincipal(
                        Role.PHYSICIAN,
                        clinic.id,
                        physician,
                        "bearer",
                        user_id=staff[Role.PHYSICIAN].id,
                    ),
                    now=now - timedelta(minutes=5),
                    timezone=settings.timezone,
                )
                for n in range(start, min(start + batch, sessions)):
                    chair = await clinics_service.create_chair(
                        db,
                        clinic_id=clinic.id,
                        data=ChairCreate(name=f"{label} chair {n:04d}"),
                        actor=demo.DEMO_ACTOR,
                        now=now,
                    )
                    issued = await devices_service.create_device(
                        db,
                        clinic_id=clinic.id,
                        data=DeviceCreate(name=f"{label} monitor {n:04d}", chair_id=chair.id),
                        actor=demo.DEMO_ACTOR,
                        now=now,
                    )
                    person = demo.DemoPatient(
                        mrn=f"{label.upper()}-{n:05d}",
                        name=f"{label} Patient{n:04d}",
                        birth_date=demo.PATIENTS[0].birth_date,
                        sex="female",
                        weight_kg=Decimal("70.0"),
                    )
                    patient_id = await board.patient(person, staff[Role.PHYSICIAN].id)
                    session_id = await board.book(patient_id, chair, booked=-4, slot=-4)
                    await board.check_in(session_id, issued.device.id, -3)
                    await board.start(session_id, -1)
                    keys.append(issued.api_key)
                    device_ids.append(str(issued.device.id))
                    session_ids.append(str(session_id))
        token = auth_service.issue_access_token(
            staff[Role.NURSE], now=datetime.now(UTC), settings=settings
        ).token
        return Seeded(str(clinic.id), keys, device_ids, session_ids, token)
    finally:
        await engine.dispose()


def new_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"
