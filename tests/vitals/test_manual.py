"""Manual vitals entry and excluding a reading as artefact / entered in error (issue 6, point 7)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.audit.models import AuditEntry
from app.realtime.models import Event
from app.vitals.manual import split_exclusion
from app.vitals.models import VitalReading
from tests.fixtures.factories import bearer, device_auth, make_clinic, make_device, make_user

API = "/api/v1"
OSLO = ZoneInfo("Europe/Oslo")


def entry(metric: str, value: float, unit: str, at: datetime, **extra: Any) -> dict[str, Any]:
    return {"metric": metric, "value": value, "unit": unit, "observed_at": at.isoformat(), **extra}


def manual_bp(at: datetime, sbp: float = 132, dbp: float = 84) -> list[dict[str, Any]]:
    return [entry("sbp", sbp, "mm[Hg]", at), entry("dbp", dbp, "mm[Hg]", at)]


@pytest.fixture
async def checked_in(flow, patient, chair, monitor) -> str:
    session_id = await flow.schedule(patient, chair)
    r = await flow.check_in(session_id, monitor)
    assert r.status_code == 200, r.text
    return session_id


async def enter(flow, session_id: str, readings: list[dict[str, Any]], headers=None):
    return await flow.client.post(
        f"{API}/sessions/{session_id}/vitals",
        json={"readings": readings},
        headers=headers or flow.nurse,
    )


async def listed(flow, session_id: str, **params: Any) -> list[dict[str, Any]]:
    r = await flow.client.get(
        f"{API}/sessions/{session_id}/vitals", params=params, headers=flow.nurse
    )
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def exclude(flow, reading_id: str, body: dict[str, Any], headers=None):
    return await flow.client.post(
        f"{API}/readings/{reading_id}/exclude", json=body, headers=headers or flow.nurse
    )


async def rows_of(db, session_id: str) -> list[VitalReading]:
    stmt = (
        select(VitalReading)
        .where(VitalReading.session_id == uuid.UUID(session_id))
        .order_by(VitalReading.metric)
    )
    return list((await db.scalars(stmt)).all())


async def audits(db, action: str) -> list[AuditEntry]:
    stmt = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
    return list((await db.scalars(stmt)).all())


async def events_of(db, event_type: str) -> list[Event]:
    stmt = select(Event).where(Event.type == event_type).order_by(Event.stream, Event.seq)
    return list((await db.scalars(stmt)).all())


async def one_reading(flow, session_id: str) -> str:
    r = await enter(flow, session_id, [entry("hr", 72, "/min", flow.clock.now())])
    assert r.status_code == 200, r.text
    return str(r.json()["results"][0]["reading_id"])


class TestEnterVitals:
    async def test_manual_bp_is_stored_with_source_manual_and_entered_by(
        self, db, flow, checked_in, nurse_user
    ):
        flow.clock.advance(minutes=5)
        at = flow.clock.now().astimezone(OSLO)
        r = await enter(flow, checked_in, manual_bp(at))
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["session_id"] == checked_in
        assert [(x["index"], x["status"], x["code"]) for x in body["results"]] == [
            (0, "created", None),
            (1, "created", None),
        ]
        rows = await rows_of(db, checked_in)
        assert [(x.metric, x.value, x.unit) for x in rows] == [
            ("dbp", 84, "mm[Hg]"),
            ("sbp", 132, "mm[Hg]"),
        ]
        for row in rows:
            assert row.source == "manual"
            assert row.device_id is None
            assert row.entered_by == nurse_user.id
            assert row.source_id.startswith("manual-")
            assert row.observed_at == at
            assert row.utc_offset_minutes == 60
            assert row.excluded_at is None
        assert {str(x.id) for x in rows} == {x["reading_id"] for x in body["results"]}
        assert len({x.source_id for x in rows}) == 2

    async def test_each_stored_reading_writes_a_reading_event_on_the_session_stream(
        self, db, flow, checked_in
    ):
        r = await enter(flow, checked_in, manual_bp(flow.clock.now()))
        assert r.status_code == 200, r.text
        events = [e for e in await events_of(db, "reading") if e.stream == f"session:{checked_in}"]
        assert sorted(e.payload["metric"] for e in events) == ["dbp", "sbp"]
        assert {e.payload["source"] for e in events} == {"manual"}
        assert {e.payload["reading_id"] for e in events} == {
            x["reading_id"] for x in r.json()["results"]
        }
        assert [e.seq for e in events] == sorted({e.seq for e in events})

    async def test_is_audited_with_metrics_and_values(self, db, flow, checked_in, nurse_user):
        r = await enter(flow, checked_in, manual_bp(flow.clock.now(), 141, 92))
        assert r.status_code == 200, r.text
        (audit,) = await audits(db, "VITALS_ENTERED")
        assert audit.entity_type == "infusion_session"
        assert audit.entity_id == checked_in
        assert audit.actor_id == str(nurse_user.id)
        assert audit.after is not None
        assert sorted((x["metric"], x["value"]) for x in audit.after["readings"]) == [
            ("dbp", 92),
            ("sbp", 141),
        ]
        assert audit.after["rejected"] == 0

    async def test_a_physician_may_enter_vitals(self, db, flow, checked_in, physician_user):
        r = await enter(
            flow, checked_in, [entry("spo2", 96, "%", flow.clock.now())], flow.physician
        )
        assert r.status_code == 200, r.text
        (row,) = await rows_of(db, checked_in)
        assert row.entered_by == physician_user.id

    async def test_a_bad_value_is_rejected_with_its_code_and_the_others_stored(
        self, db, flow, checked_in
    ):
        now = flow.clock.now()
        r = await enter(
            flow,
            checked_in,
            [
                entry("hr", 72, "{beat}/min", now),
                entry("spo2", 101, "%", now),
                entry("temp", 98.6, "[degF]", now),
                entry("etco2", 35, "mm[Hg]", now),
                entry("sbp", 16, "kPa", now),
            ],
        )
        assert r.status_code == 200, r.text
        results = r.json()["results"]
        assert [(x["status"], x["code"]) for x in results] == [
            ("created", None),
            ("rejected", "implausible_value"),
            ("created", None),
            ("rejected", "unknown_metric"),
            ("created", None),
        ]
        assert results[1]["message"]
        assert results[1]["reading_id"] is None
        stored = {x.metric: x.value for x in await rows_of(db, checked_in)}
        assert stored == {"hr": 72, "temp": 37.0, "sbp": 120.0}
        (audit,) = await audits(db, "VITALS_ENTERED")
        assert audit.after is not None
        assert audit.after["rejected"] == 2

    async def test_dbp_not_below_sbp_rejects_the_measurement(self, db, flow, checked_in):
        r = await enter(flow, checked_in, manual_bp(flow.clock.now(), 90, 95))
        assert [x["code"] for x in r.json()["results"]] == ["dbp_not_below_sbp"] * 2
        assert await rows_of(db, checked_in) == []
        assert await audits(db, "VITALS_ENTERED") == []

    async def test_missing_offset_and_future_time_are_rejected(self, flow, checked_in):
        now = flow.clock.now()
        naive = now.replace(tzinfo=None).isoformat()
        r = await enter(
            flow,
            checked_in,
            [
                {"metric": "hr", "value": 70, "unit": "/min", "observed_at": naive},
                entry("hr", 70, "/min", now + timedelta(minutes=10)),
            ],
        )
        assert r.status_code == 200, r.text
        assert [x["code"] for x in r.json()["results"]] == [
            "missing_offset",
            "future_observed_at",
        ]

    async def test_a_reading_before_check_in_is_rejected(self, db, flow, checked_in):
        r = await enter(
            flow, checked_in, [entry("hr", 70, "/min", flow.clock.now() - timedelta(minutes=1))]
        )
        assert r.status_code == 200, r.text
        assert r.json()["results"][0]["code"] == "before_check_in"
        assert await rows_of(db, checked_in) == []

    async def test_a_session_not_yet_checked_in_is_409(self, db, flow, patient, chair):
        session_id = await flow.schedule(patient, chair)
        r = await enter(flow, session_id, manual_bp(flow.clock.now()))
        assert r.status_code == 409, r.text
        assert "scheduled" in r.json()["detail"]
        assert await rows_of(db, session_id) == []

    async def test_a_session_of_another_clinic_is_404(self, db, flow, checked_in, settings):
        stranger = await make_user(db, await make_clinic(db), "nurse")
        auth = bearer(stranger, settings, now=flow.clock.now())
        r = await enter(flow, checked_in, manual_bp(flow.clock.now()), auth)
        assert r.status_code == 404, r.text
        r = await flow.client.get(f"{API}/sessions/{checked_in}/vitals", headers=auth)
        assert r.status_code == 404, r.text
        assert await rows_of(db, checked_in) == []

    async def test_an_unknown_session_is_404(self, flow):
        r = await enter(flow, str(uuid.uuid4()), manual_bp(flow.clock.now()))
        assert r.status_code == 404, r.text

    async def test_more_than_50_readings_are_422(self, flow, checked_in):
        readings = [entry("hr", 70, "/min", flow.clock.now())] * 51
        r = await enter(flow, checked_in, readings)
        assert r.status_code == 422, r.text

    async def test_an_unknown_field_is_422(self, flow, checked_in):
        readings = [entry("hr", 70, "/min", flow.clock.now(), device_id="x")]
        assert (await enter(flow, checked_in, readings)).status_code == 422


class TestListVitals:
    async def test_lists_in_observed_order_and_filters_by_metric(self, flow, checked_in):
        start = flow.clock.now()
        flow.clock.advance(minutes=3)
        r = await enter(
            flow,
            checked_in,
            [
                entry("hr", 75, "/min", start + timedelta(minutes=2)),
                *manual_bp(start + timedelta(minutes=1)),
                entry("hr", 71, "/min", start),
            ],
        )
        assert r.status_code == 200, r.text
        items = await listed(flow, checked_in)
        assert [(x["metric"], x["value"]) for x in items] == [
            ("hr", 71),
            ("dbp", 84),
            ("sbp", 132),
            ("hr", 75),
        ]
        assert {x["source"] for x in items} == {"manual"}
        hr = await listed(flow, checked_in, metric="hr")
        assert [x["value"] for x in hr] == [71, 75]

    async def test_an_unknown_metric_is_422(self, flow, checked_in):
        r = await flow.client.get(
            f"{API}/sessions/{checked_in}/vitals", params={"metric": "etco2"}, headers=flow.nurse
        )
        assert r.status_code == 422, r.text


class TestExcludeReading:
    async def test_an_artefact_is_hidden_from_the_list_but_stays_stored(self, db, flow, checked_in):
        reading_id = await one_reading(flow, checked_in)
        flow.clock.advance(minutes=1)
        r = await exclude(flow, reading_id, {"reason": "probe off the finger", "kind": "artefact"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["excluded_kind"] == "artefact"
        assert body["excluded_reason"] == "probe off the finger"
        assert datetime.fromisoformat(body["excluded_at"]) == flow.clock.now()

        assert await listed(flow, checked_in) == []
        (shown,) = await listed(flow, checked_in, include_excluded="true")
        assert shown["id"] == reading_id
        assert shown["excluded_kind"] == "artefact"
        (row,) = await rows_of(db, checked_in)
        assert row.excluded_at == flow.clock.now()
        assert row.value == 72

    async def test_is_audited_with_before_and_after(self, db, flow, checked_in, nurse_user):
        reading_id = await one_reading(flow, checked_in)
        r = await exclude(flow, reading_id, {"reason": "typed 27", "kind": "entered_in_error"})
        assert r.status_code == 200, r.text
        (audit,) = await audits(db, "READING_EXCLUDED")
        assert audit.entity_type == "vital_reading"
        assert audit.entity_id == reading_id
        assert audit.actor_id == str(nurse_user.id)
        assert audit.before == {"excluded_at": None, "excluded_kind": None, "excluded_reason": None}
        assert audit.after is not None
        assert audit.after["excluded_kind"] == "entered_in_error"
        assert audit.after["excluded_reason"] == "typed 27"
        assert audit.after["session_id"] == checked_in

    async def test_writes_a_reading_excluded_event_on_the_session_stream(
        self, db, flow, checked_in
    ):
        reading_id = await one_reading(flow, checked_in)
        r = await exclude(flow, reading_id, {"reason": "motion", "kind": "artefact"})
        assert r.status_code == 200, r.text
        (event,) = await events_of(db, "reading_excluded")
        assert event.stream == f"session:{checked_in}"
        assert event.payload["reading_id"] == reading_id
        assert event.payload["kind"] == "artefact"
        (created,) = [e for e in await events_of(db, "reading") if e.stream == event.stream]
        assert event.seq > created.seq

    @pytest.mark.parametrize(
        "body",
        [
            {"kind": "artefact"},
            {"reason": "", "kind": "artefact"},
            {"reason": "   ", "kind": "artefact"},
        ],
    )
    async def test_without_a_reason_is_422(self, db, flow, checked_in, body):
        reading_id = await one_reading(flow, checked_in)
        r = await exclude(flow, reading_id, body)
        assert r.status_code == 422, r.text
        (row,) = await rows_of(db, checked_in)
        assert row.excluded_at is None

    async def test_an_unknown_kind_is_422(self, flow, checked_in):
        reading_id = await one_reading(flow, checked_in)
        r = await exclude(flow, reading_id, {"reason": "x", "kind": "doubtful"})
        assert r.status_code == 422, r.text

    async def test_excluding_twice_is_409(self, db, flow, checked_in):
        reading_id = await one_reading(flow, checked_in)
        body = {"reason": "motion", "kind": "artefact"}
        assert (await exclude(flow, reading_id, body)).status_code == 200
        r = await exclude(flow, reading_id, {"reason": "again", "kind": "entered_in_error"})
        assert r.status_code == 409, r.text
        (row,) = await rows_of(db, checked_in)
        assert row.excluded_reason == "artefact: motion"
        assert len(await audits(db, "READING_EXCLUDED")) == 1

    async def test_a_reading_of_another_clinic_is_404(self, db, flow, checked_in, settings):
        reading_id = await one_reading(flow, checked_in)
        stranger = await make_user(db, await make_clinic(db), "physician")
        auth = bearer(stranger, settings, now=flow.clock.now())
        r = await exclude(flow, reading_id, {"reason": "x", "kind": "artefact"}, auth)
        assert r.status_code == 404, r.text
        (row,) = await rows_of(db, checked_in)
        assert row.excluded_at is None

    async def test_an_unknown_reading_is_404(self, flow):
        r = await exclude(flow, str(uuid.uuid4()), {"reason": "x", "kind": "artefact"})
        assert r.status_code == 404, r.text


class TestRoles:
    @pytest.mark.parametrize("who", ["admin", "device"])
    async def test_admins_and_devices_are_refused(
        self, db, flow, checked_in, clinic, settings, who
    ):
        reading_id = await one_reading(flow, checked_in)
        if who == "admin":
            auth = bearer(await make_user(db, clinic, "admin"), settings, now=flow.clock.now())
        else:
            auth = device_auth((await make_device(db, clinic))[1])
        now = flow.clock.now()
        assert (await enter(flow, checked_in, manual_bp(now), auth)).status_code == 403
        r = await flow.client.get(f"{API}/sessions/{checked_in}/vitals", headers=auth)
        assert r.status_code == 403
        r = await exclude(flow, reading_id, {"reason": "x", "kind": "artefact"}, auth)
        assert r.status_code == 403


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        (None, (None, None)),
        ("artefact: probe off: re-sited", ("artefact", "probe off: re-sited")),
        ("entered_in_error: wrong patient", ("entered_in_error", "wrong patient")),
        ("legacy note", (None, "legacy note")),
        ("other: kind", (None, "other: kind")),
    ],
)
def test_split_exclusion_reads_back_the_kind_and_the_reason(stored, expected):
    assert split_exclusion(stored) == expected
