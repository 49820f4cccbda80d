"""A clinic worth fuzzing: chairs, devices, staff of every role, patients and sessions in several
states (scheduled, infusing with readings and an alarm, discharged with registry records), made
through the real services and API like the rest of the suite (factories, Flow)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import StaffUser
from app.core.config import Settings
from app.core.db import create_engine, get_session
from app.main import create_app
from tests.fixtures.clock import FakeClock
from tests.fixtures.factories import (
    PROTOCOLS_DIR,
    device_auth,
    make_approved_protocol,
    make_chair,
    make_clinic,
    make_device,
    make_eligible_patient,
    make_patient,
    make_user,
)
from tests.fixtures.sessions import Flow
from tests.registry.helpers import discharged

SECRET = "fuzz-secret-key-that-is-long-enough-0123456789"

# Path parameters the fuzzer may fill with a row that exists (else every id is a 404), and the
# query that lists those rows. Users and devices are extra ones made to be deactivated, rotated
# and revoked: the credentials the fuzzer itself uses are never among them.
KNOWN_ROWS = {
    "user_id": "SELECT id FROM staff_user WHERE username LIKE 'victim%'",
    "device_id": "SELECT id FROM device WHERE name LIKE 'Victim%'",
    "chair_id": "SELECT id FROM chair",
    "patient_id": "SELECT id FROM patient",
    "protocol_id": "SELECT id FROM protocol_version",
    "other_id": "SELECT id FROM protocol_version",
    "screening_id": "SELECT id FROM screening_version",
    "session_id": "SELECT id FROM infusion_session",
    "reading_id": "SELECT id FROM vital_reading",
    "observation_id": "SELECT id FROM vital_reading",
    "alarm_id": "SELECT id FROM alarm",
}


@dataclass
class Seeded:
    """What the fuzzer needs: the users and the device key to act as, the frozen time the app
    runs at, and existing ids per path parameter."""

    clock_at: datetime
    users: dict[str, StaffUser]
    device_key: str
    known: dict[str, list[str]] = field(default_factory=dict)


def settings_for(database_url: str) -> Settings:
    return Settings(
        env="test",
        database_url=database_url,
        secret_key=SECRET,
        scheduler_enabled=False,
        log_level="WARNING",
    )


async def seed(database_url: str) -> Seeded:
    """Fill a migrated, empty database; returns what the fuzzer needs to know about it."""
    settings = settings_for(database_url)
    clock = FakeClock()
    app = create_app(settings, clock=clock)
    engine = create_engine(settings)
    db = AsyncSession(engine, expire_on_commit=False, autoflush=False)

    async def shared_session() -> AsyncIterator[AsyncSession]:
        # The factories and the API write through one session, so a row made by a factory is
        # visible to the next request (as in tests/conftest.py, but committed for real).
        await db.commit()
        try:
            yield db
        except BaseException:
            await db.rollback()
            raise
        await db.commit()

    app.dependency_overrides[get_session] = shared_session
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                seeded = await _fill(db, c, clock, settings)
        await db.commit()
        for name, query in KNOWN_ROWS.items():
            rows = (await db.execute(text(query))).scalars().all()
            seeded.known[name] = sorted(str(r) for r in rows)
        return seeded
    finally:
        await db.close()
        await engine.dispose()
        await app.state.engine.dispose()


async def _fill(db: AsyncSession, client: httpx.AsyncClient, clock: FakeClock, settings) -> Seeded:
    clinic = await make_clinic(db, "Fuzz Clinic")
    protocol = await make_approved_protocol(db, clinic)
    other_file = next(
        p for p in sorted(PROTOCOLS_DIR.glob("*.toml")) if p.name != protocol.source_name
    )
    await make_approved_protocol(db, clinic, other_file)
    chairs = [await make_chair(db, clinic, f"Chair {n}") for n in (1, 2, 3)]
    monitor, device_key = await make_device(db, clinic, chairs[0], "Fuzz monitor")
    victim_monitor, _ = await make_device(db, clinic, chairs[1], "Victim monitor")
    await make_device(db, clinic, None, "Victim spare")
    users = {
        role: await make_user(db, clinic, role, username=f"fuzz-{role}")
        for role in ("nurse", "physician", "admin")
    }
    for n in (1, 2):
        await make_user(db, clinic, "nurse", username=f"victim{n}")
    await make_patient(db, clinic)
    flow = Flow(client, clock, (users["nurse"], users["physician"]), settings, protocol)

    done = await make_eligible_patient(db, clinic, now=clock.now())
    finished = await discharged(flow, db, clinic, done, chairs[1], victim_monitor)
    r = await flow.post(
        f"/{finished}/side-effects", {"headache": "mild", "bladder_urgency": "moderate"}
    )
    assert r.status_code == 200, r.text

    clock.advance(days=3)
    infusing = await make_eligible_patient(db, clinic, now=clock.now())
    session_id = await flow.started(infusing, chairs[0], monitor)
    clock.advance(minutes=2)
    readings = [
        {
            "id": f"seed-{n}",
            "metric": "spo2",
            "value": 88 if n >= 3 else 97,
            "unit": "%",
            "observed_at": (clock.now() - timedelta(seconds=40 - 10 * n)).isoformat(),
        }
        for n in range(5)
    ]
    r = await client.post(
        "/api/v1/vitals", json={"readings": readings}, headers=device_auth(device_key)
    )
    assert r.status_code == 200, r.text
    assert session_id in {x["session_id"] for x in r.json()["results"]}

    waiting = await make_eligible_patient(db, clinic, now=clock.now())
    await flow.schedule(waiting, chairs[2], clock.now() + timedelta(hours=1))
    return Seeded(
        clock_at=clock.advance(minutes=1),
        users=users,
        device_key=device_key,
    )
