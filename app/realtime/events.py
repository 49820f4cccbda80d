"""Committed events as the hub, Redis and the boards carry them (serialized once, shared)."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from app.realtime.models import Event
from app.realtime.service import WrittenEvent


@dataclass(frozen=True, slots=True)
class BoardEvent:
    """One committed event row; ``text`` is its board message, built once for every socket."""

    stream: str
    seq: int
    clinic_id: uuid.UUID
    session_id: uuid.UUID | None
    type: str
    payload: dict[str, Any]
    at: str
    # Wall-clock time of the commit (for the commit-to-send latency histogram).
    committed_at: float = field(default_factory=time.time, compare=False)
    text: str = field(default="", compare=False)

    def message(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "stream": self.stream,
            "seq": self.seq,
            "clinic_id": str(self.clinic_id),
            "session_id": None if self.session_id is None else str(self.session_id),
            "at": self.at,
            "data": self.payload,
        }

    @property
    def metric(self) -> str | None:
        """The reading's metric for coalescing; None for every other event type."""
        if self.type != "reading":
            return None
        value = self.payload.get("metric")
        return value if isinstance(value, str) else None


def _with_text(event: BoardEvent) -> BoardEvent:
    object.__setattr__(event, "text", json.dumps(event.message(), separators=(",", ":")))
    return event


def from_row(row: Event | WrittenEvent, committed_at: float | None = None) -> BoardEvent:
    return _with_text(
        BoardEvent(
            stream=row.stream,
            seq=row.seq,
            clinic_id=row.clinic_id,
            session_id=row.session_id,
            type=row.type,
            payload=dict(row.payload),
            at=row.created_at.isoformat(),
            committed_at=time.time() if committed_at is None else committed_at,
        )
    )


def to_wire(event: BoardEvent, origin: str) -> str:
    """The Redis message: the board message plus who published it and when it committed."""
    return json.dumps(
        {"origin": origin, "committed_at": event.committed_at, "event": event.message()},
        separators=(",", ":"),
    )


def from_wire(text: str | bytes) -> tuple[str, BoardEvent]:
    """(origin, event) of a Redis message; ValueError/KeyError/TypeError when malformed."""
    obj = json.loads(text)
    msg = obj["event"]
    session_id = msg["session_id"]
    event = BoardEvent(
        stream=str(msg["stream"]),
        seq=int(msg["seq"]),
        clinic_id=uuid.UUID(msg["clinic_id"]),
        session_id=None if session_id is None else uuid.UUID(session_id),
        type=str(msg["type"]),
        payload=dict(msg["data"]),
        at=str(msg["at"]),
        committed_at=float(obj["committed_at"]),
    )
    return str(obj["origin"]), _with_text(event)
