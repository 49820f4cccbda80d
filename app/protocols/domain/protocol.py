"""The whole protocol as pure value objects (built from a validated protocol file)."""

from __future__ import annotations

from dataclasses import dataclass

from app.protocols.domain.alarms import AlarmSettings
from app.protocols.domain.dose import DosingRules
from app.protocols.domain.session_rules import (
    Checkpoint,
    CourseRules,
    DischargeCriteria,
    OutcomeDefinitions,
    PreSessionRules,
    TitrationRules,
)
from app.screening.domain import ScreeningRules


@dataclass(frozen=True, slots=True)
class ProtocolDefinition:
    """A protocol version: identity plus every rule set the services apply (DESIGN §3)."""

    protocol_id: str
    version: str
    name: str
    dosing: DosingRules
    titration: TitrationRules
    course: CourseRules
    pre_session: PreSessionRules
    checkpoints: tuple[Checkpoint, ...]
    alarms: AlarmSettings
    discharge: DischargeCriteria
    outcomes: OutcomeDefinitions
    screening: ScreeningRules
