"""HL7 v2 over a real MLLP socket (issue 10 acceptance): ACK codes, dedupe by MSH-10, order,
frame limits, senders by MSH-3/4 and address, and no ACK when the commit fails."""

from __future__ import annotations

import asyncio

import pytest
from hl7.mllp import open_hl7_connection
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.clock import SystemClock
from app.core.config import Settings
from app.core.db import create_engine
from app.interop.mllp import MllpServer
from tests.fixtures.cli import seed_device
from tests.interop.live import add_profile, count, errs, live_server, msa
from tests.interop.samples import er7

pytestmark = pytest.mark.slow

READINGS = "SELECT count(*) FROM vital_reading"


@pytest.fixture
async def live(migrated_url: str):
    await asyncio.to_thread(seed_device, migrated_url)
    async with live_server(migrated_url) as server:
        yield server


async def test_pcd01_six_readings_then_the_same_message_gets_the_same_ack(live):
    await add_profile(live.db_url)
    message = er7("pcd01_philips_vitals.hl7")
    async with live.connect() as client:
        first = await client.request(message)
        assert msa(first)[:2] == ["AA", "PHX-000123"]
        assert not errs(first)
        assert await count(live.db_url, READINGS) == 6
        assert await count(live.db_url, f"{READINGS} WHERE source = 'hl7'") == 6
        again = await client.request(message)
    assert again == first
    assert await count(live.db_url, READINGS) == 6
    assert await count(live.db_url, "SELECT count(*) FROM interop_hl7_message") == 1


async def test_hierarchy_unmapped_and_sentinel_rows_give_aa_with_warnings(live):
    await add_profile(live.db_url, application="Mindray", facility="BeneView_T5")
    async with live.connect() as client:
        ack = await client.request(er7("pcd01_mindray_sentinel.hl7"))
    assert msa(ack)[:2] == ["AA", "MR-7781"]
    warnings = errs(ack)
    assert [(e[2], e[4], e[5]) for e in warnings] == [
        ("OBX^8^3", "W", "unmapped_code"),
        ("OBX^9^5", "W", "sentinel_value"),
        ("OBX^10^3", "W", "unmapped_code"),
    ]
    assert await count(live.db_url, f"{READINGS} WHERE metric = 'spo2'") == 1
    assert await count(live.db_url, READINGS) == 1
    assert await count(live.db_url, "SELECT sum(count) FROM interop_unmapped_code") == 2
    rows = await count(live.db_url, "SELECT unmapped_rows FROM interop_hl7_message")
    assert "MNDRY_SQI" in str(rows)


async def test_nothing_usable_gets_ae(live):
    await add_profile(live.db_url, application="Mindray", facility="BeneView_T5")
    async with live.connect() as client:
        ack = await client.request(er7("nothing_usable.hl7"))
    code, control_id, text = msa(ack)
    assert (code, control_id) == ("AE", "MR-7782")
    assert "nothing usable" in text
    assert await count(live.db_url, READINGS) == 0


async def test_non_oru_and_unregistered_senders_get_ar_and_the_connection_stays_usable(live):
    await add_profile(live.db_url)
    async with live.connect() as client:
        adt = await client.request(er7("adt_a01.hl7"))
        assert msa(adt)[:2] == ["AR", "ADT-55"]
        assert errs(adt)[0][3].startswith("200^")
        stranger = await client.request(er7("pcd01_philips_vitals.hl7", PHILIPS_IX="UNKNOWN_APP"))
        assert msa(stranger)[0] == "AR"
        assert "unknown sender" in msa(stranger)[2]
        garbage = await client.request(b"this is not HL7")
        assert msa(garbage)[:2] == ["AR", ""]
        client.writer.write(b"no start block\x1c\r")  # type: ignore[attr-defined]
        assert msa(await client.ack())[0] == "AR"
        ok = await client.request(er7("pcd01_philips_vitals.hl7"))
        assert msa(ok)[0] == "AA"
    assert await count(live.db_url, READINGS) == 6


async def test_a_sender_from_an_unregistered_address_gets_ar(live):
    await add_profile(live.db_url, addresses=["10.9.9.9"])
    async with live.connect() as client:
        ack = await client.request(er7("pcd01_philips_vitals.hl7"))
    assert msa(ack)[0] == "AR"
    assert "address 127.0.0.1 is not registered" in msa(ack)[2]
    assert await count(live.db_url, READINGS) == 0


async def test_pipelined_messages_are_answered_in_order(live):
    await add_profile(live.db_url)
    ids = ["PIPE-1", "PIPE-2", "PIPE-3"]
    async with live.connect() as client:
        for control_id in ids:
            client.send(er7("pcd01_philips_vitals.hl7", **{"PHX-000123": control_id}))
        answers = [msa(await client.ack()) for _ in ids]
    assert answers == [["AA", i, "6 reading(s) stored"] for i in ids]
    assert await count(live.db_url, READINGS) == 18


async def test_frames_over_1_mb_are_refused(live):
    await add_profile(live.db_url)
    huge = er7("pcd01_philips_vitals.hl7") + "NTE|1||" + "x" * (1024 * 1024) + "\r"
    async with live.connect() as client:
        ack = await client.request(huge)
    assert msa(ack)[0] == "AR"
    assert "over 1 MB" in msa(ack)[2]
    assert await count(live.db_url, READINGS) == 0


class FailingCommit(AsyncSession):
    async def commit(self) -> None:
        raise OSError("disk full (simulated)")


async def test_no_ack_when_the_commit_fails(migrated_url: str):
    await asyncio.to_thread(seed_device, migrated_url)
    await add_profile(migrated_url)
    engine = create_engine(Settings(env="test", database_url=migrated_url))
    server = MllpServer(
        async_sessionmaker(engine, class_=FailingCommit, expire_on_commit=False),
        SystemClock(),
        host="127.0.0.1",
        port=0,
    )
    await server.start()
    try:
        reader, writer = await open_hl7_connection("127.0.0.1", server.port)
        writer.writeblock(er7("pcd01_philips_vitals.hl7").encode())
        # The server closes the connection without an ACK: the sender will resend.
        with pytest.raises(asyncio.IncompleteReadError):
            await asyncio.wait_for(reader.readblock(), 10)
        writer.close()
    finally:
        await server.stop()
        await engine.dispose()
    assert await count(migrated_url, READINGS) == 0
    assert await count(migrated_url, "SELECT count(*) FROM interop_hl7_message") == 0
