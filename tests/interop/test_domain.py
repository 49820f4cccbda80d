"""Pure ER7 parsing, ORU^R01 mapping and ACK building against the golden samples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fhir.resources.R4B.observation import Observation

from app.interop.domain import er7, fhir_map, oru
from app.interop.domain.ack import AckCode, AckError, Severity, build_ack
from app.interop.domain.codes import Coded, metric_for, tables, ucum_for
from app.interop.domain.defaults import DEFAULT_SENTINELS
from app.interop.domain.senders import address_allowed
from tests.interop.samples import er7 as sample

DEFAULTS = tables(None, None, DEFAULT_SENTINELS)


def content(name: str, tz=None, table=DEFAULTS):
    message = er7.parse(sample(name))
    head = oru.header(message)
    return head, oru.observations(message, control_id=head.control_id, tables=table, assume_tz=tz)


def test_pcd01_sample_gives_six_readings_and_skips_the_hierarchy():
    head, got = content("pcd01_philips_vitals.hl7")
    assert (head.sending_application, head.sending_facility) == ("PHILIPS_IX", "ICU_A")
    assert (head.message_code, head.trigger_event, head.control_id) == ("ORU", "R01", "PHX-000123")
    assert oru.check_header(head) is None
    kinds = [r.kind for r in got.rows]
    assert kinds.count(oru.RowKind.SKIPPED) == 5
    assert [(r.metric, r.value, r.unit) for r in got.readings] == [
        ("sbp", 128.0, "mm[Hg]"),
        ("dbp", 82.0, "mm[Hg]"),
        ("map", 97.0, "mm[Hg]"),
        ("hr", 72.0, "/min"),
        ("spo2", 97.0, "%"),
        ("rr", 14.0, "/min"),
    ]
    first = got.readings[0]
    assert first.source_id == "hl7:PHX-000123:4:1.1.1.1"
    assert first.observed_at == datetime(2026, 1, 24, 12, 15, 39, tzinfo=UTC)
    assert got.patient_ids == ("HR-100234",)


def test_mindray_sample_rejects_the_sentinel_keeps_unmapped_rows_raw():
    _, got = content("pcd01_mindray_sentinel.hl7")
    assert [(r.metric, r.value) for r in got.readings] == [("spo2", 96.0)]
    rejected = got.of_kind(oru.RowKind.REJECTED)
    assert [(r.set_id, r.reject_code) for r in rejected] == [("5", "sentinel_value")]
    unmapped = got.of_kind(oru.RowKind.UNMAPPED)
    assert [r.code.label() for r in unmapped] == [
        "150488^MDC_PULS_OXIM_PERF_REL^MDC",
        "2000^MNDRY_SQI^99MNDRY",
    ]
    assert unmapped[1].raw.startswith("OBX|6|NM|2000^MNDRY_SQI")
    # hierarchy rows and the RR row without a value are skipped
    assert len(got.of_kind(oru.RowKind.SKIPPED)) == 3
    # 20260124131539000+0800: fractions without a dot
    assert got.readings[0].observed_at == datetime(2026, 1, 24, 5, 15, 39, tzinfo=UTC)


def test_local_times_need_the_profile_time_zone():
    _, without = content("ge_loinc_local_time.hl7")
    assert not without.readings
    assert {r.reject_code for r in without.rows} == {"missing_offset"}
    _, got = content("ge_loinc_local_time.hl7", tz=ZoneInfo("Europe/Oslo"))
    assert [(r.metric, r.unit) for r in got.readings] == [
        ("hr", "/min"),
        ("spo2", "%"),
        ("sbp", "mm[Hg]"),
        ("dbp", "mm[Hg]"),
        ("rr", "/min"),
        ("temp", "Cel"),
    ]
    # OBR-7 when OBX-14 is empty; OBX-14 wins when present
    assert got.readings[0].observed_at == datetime(2026, 1, 24, 12, 15, 39, tzinfo=UTC)
    assert got.readings[-1].observed_at == datetime(2026, 1, 24, 12, 15, 30, tzinfo=UTC)


def test_codes_match_by_name_when_vendors_disagree_on_numbers_and_ucum_units_pass():
    _, got = content("philips_cuff_ucum.hl7")
    assert [(r.metric, r.unit) for r in got.readings] == [
        ("sbp", "mm[Hg]"),
        ("dbp", "mm[Hg]"),
        ("map", "mm[Hg]"),
        ("pr", "{beat}/min"),
        ("temp", "[degF]"),
    ]
    assert got.readings[0].observed_at.microsecond == 250000


def test_profile_maps_extend_and_override_the_defaults():
    table = tables({"2000": "spo2", "150456": ""}, {"": ""}, frozenset())
    _, got = content("pcd01_mindray_sentinel.hl7", table=table)
    # 150456 removed (matched by name instead), the vendor code mapped, no sentinels
    assert [r.metric for r in got.readings] == ["spo2", "sbp", "spo2"]
    assert metric_for(Coded("x", "mdc_puls_oxim_sat_o2"), table.code_map) == "spo2"


@pytest.mark.parametrize(
    ("unit", "ucum"),
    [
        (Coded("262688", "MDC_DIM_PERCENT", "MDC"), "%"),
        (Coded("", "MDC_DIM_MMHG"), "mm[Hg]"),
        (Coded("mmHg"), "mm[Hg]"),
        (Coded("bpm"), "/min"),
        (Coded("268192", "MDC_DIM_DEGC", "MDC"), "Cel"),
        (Coded("mm[Hg]", "mm[Hg]", "UCUM"), "mm[Hg]"),
        (Coded("furlong"), "furlong"),
    ],
)
def test_units_as_ucum_mdc_or_plain_text(unit, ucum):
    assert ucum_for(unit, DEFAULTS.unit_map) == ucum


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20260124131539+0100", datetime(2026, 1, 24, 12, 15, 39, tzinfo=UTC)),
        ("20260124131539.25-0500", datetime(2026, 1, 24, 18, 15, 39, 250000, tzinfo=UTC)),
        ("20260124131539000+0800", datetime(2026, 1, 24, 5, 15, 39, tzinfo=UTC)),
        ("202601241315+0000", datetime(2026, 1, 24, 13, 15, tzinfo=UTC)),
    ],
)
def test_timestamps_with_and_without_fractions(text, expected):
    assert er7.parse_timestamp(text, assume_tz=None) == expected


def test_timestamp_without_offset_uses_the_zone_or_fails():
    oslo = er7.parse_timestamp("20260724131539", assume_tz=ZoneInfo("Europe/Oslo"))
    assert oslo.utcoffset() == timedelta(hours=2)
    with pytest.raises(er7.TimestampError, match="no UTC offset"):
        er7.parse_timestamp("20260724131539", assume_tz=None)
    with pytest.raises(er7.TimestampError):
        er7.parse_timestamp("2026-07-24", assume_tz=None)
    with pytest.raises(er7.TimestampError, match="valid date"):
        er7.parse_timestamp("20261324131539+0000", assume_tz=None)


@pytest.mark.parametrize("garbage", ["", "hello", "PID|1", "MSHxx", "MSH|"])
def test_garbage_is_not_hl7(garbage):
    with pytest.raises(er7.Er7Error):
        er7.parse(garbage)


def test_escapes_and_repetitions():
    message = er7.parse("MSH|^~\\&|A\\F\\B|F|||20260101000000+0000||ORU^R01|1|P|2.6\rPID|||X~Y")
    assert message.msh.component(3) == "A|B"
    assert message.first("PID").repetitions(3) == ("X", "Y")
    assert er7.escape("a|b^c", message.separators) == "a\\F\\b\\S\\c"


def test_header_checks():
    head = oru.header(er7.parse(sample("adt_a01.hl7")))
    assert oru.check_header(head)[0] is oru.Refusal.UNSUPPORTED_TYPE
    old = oru.header(er7.parse(sample("pcd01_philips_vitals.hl7", **{"|2.6|": "|2.2|"})))
    assert oru.check_header(old)[0] is oru.Refusal.UNSUPPORTED_VERSION
    empty = oru.header(er7.parse(sample("pcd01_philips_vitals.hl7", **{"PHX-000123|P": "|P"})))
    assert oru.check_header(empty)[0] is oru.Refusal.MISSING_CONTROL_ID


def test_long_ids_are_hashed_to_fit_the_key():
    rid = oru.reading_id("X" * 200, "1", "1.1.1.1")
    assert rid.startswith("hl7:")
    assert len(rid) <= oru.MAX_SOURCE_ID_CHARS
    assert rid == oru.reading_id("X" * 200, "1", "1.1.1.1")


def test_ack_echoes_msh10_and_lists_warnings():
    head = oru.header(er7.parse(sample("pcd01_mindray_sentinel.hl7")))
    now = datetime(2026, 1, 24, 12, 0, tzinfo=UTC)
    ack = build_ack(
        head,
        AckCode.AA,
        control_id="A1",
        now=now,
        text="1 reading(s) stored",
        errors=[AckError("103", Severity.WARNING, "unmapped_code", "x|y", "OBX", 4, 3)],
    )
    segments = ack.rstrip("\r").split("\r")
    assert segments[0] == (
        "MSH|^~\\&|KETAMINE_MONITOR||Mindray|BeneView_T5|20260124120000+0000||ACK^R01^ACK|A1|P|2.3.1"
    )
    assert segments[1] == "MSA|AA|MR-7781|1 reading(s) stored"
    assert segments[2] == (
        "ERR||OBX^4^3|103^Table value not found^HL70357|W|unmapped_code|||x\\F\\y"
    )
    parsed = er7.parse(ack)
    assert parsed.first("MSA").field(2) == "MR-7781"


def test_ack_without_a_header():
    ack = build_ack(None, AckCode.AR, control_id="A2", now=datetime(2026, 1, 1, tzinfo=UTC))
    assert "\rMSA|AR|\r" in ack


@pytest.mark.parametrize(
    ("peer", "allowed", "ok"),
    [
        ("10.20.1.5", ["10.20.0.0/16"], True),
        ("10.21.1.5", ["10.20.0.0/16"], False),
        ("127.0.0.1", ["127.0.0.1"], True),
        ("::ffff:127.0.0.1", ["127.0.0.1"], True),
        ("127.0.0.1", [], False),
        (None, ["0.0.0.0/0"], False),
        ("not-an-ip", ["0.0.0.0/0"], False),
        ("127.0.0.1", ["bogus", "127.0.0.0/8"], True),
    ],
)
def test_addresses(peer, allowed, ok):
    assert address_allowed(peer, allowed) is ok


def test_bp_panel_observation_is_a_valid_r4_vital_signs_panel():
    at = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    resource = fhir_map.bp_panel_observation(
        systolic=fhir_map.PanelPart("11111111-1111-4111-8111-111111111111", "m1-1", 124, "mm[Hg]"),
        diastolic=fhir_map.PanelPart("22222222-2222-4222-8222-222222222222", "m1-2", 78, "mm[Hg]"),
        observed_at=at,
        patient_id="p1",
        device_id="d1",
    )
    panel = Observation.model_validate(resource)
    assert panel.id == "11111111-1111-4111-8111-111111111111"
    assert panel.code.coding[0].code == "85354-9"
    assert [c.code.coding[0].code for c in panel.component] == ["8480-6", "8462-4"]
    assert [c.valueQuantity.code for c in panel.component] == ["mm[Hg]", "mm[Hg]"]
    assert [i.value for i in panel.identifier] == ["m1-1", "m1-2"]
    assert (panel.subject.reference, panel.device.reference) == ("Patient/p1", "Device/d1")
    # A panel we return can be posted back and yields the same two readings.
    raws = fhir_map.observation_readings(resource, key="k", tables=DEFAULTS)
    assert [(r.metric, r.value, r.unit) for r in raws] == [
        ("sbp", 124.0, "mm[Hg]"),
        ("dbp", 78.0, "mm[Hg]"),
    ]
