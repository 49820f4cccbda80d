"""ER7 (HL7 v2 "pipe and hat") parsing and HL7 timestamps, without any I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo


class Er7Error(ValueError):
    """The text is not an HL7 v2 message (no MSH segment, bad encoding characters)."""


@dataclass(frozen=True, slots=True)
class Separators:
    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"

    def unescape(self, text: str) -> str:
        """Resolve the standard escapes (\\F\\ \\S\\ \\T\\ \\R\\ \\E\\); others are kept verbatim."""
        if self.escape not in text:
            return text
        table = {
            "F": self.field,
            "S": self.component,
            "T": self.subcomponent,
            "R": self.repetition,
            "E": self.escape,
        }
        esc = re.escape(self.escape)
        return re.sub(f"{esc}([FSTRE]){esc}", lambda m: table[m.group(1)], text)


@dataclass(frozen=True, slots=True)
class Segment:
    """One segment; ``fields[n]`` is field n in HL7 numbering (MSH-1 is the field separator)."""

    name: str
    fields: tuple[str, ...]
    raw: str
    separators: Separators

    def field(self, n: int) -> str:
        """Field n (first repetition, still with its components), or ""."""
        if n >= len(self.fields):
            return ""
        value = self.fields[n]
        if self.name == "MSH" and n <= 2:
            return value
        return value.split(self.separators.repetition)[0]

    def repetitions(self, n: int) -> tuple[str, ...]:
        if n >= len(self.fields) or not self.fields[n]:
            return ()
        return tuple(self.fields[n].split(self.separators.repetition))

    def component(self, n: int, c: int = 1) -> str:
        """Component c (1-based) of field n, unescaped, or ""."""
        return components(self.field(n), self.separators, c)


def components(value: str, separators: Separators, c: int) -> str:
    parts = value.split(separators.component)
    if c > len(parts):
        return ""
    return separators.unescape(parts[c - 1].split(separators.subcomponent)[0])


@dataclass(frozen=True, slots=True)
class Er7Message:
    segments: tuple[Segment, ...]
    separators: Separators

    @property
    def msh(self) -> Segment:
        return self.segments[0]

    def first(self, name: str) -> Segment | None:
        return next((s for s in self.segments if s.name == name), None)


_SEGMENT_NAME = re.compile(r"^[A-Z][A-Z0-9]{2}$")


def parse(text: str) -> Er7Message:
    """Split an ER7 message into segments and fields (CR, LF or CRLF between segments).

    Raises Er7Error when it does not start with a usable MSH segment.
    """
    lines = [line for line in re.split(r"\r\n|\r|\n", text.strip("\x0b\x1c\r\n ")) if line]
    if not lines or not lines[0].startswith("MSH") or len(lines[0]) < 8:
        raise Er7Error("the message does not start with an MSH segment")
    head = lines[0]
    fs = head[3]
    encoding = head[4:].split(fs, 1)[0]
    if fs.isalnum() or len(encoding) < 2 or fs in encoding:
        raise Er7Error("MSH-1/MSH-2 do not hold valid separators")
    padded = (encoding + "\\&")[:4] if len(encoding) < 4 else encoding[:4]
    seps = Separators(fs, padded[0], padded[1], padded[2], padded[3])
    segments: list[Segment] = []
    for line in lines:
        parts = line.split(fs)
        name = parts[0]
        if not _SEGMENT_NAME.match(name):
            raise Er7Error(f"segment {len(segments) + 1} has no valid segment name")
        fields = ("MSH", fs, *parts[1:]) if name == "MSH" else tuple(parts)
        segments.append(Segment(name, fields, line, seps))
    return Er7Message(tuple(segments), seps)


_DTM = re.compile(
    r"^(?P<y>\d{4})(?P<mo>\d{2})(?P<d>\d{2})(?P<h>\d{2})(?P<mi>\d{2})"
    r"(?P<s>\d{2})?(?:\.(?P<frac>\d{1,4}))?(?P<off>[+-]\d{4})?$"
)


class TimestampError(ValueError):
    pass


def parse_timestamp(text: str, *, assume_tz: tzinfo | None) -> datetime:
    """An HL7 DTM (YYYYMMDDHHMM[SS[.S…]][±ZZZZ], e.g. 20260124131539000+0800 or
    20260124131539.250+0100) as an aware datetime.

    Some monitors write fractions without the dot (…SSsss): those digits are read as
    milliseconds. Without an offset the device profile's time zone is assumed; with none
    configured, TimestampError (issue 10 point 3).
    """
    value = text.strip()
    undotted = re.match(r"^(\d{14})(\d{1,4})([+-]\d{4})?$", value)
    if undotted:
        value = f"{undotted.group(1)}.{undotted.group(2)}{undotted.group(3) or ''}"
    match = _DTM.match(value)
    if match is None:
        raise TimestampError(f"{text!r} is not an HL7 timestamp (YYYYMMDDHHMM[SS[.S]][+ZZZZ])")
    offset = match.group("off")
    if offset is not None:
        sign = 1 if offset[0] == "+" else -1
        tz: tzinfo = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5])))
    elif assume_tz is not None:
        tz = assume_tz
    else:
        raise TimestampError(
            f"timestamp {text!r} has no UTC offset and the device profile names no time zone"
        )
    frac = (match.group("frac") or "").ljust(6, "0")[:6]
    try:
        return datetime(
            int(match.group("y")),
            int(match.group("mo")),
            int(match.group("d")),
            int(match.group("h")),
            int(match.group("mi")),
            int(match.group("s") or 0),
            int(frac),
            tzinfo=tz,
        )
    except ValueError as exc:
        raise TimestampError(f"{text!r} is not a valid date and time") from exc


def format_timestamp(at: datetime) -> str:
    """An aware datetime as an HL7 DTM with offset (YYYYMMDDHHMMSS±ZZZZ)."""
    return at.strftime("%Y%m%d%H%M%S%z")


def escape(text: str, separators: Separators) -> str:
    """Escape delimiter characters for use inside a field."""
    out = text.replace(separators.escape, f"{separators.escape}E{separators.escape}")
    for char, code in (
        (separators.field, "F"),
        (separators.component, "S"),
        (separators.subcomponent, "T"),
        (separators.repetition, "R"),
    ):
        out = out.replace(char, f"{separators.escape}{code}{separators.escape}")
    return out.replace("\r", " ").replace("\n", " ")
