// The live board: one tile per chair, fed by /ws/board (snapshot, then events; resume after a
// reconnect), alarm acknowledge/silence from the tile, tones per priority, lost-connection banner.
import { getJSON, postJSON, toLogin } from "./dom.js";
import { AlarmSound } from "./sound.js";
import { renderTile, renderIdle, isSounding, priorityRank } from "./tile.js";

const TREND_MS = 15 * 60 * 1000;
const CAUGHT_UP_QUIET_MS = 400;

const banner = document.getElementById("conn-banner");
const status = document.getElementById("board-status");
const chairsEl = document.getElementById("chairs");
const timeZone = chairsEl.dataset.timezone || undefined;
const sound = new AlarmSound(document.getElementById("sound-toggle"));

const state = {
  sessions: new Map(), // session id -> session state
  seqs: new Map(), // stream -> last seq applied
  clinicStream: null,
  offsetMs: 0, // server clock minus browser clock
  connected: false,
  caughtUp: false,
  databaseDown: false, // the server says it cannot reach its database
};
window.__board = state; // read by the browser tests

function serverNow() {
  return Date.now() + state.offsetMs;
}

function noteServerTime(iso, force = false) {
  if (!iso) return;
  const offset = Date.parse(iso) - Date.now();
  if (force || offset > state.offsetMs) state.offsetMs = offset;
}

function tileFor(chairId) {
  return chairsEl.querySelector(`.tile[data-chair-id="${chairId}"]`);
}

function emptyInfo() {
  return { checkpoints: [], trends: {} };
}

function sessionFrom(entry) {
  const s = {
    session_id: entry.session_id,
    chair_id: entry.chair_id,
    state: entry.state,
    infusion_number: entry.infusion_number,
    progress: entry.progress,
    vitals: entry.vitals || {},
    alarms: new Map((entry.alarms || []).map((a) => [a.id, a])),
    info: emptyInfo(),
    trends: {},
  };
  return s;
}

const actions = {
  async ack(alarmId) {
    const r = await postJSON(`/api/v1/alarms/${alarmId}/ack`, {});
    if (r.ok && r.data) upsertAlarm(r.data);
    else if (!r.ok) status.textContent = `Acknowledge failed: ${(r.data && r.data.detail) || r.status}`;
  },
  async silence(alarmId) {
    const r = await postJSON(`/api/v1/alarms/${alarmId}/silence`, {});
    if (r.ok && r.data) upsertAlarm(r.data);
    else if (!r.ok) status.textContent = `Silence failed: ${(r.data && r.data.detail) || r.status}`;
  },
};

function draw(s, parts) {
  const el = tileFor(s.chair_id);
  if (el) renderTile(el, s, serverNow(), actions, timeZone, parts);
}

function drawAll() {
  const seen = new Set();
  for (const s of state.sessions.values()) {
    seen.add(s.chair_id);
    draw(s, null);
  }
  for (const el of chairsEl.querySelectorAll(".tile[data-chair-id]")) {
    if (!seen.has(el.dataset.chairId)) renderIdle(el);
  }
}

async function loadInfo(sessionIds) {
  if (!sessionIds.length) return;
  const query = sessionIds.map((id) => `session=${encodeURIComponent(id)}`).join("&");
  let data;
  try {
    data = await getJSON(`/board/tiles?${query}`);
  } catch {
    return;
  }
  for (const info of data.tiles) {
    const s = state.sessions.get(info.session_id);
    if (!s) continue;
    s.info = info;
    if (!s.progress && info.progress) s.progress = info.progress;
    for (const [metric, points] of Object.entries(info.trends || {})) {
      const merged = points.map(([t, v]) => [Date.parse(t), v]);
      const live = (s.trends[metric] || []).filter(([t]) => t > (merged.at(-1)?.[0] ?? 0));
      s.trends[metric] = [...merged, ...live];
    }
    draw(s, null);
  }
}

function upsertAlarm(alarm) {
  const s = state.sessions.get(alarm.session_id);
  if (!s) return;
  if (alarm.state === "cleared") s.alarms.delete(alarm.id);
  else {
    const known = s.alarms.get(alarm.id);
    // Replies and events may cross: keep the one that knows more (acknowledged, silenced).
    if (known && known.acknowledged_at && !alarm.acknowledged_at && known.priority === alarm.priority) {
      alarm = { ...alarm, acknowledged_at: known.acknowledged_at, acknowledged_by: known.acknowledged_by };
    }
    s.alarms.set(alarm.id, alarm);
  }
  draw(s, new Set(["alarms"]));
}

function applySnapshot(msg) {
  noteServerTime(msg.at, true);
  state.sessions.clear();
  state.seqs.clear();
  state.clinicStream = `clinic:${msg.clinic_id}`;
  if (msg.seq.clinic !== null && msg.seq.clinic !== undefined) state.seqs.set(state.clinicStream, msg.seq.clinic);
  for (const [id, seq] of Object.entries(msg.seq.sessions || {})) state.seqs.set(`session:${id}`, seq);
  for (const entry of msg.sessions) {
    const s = sessionFrom(entry);
    for (const [metric, r] of Object.entries(s.vitals)) s.trends[metric] = [[Date.parse(r.observed_at), r.value]];
    state.sessions.set(s.session_id, s);
  }
  drawAll();
  loadInfo([...state.sessions.keys()]);
}

