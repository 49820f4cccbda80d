// Rendering of one chair tile from the board's state (see board.js for the state's shape).
import { h, replaceChildren, clockTime, num } from "./dom.js";
import { sparkline } from "./spark.js";

const PHASES = {
  scheduled: "Scheduled",
  checked_in: "Checked in",
  infusing: "Infusing",
  paused: "Paused",
  recovery: "Recovery",
  stopped: "Stopped — recovery",
  discharged: "Discharged",
  cancelled: "Cancelled",
};
const PRIORITY = {
  high: { label: "HIGH PRIORITY", icon: "▲▲▲", rank: 0 },
  medium: { label: "MEDIUM PRIORITY", icon: "▲▲", rank: 1 },
  low: { label: "LOW PRIORITY", icon: "▲", rank: 2 },
};
// Seconds after which a value is stale: continuous metrics vs. cuff (NIBP) readings.
const STALE_S = { spo2: 30, hr: 30, pr: 30, rr: 30, sbp: 1200, dbp: 1200, map: 1200, temp: 3600 };
const CHECKPOINT_LABELS = { nibp: "BP (cuff)", bp: "BP check", cadss: "CADSS", bprs_plus: "BPRS+", bprs: "BPRS+", aldrete: "Aldrete", scales: "Scales" };

export function priorityRank(p) {
  return (PRIORITY[p] || { rank: 3 }).rank;
}

export function isSounding(alarm, now) {
  if (alarm.state === "cleared" || alarm.acknowledged_at) return false;
  if (alarm.silenced_until && Date.parse(alarm.silenced_until) > now) return false;
  return true;
}

