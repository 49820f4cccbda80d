"""Key-level differences between two protocol files, for the approval page."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted keys for every leaf value; tables in an array are named by their ``id`` when they
    have one (``alarms.rules[spo2_low_high].limit``) so a reordered rule is not a change."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            out.update(flatten(value, path))
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            for index, item in enumerate(value):
                label = item.get("id", index)
                out.update(flatten(item, f"{path}[{label}]"))
        else:
            out[path] = value
    return out


@dataclass(frozen=True, slots=True)
class KeyChange:
    key: str
    old: Any
    new: Any
    kind: str  # "added", "removed" or "changed"


def diff_protocols(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[KeyChange, ...]:
    """Every dotted key whose value differs between two parsed protocol files, sorted by key."""
    a, b = flatten(old), flatten(new)
    changes: list[KeyChange] = []
    for key in sorted(a.keys() | b.keys()):
        if key not in b:
            changes.append(KeyChange(key, a[key], None, "removed"))
        elif key not in a:
            changes.append(KeyChange(key, None, b[key], "added"))
        elif a[key] != b[key]:
            changes.append(KeyChange(key, a[key], b[key], "changed"))
    return tuple(changes)