function applyReading(s, d) {
  const t = Date.parse(d.observed_at);
  const series = (s.trends[d.metric] = s.trends[d.metric] || []);
  series.push([t, d.value]);
  series.sort((a, b) => a[0] - b[0]);
  const cutoff = serverNow() - TREND_MS;
  while (series.length && series[0][0] < cutoff) series.shift();
  const current = s.vitals[d.metric];
  if (!current || Date.parse(current.observed_at) <= t) {
    s.vitals[d.metric] = { value: d.value, unit: d.unit, observed_at: d.observed_at };
  }
  draw(s, new Set(["vitals"]));
}

function applyEvent(msg) {
  const last = state.seqs.get(msg.stream) || 0;
  if (msg.seq <= last) return; // already applied (resume overlap)
  state.seqs.set(msg.stream, msg.seq);
  noteServerTime(msg.at);
  const d = msg.data || {};
  if (msg.type === "session_added") {
    if (!state.sessions.has(d.session_id)) {
      state.sessions.set(d.session_id, sessionFrom({ ...d, vitals: {}, alarms: [] }));
      if (!state.seqs.has(`session:${d.session_id}`)) state.seqs.set(`session:${d.session_id}`, 0);
      drawAll();
      loadInfo([d.session_id]);
    }
    return;
  }
  if (msg.type === "session_ended") {
    state.sessions.delete(d.session_id);
    drawAll();
    return;
  }
  const s = state.sessions.get(msg.session_id);
  if (!s) return;
  if (msg.type === "reading") applyReading(s, d);
  else if (msg.type === "reading_excluded") loadInfo([s.session_id]);
  else if (msg.type === "session_state") {
    s.state = d.state;
    draw(s, new Set(["head", "progress"]));
    loadInfo([s.session_id]);
  } else if (msg.type === "dose_progress") {
    s.progress = { ...(s.progress || {}), ...d };
    draw(s, new Set(["progress"]));
  } else if (msg.type === "checkpoint_overdue") loadInfo([s.session_id]);
  else if (msg.type.startsWith("alarm_") && d.alarm) upsertAlarm(d.alarm);
}

// --- connection ------------------------------------------------------------------------------
let socket = null;
let retryMs = 500;
let quietTimer = null;

function showBanner() {
  const ok = state.connected && !state.databaseDown;
  banner.hidden = ok;
  document.body.classList.toggle("disconnected", !ok);
  document.getElementById("conn-banner-title").textContent = state.connected
    ? "Server cannot reach its database"
    : "Connection lost";
  document.getElementById("conn-banner-detail").textContent = state.connected
    ? "nothing new is stored or shown until it is back. The values below may be out of date."
    : "reconnecting… The values below may be out of date.";
}

function setConnected(connected) {
  state.connected = connected;
  if (!connected) state.databaseDown = false; // a fresh connection is refused while it lasts
  showBanner();
}

function markCaughtUp() {
  state.caughtUp = true;
  setConnected(true);
  status.textContent = "Live";
}

function armCaughtUp() {
  clearTimeout(quietTimer);
  quietTimer = setTimeout(markCaughtUp, CAUGHT_UP_QUIET_MS);
}

function resumeMessage() {
  // batch: live events come as {"type": "events"} frames of whatever was waiting (busy clinics).
  if (!state.clinicStream) return { subscribe: { clinic: true }, batch: true };
  const sessions = {};
  for (const [stream, seq] of state.seqs) {
    if (stream.startsWith("session:")) sessions[stream.slice(8)] = seq;
  }
  return {
    subscribe: { clinic: true },
    resume: { clinic: state.seqs.get(state.clinicStream) || 0, sessions },
    batch: true,
  };
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws/board`);
  socket.addEventListener("open", () => {
    retryMs = 500;
    state.caughtUp = false;
    status.textContent = "Connected — catching up…";
    socket.send(JSON.stringify(resumeMessage()));
    armCaughtUp();
  });
  socket.addEventListener("message", (ev) => {
    let msg;
    try {
      msg = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (msg.type === "ping") {
      socket.send(JSON.stringify({ type: "pong" }));
      if (!state.caughtUp) markCaughtUp();
      return;
    }
    if (!state.caughtUp) armCaughtUp();
    if (msg.type === "snapshot") applySnapshot(msg);
    else if (msg.type === "gap") state.clinicStream = null;
    else if (msg.type === "error") status.textContent = `Board error: ${msg.detail}`;
    else if (msg.type === "events") msg.events.forEach(applyEvent);
    else if (msg.type === "resumed") markCaughtUp();
    else if (msg.type === "status") {
      state.databaseDown = msg.database === "unavailable";
      status.textContent = state.databaseDown ? "Database unreachable" : "Live";
      showBanner();
    }
    else if (msg.type !== "resync" && msg.stream) applyEvent(msg);
  });
  socket.addEventListener("close", (ev) => {
    clearTimeout(quietTimer);
    if (ev.code === 1008) {
      toLogin(); // the browser session ended (logged out or expired)
      return;
    }
    setConnected(false);
    status.textContent = "Disconnected — reconnecting…";
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 5000);
  });
}

// Ages, staleness, due checkpoints and tones move with time even without messages.
setInterval(() => {
  let loudest = null;
  const now = serverNow();
  for (const s of state.sessions.values()) {
    draw(s, new Set(["vitals", "checkpoints"]));
    for (const a of s.alarms.values()) {
      if (isSounding(a, now) && (loudest === null || priorityRank(a.priority) < priorityRank(loudest))) loudest = a.priority;
    }
  }
  sound.tick(state.connected ? loudest : null);
}, 1000);

connect();
