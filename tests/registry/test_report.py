"""Clinic report data (issue 11 point 6): pure numbers and the API over real sessions."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from app.registry.domain import OutcomeStatus
from app.registry.domain.report import ReportCourse, ReportSession, clinic_report, pct
from tests.fixtures.sessions import Flow
from tests.registry.helpers import three_sessions

MET, NOT_MET, NC = OutcomeStatus.MET, OutcomeStatus.NOT_MET, OutcomeStatus.NOT_COMPUTABLE
REPORT = "/api/v1/registry/report"


def session(day: date, **changes) -> ReportSession:
    values = {
        "scheduled_on": day,
        "cancelled": False,
        "started": True,
        "completed": True,
        "infusion_seconds": 2400.0,
    }
    values.update(changes)
    return ReportSession(**values)


class TestClinicReportDomain:
    def test_weeks_completion_alarm_rate_and_grades(self):
        report = clinic_report(
            [
                session(date(2026, 11, 23), alarm_rules=("sbp_high", "spo2_low")),
                session(date(2026, 11, 29), completed=False, adverse_event_grades=(2, 3)),
                session(date(2026, 11, 30), alarm_rules=("sbp_high",), serious_adverse_events=1),
                session(
                    date(2026, 11, 30),
                    cancelled=True,
                    started=False,
                    completed=False,
                    infusion_seconds=0.0,
                ),
            ],
            [
                ReportCourse(MET, NOT_MET, NC),
                ReportCourse(NOT_MET, NOT_MET, NC),
                ReportCourse(NC, NC, NC),
            ],
        )
        assert [(w.week_start, w.booked, w.completed, w.cancelled) for w in report.weeks] == [
            (date(2026, 11, 23), 2, 1, 0),
            (date(2026, 11, 30), 2, 1, 1),
        ]
        assert (report.sessions_started, report.sessions_completed) == (3, 2)
        assert report.completion_pct == Decimal("66.7")
        assert report.infusion_hours == Decimal("2.00")
        rates = {a.rule_id: (a.count, a.per_100_infusion_hours) for a in report.alarms}
        assert rates == {"sbp_high": (2, Decimal("100.0")), "spo2_low": (1, Decimal("50.0"))}
        assert report.adverse_events_by_grade == {1: 0, 2: 1, 3: 1, 4: 0, 5: 0}
        assert report.serious_adverse_events == 1
        response = report.madrs_response
        assert (response.met, response.computable, response.not_computable) == (1, 2, 1)
        assert response.pct == Decimal("50.0")
        assert report.phq9_remission.pct is None

    def test_empty_period(self):
        report = clinic_report([], [])
        assert report.weeks == ()
        assert report.completion_pct is None
        assert report.alarms == ()

    def test_pct_rounds_half_up(self):
        assert pct(1, 8) == Decimal("12.5")
        assert pct(2, 3) == Decimal("66.7")
        assert pct(0, 0) is None


class TestReportApi:
    async def test_numbers_over_the_sessions_created(
        self, flow: Flow, db, clinic, patient, chair, monitor
    ):
        await three_sessions(flow, db, clinic, patient, chair, monitor)
        r = await flow.client.get(REPORT, headers=flow.physician)
        assert r.status_code == 200, r.text
        report = r.json()
        assert sum(w["booked"] for w in report["weeks"]) == 3
        assert (report["sessions_started"], report["sessions_completed"]) == (3, 3)
        assert report["completion_pct"] == "100.0"
        assert report["infusion_hours"] == "2.00"  # 3 infusions of 40 min
        [alarm] = report["alarms"]
        assert (alarm["count"], alarm["per_100_infusion_hours"]) == (1, "50.0")
        assert report["adverse_events_by_grade"] == {"1": 0, "2": 1, "3": 0, "4": 0, "5": 0}
        assert report["madrs_response"] == {
            "met": 0,
            "computable": 0,
            "not_computable": 2,
            "pct": None,
        }

    async def test_nurse_is_refused(self, flow: Flow):
        assert (await flow.client.get(REPORT, headers=flow.nurse)).status_code == 403
