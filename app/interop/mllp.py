"""HL7 v2 over MLLP (asyncio, python-hl7's stream classes): one message at a time per
connection, so pipelined messages are answered in order; each ACK only after its commit."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Any

import structlog
from hl7.mllp import InvalidBlockError, start_hl7_server
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.clock import Clock
from app.core.config import Settings
from app.interop import hl7_service
from app.interop.router import decode

log = structlog.get_logger(__name__)

MAX_FRAME_BYTES = 1024 * 1024
DEFAULT_MLLP_PORT = 2575


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """A server TLS context when APP_MLLP_TLS_CERT_FILE and APP_MLLP_TLS_KEY_FILE are set."""
    if settings.mllp_tls_cert_file is None or settings.mllp_tls_key_file is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.mllp_tls_cert_file, settings.mllp_tls_key_file)
    return context


class MllpServer:
    """Listens for HL7 senders registered in device profiles (by MSH-3/4 and address)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None = None,
        max_frame_bytes: int = MAX_FRAME_BYTES,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._clock = clock
        self.host = host
        self.port = port
        self._ssl = ssl_context
        self._max_frame_bytes = max_frame_bytes
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await start_hl7_server(
            self.serve_connection,
            host=self.host,
            port=self.port,
            limit=self._max_frame_bytes,
            ssl=self._ssl,
        )
        if self.port == 0:
            self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("mllp_listening", host=self.host, port=self.port, tls=self._ssl is not None)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None

    async def _answer(self, text: str, peer: str | None) -> str | None:
        """The ACK for one message after its commit, or None when the commit failed."""
        now = self._clock.now()
        try:
            async with self._sessionmaker() as db:
                reply = await hl7_service.receive(
                    db, text=text, transport="mllp", peer=peer, now=now
                )
                await db.commit()
        except Exception:
            # Nothing is acknowledged that is not stored: the sender times out and resends.
            log.exception("mllp_message_failed", peer=peer)
            return None
        log.info("mllp_message", peer=peer, ack=reply.code.value, repeated=reply.repeated)
        return reply.ack

    async def serve_connection(self, reader: Any, writer: Any) -> None:
        """Read frames until the peer closes; answer each before reading the next."""
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
            task.add_done_callback(self._connections.discard)
        peername = writer.get_extra_info("peername")
        peer = str(peername[0]) if peername else None
        try:
            while True:
                try:
                    block: bytes = await reader.readblock()
                except asyncio.IncompleteReadError:
                    break
                except InvalidBlockError:
                    ack = hl7_service.not_hl7("not an MLLP frame", self._clock.now()).ack
                    writer.writeblock(ack.encode())
                    await writer.drain()
                    continue
                except ValueError:
                    # Over the frame limit: refused, and the stream can no longer be trusted.
                    ack = hl7_service.not_hl7("frame over 1 MB refused", self._clock.now()).ack
                    writer.writeblock(ack.encode())
                    await writer.drain()
                    break
                answer = await self._answer(decode(block), peer)
                if answer is None:
                    break
                writer.writeblock(answer.encode("utf-8"))
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
