"""The golden sample files (LF between segments as stored; sent with CR as HL7 requires)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).parent / "samples"


def er7(name: str, **replace: str) -> str:
    """A sample ER7 message with CR segment ends; ``replace`` swaps text (e.g. a new MSH-10)."""
    text = (SAMPLES / name).read_text()
    for old, new in replace.items():
        text = text.replace(old, new)
    return "\r".join(line for line in text.splitlines() if line) + "\r"


def fhir(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SAMPLES / name).read_text())
    return data
