"""Registry export rows and their data dictionary (issue 11 point 5).

One CSV with a `kind` column: `session` rows (one per session) and `course` rows (one per
patient course); the columns of the other kind are empty. `DATA_DICTIONARY` lists every
column with its meaning, unit and source; the README table is this list.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from app.registry.domain import BloodPressure
from app.registry.domain.events import INTERVENTION_ITEMS, SIDE_EFFECT_ITEMS
from app.registry.models import CourseEvaluation
from app.registry.schemas import CourseRead
from app.registry.service.session_data import SessionData

PSEUDONYM_HEX_CHARS = 24
PSEUDONYM_SYSTEM = "urn:ketamine-monitor:pseudonym"

Column = tuple[str, str, str, str]
"""(column, meaning, unit, source)."""

_COMMON: list[Column] = [
    ("kind", "row kind: `session` or `course`", "", "export"),
    (
        "patient_pseudonym",
        "HMAC-SHA256 of the patient id with the app secret (stable)",
        "",
        "patient.id",
    ),
]
IDENTIFIED: list[Column] = [
    ("patient_mrn", "medical record number (identified export only)", "", "patient.mrn"),
    ("patient_name", "name (identified export only)", "", "patient.name"),
    ("patient_birth_date", "birth date (identified export only)", "date", "patient.birth_date"),
]
_BP = [
    (f"{key}_{part}_mmhg", f"{label} {part.upper()}", "mmHg", source)
    for key, label, source in (
        (
            "bp_pre",
            "BP before the infusion (last NIBP at/before start, else the baseline)",
            "vital_reading / baseline",
        ),
        ("bp_40_min", "BP nearest 40 min after start (±5 min)", "vital_reading"),
        ("bp_end", "BP nearest the infusion end (±5 min)", "vital_reading"),
    )
    for part in ("sbp", "dbp")
]
SESSION: list[Column] = [
    ("session_id", "session id", "", "infusion_session.id"),
    ("infusion_number", "infusion n of the course", "", "infusion_session"),
    ("planned_infusions", "induction infusions planned", "", "protocol [course]"),
    ("course_phase", "`induction` (n <= planned) or `maintenance`", "", "derived"),
    ("state", "session state at export", "", "infusion_session.state"),
    ("scheduled_for", "booked start", "ISO 8601 UTC", "infusion_session"),
    ("checked_in_at", "check-in", "ISO 8601 UTC", "session_state_change"),
    ("infusion_started_at", "infusion start", "ISO 8601 UTC", "session_state_change"),
    (
        "infusion_ended_at",
        "end of infusion (completed or stopped)",
        "ISO 8601 UTC",
        "session_state_change",
    ),
    ("discharged_at", "discharge", "ISO 8601 UTC", "session_state_change"),
    ("weight_kg", "weight used for the dose", "kg", "session_dose_order"),
    ("mg_per_kg", "ordered dose per kg", "mg/kg", "session_dose_order"),
    ("dose_mg", "ordered dose", "mg", "session_dose_order"),
    ("drug_lot", "ketamine lot number", "", "infusion_session drug record"),
    ("drug_prepared_ml", "volume prepared", "mL", "infusion_session drug record"),
    ("drug_given_ml", "volume given (pump segments)", "mL", "infusion_session drug record"),
    ("drug_wasted_ml", "volume wasted", "mL", "infusion_session drug record"),
    *_BP,
    ("min_spo2_pct", "lowest SpO2 (excluded readings left out)", "%", "vital_reading"),
    ("max_sbp_mmhg", "highest SBP", "mmHg", "vital_reading"),
    ("alarms_high", "alarms raised, high priority", "count", "alarm"),
    ("alarms_medium", "alarms raised, medium priority", "count", "alarm"),
    ("alarms_low", "alarms raised, low priority", "count", "alarm"),
    ("monitoring_minutes", "check-in to discharge, whole minutes", "min", "derived"),
    ("ready_to_leave_minutes", "infusion end to discharge, whole minutes", "min", "derived"),
    ("cadss_max_total", "highest CADSS total of the session", "points 0-92", "session_scale_entry"),
    (
        "bprs_plus_max_total",
        "highest BPRS+ total of the session",
        "points 0-24",
        "session_scale_entry",
    ),
    *[
        (
            item,
            f"side effect {item.replace('_', ' ')}",
            "none/mild/moderate/severe",
            "registry_side_effects",
        )
        for item in SIDE_EFFECT_ITEMS
    ],
    *[
        (
            f"intervention_{item}",
            f"intervention: {item.replace('_', ' ')}",
            "true/false",
            "registry_side_effects",
        )
        for item in INTERVENTION_ITEMS
    ],
    ("adverse_events", "adverse events recorded", "count", "registry_adverse_event"),
    ("adverse_event_max_grade", "highest CTCAE grade", "grade 1-5", "registry_adverse_event"),
    ("adverse_events_serious", "serious adverse events", "count", "registry_adverse_event"),
]
_SCALE_TIMEPOINTS = ("baseline", "after_infusion_3", "after_infusion_6", "weeks_4_after")
COURSE: list[Column] = [
    (
        "course_first_infusion_date",
        "first induction infusion",
        "date (clinic)",
        "session_state_change",
    ),
    ("infusions_given", "induction infusions started", "count", "session_state_change"),
    (
        "maintenance_sessions",
        "maintenance sessions linked to the course",
        "count",
        "infusion_session",
    ),
    *[
        (
            f"{scale}_{tp}",
            f"{scale.upper()} total at {tp.replace('_', ' ')}",
            "points",
            "registry_course_scale / session_scale_entry",
        )
        for scale in ("madrs", "phq9")
        for tp in _SCALE_TIMEPOINTS
    ],
    *[
        col
        for name in ("madrs_response", "madrs_remission", "phq9_remission")
        for col in (
            (
                name,
                f"{name.replace('_', ' ')}: met / not_met / not_computable",
                "",
                "protocol [scales]",
            ),
            (f"{name}_date", f"date {name.replace('_', ' ')} first met", "date", "derived"),
        )
    ],
    (
        "liver_tests",
        "liver test samples (registry and the screening)",
        "count",
        "registry_liver_test / screening",
    ),
    ("latest_alt_u_per_l", "latest ALT", "U/L", "registry_liver_test"),
    ("latest_ast_u_per_l", "latest AST", "U/L", "registry_liver_test"),
    ("latest_ggt_u_per_l", "latest GGT", "U/L", "registry_liver_test"),
    (
        "evaluation_mid_course_date",
        "psychologist mid-course evaluation",
        "date",
        "registry_evaluation",
    ),
    ("evaluation_final_date", "psychologist final evaluation", "date", "registry_evaluation"),
    ("reminders_overdue", "overdue items at export (`;`-separated)", "", "derived"),
]


def data_dictionary(identified: bool = False) -> list[Column]:
    """Every export column, in CSV order."""
    return [*_COMMON, *(IDENTIFIED if identified else []), *SESSION, *COURSE]


def pseudonym(secret: str, patient_id: uuid.UUID) -> str:
    """Stable pseudonym: HMAC-SHA256(app secret, "patient:" + id), first 24 hex digits."""
    digest = hmac.new(secret.encode(), f"patient:{patient_id}".encode(), hashlib.sha256)
    return digest.hexdigest()[:PSEUDONYM_HEX_CHARS]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _bp(prefix: str, bp: BloodPressure | None) -> dict[str, Any]:
    return {
        f"{prefix}_sbp_mmhg": None if bp is None else bp.sbp_mmhg,
        f"{prefix}_dbp_mmhg": None if bp is None else bp.dbp_mmhg,
    }


def _max_total(data: SessionData, scale_id: str) -> int | None:
    return max((e.total for e in data.read.scales if e.scale_id == scale_id), default=None)


def session_row(data: SessionData, who: dict[str, Any]) -> dict[str, str]:
    """One session row (`who`: pseudonym, plus identity columns when identified)."""
    read, s, t, order, drug = data.read, data.summary, data.times, data.read.order, data.read.drug
    se = data.side_effects
    row: dict[str, Any] = {
        "kind": "session",
        **who,
        "session_id": read.id,
        "infusion_number": read.infusion_number,
        "planned_infusions": read.planned_infusions,
        "course_phase": "induction"
        if read.infusion_number <= read.planned_infusions
        else "maintenance",
        "state": read.state,
        "scheduled_for": read.scheduled_for,
        "checked_in_at": None if t is None else t.checked_in_at,
        "infusion_started_at": None if t is None else t.infusion_started_at,
        "infusion_ended_at": None if t is None else t.infusion_ended_at,
        "discharged_at": None if t is None else t.discharged_at,
        "weight_kg": None if order is None else order.weight_kg,
        "mg_per_kg": None if order is None else order.mg_per_kg,
        "dose_mg": None if order is None else order.dose_mg,
        "drug_lot": None if drug is None else drug.lot,
        "drug_prepared_ml": None if drug is None else drug.prepared_ml,
        "drug_given_ml": None if drug is None else drug.given_ml,
        "drug_wasted_ml": None if drug is None else drug.wasted_ml,
        **_bp("bp_pre", None if s is None else s.bp_pre),
        **_bp("bp_40_min", None if s is None else s.bp_40_min),
        **_bp("bp_end", None if s is None else s.bp_end),
        "min_spo2_pct": None if s is None else s.min_spo2_pct,
        "max_sbp_mmhg": None if s is None else s.max_sbp_mmhg,
        "monitoring_minutes": None if s is None else s.monitoring_minutes,
        "ready_to_leave_minutes": None if s is None else s.ready_to_leave_minutes,
        "cadss_max_total": _max_total(data, "cadss"),
        "bprs_plus_max_total": _max_total(data, "bprs_plus"),
        "adverse_events": len(data.adverse_events),
        "adverse_event_max_grade": max((a.grade for a in data.adverse_events), default=None),
        "adverse_events_serious": sum(1 for a in data.adverse_events if a.serious),
    }
    if s is not None:
        for priority, count in s.alarm_counts.items():
            row[f"alarms_{priority}"] = count
    for item in SIDE_EFFECT_ITEMS:
        row[item] = None if se is None else getattr(se, item)
    for item in INTERVENTION_ITEMS:
        row[f"intervention_{item}"] = None if se is None else getattr(se, item)
    return {k: _text(v) for k, v in row.items()}


def course_row(
    view: CourseRead,
    who: dict[str, Any],
    evaluations: Sequence[CourseEvaluation],
    tz: ZoneInfo,
) -> dict[str, str]:
    """One course row from the course view (outcomes, schedule, reminders, liver tests incl.
    the screening's) and the evaluations."""
    liver = view.liver_tests
    started = [s.started_at for s in view.induction_sessions if s.started_at is not None]
    row: dict[str, Any] = {
        "kind": "course",
        **who,
        "planned_infusions": view.planned_infusions,
        "course_first_infusion_date": min(started).astimezone(tz).date() if started else None,
        "infusions_given": len(started),
        "maintenance_sessions": len(view.maintenance_sessions),
        "liver_tests": len(liver),
        "reminders_overdue": ";".join(r.item for r in view.reminders if r.overdue),
    }
    for point in view.schedule:
        row[f"madrs_{point.timepoint}"] = point.madrs
        row[f"phq9_{point.timepoint}"] = point.phq9
    if view.outcomes is not None:
        for name in ("madrs_response", "madrs_remission", "phq9_remission"):
            outcome = getattr(view.outcomes, name)
            row[name] = outcome.status
            row[f"{name}_date"] = outcome.first_met_on
    for field in ("alt_u_per_l", "ast_u_per_l", "ggt_u_per_l"):
        values = [getattr(t, field) for t in liver if getattr(t, field) is not None]
        row[f"latest_{field}"] = values[-1] if values else None
    for kind in ("mid_course", "final"):
        dates = [e.evaluation_date for e in evaluations if e.kind == kind]
        row[f"evaluation_{kind}_date"] = dates[-1] if dates else None
    return {k: _text(v) for k, v in row.items()}
