"""A real server with its MLLP listener on a free port, and a registered HL7 sender."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from hl7.mllp import open_hl7_connection
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.db import create_engine
from app.devices.models import Device
from app.interop.models import DeviceProfile
from tests.fixtures.cli import scalar
from tests.fixtures.proxy import free_port
from tests.fixtures.server import running_server


async def add_profile(
    url: str,
    *,
    device: str = "Monitor 1",
    application: str | None = "PHILIPS_IX",
    facility: str = "ICU_A",
    addresses: Sequence[str] = ("127.0.0.1",),
    time_zone: str | None = None,
    message_format: str = "hl7v2",
) -> None:
    engine = create_engine(Settings(env="test", database_url=url))
    try:
        async with AsyncSession(engine) as db:
            found = await db.scalar(select(Device).where(Device.name == device))
            assert found is not None
            db.add(
                DeviceProfile(
                    id=uuid.uuid4(),
                    device_id=found.id,
                    clinic_id=found.clinic_id,
                    message_format=message_format,
                    model=None,
                    sending_application=application,
                    sending_facility=facility if application is not None else None,
                    allowed_addresses=list(addresses),
                    time_zone=time_zone,
                    code_map={},
                    unit_map={},
                    sentinels=None,
                    updated_at=datetime.now(UTC),
                )
            )
            await db.commit()
    finally:
        await engine.dispose()


async def count(url: str, statement: str) -> int:
    value: int = await asyncio.to_thread(scalar, url, statement)
    return value


@dataclass
class Live:
    base_url: str
    mllp_port: int
    db_url: str

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[MllpClient]:
        reader, writer = await open_hl7_connection("127.0.0.1", self.mllp_port)
        try:
            yield MllpClient(reader, writer)
        finally:
            writer.close()
            await writer.wait_closed()


@dataclass
class MllpClient:
    reader: object
    writer: object

    def send(self, message: str | bytes) -> None:
        data = message.encode() if isinstance(message, str) else message
        self.writer.writeblock(data)  # type: ignore[attr-defined]

    async def ack(self, timeout_s: float = 10) -> str:
        block = await asyncio.wait_for(self.reader.readblock(), timeout_s)  # type: ignore[attr-defined]
        return str(block.decode())

    async def request(self, message: str | bytes) -> str:
        self.send(message)
        return await self.ack()


def msa(ack: str) -> list[str]:
    """MSA fields: [code, control id, text]."""
    segment = next(s for s in ack.split("\r") if s.startswith("MSA|"))
    return [*segment.split("|")[1:], "", ""][:3]


def errs(ack: str) -> list[list[str]]:
    return [s.split("|") for s in ack.split("\r") if s.startswith("ERR|")]


@asynccontextmanager
async def live_server(url: str) -> AsyncIterator[Live]:
    port = free_port()
    settings = Settings(env="test", database_url=url, log_level="WARNING", mllp_port=port)
    async with running_server(settings) as base:
        yield Live(base, port, url)
