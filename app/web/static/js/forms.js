// Forms that call the JSON API: <form class="api-form" data-endpoint="/api/v1/..."> with
// fields named by their JSON path ("vitals.sbp_mmhg") and data-kind for the type. The CSRF
// token goes in the X-CSRF-Token header. Field errors (422) appear next to their field,
// blockers and other refusals above the button; success reloads, redirects or shows the answer.
import { h, postJSON } from "./dom.js";

const serverNowAttr = document.querySelector("[data-server-now]");
const offsetMs = serverNowAttr ? Date.parse(serverNowAttr.dataset.serverNow) - Date.now() : 0;

export function serverNow() {
  return new Date(Date.now() + offsetMs);
}

function setPath(target, path, value) {
  const parts = path.split(".");
  let node = target;
  parts.forEach((part, i) => {
    if (i === parts.length - 1) return;
    node = node[part] = node[part] || (/^\d+$/.test(parts[i + 1]) ? [] : {});
  });
  node[parts.at(-1)] = value;
}

function collect(form) {
  const body = {};
  for (const el of form.elements) {
    if (!el.name || el.disabled || el.dataset.skip !== undefined) continue;
    const kind = el.dataset.kind || "text";
    if (kind === "list") {
      const list = body.__lists?.[el.name] || [];
      if (el.checked) list.push(el.value);
      (body.__lists = body.__lists || {})[el.name] = list;
      continue;
    }
    let value;
    if (kind === "bool") value = el.type === "checkbox" ? el.checked : el.value === "true";
    else if (kind === "now") value = serverNow().toISOString();
    else if (el.type === "radio") {
      if (!el.checked) continue;
      value = el.value;
    } else if (el.value.trim() === "") continue;
    else if (kind === "number") value = Number(el.value);
    else if (kind === "json") value = JSON.parse(el.value);
    else value = el.value;
    setPath(body, el.name, value);
  }
  for (const [name, list] of Object.entries(body.__lists || {})) setPath(body, name, list);
  delete body.__lists;
  return body;
}

function clearErrors(form) {
  for (const el of form.querySelectorAll(".field-error, .form-error")) el.remove();
  for (const el of form.querySelectorAll("[aria-invalid]")) {
    el.removeAttribute("aria-invalid");
    el.removeAttribute("aria-describedby");
  }
}

function fieldFor(form, path) {
  let p = path.replace(/^body\.?/, "");
  while (p) {
    const el = form.querySelector(`[name="${CSS.escape(p)}"]`);
    if (el) return el;
    p = p.includes(".") ? p.slice(0, p.lastIndexOf(".")) : "";
  }
  return null;
}

let errorIds = 0;
function fieldError(el, message) {
  const id = `field-error-${++errorIds}`;
  el.setAttribute("aria-invalid", "true");
  el.setAttribute("aria-describedby", id);
  const p = h("p", { class: "field-error", id, text: message });
  (el.closest(".field") || el).after(p);
  return p;
}

function formError(form, data, status) {
  const hasBlockers = data && Array.isArray(data.blockers) && data.blockers.length;
  const detail = hasBlockers ? "Not possible yet. Unmet:" : (data && data.detail) || `HTTP ${status}`;
  const box = h("div", { class: "form-error notice warn", role: "alert" }, h("p", { class: "error", text: detail }));
  if (data && Array.isArray(data.blockers) && data.blockers.length) {
    box.append(h("ul", { class: "blockers" }, data.blockers.map((b) => h("li", {}, h("strong", { text: b.message }), b.resolution ? ` — ${b.resolution}` : ""))));
  }
  const submit = form.querySelector('[type="submit"]');
  (submit || form.lastElementChild).before(box);
}

function showErrors(form, data, status) {
  let first = null;
  if (status === 422 && data && Array.isArray(data.errors)) {
    for (const e of data.errors) {
      const el = fieldFor(form, e.field);
      if (el) first = first || fieldError(el, e.message);
    }
  }
  const detail = (data && data.detail) || "";
  // "justifications: ... missing for a, b" and "<field>: message" name their fields.
  const missing = /^(\w+): .*missing for (.+)$/.exec(detail);
  if (missing) {
    for (const id of missing[2].split(",").map((s) => s.trim())) {
      const el = form.querySelector(`[name="${CSS.escape(`${missing[1]}.${id}`)}"]`);
      if (el) first = first || fieldError(el, "A written justification is required for this finding.");
    }
  } else if (!first) {
    const named = /^([\w.]+): (.+)$/.exec(detail);
    const el = named && form.querySelector(`[name="${CSS.escape(named[1])}"]`);
    if (el) first = fieldError(el, named[2]);
  }
  if (!first) formError(form, data, status);
  else form.querySelector("[aria-invalid]")?.focus();
}

async function submit(form, event) {
  event.preventDefault();
  clearErrors(form);
  const button = form.querySelector('[type="submit"]');
  if (button) button.disabled = true;
  try {
    let body;
    try {
      body = collect(form);
    } catch (err) {
      formError(form, { detail: `Could not read the form: ${err.message}` }, 0);
      return;
    }
    // data-endpoint="/api/v1/readings/{reading_id}/exclude": filled from the form's fields.
    const endpoint = form.dataset.endpoint.replace(/\{(\w+)\}/g, (_, name) => encodeURIComponent(form.elements[name]?.value || ""));
    const r = await postJSON(endpoint, body);
    if (!r.ok) {
      showErrors(form, r.data, r.status);
      return;
    }
    const after = form.dataset.after || "reload";
    if (after.startsWith("redirect:")) location.assign(after.slice(9));
    else if (after === "show") {
      const out = document.getElementById(form.dataset.output);
      out.hidden = false;
      for (const el of out.querySelectorAll("[data-field]")) el.textContent = r.data[el.dataset.field] ?? "";
      out.focus();
      form.reset();
    } else location.reload();
  } finally {
    if (button) button.disabled = false;
  }
}

for (const form of document.querySelectorAll("form.api-form")) {
  form.addEventListener("submit", (event) => submit(form, event));
}

// Countdowns: <span class="countdown" data-until="iso"> counts down in server time.
function tickCountdowns() {
  for (const el of document.querySelectorAll(".countdown[data-until]")) {
    const left = Math.max(0, Math.round((Date.parse(el.dataset.until) - serverNow()) / 1000));
    el.textContent = left > 0 ? `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}` : "now";
  }
}
tickCountdowns();
setInterval(tickCountdowns, 1000);
