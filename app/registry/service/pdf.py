"""The session summary PDF for the medical record (issue 11 point 4), drawn with fpdf2:
patient, dose and times, summary numbers, vitals table and chart, alarms with their
acknowledgements, scales, side effects and adverse events, discharge evaluation and advice,
signed off by the discharging physician. Pure rendering: the data comes in gathered."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from itertools import pairwise
from zoneinfo import ZoneInfo

from fpdf import FPDF

from app.protocols.domain import Metric
from app.registry.domain import BloodPressure
from app.registry.domain.events import INTERVENTION_ITEMS, SIDE_EFFECT_ITEMS
from app.registry.service.session_data import SessionData

FONT = "Helvetica"
_TABLE_METRICS = (Metric.SBP, Metric.DBP, Metric.HR, Metric.SPO2, Metric.RR)
_CHART_SERIES = ((Metric.SBP, (200, 30, 30)), (Metric.DBP, (30, 60, 200)), (Metric.HR, (0, 130, 0)))


@dataclass(frozen=True, slots=True)
class PatientHeader:
    """Who the document is about (identified: it goes into the patient's medical record)."""

    name: str
    mrn: str
    birth_date: date


def _latin1(text: str) -> str:
    """The core PDF fonts are Latin-1: keep Norwegian letters, replace what cannot be shown."""
    swaps = {"≥": ">=", "≤": "<=", "–": "-", "—": "-", "→": "->", "’": "'", "•": "-"}
    for old, new in swaps.items():
        text = text.replace(old, new)
    return text.encode("latin-1", "replace").decode("latin-1")


class _Doc(FPDF):
    def __init__(self, tz: ZoneInfo) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.tz = tz
        self.set_auto_page_break(auto=True, margin=15)
        self.add_page()

    def at(self, value: datetime | None) -> str:
        return "-" if value is None else value.astimezone(self.tz).strftime("%Y-%m-%d %H:%M")

    def heading(self, text: str) -> None:
        self.ln(2)
        self.set_font(FONT, "B", 11)
        self.cell(0, 7, _latin1(text), new_x="LMARGIN", new_y="NEXT")
        self.set_font(FONT, "", 9)

    def line_text(self, text: str) -> None:
        self.multi_cell(0, 5, _latin1(text), new_x="LMARGIN", new_y="NEXT")

    def pairs(self, items: Iterable[tuple[str, object]]) -> None:
        for label, value in items:
            self.set_font(FONT, "B", 9)
            self.cell(55, 5, _latin1(label))
            self.set_font(FONT, "", 9)
            shown = "-" if value is None else str(value)
            self.multi_cell(0, 5, _latin1(shown), new_x="LMARGIN", new_y="NEXT")

    def grid(self, header: list[str], rows: list[list[str]], widths: list[float]) -> None:
        self.set_font(FONT, "B", 8)
        for text, width in zip(header, widths, strict=True):
            self.cell(width, 5, _latin1(text), border=1)
        self.ln()
        self.set_font(FONT, "", 8)
        for row in rows:
            for text, width in zip(row, widths, strict=True):
                self.cell(width, 5, _latin1(text), border=1)
            self.ln()


def _vitals_rows(data: SessionData, doc: _Doc) -> list[list[str]]:
    by_time: dict[datetime, dict[str, float]] = {}
    for r in data.readings:
        if r.excluded_at is None and r.metric in {m.value for m in _TABLE_METRICS}:
            by_time.setdefault(r.observed_at.replace(second=0, microsecond=0), {})[r.metric] = (
                r.value
            )
    rows = []
    for at in sorted(by_time):
        values = by_time[at]
        cells = [f"{values[m.value]:g}" if m.value in values else "" for m in _TABLE_METRICS]
        rows.append([doc.at(at), *cells])
    return rows


def _chart(doc: _Doc, data: SessionData) -> None:
    """SBP, DBP and HR over time as lines, in a 180 x 50 mm box (0-220 on the y axis)."""
    series = {
        metric: sorted(
            (r.observed_at, r.value)
            for r in data.readings
            if r.metric == metric.value and r.excluded_at is None
        )
        for metric, _ in _CHART_SERIES
    }
    instants = [at for points in series.values() for at, _ in points]
    if len(instants) < 2:
        doc.line_text("Not enough readings for a chart.")
        return
    if doc.get_y() + 62 > doc.h - doc.b_margin:
        doc.add_page()
    left, top, width, height, y_max = doc.l_margin, doc.get_y() + 2, 180.0, 50.0, 220.0
    first, last = min(instants), max(instants)
    span = max((last - first).total_seconds(), 1.0)
    doc.set_draw_color(160, 160, 160)
    doc.rect(left, top, width, height)
    doc.set_font(FONT, "", 7)
    for mark in (50, 100, 150, 200):
        y = top + height - height * mark / y_max
        doc.line(left, y, left + 2, y)
        doc.text(left + 3, y + 1, str(mark))
    for metric, color in _CHART_SERIES:
        points = [
            (
                left + width * (at - first).total_seconds() / span,
                top + height - height * min(value, y_max) / y_max,
            )
            for at, value in series[metric]
        ]
        doc.set_draw_color(*color)
        for (x1, y1), (x2, y2) in pairwise(points):
            doc.line(x1, y1, x2, y2)
    doc.set_draw_color(0, 0, 0)
    doc.set_y(top + height + 2)
    doc.line_text(f"Chart: SBP (red), DBP (blue), HR (green), {doc.at(first)} to {doc.at(last)}")


def _alarm_rows(data: SessionData, doc: _Doc) -> list[list[str]]:
    return [
        [
            doc.at(a.raised_at),
            a.priority,
            a.rule_id,
            a.message[:48],
            "-"
            if a.acknowledged_at is None
            else f"{doc.at(a.acknowledged_at)} {a.acknowledged_by_name or ''}".strip(),
            doc.at(a.cleared_at),
        ]
        for a in data.alarms
    ]


def render_summary_pdf(
    data: SessionData, patient: PatientHeader, *, tz: ZoneInfo, generated_at: datetime
) -> bytes:
    """The session summary PDF as bytes (see the module docstring for its sections)."""
    doc = _Doc(tz)
    read, s = data.read, data.summary
    doc.set_font(FONT, "B", 14)
    doc.cell(0, 9, "Ketamine infusion - session summary", new_x="LMARGIN", new_y="NEXT")
    doc.set_font(FONT, "", 9)
    doc.pairs(
        [
            ("Patient", patient.name),
            ("MRN", patient.mrn),
            ("Birth date", patient.birth_date.isoformat()),
            ("Infusion", f"{read.infusion_number} of {read.planned_infusions}"),
            ("Protocol SHA-256", read.protocol_sha256[:16]),
        ]
    )
    order, drug = read.order, read.drug
    doc.heading("Dose and times")
    doc.pairs(
        [
            ("Dose", None if order is None else f"{order.dose_mg} mg"),
            (
                "mg/kg; weight",
                None if order is None else f"{order.mg_per_kg} mg/kg; {order.weight_kg} kg",
            ),
            (
                "Rate; volume",
                None
                if order is None
                else f"{order.rate_ml_per_h} mL/h; {order.volume_ml} mL over {order.minutes} min",
            ),
            ("Drug lot", None if drug is None else drug.lot),
            (
                "Prepared / given / wasted",
                None
                if drug is None
                else f"{drug.prepared_ml} / {drug.given_ml} / {drug.wasted_ml} mL",
            ),
            ("Checked in", doc.at(None if data.times is None else data.times.checked_in_at)),
            (
                "Infusion start",
                doc.at(None if data.times is None else data.times.infusion_started_at),
            ),
            ("Infusion end", doc.at(None if data.times is None else data.times.infusion_ended_at)),
            ("Discharged", doc.at(None if data.times is None else data.times.discharged_at)),
        ]
    )
    doc.heading("Summary")
    if s is not None:

        def bp(value: BloodPressure | None) -> str | None:
            if value is None:
                return None
            dbp = "-" if value.dbp_mmhg is None else f"{value.dbp_mmhg:g}"
            return f"{value.sbp_mmhg:g}/{dbp} mmHg at {doc.at(value.observed_at)}"

        doc.pairs(
            [
                ("BP pre", bp(s.bp_pre)),
                ("BP at 40 min", bp(s.bp_40_min)),
                ("BP at end", bp(s.bp_end)),
                ("Min SpO2", None if s.min_spo2_pct is None else f"{s.min_spo2_pct:g} %"),
                ("Max SBP", None if s.max_sbp_mmhg is None else f"{s.max_sbp_mmhg:g} mmHg"),
                ("Alarms by priority", ", ".join(f"{p}: {n}" for p, n in s.alarm_counts.items())),
                (
                    "Monitoring",
                    None if s.monitoring_minutes is None else f"{s.monitoring_minutes} min",
                ),
                (
                    "Ready to leave after",
                    None if s.ready_to_leave_minutes is None else f"{s.ready_to_leave_minutes} min",
                ),
            ]
        )
    doc.heading("Vitals")
    rows = _vitals_rows(data, doc)
    if rows:
        doc.grid(["Time", "SBP", "DBP", "HR", "SpO2", "RR"], rows, [35, 20, 20, 20, 20, 20])
    _chart(doc, data)
    doc.heading("Alarms and acknowledgements")
    alarm_rows = _alarm_rows(data, doc)
    if alarm_rows:
        doc.grid(
            ["Raised", "Priority", "Rule", "Message", "Acknowledged", "Cleared"],
            alarm_rows,
            [27, 14, 22, 60, 40, 27],
        )
    else:
        doc.line_text("No alarms.")
    doc.heading("Scales")
    for e in read.scales:
        band = "" if e.band is None else f" ({e.band})"
        doc.line_text(f"{doc.at(e.at)}  {e.scale_id} total {e.total}{band}, {e.state}")
    doc.heading("Side effects and interventions")
    se = data.side_effects
    if se is None:
        doc.line_text("Not recorded.")
    else:
        found = [f"{i}: {getattr(se, i)}" for i in SIDE_EFFECT_ITEMS if getattr(se, i) != "none"]
        given = [i for i in INTERVENTION_ITEMS if getattr(se, i)]
        doc.line_text("Side effects: " + (", ".join(found) or "none"))
        doc.line_text("Interventions: " + (", ".join(given) or "none"))
    for ae in data.adverse_events:
        serious = "serious" if ae.serious else "not serious"
        doc.line_text(f"Adverse event: {ae.term}, CTCAE grade {ae.grade}, {serious}, {ae.outcome}")
    doc.heading("Discharge evaluation and advice")
    evaluation = read.discharge_evaluation or {}
    doc.pairs([(k.replace("_", " "), v) for k, v in evaluation.items()])
    doc.heading("Sign-off")
    signed = data.discharged_by
    doc.line_text(
        "Not discharged."
        if signed is None
        else f"Discharged and signed off by {signed} at "
        f"{doc.at(None if data.times is None else data.times.discharged_at)}."
    )
    doc.line_text(f"Generated {doc.at(generated_at)}.")
    return bytes(doc.output())
