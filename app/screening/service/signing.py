"""The physician's sign-off of the newest screening version."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.audit.domain import Actor
from app.core.errors import Conflict, Unprocessable
from app.protocols import service as protocols_service
from app.screening.domain import Finding, Severity
from app.screening.repository import ScreeningRepository
from app.screening.schemas import ScreeningContent
from app.screening.service.common import (
    ELIGIBLE,
    Decision,
    ScreeningView,
    audit_state,
    evaluate_at,
    finding_key,
    get_row,
    patient_birth_date,
    row_hash,
    rule_sets,
    signature_hash,
    stored_findings,
)


def _listing(findings: Iterable[Finding]) -> str:
    return "; ".join(f"{f.rule_id}: {f.message}" for f in findings)


def _check_eligible_decision(
    findings: Sequence[Finding], justifications: Mapping[str, str]
) -> None:
    absolute = [f for f in findings if f.severity is Severity.ABSOLUTE]
    if absolute:
        raise Conflict(
            f"absolute contraindication cannot be signed eligible ({_listing(absolute)}); "
            "record the decision not_eligible with a note instead"
        )
    missing = [f for f in findings if f.severity is Severity.MISSING_DATA]
    if missing:
        raise Conflict(
            f"missing, stale or implausible data ({_listing(missing)}); correct it in an edit "
            "(a new version) and sign that, or record not_eligible with a note"
        )
    relative = {f.rule_id for f in findings if f.severity is Severity.RELATIVE}
    unjustified = sorted(relative - justifications.keys())
    if unjustified:
        raise Unprocessable(
            f"justifications: a written justification is required for each relative finding; "
            f"missing for {', '.join(unjustified)}"
        )
    extra = sorted(justifications.keys() - relative)
    if extra:
        raise Unprocessable(
            f"justifications: {', '.join(extra)} are not relative findings of this screening"
        )


async def sign_screening(
    db: AsyncSession,
    *,
    clinic_id: uuid.UUID,
    screening_id: uuid.UUID,
    signer_id: uuid.UUID,
    decision: Decision,
    note: str | None,
    justifications: Mapping[str, str],
    actor: Actor,
    now: datetime,
) -> ScreeningView:
    """A physician's decision on the newest version (the caller has re-checked the password).

    Rules in the module docstring. Audited as SCREENING_SIGNED (eligible) or SCREENING_REFUSED.
    """
    row = await get_row(db, clinic_id, screening_id, for_update=True)
    latest = await ScreeningRepository(db).latest_version_number(row.patient_id)
    if row.version != latest:
        raise Conflict(
            f"screening version {row.version} has been superseded by version {latest}; "
            "review and sign the newest version"
        )
    if row.decision is not None:
        raise Conflict(
            f"screening version {row.version} was already signed {row.decision}; "
            "an edit makes a new version to sign"
        )
    protocol, rules = await rule_sets(db, row)
    sha256 = row_hash(row, protocol)
    if sha256 != row.content_sha256:
        raise Conflict(
            "the stored screening no longer matches its content hash (changed outside the "
            "application); record the screening again as a new version"
        )
    findings = stored_findings(row)
    expires_at = None
    if decision == ELIGIBLE:
        _check_eligible_decision(findings, justifications)
        _, now_result = await evaluate_at(
            db,
            patient_id=row.patient_id,
            content=ScreeningContent.model_validate(row.content),
            birth_date=await patient_birth_date(db, clinic_id, row.patient_id),
            rules=rules,
            at=now,
        )
        known = {finding_key(f) for f in findings}
        new = [f for f in now_result.findings if finding_key(f) not in known]
        if new:
            raise Conflict(
                f"since version {row.version} was recorded the rules find more ({_listing(new)}); "
                "edit the screening with current data and sign the new version"
            )
        validity = protocols_service.definition_of(protocol).screening.validity_days
        expires_at = now + timedelta(days=validity)
    else:
        if note is None:
            raise Unprocessable("note: a not_eligible decision needs a note saying why")
        if justifications:
            raise Unprocessable("justifications: only an eligible decision carries them")
    row.decision, row.signed_by, row.signed_at = decision, signer_id, now
    row.signed_sha256, row.expires_at = sha256, expires_at
    row.justifications, row.note = dict(justifications), note
    row.signature_sha256 = signature_hash(row)
    await ScreeningRepository(db).flush()
    await audit_service.record(
        db,
        actor=actor,
        action="SCREENING_SIGNED" if decision == ELIGIBLE else "SCREENING_REFUSED",
        entity_type="screening",
        entity_id=row.id,
        clinic_id=clinic_id,
        now=now,
        after={
            **audit_state(row),
            "expires_at": expires_at,
            "justified_rule_ids": sorted(justifications),
            "note_given": note is not None,
        },
    )
    return ScreeningView(row, superseded=False)
