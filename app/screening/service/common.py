"""Shared pieces of the screening use cases: canonical content hash, conversion to the rules
engine's input, evaluation at an instant, and loading scoped to the caller's clinic."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.domain import Actor
from app.core.errors import Conflict, NotFound, Unprocessable
from app.patients import service as patients_service
from app.protocols import service as protocols_service
from app.protocols.models import ProtocolVersion
from app.screening.domain import (
    EligibilityResult,
    EligibilityStatus,
    Finding,
    LiverTests,
    Medication,
    RestingVitals,
    Screening,
    ScreeningRules,
    Severity,
    evaluate_eligibility,
)
from app.screening.models import ScreeningVersion
from app.screening.repository import ScreeningRepository
from app.screening.schemas import ScreeningContent

Decision = Literal["eligible", "not_eligible"]
ELIGIBLE, NOT_ELIGIBLE = "eligible", "not_eligible"


@dataclass(frozen=True, slots=True)
class ScreeningView:
    """A stored version and whether a newer one exists."""

    screening: ScreeningVersion
    superseded: bool


def content_hash(
    *,
    patient_id: uuid.UUID,
    version: int,
    protocol_version_id: uuid.UUID,
    protocol_sha256: str,
    content: Mapping[str, Any],
    evaluation: Mapping[str, Any],
) -> str:
    """SHA-256 (hex) of the canonical JSON of a screening version: its content and rule results,
    bound to the patient, the version number and the protocol file that evaluated it.

    Canonical JSON: ``json.dumps(doc, sort_keys=True, separators=(",", ":"),
    ensure_ascii=False)`` in UTF-8, where ``doc`` has the keys ``patient_id``, ``version``,
    ``protocol_version_id``, ``protocol_sha256``, ``content`` and ``evaluation`` (the stored JSON).
    """
    doc = {
        "patient_id": str(patient_id),
        "version": version,
        "protocol_version_id": str(protocol_version_id),
        "protocol_sha256": protocol_sha256,
        "content": content,
        "evaluation": evaluation,
    }
    return _canonical_sha256(doc)


def _canonical_sha256(doc: Mapping[str, Any]) -> str:
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def signature_hash(row: ScreeningVersion) -> str:
    """SHA-256 of the canonical JSON of a signature: ``content_sha256`` (the hash it covers),
    ``decision``, ``signed_by``, ``signed_at``, ``expires_at`` (UTC ISO 8601 or null),
    ``justifications`` and ``note``."""
    return _canonical_sha256(
        {
            "content_sha256": row.signed_sha256,
            "decision": row.decision,
            "signed_by": None if row.signed_by is None else str(row.signed_by),
            "signed_at": _iso(row.signed_at),
            "expires_at": _iso(row.expires_at),
            "justifications": row.justifications,
            "note": row.note,
        }
    )


def row_hash(row: ScreeningVersion, protocol: ProtocolVersion) -> str:
    return content_hash(
        patient_id=row.patient_id,
        version=row.version,
        protocol_version_id=row.protocol_version_id,
        protocol_sha256=protocol.sha256,
        content=row.content,
        evaluation=row.evaluation,
    )


def to_domain(content: ScreeningContent, birth_date: date) -> Screening:
    tests, vitals, meds = content.liver_tests, content.resting_vitals, content.medications
    return Screening(
        psychosis=content.psychosis,
        mania=content.mania,
        bipolar_disorder=content.bipolar_disorder,
        substance_use_disorder=content.substance_use_disorder,
        hypertension=content.hypertension,
        aneurysmal_vascular_disease=content.aneurysmal_vascular_disease,
        intracranial_haemorrhage=content.intracranial_haemorrhage,
        stroke=content.stroke,
        significant_cardiac_disease=content.significant_cardiac_disease,
        raised_intracranial_pressure=content.raised_intracranial_pressure,
        raised_intraocular_pressure=content.raised_intraocular_pressure,
        pregnancy_applicable=content.pregnancy_applicable,
        pregnant=content.pregnant,
        breastfeeding=content.breastfeeding,
        hyperthyroidism=content.hyperthyroidism,
        hepatic_impairment=content.hepatic_impairment,
        liver_tests=None
        if tests is None
        else LiverTests(
            measured_at=tests.measured_at,
            alt_u_per_l=tests.alt_u_per_l,
            alt_uln_u_per_l=tests.alt_uln_u_per_l,
            ast_u_per_l=tests.ast_u_per_l,
            ast_uln_u_per_l=tests.ast_uln_u_per_l,
        ),
        ketamine_hypersensitivity=content.ketamine_hypersensitivity,
        birth_date=birth_date,
        medications=None
        if meds is None
        else tuple(
            Medication(m.name, frozenset(m.classes), m.diazepam_equivalent_mg_per_day) for m in meds
        ),
        resting_vitals=None
        if vitals is None
        else RestingVitals(
            measured_at=vitals.measured_at,
            sbp_mmhg=vitals.sbp_mmhg,
            dbp_mmhg=vitals.dbp_mmhg,
            hr_bpm=vitals.hr_bpm,
            spo2_pct=vitals.spo2_pct,
        ),
        weight_kg=content.weight_kg,
        weight_measured_at=content.weight_measured_at,
        consent_off_label=content.consent_off_label,
        failed_antidepressant_trials=content.failed_antidepressant_trials,
    )


def _finding_json(finding: Finding) -> dict[str, Any]:
    return {
        "rule_id": finding.rule_id,
        "severity": finding.severity.value,
        "message": finding.message,
        "protocol_key": finding.protocol_key,
        "data": dict(finding.data),
    }


def evaluation_json(result: EligibilityResult) -> dict[str, Any]:
    return {
        "status": result.status.value,
        "evaluated_at": result.evaluated_at.astimezone(UTC).isoformat(),
        "findings": [_finding_json(f) for f in result.findings],
    }


def stored_findings(row: ScreeningVersion) -> tuple[Finding, ...]:
    """The findings stored with a version, as domain values."""
    return tuple(
        Finding(
            rule_id=f["rule_id"],
            severity=Severity(f["severity"]),
            message=f["message"],
            protocol_key=f["protocol_key"],
            data=tuple((str(k), str(v)) for k, v in f["data"].items()),
        )
        for f in row.evaluation["findings"]
    )


def _status_of(findings: Iterable[Finding]) -> EligibilityStatus:
    severities = {f.severity for f in findings}
    if Severity.ABSOLUTE in severities:
        return EligibilityStatus.INELIGIBLE
    return EligibilityStatus.NEEDS_REVIEW if severities else EligibilityStatus.ELIGIBLE


def finding_key(finding: Finding) -> tuple[str, Severity]:
    return finding.rule_id, finding.severity


def user_id_of(actor: Actor) -> uuid.UUID | None:
    return uuid.UUID(actor.actor_id) if actor.actor_type == "user" and actor.actor_id else None


# --- loading -------------------------------------------------------------------------------


async def patient_birth_date(db: AsyncSession, clinic_id: uuid.UUID, patient_id: uuid.UUID) -> date:
    birth_date = await patients_service.birth_date_of(
        db, clinic_id=clinic_id, patient_id=patient_id
    )
    if birth_date is None:
        raise NotFound("patient not found")
    return birth_date


async def get_row(
    db: AsyncSession, clinic_id: uuid.UUID, screening_id: uuid.UUID, *, for_update: bool = False
) -> ScreeningVersion:
    row = await ScreeningRepository(db).get(clinic_id, screening_id, for_update=for_update)
    if row is None:
        raise NotFound("screening not found")
    return row


async def approved_protocol(
    db: AsyncSession, clinic_id: uuid.UUID, protocol_key: str | None = None
) -> ProtocolVersion:
    version = None
    if protocol_key is not None:
        version = await protocols_service.active_version(db, clinic_id, protocol_key)
    if version is None:
        version = await protocols_service.active_version(db, clinic_id)
    if version is None:
        raise Conflict(
            "the clinic has no approved protocol, so there are no screening rules to apply; "
            "a physician or admin must approve a protocol version first"
        )
    return version


async def rule_sets(
    db: AsyncSession, row: ScreeningVersion
) -> tuple[ProtocolVersion, list[ScreeningRules]]:
    """The version's own protocol, plus the one now approved for that protocol if different:
    a signature does not outlive a stricter rule approved after it."""
    stored = await protocols_service.get_version(db, row.clinic_id, row.protocol_version_id)
    rules = [protocols_service.definition_of(stored).screening]
    active = await protocols_service.active_version(db, row.clinic_id, stored.protocol_key)
    if active is not None and active.id != stored.id:
        rules.append(protocols_service.definition_of(active).screening)
    return stored, rules


async def evaluate_at(
    db: AsyncSession,
    *,
    patient_id: uuid.UUID,
    content: ScreeningContent,
    birth_date: date,
    rules: Sequence[ScreeningRules],
    at: datetime,
) -> tuple[ScreeningContent, EligibilityResult]:
    """Evaluate at ``at`` with the patient's newest weight (measured by ``at``) if it is newer
    than the screening's; findings of several rule sets are merged."""
    newest = await patients_service.newest_weight(db, patient_id=patient_id, measured_by=at)
    if newest is not None and (
        content.weight_measured_at is None or newest.measured_at > content.weight_measured_at
    ):
        content = content.model_copy(
            update={"weight_kg": newest.weight_kg, "weight_measured_at": newest.measured_at}
        )
    screening = to_domain(content, birth_date)
    findings: list[Finding] = []
    for rule_set in rules:
        for finding in evaluate_eligibility(screening, rule_set, at).findings:
            if finding not in findings:
                findings.append(finding)
    return content, EligibilityResult(_status_of(findings), tuple(findings), at)


def check_times(content: ScreeningContent, now: datetime) -> None:
    """Measurements cannot be taken after now (422 naming the fields)."""
    vitals, tests = content.resting_vitals, content.liver_tests
    times = {
        "resting_vitals.measured_at": None if vitals is None else vitals.measured_at,
        "liver_tests.measured_at": None if tests is None else tests.measured_at,
        "weight_measured_at": content.weight_measured_at,
    }
    future = [name for name, value in times.items() if value is not None and value > now]
    if future:
        raise Unprocessable(
            f"{', '.join(future)}: later than now; enter the time the measurement was taken"
        )


def audit_state(row: ScreeningVersion) -> dict[str, Any]:
    return {
        "patient_id": row.patient_id,
        "version": row.version,
        "protocol_version_id": row.protocol_version_id,
        "status": row.evaluation["status"],
        "finding_rule_ids": sorted({f["rule_id"] for f in row.evaluation["findings"]}),
        "content_sha256": row.content_sha256,
        "decision": row.decision,
    }
