"""Pure rules: signature, canonical body, retry schedule."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from app.notifications.domain import (
    BACKOFF_CAP_S,
    build_body,
    check_payload,
    next_attempt_delay_s,
    should_give_up,
    sign,
    verify,
)

CREATED = datetime(2026, 11, 28, 18, 50, tzinfo=UTC)


class TestSign:
    def test_is_sha256_hmac_hex_of_the_exact_body(self):
        secret, body = b"shared-secret", b'{"alarm":"spo2_low","priority":"high"}'
        expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
        assert sign(secret, body) == f"sha256={expected}"

    def test_known_vector(self):
        # RFC 4231 test case 2.
        assert sign(b"Jefe", b"what do ya want for nothing?") == (
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        )

    def test_verify_accepts_the_signature_and_refuses_any_change(self):
        signature = sign(b"k", b"body")
        assert verify(b"k", b"body", signature)
        assert not verify(b"k", b"body ", signature)
        assert not verify(b"other", b"body", signature)
        assert not verify(b"k", b"body", signature.removeprefix("sha256="))


class TestBackoff:
    @pytest.mark.parametrize(
        ("attempts", "delay_s"),
        [(1, 5), (2, 10), (3, 20), (4, 40), (7, 320), (8, 600), (9, 600), (10_000, 600)],
    )
    def test_doubles_from_five_seconds_up_to_ten_minutes(self, attempts, delay_s):
        assert next_attempt_delay_s(attempts) == delay_s

    def test_never_exceeds_the_cap_and_never_falls(self):
        delays = [next_attempt_delay_s(n) for n in range(1, 200)]
        assert delays == sorted(delays)
        assert max(delays) == BACKOFF_CAP_S

    def test_refuses_zero_attempts(self):
        with pytest.raises(ValueError, match="at least 1"):
            next_attempt_delay_s(0)

    @pytest.mark.parametrize(
        ("attempts", "max_attempts", "give_up"),
        [(1, 8, False), (7, 8, False), (8, 8, True), (9, 8, True), (1, 1, True)],
    )
    def test_gives_up_once_max_attempts_are_used(self, attempts, max_attempts, give_up):
        assert should_give_up(attempts, max_attempts) is give_up


class TestBuildBody:
    def test_is_compact_sorted_json_with_the_envelope(self):
        body = build_body(
            {"priority": "high", "alarm": "SpO2 88 %", "initials": "ØK"},
            delivery_id="d-1",
            kind="alarm_escalated",
            created_at=CREATED,
        )
        expected = (
            '{"alarm":"SpO2 88 %","created_at":"2026-11-28T18:50:00+00:00","delivery_id":"d-1",'
            '"event":"alarm_escalated","initials":"ØK","priority":"high"}'
        )
        assert body == expected.encode()
        assert json.loads(body)["initials"] == "ØK"

    def test_does_not_depend_on_key_order(self):
        a = build_body(
            {"a": 1, "b": {"y": 2, "x": 1}}, delivery_id="d", kind="k", created_at=CREATED
        )
        b = build_body(
            {"b": {"x": 1, "y": 2}, "a": 1}, delivery_id="d", kind="k", created_at=CREATED
        )
        assert a == b

    def test_created_at_keeps_its_offset(self):
        oslo = CREATED.astimezone(timezone(timedelta(hours=1)))
        body = json.loads(build_body({}, delivery_id="d", kind="k", created_at=oslo))
        assert body["created_at"] == "2026-11-28T19:50:00+01:00"

    @pytest.mark.parametrize("key", ["delivery_id", "event", "created_at"])
    def test_refuses_payload_keys_the_envelope_uses(self, key):
        with pytest.raises(ValueError, match="reserved"):
            check_payload({key: "x"})
        with pytest.raises(ValueError, match="reserved"):
            build_body({key: "x"}, delivery_id="d", kind="k", created_at=CREATED)

    def test_refuses_naive_time_and_non_json_values(self):
        with pytest.raises(ValueError, match="time zone"):
            build_body({}, delivery_id="d", kind="k", created_at=CREATED.replace(tzinfo=None))
        with pytest.raises(ValueError, match="JSON"):
            build_body({"x": float("nan")}, delivery_id="d", kind="k", created_at=CREATED)
        with pytest.raises(TypeError):
            build_body({"x": CREATED}, delivery_id="d", kind="k", created_at=CREATED)
