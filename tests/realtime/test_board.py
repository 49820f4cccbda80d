"""/ws/board against a real server: snapshot, live events, resume, gaps, refusals (issue 8)."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.exceptions import InvalidStatus

from tests.realtime.conftest import Live, quiet, recv, recv_until

pytestmark = pytest.mark.slow

CLINIC = json.dumps({"subscribe": {"clinic": True}})


def seqs(messages: list[dict], stream: str) -> list[int]:
    return [m["seq"] for m in messages if m.get("stream") == stream]


class TestHandshake:
    async def test_without_credentials_is_refused_before_accept(self, live: Live) -> None:
        with pytest.raises(InvalidStatus) as refused:
            async with live.board(headers={}):
                pass
        assert refused.value.response.status_code == 403

    async def test_device_key_is_refused(self, live: Live) -> None:
        headers = {"Authorization": f"Bearer {live.seeded.device_key}"}
        with pytest.raises(InvalidStatus):
            async with live.board(headers=headers):
                pass

    async def test_bad_token_is_refused(self, live: Live) -> None:
        with pytest.raises(InvalidStatus):
            async with live.board(headers={"Authorization": "Bearer not-a-token"}):
                pass

    async def test_another_clinics_session_is_a_4xx_error_naming_the_field(
        self, live: Live
    ) -> None:
        async with live.board() as ws:
            await ws.send(json.dumps({"subscribe": {"sessions": [str(live.seeded.clinic.id)]}}))
            error = await recv(ws)
            assert error["type"] == "error"
            assert error["status"] == 404
            assert "subscribe.sessions[0]" in error["detail"]
            await ws.send(json.dumps({"subscribe": {"clinic": True, "sessions": []}, "x": 1}))
            assert (await recv(ws))["status"] == 422
            await ws.send("[" * 100_000 + "]" * 100_000)  # deeper than Python's JSON parser goes
            assert (await recv(ws))["detail"] == "message: nested too deeply"
            await ws.send(CLINIC)  # the client may try again
            assert (await recv(ws))["type"] == "snapshot"


class TestAlarmsOnTheBoard:
    async def test_snapshot_carries_active_alarms_and_new_ones_arrive_as_events(
        self, live: Live
    ) -> None:
        session_id = await live.started_session()
        stamp = live.clock.now().isoformat()
        sbp = {"id": "sbp-1", "metric": "sbp", "value": 204, "unit": "mm[Hg]", "observed_at": stamp}
        auth = {"Authorization": f"Bearer {live.seeded.device_key}"}
        r = await live.http.post(
            f"http://{live.host}/api/v1/vitals", json={"readings": [sbp]}, headers=auth
        )
        assert r.status_code == 200, r.text
        async with live.board() as ws:
            await ws.send(CLINIC)
            snapshot = await recv(ws)
            [entry] = snapshot["sessions"]
            [alarm] = entry["alarms"]
            assert (alarm["episode"], alarm["priority"], alarm["sounding"]) == (
                "sbp:high",
                "high",
                True,
            )
            dbp = {**sbp, "id": "dbp-1", "metric": "dbp", "value": 115}
            r = await live.http.post(
                f"http://{live.host}/api/v1/vitals", json={"readings": [dbp]}, headers=auth
            )
            assert r.status_code == 200, r.text
            events = await recv_until(ws, lambda got: any(e["type"] == "alarm_raised" for e in got))
            raised = next(e for e in events if e["type"] == "alarm_raised")
            assert raised["session_id"] == session_id
            assert raised["data"]["alarm"]["episode"] == "dbp:high"


class TestMetrics:
    async def test_connected_boards_and_sent_events_are_exposed(self, live: Live) -> None:
        await live.started_session()
        async with live.board() as ws:
            await ws.send(CLINIC)
            await recv(ws)
            await live.ingest(96)
            await recv_until(ws, lambda got: any(e["type"] == "reading" for e in got))
            text = (await live.http.get(f"http://{live.host}/metrics")).text
            assert "board_connections 1.0" in text
            assert "board_events_sent_total" in text
            assert "board_commit_to_send_seconds_bucket" in text


class TestSnapshotThenLive:
    async def test_snapshot_lists_active_sessions_then_events_follow_in_order(
        self, live: Live
    ) -> None:
        session_id = await live.started_session()
        await live.ingest(96, 95)
        async with live.board() as ws:
            await ws.send(CLINIC)
            snapshot = await recv(ws)
            assert snapshot["type"] == "snapshot"
            [entry] = snapshot["sessions"]
            assert entry["session_id"] == session_id
            assert entry["state"] == "infusing"
            assert entry["progress"]["ordered_dose_mg"]
            assert entry["vitals"]["spo2"]["value"] == 95
            assert all(s["alarms"] == [] for s in snapshot["sessions"])
            head = snapshot["seq"]["sessions"][session_id]
            assert head == entry["seq"] > 0
            await live.write(session_id, 5)
            await live.ingest(94)
            events = await recv_until(ws, lambda got: len(got) >= 6)
            stream = f"session:{session_id}"
            assert seqs(events, stream) == list(range(head + 1, head + 7))
            assert events[-1]["type"] == "reading"
            assert events[-1]["data"]["value"] == 94
            assert events[-1]["session_id"] == session_id
            assert await quiet(ws) == []

    async def test_state_changes_reach_the_board_on_both_streams(self, live: Live) -> None:
        flow = live.flow()
        async with live.board() as ws:
            await ws.send(CLINIC)
            snapshot = await recv(ws)
            assert snapshot["sessions"] == []
            session_id = await flow.schedule(live.seeded.patients[0], live.seeded.chair)
            got = await recv_until(ws, lambda g: any(m["type"] == "session_state" for m in g))
            assert [m["type"] for m in got] == ["session_added", "session_state"]
            assert got[0]["data"]["session_id"] == session_id
            assert got[0]["session_id"] is None
            assert got[0]["stream"].startswith("clinic:")
            assert got[1]["data"] == got[1]["data"] | {"state": "scheduled", "previous": None}
            r = await flow.post(f"/{session_id}/cancel", {"reason": "patient unwell"})
            assert r.status_code == 200, r.text
            got = await recv_until(ws, lambda g: len(g) >= 2)
            assert {m["type"] for m in got} == {"session_state", "session_ended"}


class TestResume:
    async def test_resume_gets_exactly_the_missed_events_then_live(self, live: Live) -> None:
        session_id = await live.started_session()
        stream = f"session:{session_id}"
        async with live.board() as ws:
            await ws.send(json.dumps({"subscribe": {"sessions": [session_id]}}))
            k = (await recv(ws))["seq"]["sessions"][session_id]
        await live.write(session_id, 50)
        async with live.board() as ws:
            await ws.send(json.dumps({"resume": {"sessions": {session_id: k}}}))
            missed = await recv_until(ws, lambda g: bool(g) and g[-1]["type"] == "resumed")
            assert seqs(missed, stream) == list(range(k + 1, k + 51))
            assert [m["type"] for m in missed].count("resumed") == 1  # last, once caught up
            assert await quiet(ws) == []
            await live.write(session_id, 1)
            assert (await recv(ws))["seq"] == k + 51

    async def test_session_created_while_away_arrives_through_the_clinic_stream(
        self, live: Live
    ) -> None:
        async with live.board() as ws:
            await ws.send(CLINIC)
            clinic_seq = (await recv(ws))["seq"]["clinic"]
        session_id = await live.started_session()
        await live.write(session_id, 3)
        async with live.board() as ws:
            await ws.send(json.dumps({"resume": {"clinic": clinic_seq, "sessions": {}}}))
            got = await recv_until(ws, lambda g: bool(g) and g[-1]["type"] == "resumed")
            assert sum(m["type"] == "reading" for m in got) == 3
            assert got[0]["type"] == "session_added"
            assert got[0]["seq"] == clinic_seq + 1
            session_events = [m for m in got if m.get("session_id") == session_id]
            assert [m["seq"] for m in session_events] == list(range(1, len(session_events) + 1))
            assert {m["data"].get("state") for m in session_events} >= {"scheduled", "infusing"}
            assert await quiet(ws) == []

    async def test_a_resume_naming_no_position_gets_a_snapshot(self, live: Live) -> None:
        async with live.board() as ws:
            await ws.send(json.dumps({"subscribe": {"clinic": True}, "resume": {}}))
            assert (await recv(ws))["type"] == "snapshot"

    async def test_beyond_the_resume_window_gives_gap_and_a_fresh_snapshot(
        self, live: Live
    ) -> None:
        session_id = await live.started_session()
        async with live.board() as ws:
            await ws.send(json.dumps({"subscribe": {"sessions": [session_id]}}))
            k = (await recv(ws))["seq"]["sessions"][session_id]
        await live.write(session_id, 2)
        live.clock.advance(hours=25)
        async with live.board() as ws:
            await ws.send(json.dumps({"resume": {"sessions": {session_id: k}}}))
            assert (await recv(ws))["type"] == "gap"
            snapshot = await recv(ws)
            assert snapshot["type"] == "snapshot"
            assert snapshot["seq"]["sessions"][session_id] == k + 2
            assert await quiet(ws) == []


class TestRace:
    async def test_concurrent_ingest_while_connecting_loses_and_doubles_nothing(
        self, live: Live
    ) -> None:
        session_id = await live.started_session()
        stream = f"session:{session_id}"

        async def writer() -> None:
            for _ in range(20):
                await live.write(session_id, 3)
                await asyncio.sleep(0)

        task = asyncio.create_task(writer())
        boards = []
        for _ in range(4):
            ws = await live.board().__aenter__()
            await ws.send(json.dumps({"subscribe": {"sessions": [session_id]}}))
            boards.append(ws)
            await asyncio.sleep(0.01)
        await task
        last = None
        for ws in boards:
            snapshot = await recv(ws)
            head = snapshot["seq"]["sessions"][session_id]
            events = await quiet(ws, 1.0)
            got = [head, *seqs(events, stream)]
            assert got == list(range(head, got[-1] + 1)), "a hole or a duplicate"
            last = got[-1] if last is None else last
            assert got[-1] == last
            await ws.close()
