// Session page: uPlot trends of BP, HR, SpO2 and RR with the alarm limits in force and alarm
// markers; the reading picker of the artefact form; the unit of a manual reading.
import uPlot from "/static/vendor/uPlot.esm.js";
import { getJSON, h } from "./dom.js";

const charts = document.getElementById("charts");
const COLORS = { high: "#c8102e", medium: "#b38600", low: "#00838f" };
const PANELS = [
  { title: "Blood pressure (mmHg)", metrics: [["sbp", "SBP", "#0b5cad"], ["dbp", "DBP", "#6a3d9a"]] },
  { title: "Heart rate (/min)", metrics: [["hr", "HR", "#0b5cad"], ["pr", "PR", "#6a3d9a"]] },
  { title: "SpO₂ (%)", metrics: [["spo2", "SpO₂", "#0b5cad"]] },
  { title: "Respiratory rate (/min)", metrics: [["rr", "RR", "#0b5cad"]] },
];

function series(readings, metric) {
  return readings.filter((r) => r.metric === metric && !r.excluded_at).map((r) => [Date.parse(r.observed_at) / 1000, r.value]);
}

function merge(lists) {
  const xs = [...new Set(lists.flatMap((l) => l.map(([t]) => t)))].sort((a, b) => a - b);
  return [xs, ...lists.map((l) => {
    const byT = new Map(l);
    return xs.map((t) => (byT.has(t) ? byT.get(t) : null));
  })];
}

function overlay(limits, alarms) {
  return (u) => {
    const { ctx } = u;
    ctx.save();
    ctx.lineWidth = 2;
    ctx.setLineDash([6, 4]);
    for (const l of limits) {
      const y = u.valToPos(l.limit, "y", true);
      if (!Number.isFinite(y) || y < u.bbox.top || y > u.bbox.top + u.bbox.height) continue;
      ctx.strokeStyle = COLORS[l.priority] || "#555";
      ctx.beginPath();
      ctx.moveTo(u.bbox.left, y);
      ctx.lineTo(u.bbox.left + u.bbox.width, y);
      ctx.stroke();
    }
    ctx.setLineDash([]);
    for (const a of alarms) {
      const x = u.valToPos(Date.parse(a.raised_at) / 1000, "x", true);
      if (!Number.isFinite(x)) continue;
      ctx.fillStyle = COLORS[a.priority] || "#555";
      ctx.beginPath();
      ctx.moveTo(x - 6, u.bbox.top);
      ctx.lineTo(x + 6, u.bbox.top);
      ctx.lineTo(x, u.bbox.top + 10);
      ctx.fill();
    }
    ctx.restore();
  };
}

async function drawCharts() {
  const id = charts.dataset.sessionId;
  const limits = JSON.parse(charts.dataset.limits || "[]");
  const tz = charts.dataset.timezone;
  let readings = [];
  let alarms = [];
  try {
    readings = (await getJSON(`/api/v1/sessions/${id}/vitals`)).items;
    alarms = (await getJSON(`/api/v1/sessions/${id}/alarms`)).items;
  } catch {
    charts.append(h("p", { class: "muted", text: "Trends are not available for your role." }));
    return;
  }
  fillReadingPicker(readings);
  const times = readings.map((r) => Date.parse(r.observed_at) / 1000);
  let xmin = Math.min(...times);
  let xmax = Math.max(...times);
  const pad = Math.max(30, (xmax - xmin) * 0.05);
  xmin -= pad;
  xmax += pad;
  // Every figure is in the grid before any is measured (a lone grid item spans the row).
  const panels = PANELS.map((panel) => {
    const wrap = h("figure", { class: "chart" }, h("figcaption", { text: panel.title }));
    charts.append(wrap);
    return { panel, wrap };
  });
  for (const { panel, wrap } of panels) {
    const lists = panel.metrics.map(([m]) => series(readings, m));
    const keys = panel.metrics.map(([m]) => m);
    const panelLimits = limits.filter((l) => keys.includes(l.metric));
    const panelAlarms = alarms.filter((a) => keys.includes(a.metric));
    if (!lists.some((l) => l.length)) {
      wrap.append(h("p", { class: "muted", text: "No readings yet." }));
      continue;
    }
    const opts = {
      width: Math.max(240, wrap.clientWidth - 16),
      height: 220,
      tzDate: tz ? (ts) => uPlot.tzDate(new Date(ts * 1e3), tz) : undefined,
      series: [{}, ...panel.metrics.map(([, label, color]) => ({ label, stroke: color, width: 2, spanGaps: true, points: { show: true, size: 5 } }))],
      scales: { x: { time: true, range: () => [xmin, xmax] } },
      legend: { live: false },
      axes: [{}, {}],
      hooks: { draw: [overlay(panelLimits, panelAlarms)] },
    };
    const plot = new uPlot(opts, merge(lists), wrap);
    plot.root.setAttribute("role", "img");
    plot.root.setAttribute("aria-label", `${panel.title}: ${lists.map((l, i) => `${panel.metrics[i][1]} ${l.length} readings${l.length ? `, latest ${l.at(-1)[1]}` : ""}`).join("; ")}`);
  }
}

function fillReadingPicker(readings) {
  const select = document.getElementById("ex-reading");
  if (!select) return;
  const recent = readings.filter((r) => !r.excluded_at).slice(-30).reverse();
  select.replaceChildren(
    h("option", { value: "", text: recent.length ? "Choose a reading" : "No readings" }),
    ...recent.map((r) => h("option", { value: r.id, text: `${new Date(r.observed_at).toLocaleTimeString()} ${r.metric} ${r.value} ${r.unit}` })),
  );
}

const metric = document.getElementById("mv-metric");
if (metric) {
  metric.addEventListener("change", () => {
    document.getElementById("mv-unit").value = metric.selectedOptions[0].dataset.unit;
  });
}

if (charts) drawCharts();
