"""Screening records, physician sign-off and the eligibility answer (DESIGN §4, issue 4 §5–9).

Sign-off rules:
- Only the newest version of a patient's screening can be signed, and only once; an edit (of a
  signed or an unsigned version) inserts version + 1, unsigned, evaluated by the clinic's
  approved protocol. Old versions stay readable.
- The content hash is recomputed at signing and must still match the stored one (else 409).
- ``eligible`` is refused (409) while the stored results hold an absolute finding; the physician
  records ``not_eligible`` with a note instead.
- ``eligible`` is refused (409) while they hold a missing-data finding (a field not recorded,
  vitals, liver tests or weight older than the protocol's window, or an implausible value). A
  justification cannot stand in for data, and a justified gap would also hide the same finding
  when the data later goes stale. The data is completed in an edit and the new version signed.
- ``eligible`` needs a written justification for every relative finding and for nothing else
  (422 naming the rule ids).
- ``eligible`` is refused (409) when the rules, re-run at signing time, find something the
  stored results did not (e.g. the vitals went stale since the screening was recorded).
- An ``eligible`` signature expires ``screening.validity_days`` after signing (the protocol of
  the version; a site choice). ``not_eligible`` needs a note and does not expire.
"""

from app.screening.service.common import (
    ELIGIBLE,
    NOT_ELIGIBLE,
    Decision,
    ScreeningView,
    content_hash,
    stored_findings,
)
from app.screening.service.eligibility_check import EligibilityAnswer, eligibility
from app.screening.service.records import (
    create_screening,
    edit_screening,
    get_screening,
    list_screenings,
)
from app.screening.service.signing import sign_screening

__all__ = [
    "ELIGIBLE",
    "NOT_ELIGIBLE",
    "Decision",
    "EligibilityAnswer",
    "ScreeningView",
    "content_hash",
    "create_screening",
    "edit_screening",
    "eligibility",
    "get_screening",
    "list_screenings",
    "sign_screening",
    "stored_findings",
]
