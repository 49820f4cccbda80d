"""Registry pages (issue 11): the clinic report (physician/admin) with uPlot charts drawn by
static/js/report.js from the same numbers the page shows as tables, and the course reminder
labels used on the patient and schedule pages."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from app.core.db import SessionDep
from app.core.deps import ClockDep, SettingsDep
from app.core.types import Role
from app.registry.schemas import ClinicReportRead
from app.registry.service.report import clinic_report_data
from app.web.common import page_access, render, templates

router = APIRouter(include_in_schema=False)

REPORT_ROLES = (Role.PHYSICIAN, Role.ADMIN)
SCALE_NAMES = {"madrs": "MADRS", "phq9": "PHQ-9"}
EVALUATION_NAMES = {"mid_course": "mid-course", "final": "final"}


def reminder_label(item: str) -> str:
    """``madrs:after_infusion_3`` → "MADRS after infusion 3"; ``liver_test`` → "Liver tests";
    ``evaluation:mid_course`` → "Psychologist mid-course evaluation"."""
    head, _, tail = item.partition(":")
    if head == "liver_test":
        return "Liver tests" + (f" ({tail.replace('_', ' ')})" if tail else "")
    if head == "evaluation":
        return f"Psychologist {EVALUATION_NAMES.get(tail, tail.replace('_', ' '))} evaluation"
    name = SCALE_NAMES.get(head, head.replace("_", " "))
    return f"{name} {tail.replace('_', ' ')}".strip()


templates.env.filters["reminder_label"] = reminder_label


def _day(value: str | None, name: str, errors: list[str]) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors.append(f"{name}: not a date (YYYY-MM-DD)")
        return None


def chart_data(report: ClinicReportRead) -> dict[str, Any]:
    """What report.js draws: one entry per chart, labels and values (the tables hold the
    same numbers)."""
    rates = {
        "MADRS response": report.madrs_response.pct,
        "MADRS remission": report.madrs_remission.pct,
        "PHQ-9 remission": report.phq9_remission.pct,
    }
    return {
        "weeks": {
            "labels": [w.week_start.isoformat() for w in report.weeks],
            "series": {
                "Booked": [w.booked for w in report.weeks],
                "Completed": [w.completed for w in report.weeks],
                "Cancelled": [w.cancelled for w in report.weeks],
            },
        },
        "outcomes": {
            "labels": list(rates),
            "max": 100,
            "series": {"Rate (%)": [None if v is None else float(v) for v in rates.values()]},
        },
        "alarms": {
            "labels": [a.rule_id for a in report.alarms],
            "series": {
                "Per 100 infusion-hours": [
                    None if a.per_100_infusion_hours is None else float(a.per_100_infusion_hours)
                    for a in report.alarms
                ]
            },
        },
        "grades": {
            "labels": [f"Grade {g}" for g in sorted(report.adverse_events_by_grade)],
            "series": {
                "Adverse events": [
                    report.adverse_events_by_grade[g]
                    for g in sorted(report.adverse_events_by_grade)
                ]
            },
        },
    }


@router.get("/registry/report", response_model=None)
async def report_page(
    request: Request,
    db: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    first: Annotated[str | None, Query(alias="from", max_length=20)] = None,
    last: Annotated[str | None, Query(alias="to", max_length=20)] = None,
) -> Response:
    now = clock.now()
    found = await page_access(request, db, now, settings, REPORT_ROLES)
    if isinstance(found, Response):
        return found
    principal, csrf = found
    errors: list[str] = []
    first_day, last_day = _day(first, "From", errors), _day(last, "To", errors)
    if first_day is not None and last_day is not None and last_day < first_day:
        errors.append("To: is before From")
    context: dict[str, Any] = {
        "first": first or "",
        "last": last or "",
        "errors": errors,
        "report": None,
        "charts": None,
    }
    if errors:
        return render(request, "report.html", principal, csrf, now, context, status_code=422)
    data = await clinic_report_data(
        db,
        clinic_id=principal.clinic_id,
        first_day=first_day,
        last_day=last_day,
        now=now,
        tz=settings.timezone,
    )
    report = ClinicReportRead.model_validate(
        {**asdict(data), "first_day": first_day, "last_day": last_day}
    )
    context.update({"report": report, "charts": chart_data(report)})
    return render(request, "report.html", principal, csrf, now, context)
