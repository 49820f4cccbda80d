"""Observation codes and units as monitors write them → our metrics and UCUM units."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from app.interop.domain.defaults import DEFAULT_CODE_MAP, DEFAULT_UNIT_MAP


@dataclass(frozen=True, slots=True)
class Coded:
    """A coded element (CE/CWE): identifier, text, coding system."""

    code: str
    text: str = ""
    system: str = ""

    def label(self) -> str:
        return "^".join(p for p in (self.code, self.text, self.system) if p) or "(empty)"


@dataclass(frozen=True, slots=True)
class Tables:
    """The code and unit tables in force for one device: defaults overlaid with its profile."""

    code_map: Mapping[str, str]
    unit_map: Mapping[str, str]
    sentinels: frozenset[float]


def tables(
    code_map: Mapping[str, str] | None,
    unit_map: Mapping[str, str] | None,
    sentinels: frozenset[float],
) -> Tables:
    """The defaults (clinical.md §7) with a profile's own entries winning; an entry mapped to ""
    removes a default (e.g. to ignore a vendor's duplicate SpO2 code)."""
    codes = {**DEFAULT_CODE_MAP, **(code_map or {})}
    units = {**DEFAULT_UNIT_MAP, **(unit_map or {})}
    return Tables(
        {k: v for k, v in codes.items() if v}, {k: v for k, v in units.items() if v}, sentinels
    )


def metric_for(code: Coded, table: Mapping[str, str]) -> str | None:
    """The metric for a coded observation, matched by code and then by name (vendors' tables
    disagree on numbers: NIBP systolic arrives as 150021 or 150301, issue 10 point 3)."""
    for key in (code.code, code.text, code.code.upper(), code.text.upper()):
        if key and key in table:
            return table[key]
    return None


def ucum_for(unit: Coded, table: Mapping[str, str]) -> str:
    """The UCUM unit for a unit written as UCUM, an MDC unit code/name or plain text. An unknown
    unit is returned as written, so the vitals validation rejects it with ``unknown_unit``."""
    for key in (unit.code, unit.text):
        if key and key in table:
            return table[key]
    return unit.code or unit.text
