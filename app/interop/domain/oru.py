"""ORU^R01 (IHE PCD-01) → raw readings, skipped rows, unmapped rows and row rejections."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace
from datetime import tzinfo
from enum import StrEnum

from app.interop.domain.codes import Coded, Tables, metric_for, ucum_for
from app.interop.domain.defaults import ACCEPTED_VERSIONS
from app.interop.domain.er7 import Er7Message, Segment, TimestampError, parse_timestamp
from app.vitals.domain import RawReading

MAX_SOURCE_ID_CHARS = 128


@dataclass(frozen=True, slots=True)
class Header:
    sending_application: str
    sending_facility: str
    receiving_application: str
    receiving_facility: str
    message_code: str
    trigger_event: str
    control_id: str
    version: str

    @property
    def sender(self) -> str:
        return f"{self.sending_application}^{self.sending_facility}"


def header(message: Er7Message) -> Header:
    """The MSH fields the receiver needs (MSH-3/4 sender, MSH-9 type, MSH-10 id, MSH-12)."""
    msh = message.msh
    return Header(
        sending_application=msh.component(3),
        sending_facility=msh.component(4),
        receiving_application=msh.component(5),
        receiving_facility=msh.component(6),
        message_code=msh.component(9, 1),
        trigger_event=msh.component(9, 2),
        control_id=msh.component(10),
        version=msh.component(12),
    )


class Refusal(StrEnum):
    """Why a whole message is refused (AR) or in error (AE) before any row is read."""

    UNSUPPORTED_TYPE = "unsupported_message_type"
    UNSUPPORTED_VERSION = "unsupported_version"
    MISSING_CONTROL_ID = "missing_control_id"


def check_header(head: Header) -> tuple[Refusal, str] | None:
    """ORU^R01 of HL7 2.3–2.6 with an MSH-10 is what we accept (issue 10 point 1)."""
    if (head.message_code, head.trigger_event) != ("ORU", "R01"):
        kind = f"{head.message_code}^{head.trigger_event}".strip("^") or "(none)"
        return Refusal.UNSUPPORTED_TYPE, f"message type {kind} is not accepted; send ORU^R01"
    if head.version not in ACCEPTED_VERSIONS:
        return (
            Refusal.UNSUPPORTED_VERSION,
            f"HL7 version {head.version or '(none)'} is not accepted (2.3 to 2.6)",
        )
    if not head.control_id:
        return Refusal.MISSING_CONTROL_ID, "MSH-10 (message control id) is empty"
    return None


class RowKind(StrEnum):
    MAPPED = "mapped"
    SKIPPED = "skipped"
    UNMAPPED = "unmapped"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class ObxRow:
    """One OBX row's fate. ``segment`` is its 1-based position in the message (ERR-2)."""

    kind: RowKind
    segment: int
    set_id: str
    code: Coded
    raw: str
    reading: RawReading | None = None
    reject_code: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class OruContent:
    rows: tuple[ObxRow, ...]
    patient_ids: tuple[str, ...]

    @property
    def readings(self) -> tuple[RawReading, ...]:
        return tuple(r.reading for r in self.rows if r.reading is not None)

    def of_kind(self, kind: RowKind) -> tuple[ObxRow, ...]:
        return tuple(r for r in self.rows if r.kind is kind)


def reading_id(control_id: str, set_id: str, sub_id: str) -> str:
    """The reading's idempotency key from MSH-10, OBX-1 and OBX-4 (DESIGN §6), hashed when too
    long for the key column."""
    key = f"hl7:{control_id}:{set_id}" + (f":{sub_id}" if sub_id else "")
    if len(key) <= MAX_SOURCE_ID_CHARS:
        return key
    return "hl7:" + hashlib.sha256(key.encode()).hexdigest()


def _coded(segment: Segment, n: int) -> Coded:
    return Coded(segment.component(n, 1), segment.component(n, 2), segment.component(n, 3))


def _row(
    segment: Segment,
    position: int,
    *,
    control_id: str,
    obr_time: str,
    tables: Tables,
    assume_tz: tzinfo | None,
) -> ObxRow:
    set_id, sub_id = segment.component(1), segment.field(4)
    code = _coded(segment, 3)
    base = ObxRow(RowKind.SKIPPED, position, set_id, code, segment.raw)
    value_text = segment.field(5)
    if not value_text.strip() or segment.component(11) == "X":
        return base
    metric = metric_for(code, tables.code_map)
    if metric is None:
        return replace(base, kind=RowKind.UNMAPPED)
    try:
        value = float(segment.component(5))
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        return replace(
            base,
            kind=RowKind.REJECTED,
            reject_code="not_a_number",
            message=f"OBX-5 {value_text[:40]!r} is not a number",
        )
    if value in tables.sentinels:
        return replace(
            base,
            kind=RowKind.REJECTED,
            reject_code="sentinel_value",
            message=f"{metric} {value:g} is the monitor's 'no measurement' value",
        )
    stamp = segment.field(14) or obr_time
    try:
        observed_at = parse_timestamp(stamp, assume_tz=assume_tz)
    except TimestampError as exc:
        reject = "missing_offset" if stamp and "no UTC offset" in str(exc) else "bad_timestamp"
        message = str(exc) if stamp else "neither OBX-14 nor OBR-7 holds the observation time"
        return replace(base, kind=RowKind.REJECTED, reject_code=reject, message=message)
    unit = ucum_for(_coded(segment, 6), tables.unit_map)
    reading = RawReading(
        source_id=reading_id(control_id, set_id, sub_id),
        metric=metric,
        value=value,
        unit=unit,
        observed_at=observed_at,
    )
    return replace(base, kind=RowKind.MAPPED, reading=reading)


def observations(
    message: Er7Message, *, control_id: str, tables: Tables, assume_tz: tzinfo | None
) -> OruContent:
    """Every OBX row classified (issue 10 point 2): no value or status X → skipped (device
    hierarchy rows); code not in the tables → unmapped (kept raw, counted per device); sentinel,
    non-numeric or undated → rejected; else a raw reading for the vitals validation. The time
    is OBX-14, else the OBR-7 of the enclosing order."""
    rows: list[ObxRow] = []
    obr_time = ""
    for position, segment in enumerate(message.segments, start=1):
        if segment.name == "OBR":
            obr_time = segment.field(7)
        elif segment.name == "OBX":
            rows.append(
                _row(
                    segment,
                    position,
                    control_id=control_id,
                    obr_time=obr_time,
                    tables=tables,
                    assume_tz=assume_tz,
                )
            )
    pid = message.first("PID")
    ids: tuple[str, ...] = ()
    if pid is not None:
        seps = message.separators
        ids = tuple(i for i in (r.split(seps.component)[0] for r in pid.repetitions(3)) if i)
    return OruContent(tuple(rows), ids)
