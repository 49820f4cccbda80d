"""Original-mode ACK messages (MSA + ERR) for ORU^R01 (issue 10 point 2)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from app.interop.domain.er7 import Separators, escape, format_timestamp
from app.interop.domain.oru import Header

RECEIVING_APPLICATION = "KETAMINE_MONITOR"


class AckCode(StrEnum):
    """MSA-1: AA accepted and committed; AE error (nothing usable, malformed); AR rejected
    (unknown sender or address, unsupported message type or version, not HL7)."""

    AA = "AA"
    AE = "AE"
    AR = "AR"


class Severity(StrEnum):
    ERROR = "E"
    WARNING = "W"


# HL7 table 0357 (message error condition codes) entries we use.
HL7_ERROR_TEXT = {
    "100": "Segment sequence error",
    "101": "Required field missing",
    "102": "Data type error",
    "103": "Table value not found",
    "200": "Unsupported message type",
    "203": "Unsupported version id",
    "204": "Unknown key identifier",
    "207": "Application internal error",
}


@dataclass(frozen=True, slots=True)
class AckError:
    """One ERR segment: where (segment name, position, field), the HL7 condition code, severity,
    our application code (e.g. ``unmapped_code``) and a readable message."""

    hl7_code: str
    severity: Severity
    app_code: str
    message: str
    segment: str = ""
    position: int | None = None
    field: int | None = None


def _err(error: AckError, seps: Separators) -> str:
    c = seps.component
    location = ""
    if error.segment:
        location = c.join(
            [error.segment, "" if error.position is None else str(error.position)]
            + ([str(error.field)] if error.field is not None else [])
        )
    condition = c.join([error.hl7_code, HL7_ERROR_TEXT.get(error.hl7_code, ""), "HL70357"])
    fields = [
        "ERR",
        "",
        location,
        condition,
        error.severity.value,
        escape(error.app_code, seps),
        "",
        "",
        escape(error.message, seps),
    ]
    return seps.field.join(fields)


def build_ack(
    head: Header | None,
    code: AckCode,
    *,
    control_id: str,
    now: datetime,
    text: str = "",
    errors: Sequence[AckError] = (),
    facility: str = "",
) -> str:
    """An ACK^R01 answering ``head``: MSA-2 echoes MSH-10; MSA-3 carries ``text``; one ERR
    segment per error. Without a readable header (not HL7 at all), MSA-2 is empty."""
    seps = Separators()
    f, c = seps.field, seps.component
    trigger = head.trigger_event if head is not None and head.trigger_event else "R01"
    version = head.version if head is not None and head.version else "2.6"
    msh = f.join(
        [
            "MSH",
            f"{c}{seps.repetition}{seps.escape}{seps.subcomponent}",
            RECEIVING_APPLICATION,
            escape(facility, seps),
            escape(head.sending_application, seps) if head else "",
            escape(head.sending_facility, seps) if head else "",
            format_timestamp(now),
            "",
            c.join(["ACK", trigger, "ACK"]),
            control_id,
            "P",
            version,
        ]
    )
    msa = f.join(
        ["MSA", code.value, escape(head.control_id, seps) if head else ""]
        + ([escape(text, seps)] if text else [])
    )
    return "\r".join([msh, msa, *(_err(e, seps) for e in errors)]) + "\r"
