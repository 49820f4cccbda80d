"""Pure screening domain: inputs, protocol-driven rules and the eligibility engine.

Split into modules to stay under the 400-line cap (STYLE §1); import from here.
"""

from app.screening.domain.engine import evaluate_eligibility
from app.screening.domain.inputs import (
    HepaticImpairment,
    HypertensionStatus,
    LiverTests,
    Medication,
    MedicationClass,
    Presence,
    RestingVitals,
    Screening,
    ThyroidStatus,
)
from app.screening.domain.rules import (
    IMPLAUSIBLE_DATA_RULE,
    MISSING_DATA_RULE,
    STALE_DATA_RULE,
    DataWindows,
    EligibilityResult,
    EligibilityStatus,
    Finding,
    RuleId,
    ScreeningLimits,
    ScreeningRules,
    Severity,
    rule_protocol_key,
)

__all__ = [
    "IMPLAUSIBLE_DATA_RULE",
    "MISSING_DATA_RULE",
    "STALE_DATA_RULE",
    "DataWindows",
    "EligibilityResult",
    "EligibilityStatus",
    "Finding",
    "HepaticImpairment",
    "HypertensionStatus",
    "LiverTests",
    "Medication",
    "MedicationClass",
    "Presence",
    "RestingVitals",
    "RuleId",
    "Screening",
    "ScreeningLimits",
    "ScreeningRules",
    "Severity",
    "ThyroidStatus",
    "evaluate_eligibility",
    "rule_protocol_key",
]