function age(seconds) {
  if (seconds < 60) return `${Math.max(0, Math.round(seconds))} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  return `${Math.floor(seconds / 3600)} h ago`;
}

function vital(label, metricKey, shown, unit, reading, points, now) {
  if (!reading) {
    return h("div", { class: "vital none", "data-metric": metricKey },
      h("dt", { text: label }), h("dd", {}, h("span", { class: "value", text: "–" }), h("span", { class: "age", text: "no reading" })));
  }
  const ageS = (now - Date.parse(reading.observed_at)) / 1000;
  const stale = ageS > (STALE_S[metricKey] || 60);
  return h("div", { class: `vital${stale ? " stale" : ""}`, "data-metric": metricKey },
    h("dt", { text: label }),
    h("dd", {},
      h("span", { class: "value", text: shown }), " ",
      h("span", { class: "unit", text: unit }),
      h("span", { class: "age", text: stale ? `stale · ${age(ageS)}` : age(ageS) }),
      sparkline(points || [], { now })));
}

function vitalsSection(s, now) {
  const v = s.vitals;
  const bp = v.sbp && v.dbp ? `${num(v.sbp.value)}/${num(v.dbp.value)}` : v.sbp ? `${num(v.sbp.value)}/–` : "–";
  const bpReading = v.sbp || v.dbp;
  const hrKey = v.hr ? "hr" : v.pr ? "pr" : "hr";
  return h("dl", { class: "vitals" },
    vital("BP", "sbp", bp, "mmHg", bpReading, s.trends.sbp, now),
    vital(hrKey === "pr" ? "PR" : "HR", hrKey, v[hrKey] ? num(v[hrKey].value) : "–", "/min", v[hrKey], s.trends[hrKey], now),
    vital("SpO₂", "spo2", v.spo2 ? num(v.spo2.value) : "–", "%", v.spo2, s.trends.spo2, now),
    vital("RR", "rr", v.rr ? num(v.rr.value) : "–", "/min", v.rr, s.trends.rr, now));
}

function progressSection(s) {
  const p = s.progress || {};
  const planned = s.info.planned_minutes;
  const minutes = p.minutes_infused !== undefined ? Number.parseFloat(p.minutes_infused) : null;
  const ordered = p.ordered_dose_mg ?? s.info.ordered_dose_mg;
  const pct = planned && minutes !== null ? Math.min(100, (minutes / planned) * 100) : 0;
  const rate = p.current_rate_ml_per_h ?? s.info.rate_ml_per_h;
  const text = [
    `${minutes === null ? "–" : num(minutes)} of ${planned ?? "–"} min`,
    `${num(p.delivered_mg, 1)} of ${num(ordered, 1)} mg`,
    `${s.state === "paused" ? "0" : num(rate, 1)} mL/h`,
  ].join(" · ");
  return h("div", { class: "progress-block" },
    h("div", { class: "progress", role: "progressbar", "aria-label": "Infusion progress", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": Math.round(pct), "aria-valuetext": text },
      h("div", { class: "bar", "data-pct": Math.round(pct) })),
    h("p", { class: "progress-text", text }));
}

function checkpointsSection(s, now, timeZone) {
  const items = [];
  for (const c of s.info.checkpoints || []) {
    if (c.state === "done") continue;
    const label = CHECKPOINT_LABELS[c.item] || c.item;
    const overdue = c.state === "overdue" || (c.overdue_at && Date.parse(c.overdue_at) <= now);
    const due = c.state === "due" || (c.due_at && Date.parse(c.due_at) <= now);
    if (overdue) items.push(h("li", { class: "cp overdue" }, h("span", { class: "icon", "aria-hidden": "true", text: "⚠" }), ` ${label} overdue (due ${clockTime(c.due_at, timeZone)})`));
    else if (due) items.push(h("li", { class: "cp due" }, h("span", { class: "icon", "aria-hidden": "true", text: "⏰" }), ` ${label} due now`));
  }
  const next = (s.info.checkpoints || []).filter((c) => c.state === "upcoming" && c.due_at && Date.parse(c.due_at) > now)
    .sort((a, b) => Date.parse(a.due_at) - Date.parse(b.due_at))[0];
  if (next) items.push(h("li", { class: "cp upcoming", text: `Next: ${CHECKPOINT_LABELS[next.item] || next.item} at ${clockTime(next.due_at, timeZone)}` }));
  return h("ul", { class: "checkpoints", "aria-label": "Checkpoints" }, items);
}

export function alarmItems(s, now, actions, timeZone) {
  const alarms = [...s.alarms.values()].sort((a, b) => priorityRank(a.priority) - priorityRank(b.priority) || Date.parse(a.raised_at) - Date.parse(b.raised_at));
  return alarms.map((a) => {
    const p = PRIORITY[a.priority] || PRIORITY.low;
    const acked = Boolean(a.acknowledged_at);
    const silenced = a.silenced_until && Date.parse(a.silenced_until) > now;
    const classes = ["alarm", `alarm-${a.priority}`];
    if (!acked && a.priority !== "low") classes.push("flashing");
    if (acked) classes.push("acked");
    const status = [];
    if (acked) status.push(`Acknowledged by ${a.acknowledged_by || "staff"} at ${clockTime(a.acknowledged_at, timeZone)}`);
    if (silenced) status.push(`Sound silenced until ${clockTime(a.silenced_until, timeZone)}`);
    if (a.condition_present === false) status.push("Condition ended");
    return h("li", { class: classes.join(" "), "data-alarm-id": a.id, "data-priority": a.priority },
      h("p", { class: "alarm-head" },
        h("span", { class: "icon", "aria-hidden": "true", text: p.icon }), " ",
        h("strong", { class: "prio", text: p.label }), " ",
        h("span", { class: "msg", text: a.message })),
      a.action ? h("p", { class: "advice" }, h("strong", { text: "Action: " }), a.action) : null,
      status.length ? h("p", { class: "alarm-status", text: status.join(" · ") }) : null,
      h("div", { class: "alarm-buttons" },
        acked ? null : h("button", { type: "button", class: "ack", "data-key": `ack-${a.id}`, onclick: () => actions.ack(a.id) }, "Acknowledge"),
        silenced ? null : h("button", { type: "button", class: "silence secondary", "data-key": `sil-${a.id}`, onclick: () => actions.silence(a.id) }, "Silence 2 min")));
  });
}

// Builds the tile's fixed sections once; later updates replace one section's children.
export function renderTile(el, s, now, actions, timeZone, parts) {
  const info = s.info;
  el.classList.remove("idle");
  el.dataset.sessionId = s.session_id;
  el.dataset.state = s.state;
  const worst = [...s.alarms.values()].filter((a) => a.state !== "cleared").map((a) => a.priority).sort((a, b) => priorityRank(a) - priorityRank(b))[0];
  el.dataset.alarm = worst || "none";
  if (!el.querySelector(".tile-head") || !parts) {
    replaceChildren(el,
      h("div", { class: "tile-head" }),
      h("div", { class: "tile-progress" }),
      h("div", { class: "tile-vitals" }),
      h("div", { class: "tile-checkpoints" }),
      h("ul", { class: "alarms", "aria-label": `Alarms, ${el.dataset.chairName || "chair"}`, "aria-live": "assertive" }));
    parts = new Set(["head", "progress", "vitals", "checkpoints", "alarms"]);
  }
  if (parts.has("head")) {
    replaceChildren(el.querySelector(".tile-head"),
      h("h2", {}, el.dataset.chairName || info.chair_name || "Chair", " ", h("span", { class: "initials" }, h("span", { class: "label", text: "Patient " }), info.initials || "")),
      h("p", { class: `phase phase-${s.state}`, text: PHASES[s.state] || s.state }),
      h("p", { class: "meta", text: `Infusion ${s.infusion_number ?? info.infusion_number ?? "?"} of ${info.planned_infusions ?? "?"} · Monitor ${info.monitor || "none"}` }),
      h("a", { class: "open-session", href: `/sessions/${s.session_id}` }, "Open session"));
  }
  if (parts.has("progress")) replaceChildren(el.querySelector(".tile-progress"), progressSection(s));
  if (parts.has("vitals")) replaceChildren(el.querySelector(".tile-vitals"), vitalsSection(s, now));
  if (parts.has("checkpoints")) replaceChildren(el.querySelector(".tile-checkpoints"), checkpointsSection(s, now, timeZone));
  if (parts.has("alarms")) {
    const focused = document.activeElement && el.contains(document.activeElement) ? document.activeElement.dataset.key : null;
    replaceChildren(el.querySelector(".alarms"), alarmItems(s, now, actions, timeZone));
    if (focused) el.querySelector(`[data-key="${focused}"]`)?.focus();
  }
  const bar = el.querySelector(".progress .bar");
  if (bar) bar.style.width = `${bar.dataset.pct}%`;
}

export function renderIdle(el) {
  el.classList.add("idle");
  delete el.dataset.sessionId;
  el.dataset.alarm = "none";
  replaceChildren(el, h("h2", { text: el.dataset.chairName || "Chair" }), h("p", { class: "phase", text: "No session" }));
}
