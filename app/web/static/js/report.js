// Clinic report charts: uPlot bar charts of the numbers the page also shows as tables (the
// tables are the accessible equivalent; each chart is an image labelled with its values).
import uPlot from "/static/vendor/uPlot.esm.js";
import { h } from "./dom.js";

const COLORS = ["#1f5fa8", "#2e7d32", "#b35c00", "#6a1b9a"];

function describe(title, data) {
  const parts = data.labels.map((label, i) =>
    `${label}: ${Object.entries(data.series).map(([name, values]) => `${name} ${values[i] ?? "not computable"}`).join(", ")}`);
  return `${title}. ${parts.join("; ") || "No data."}`;
}

function barChart(figure, title, data) {
  const names = Object.keys(data.series);
  figure.append(h("figcaption", { text: `${title} (chart; the table below has the numbers)` }));
  if (!data.labels.length) {
    figure.append(h("p", { class: "muted", text: "Nothing to draw for the period." }));
    return;
  }
  const xs = data.labels.map((_, i) => i);
  const groups = names.length;
  const width = 0.8 / groups;
  const series = names.map((name, k) => ({
    label: name,
    stroke: COLORS[k % COLORS.length],
    fill: COLORS[k % COLORS.length] + "cc",
    width: 1,
    // Grouped bars: series k starts at x - 0.4 + k * width (data units), width wide.
    paths: uPlot.paths.bars({
      disp: {
        x0: { unit: 1, values: () => xs.map((x) => x - 0.4 + k * width) },
        size: { unit: 1, values: () => xs.map(() => width) },
      },
    }),
    points: { show: false },
  }));
  const opts = {
    width: Math.max(260, figure.clientWidth - 16),
    height: 220,
    series: [{}, ...series],
    scales: { x: { time: false, range: () => [-0.6, xs.length - 0.4] }, y: { range: (_u, _min, max) => [0, data.max ?? Math.max(1, Math.ceil(max * 1.1))] } },
    axes: [
      { splits: () => xs, values: (_u, splits) => splits.map((i) => data.labels[i] ?? ""), grid: { show: false } },
      {},
    ],
    legend: { live: false },
  };
  const plot = new uPlot(opts, [xs, ...names.map((n) => data.series[n])], figure);
  plot.root.setAttribute("role", "img");
  plot.root.setAttribute("aria-label", describe(title, data));
}

const holder = document.getElementById("report-data");
if (holder) {
  const charts = JSON.parse(holder.dataset.charts);
  const titles = {
    weeks: "Sessions per week",
    outcomes: "Response and remission rates (%)",
    alarms: "Alarms per 100 infusion-hours by rule",
    grades: "Adverse events by grade",
  };
  for (const figure of document.querySelectorAll("figure[data-chart]")) {
    const key = figure.dataset.chart;
    if (charts[key]) barChart(figure, titles[key], charts[key]);
  }
}
