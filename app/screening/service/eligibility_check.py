"""The eligibility answer the session start uses as its hard stop."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.screening.domain import EligibilityStatus, Finding, Severity
from app.screening.models import ScreeningVersion
from app.screening.repository import ScreeningRepository
from app.screening.schemas import ScreeningContent
from app.screening.service.common import (
    ELIGIBLE,
    Decision,
    evaluate_at,
    patient_birth_date,
    row_hash,
    rule_sets,
    signature_hash,
)


@dataclass(frozen=True, slots=True)
class EligibilityAnswer:
    """Whether a session may start at ``at``; every reason says what would lift it."""

    eligible: bool
    reasons: tuple[str, ...]
    at: datetime
    screening_id: uuid.UUID | None = None
    version: int | None = None
    decision: Decision | None = None
    signed_at: datetime | None = None
    expires_at: datetime | None = None
    status: EligibilityStatus | None = None
    findings: tuple[Finding, ...] = ()
    justified_rule_ids: frozenset[str] = field(default_factory=frozenset)

    def is_justified(self, finding: Finding) -> bool:
        """A relative finding the signature carries a written justification for."""
        return finding.severity is Severity.RELATIVE and finding.rule_id in self.justified_rule_ids


def _remedy(finding: Finding) -> str:
    if finding.severity is Severity.ABSOLUTE:
        return "an absolute contraindication cannot be signed eligible"
    if finding.severity is Severity.RELATIVE:
        return "a physician must review it and sign a new screening version with a justification"
    return "record current data in an edited screening and have a physician sign the new version"


def _signature_reasons(
    row: ScreeningVersion, findings: tuple[Finding, ...], justified: frozenset[str], at: datetime
) -> list[str]:
    if row.decision is None:
        return [
            f"screening version {row.version} is not signed; a physician must review and sign it"
        ]
    if row.decision != ELIGIBLE or row.signed_at is None or row.expires_at is None:
        return [
            f"a physician signed screening version {row.version} not eligible; only a new "
            "screening version signed eligible lifts this"
        ]
    reasons = []
    if at < row.signed_at:
        reasons.append(
            f"screening version {row.version} was signed at {row.signed_at.isoformat()}, after "
            "the time asked about; the signature covers only later session starts"
        )
    if at >= row.expires_at:
        reasons.append(
            f"screening signature expired on {row.expires_at.date().isoformat()}; "
            "a physician must review and sign a new screening"
        )
    for finding in findings:
        if not (finding.severity is Severity.RELATIVE and finding.rule_id in justified):
            reasons.append(
                f"new finding since signing: {finding.message} "
                f"({finding.rule_id}, {finding.severity.value}); {_remedy(finding)}"
            )
    return reasons


async def eligibility(
    db: AsyncSession, *, clinic_id: uuid.UUID, patient_id: uuid.UUID, at: datetime
) -> EligibilityAnswer:
    """May a session start for this patient at ``at``? The sessions' hard stop.

    Yes only if the newest screening version is signed eligible, the signature was given by
    ``at`` and has not expired, the stored hash still verifies, and re-running the rules at ``at``
    (the version's protocol and the one now approved for it; stale vitals, labs and weight; the
    patient's newest weight) finds nothing beyond the relative findings the signature justified.
    Not audited (read-only; called on every session start). 404 for another clinic's patient.
    """
    birth_date = await patient_birth_date(db, clinic_id, patient_id)
    row = await ScreeningRepository(db).latest(clinic_id, patient_id)
    if row is None:
        return EligibilityAnswer(
            False,
            ("no screening recorded; record one and have a physician sign it eligible",),
            at,
        )
    base: dict[str, Any] = {
        "at": at,
        "screening_id": row.id,
        "version": row.version,
        "decision": row.decision,
        "signed_at": row.signed_at,
        "expires_at": row.expires_at,
    }
    protocol, rules = await rule_sets(db, row)
    sha256 = row_hash(row, protocol)
    signed = row.decision is not None
    if sha256 != row.content_sha256 or (
        signed and (row.signed_sha256 != sha256 or row.signature_sha256 != signature_hash(row))
    ):
        reason = (
            f"screening version {row.version} no longer matches the hash it was "
            f"{'signed' if signed else 'recorded'} with (changed outside the application); "
            "record the screening again and have a physician sign the new version"
        )
        return EligibilityAnswer(False, (reason,), **base)
    try:
        content = ScreeningContent.model_validate(row.content)
    except ValidationError:
        reason = f"screening version {row.version} cannot be read; record the screening again"
        return EligibilityAnswer(False, (reason,), **base)
    _, result = await evaluate_at(
        db, patient_id=patient_id, content=content, birth_date=birth_date, rules=rules, at=at
    )
    justified = frozenset(row.justifications or ()) if row.decision == ELIGIBLE else frozenset()
    reasons = _signature_reasons(row, result.findings, justified, at)
    return EligibilityAnswer(
        not reasons,
        tuple(reasons),
        status=result.status,
        findings=result.findings,
        justified_rule_ids=justified,
        **base,
    )
