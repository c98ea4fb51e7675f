// The Batch export panel: formats x animations of the avatar being edited, as ONE export
// job (POST /api/avatars/{id}/export, the job API of docs/EXPORT.md; several files come as a
// zip). Progress comes over the /ws socket (`export:watch`, as the export dialog of
// webapi/static/export.js does), or by polling the job's url when the socket is gone.
// What is exported is the avatar as saved: the panel says so while there are unsaved edits.

import { studio } from "/static/studio/main.js";
import { formatBytes } from "/static/export.js";

const POLL_MS = 1000;
const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
};

let options = null; // GET /api/exports/options
let job = null; // the job's view, as the server last told it
let socket = null;
let pollTimer = null;
let wanted = null; // an animation id to tick once the options are in (from the creator)

const formats = el("fieldset", { className: "bx-grid bx-formats" }, el("legend", { textContent: "Formats" }));
const animations = el("fieldset", { className: "bx-grid bx-animations" }, el("legend", { textContent: "Animations" }));
const note = el("p", { className: "bx-note" });
const error = el("p", { className: "tl-errors bx-error", hidden: true });
error.setAttribute("role", "alert");
const size = el("input", { type: "number", step: 2, value: 256, className: "bx-size" });
const start = el("button", { type: "button", className: "btn small primary bx-start", textContent: "Start export" });
const bar = el("progress", { max: 100, value: 0 });
const stage = el("span", { className: "bx-stage" });
const link = el("a", { className: "bx-download", hidden: true });
const progress = el("div", { className: "bx-progress", hidden: true }, bar, stage, link);
progress.setAttribute("aria-live", "polite");

async function request(method, url, body) {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(answer.error ?? `${res.status} ${res.statusText}`);
  return answer;
}

function box(name, value, text, checked = false) {
  const input = el("input", { type: "checkbox", name, value, checked });
  return el("label", {}, input, text);
}

async function load() {
  try {
    options = await request("GET", "/api/exports/options");
  } catch (e) {
    showError(`could not load the export options: ${e.message}`);
    return;
  }
  const keep = new Set(chosen("animation"));
  if (wanted) keep.add(wanted);
  formats.replaceChildren(el("legend", { textContent: "Formats" }),
    ...options.formats.map((f) => {
      const b = box("format", f.name, f.name, f.name === "png");
      b.title = f.description ?? "";
      return b;
    }));
  animations.replaceChildren(el("legend", { textContent: "Animations" }),
    ...options.animations.map((a) => box("animation", a, a, keep.has(a))),
    ...(options.custom_animations ?? []).map((a) => box("animation", a.id, `${a.name} (yours)`, keep.has(a.id))));
  wanted = null;
  Object.assign(size, { min: options.size.min, max: options.size.max });
  showNote();
}

const chosen = (name) => [...document.querySelectorAll(`.bx-grid input[name="${name}"]:checked`)].map((i) => i.value);

function showNote() {
  const unsaved = JSON.stringify(studio.customizations()) !== JSON.stringify(studio.avatar?.customizations ?? {});
  note.textContent = unsaved
    ? "Exports the avatar as saved: save first to include your unsaved edits."
    : `Exports ${studio.avatar?.name ?? "this avatar"}; several files come as one zip.`;
}

function showError(message) {
  error.hidden = !message;
  error.textContent = message ?? "";
}

async function begin() {
  showError(null);
  const f = chosen("format");
  if (!f.length) {
    showError("Choose at least one format.");
    return;
  }
  start.disabled = true;
  try {
    job = await request("POST", `/api/avatars/${encodeURIComponent(studio.avatar.id)}/export`, {
      formats: f,
      animations: chosen("animation"),
      size: Number(size.value), // the server says what is out of range
    });
  } catch (e) {
    showError(`Not started: ${e.message}`);
    start.disabled = false;
    return;
  }
  show();
  watch();
}

const ended = () => job && (job.state === "done" || job.state === "failed");

function watch() {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  try {
    socket = new WebSocket(`${proto}://${location.host}/ws`);
  } catch {
    poll();
    return;
  }
  const id = job.job;
  socket.onopen = () => socket.send(JSON.stringify({ type: "export:watch", job: id }));
  socket.onmessage = (e) => {
    let msg;
    try {
      msg = JSON.parse(e.data);
    } catch {
      return;
    }
    if (msg.job !== id || job?.job !== id) return; // the socket carries other pages' news too
    if (msg.type === "export:progress") update({ state: msg.state, progress: msg.progress, stage: msg.stage });
    else if (msg.type === "export:done") update({ state: "done", progress: 100, stage: "done", download: msg.download, filename: msg.filename, bytes: msg.bytes });
    else if (msg.type === "export:failed") update({ state: "failed", stage: "failed", error: msg.error });
  };
  socket.onclose = () => {
    socket = null;
    if (!ended()) poll();
  };
}

function poll() {
  if (ended() || pollTimer) return;
  pollTimer = setTimeout(async () => {
    pollTimer = null;
    try {
      update(await request("GET", job.url));
    } catch (e) {
      update({ state: "failed", stage: "failed", error: `lost track of the export: ${e.message}` });
    }
    poll();
  }, POLL_MS);
}

function update(changes) {
  job = { ...job, ...changes };
  show();
  if (ended()) socket?.close();
}

function show() {
  progress.hidden = !job;
  if (!job) return;
  const percent = Math.max(0, Math.min(100, Math.round(job.progress ?? 0)));
  bar.value = percent;
  progress.dataset.state = job.state;
  stage.textContent = job.state === "done" ? "Done." : job.state === "failed" ? "Failed: nothing was written." : `${job.stage ?? job.state ?? "working"}… ${percent}%`;
  link.hidden = !(job.state === "done" && job.download);
  if (!link.hidden) {
    link.href = job.download;
    link.download = job.filename ?? "";
    link.textContent = `Download ${job.filename ?? ""} ${job.bytes ? `(${formatBytes(job.bytes)})` : ""}`.trim();
  }
  if (job.state === "failed") showError(job.error ?? "the export failed");
  start.disabled = !ended();
  start.textContent = ended() ? "Start again" : "Exporting…";
}

start.addEventListener("click", begin);
const element = el("section", {}, note, formats, animations, el("div", { className: "tl-row" }, el("label", { className: "tl-field" }, el("span", { textContent: "Size (px)" }), size), start), error, progress);
studio.registerPanel({ id: "export", title: "Export", element, onShow: load });
studio.on("saved", showNote);
// "Export…" after saving an animation in the creator: this panel, that animation ticked
window.addEventListener("studio:export-animation", (e) => {
  wanted = e.detail?.id ?? null;
  document.getElementById("tab-export")?.click();
});
