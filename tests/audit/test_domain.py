from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from uuid import UUID

import pytest

from app.audit.domain import GENESIS_HASH, AuditRecord, chain_hash, check_link, jsonable

AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def record(seq: int, after: dict | None = None) -> AuditRecord:
    return AuditRecord(
        seq=seq,
        at=AT,
        clinic_id=None,
        actor_type="user",
        actor_id="u1",
        actor_name="kari",
        action="PATIENT_UPDATED",
        entity_type="patient",
        entity_id="p1",
        before=None,
        after=after if after is not None else {"mrn": "1"},
    )


def build_chain(n: int) -> list[tuple[AuditRecord, str, str]]:
    rows, prev = [], GENESIS_HASH
    for seq in range(1, n + 1):
        rec = record(seq, {"n": seq})
        h = chain_hash(rec, prev)
        rows.append((rec, prev, h))
        prev = h
    return rows


def first_break(rows):
    prev, seq = GENESIS_HASH, 1
    for rec, prev_hash, h in rows:
        broken = check_link(rec, prev_hash, h, expected_seq=seq, expected_prev=prev)
        if broken:
            return broken
        prev, seq = h, seq + 1
    return None


class TestChainHash:
    def test_hash_is_sha256_hex(self):
        h = chain_hash(record(1), GENESIS_HASH)
        assert len(h) == 64
        int(h, 16)

    def test_same_instant_in_another_offset_gives_the_same_hash(self):
        oslo = timezone(timedelta(hours=1))
        base = record(1)
        shifted = AuditRecord(
            **{**{f: getattr(base, f) for f in base.__slots__}, "at": AT.astimezone(oslo)}
        )
        assert chain_hash(shifted, GENESIS_HASH) == chain_hash(base, GENESIS_HASH)

    @pytest.mark.parametrize(
        "field_change", [{"after": {"mrn": "2"}}, {"actor_name": "eve"}, {"seq": 2}]
    )
    def test_any_change_changes_the_hash(self, field_change):
        base = record(1)
        changed = AuditRecord(**{**{f: getattr(base, f) for f in base.__slots__}, **field_change})
        assert chain_hash(changed, GENESIS_HASH) != chain_hash(base, GENESIS_HASH)

    def test_prev_hash_is_covered(self):
        assert chain_hash(record(1), GENESIS_HASH) != chain_hash(record(1), "1" * 64)


class TestCheckLink:
    def test_intact_chain_passes(self):
        assert first_break(build_chain(5)) is None

    def test_altered_content_names_that_row(self):
        rows = build_chain(5)
        _rec, prev, h = rows[2]
        rows[2] = (record(3, {"n": 999}), prev, h)
        broken = first_break(rows)
        assert broken is not None
        assert broken.seq == 3
        assert "content" in broken.reason

    def test_deleted_row_is_found(self):
        rows = build_chain(5)
        del rows[1]
        broken = first_break(rows)
        assert broken is not None
        assert broken.seq == 3
        assert "expected seq 2" in broken.reason

    def test_rehashed_row_breaks_the_next_link(self):
        rows = build_chain(4)
        rec = record(2, {"n": "forged"})
        rows[1] = (rec, rows[1][1], chain_hash(rec, rows[1][1]))
        broken = first_break(rows)
        assert broken is not None
        assert broken.seq == 3
        assert "prev_hash" in broken.reason


class TestJsonable:
    def test_types_round_trip_as_exact_strings(self):
        out = jsonable(
            {
                "dose": Decimal("35.0"),
                "at": datetime(2026, 1, 1, 12, tzinfo=UTC),
                "day": date(2026, 1, 2),
                "id": UUID(int=1),
                "list": (1, 2),
                "none": None,
            }
        )
        assert out == {
            "dose": "35.0",
            "at": "2026-01-01T12:00:00+00:00",
            "day": "2026-01-02",
            "id": "00000000-0000-0000-0000-000000000001",
            "list": [1, 2],
            "none": None,
        }

    def test_naive_datetime_is_refused(self):
        with pytest.raises(ValueError, match="naive"):
            jsonable({"at": datetime(2026, 1, 1)})  # noqa: DTZ001

    def test_unknown_type_is_refused(self):
        with pytest.raises(TypeError):
            jsonable({"x": object()})
