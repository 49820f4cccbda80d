"""Group commit of WebSocket ingest messages (issue 12): many messages, one transaction, each
answered only once stored; a message that fails does not take the others with it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import exc as sa_exc

from app.core.config import Settings
from app.main import create_app
from app.vitals import service as vitals_service
from app.vitals.batcher import IngestBatcher, Refused, Revoked, Stored, Unavailable
from app.vitals.domain import RawReading
from tests.fixtures.cli import run_cli, scalar, seed_device


@dataclass
class Rig:
    batcher: IngestBatcher
    keys: list[str]
    url: str
    groups: list[int]  # messages per ingest_many call, in call order


@pytest.fixture
async def rig(migrated_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Rig]:
    def seed() -> list[str]:
        keys = [seed_device(migrated_url, "Monitor 0", "Chair 0")]
        for i in (1, 2):
            result = run_cli(
                migrated_url,
                "create-device",
                *("--clinic", "Oslo", "--name", f"Monitor {i}", "--chair", f"Chair {i}"),
            )
            assert result.exit_code == 0, result.output
            keys.append(result.output.strip().splitlines()[-1])
        return keys

    keys = await asyncio.to_thread(seed)
    app = create_app(Settings(env="test", database_url=migrated_url))
    groups: list[int] = []
    real = vitals_service.ingest_many

    async def counted(db: Any, requests: Sequence[Any], **kwargs: Any) -> Any:
        groups.append(len(requests))
        return await real(db, requests, **kwargs)

    monkeypatch.setattr(vitals_service, "ingest_many", counted)
    batcher: IngestBatcher = app.state.ingest_batcher
    try:
        yield Rig(batcher, keys, migrated_url, groups)
    finally:
        await batcher.stop()
        await app.state.engine.dispose()


def raw(source_id: str, value: float = 97) -> RawReading:
    return RawReading(source_id, "spo2", value, "%", datetime.now(UTC) - timedelta(seconds=1))


async def stored(rig: Rig, *source_ids: str) -> int:
    listed = ", ".join(f"'{s}'" for s in source_ids)
    statement = f"SELECT count(*) FROM vital_reading WHERE source_id IN ({listed})"
    count: int = await asyncio.to_thread(scalar, rig.url, statement)
    return count


def statuses(result: object) -> list[str]:
    assert isinstance(result, Stored), result
    return [r.status for r in result.outcome.results]


async def test_concurrent_messages_share_commits_and_each_is_stored_when_answered(
    rig: Rig,
) -> None:
    async def send(device: int, n: int) -> object:
        result = await rig.batcher.submit(rig.keys[device], [raw(f"d{device}-{n}")], None)
        # Answered means committed: visible over another connection at once.
        assert await stored(rig, f"d{device}-{n}") == 1
        return result

    results = await asyncio.gather(*(send(d, n) for d in range(3) for n in range(10)))

    assert [statuses(r) for r in results] == [["created"]] * 30
    assert sum(rig.groups) == 30
    assert len(rig.groups) < 30, rig.groups  # some messages shared a transaction
    assert await stored(rig, *(f"d{d}-{n}" for d in range(3) for n in range(10))) == 30


async def test_a_revoked_key_is_refused_and_the_rest_of_its_group_is_stored(rig: Rig) -> None:
    unknown = "kmd_" + "x" * 40
    good, bad = await asyncio.gather(
        rig.batcher.submit(rig.keys[0], [raw("g1")], None),
        rig.batcher.submit(unknown, [raw("g2")], None),
    )
    assert statuses(good) == ["created"]
    assert isinstance(bad, Revoked)
    assert await stored(rig, "g1", "g2") == 1


async def test_a_value_the_database_refuses_fails_only_its_own_message(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    counted = vitals_service.ingest_many

    async def refusing(db: Any, requests: Sequence[Any], **kwargs: Any) -> Any:
        if any(r.source_id == "bad" for request in requests for r in request.raws):
            raise sa_exc.DataError("INSERT", {}, ValueError("out of range"))
        return await counted(db, requests, **kwargs)

    monkeypatch.setattr(vitals_service, "ingest_many", refusing)
    results = await asyncio.gather(
        rig.batcher.submit(rig.keys[0], [raw("r1")], None),
        rig.batcher.submit(rig.keys[1], [raw("bad")], None),
        rig.batcher.submit(rig.keys[2], [raw("r3")], None),
    )
    assert statuses(results[0]) == ["created"]
    assert isinstance(results[1], Refused)
    assert statuses(results[2]) == ["created"]
    assert await stored(rig, "r1", "bad", "r3") == 2


async def test_an_unreachable_database_answers_every_message_retry_and_stores_nothing(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unreachable(*_args: Any, **_kwargs: Any) -> Any:
        raise sa_exc.OperationalError("INSERT", {}, ConnectionRefusedError())

    monkeypatch.setattr(vitals_service, "ingest_many", unreachable)
    results = await asyncio.gather(
        *(rig.batcher.submit(rig.keys[d], [raw(f"u{d}")], None) for d in range(3))
    )
    assert all(isinstance(r, Unavailable) for r in results), results
    assert await stored(rig, "u0", "u1", "u2") == 0


async def test_a_message_sent_twice_in_one_group_is_stored_once(rig: Rig) -> None:
    message = [raw("t1"), raw("t2")]
    first, again = await asyncio.gather(
        rig.batcher.submit(rig.keys[0], message, None),
        rig.batcher.submit(rig.keys[0], message, None),
    )
    assert statuses(first) == ["created", "created"]
    assert statuses(again) == ["duplicate", "duplicate"]
    assert rig.groups == [2]
    assert await stored(rig, "t1", "t2") == 2


async def test_the_writer_survives_a_group_that_crashes(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    counted = vitals_service.ingest_many

    async def crashing(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setattr(vitals_service, "ingest_many", crashing)
    with pytest.raises(RuntimeError, match="bug"):
        await rig.batcher.submit(rig.keys[0], [raw("c1")], None)
    monkeypatch.setattr(vitals_service, "ingest_many", counted)
    assert statuses(await rig.batcher.submit(rig.keys[0], [raw("c2")], None)) == ["created"]


async def test_stopping_mid_transaction_tells_the_waiting_devices_to_send_again(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = asyncio.Event()

    async def stuck(*_args: Any, **_kwargs: Any) -> Any:
        started.set()
        await asyncio.Event().wait()  # a transaction that never finishes

    monkeypatch.setattr(vitals_service, "ingest_many", stuck)
    waiting = asyncio.create_task(rig.batcher.submit(rig.keys[0], [raw("s1")], None))
    await asyncio.wait_for(started.wait(), 5)
    await rig.batcher.stop()
    result = await asyncio.wait_for(waiting, 5)
    assert isinstance(result, Unavailable)
    assert await stored(rig, "s1") == 0
