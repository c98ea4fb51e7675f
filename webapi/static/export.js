// The export dialog on "My avatars" (/library): any `button.export` on the page opens it for
// its avatar (`data-avatar`, or the `data-id` of the saved avatar's <li>; "digi" is the
// bundled avatar, which guests may export too). The form is built from
// GET /api/exports/options (formats grouped by kind, animations, parameter and size/fps
// ranges), so a format or animation added on the server shows up here by itself.
//
// Start posts to /api/avatars/{id}/export; the job's progress then comes over the /ws socket
// (`export:watch`), or by polling the job's url when the socket is gone; when it is done the
// dialog offers the file. The server checks every value and its error is shown in words next
// to the field it names (the form has no browser validation of its own: one source of truth).
// A job belongs to the server, not to the dialog: closing the dialog leaves it running, and
// opening it again for the same avatar shows how far it got.

import { toast } from "/static/toast.js";

const POLL_MS = 1000; // the job's url, when the socket cannot be used
const KINDS = [
  { kind: "still", title: "Pictures", hint: "one pose" },
  { kind: "animation", title: "Animated", hint: "one file per animation" },
  { kind: "runtime", title: "For game engines and apps", hint: "rigged: bones, meshes, clips" },
  { kind: "platform", title: "Platform presets", hint: "sized for each site's limits" },
];
// Named fields of the form, and words in the server's error that point at each: the API
// answers `{"error": "..."}` without a field, so the message is matched to put it in place.
const ERROR_FIELDS = [
  { field: "formats", words: /\bformats?\b/i },
  { field: "animations", words: /\banimations?\b/i },
  { field: "size", words: /\bsize\b|\bpixels\b/i },
  { field: "fps", words: /\bfps\b/i },
  { field: "pose", words: /\bpose\b|\bparameter\b|\btime\b/i },
];
// The expression sliders a still offers (the rig has more; these say the most).
const EXPRESSIONS = [
  { id: "ParamMouthOpenY", label: "Mouth open", ids: ["ParamMouthOpenY"] },
  { id: "ParamMouthForm", label: "Smile", ids: ["ParamMouthForm"] },
  { id: "ParamEyeLOpen", label: "Eyes open", ids: ["ParamEyeLOpen", "ParamEyeROpen"] },
];
const DEFAULT_FORMATS = ["png"];
const DEFAULT_ANIMATIONS = ["idle"];

let options = null; // GET /api/exports/options, fetched on the first open
let dialog = null; // the one <dialog>, built on the first open
let current = null; // { id, name }: the avatar the dialog is showing
const jobs = new Map(); // avatar id -> its latest job { view, watching }

// ---- small helpers ----------------------------------------------------------------------

const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
};

/** The answer's JSON, or an Error carrying the server's own words. */
async function request(method, url, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(url, init);
  const answer = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(answer.error ?? `${res.status} ${res.statusText}`);
  return answer;
}

/** 1234567 -> "1.2 MB": a download's size, as people read it. */
export function formatBytes(n) {
  if (!Number.isFinite(n) || n < 0) return "";
  if (n < 1024) return `${n} bytes`;
  const units = ["KB", "MB", "GB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${v >= 10 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

/** "dance_3" -> "dance 3": an animation's name as a label. */
const label = (name) => name.replace(/_/g, " ");

// ---- the dialog's markup ------------------------------------------------------------------

function build() {
  const d = el("dialog", { className: "export-dialog", id: "export-dialog" });
  d.setAttribute("aria-labelledby", "export-title");
  d.innerHTML = `
    <form class="export-form" id="export-form" novalidate>
      <header class="export-head">
        <h2 id="export-title">Export</h2>
        <button class="btn ghost small export-close" type="button"
          aria-label="Close the export dialog">Close <kbd>Esc</kbd></button>
      </header>
      <div class="export-body">
        <fieldset class="export-block" data-field="formats">
          <legend>Formats <span class="hint" id="export-format-count"></span></legend>
          <label class="export-all"><input type="checkbox" id="export-all-formats"> all formats and presets</label>
          <div class="export-kinds" id="export-kinds"></div>
          <p class="field-error" id="export-error-formats" hidden></p>
        </fieldset>
        <fieldset class="export-block" data-field="animations">
          <legend>Animations <span class="hint" id="export-anim-count"></span></legend>
          <div class="export-chips" id="export-animations" role="group" aria-label="animations to export"></div>
          <div class="row export-chip-tools">
            <button class="btn ghost small" type="button" id="export-anim-all">All</button>
            <button class="btn ghost small" type="button" id="export-anim-none">None</button>
            <p class="export-note" id="export-anim-note"></p>
          </div>
          <p class="field-error" id="export-error-animations" hidden></p>
        </fieldset>
        <div class="export-block export-settings">
          <label class="field" data-field="size">
            <span>Size <span class="range" id="export-size-range"></span></span>
            <input type="number" id="export-size" name="size" step="1" inputmode="numeric"
              aria-describedby="export-size-range export-error-size">
          </label>
          <label class="field" data-field="fps">
            <span>Frames per second <span class="range" id="export-fps-range"></span></span>
            <input type="number" id="export-fps" name="fps" step="1" inputmode="numeric"
              aria-describedby="export-fps-range export-error-fps">
          </label>
          <p class="export-note">The size is each picture's larger side; frames per second
            is for animations (a loop keeps its length).</p>
          <p class="field-error" id="export-error-size" hidden></p>
          <p class="field-error" id="export-error-fps" hidden></p>
        </div>
        <fieldset class="export-block export-pose" id="export-pose" data-field="pose">
          <legend>Pose for pictures <span class="hint">PNG, SVG and the presets' stills</span></legend>
          <div class="export-pose-row" id="export-pose-row">
            <label class="field">Animation <select id="export-state"></select></label>
            <label class="field">At second <input type="number" id="export-time" min="0" max="20" step="0.1" value="0"></label>
          </div>
          <p class="field-error" id="export-error-pose" hidden></p>
        </fieldset>
      </div>
      <div class="export-status">
        <p class="form-error" id="export-error" role="alert" hidden></p>
        <section class="export-progress" id="export-progress" hidden aria-label="export progress">
          <div class="row">
            <progress id="export-bar" max="100" value="0" aria-labelledby="export-stage"></progress>
            <output id="export-percent">0%</output>
          </div>
          <p class="export-stage" id="export-stage" aria-live="polite"></p>
          <p class="export-note" id="export-keeps">You can close this window: the export keeps
            going on the server, and its download waits here for an hour.</p>
          <div class="row export-done" id="export-done" hidden>
            <a class="btn primary" id="export-download" download>Download</a>
            <span class="export-file" id="export-file"></span>
          </div>
        </section>
      </div>
      <footer class="row export-foot">
        <span class="grow export-note" id="export-summary"></span>
        <button class="btn ghost" type="button" id="export-cancel">Close</button>
        <button class="btn primary" type="submit" id="export-start">Start export</button>
      </footer>
    </form>`;
  document.body.append(d);
  return d;
}

const $ = (id) => document.getElementById(id);

/** Fill the form from the server's options (once). */
function populate(opts) {
  const kinds = $("export-kinds");
  for (const { kind, title, hint } of KINDS) {
    const formats = opts.formats.filter((f) => f.kind === kind);
    if (!formats.length) continue;
    const group = el("div", { className: "export-kind" });
    group.append(el("h3", {}, title, el("span", { className: "hint" }, ` ${hint}`)));
    for (const f of formats) {
      const box = el("input", { type: "checkbox", name: "format", value: f.name });
      box.dataset.kind = kind;
      box.checked = DEFAULT_FORMATS.includes(f.name);
      const text = el("span", { className: "export-format-text" },
        el("b", {}, f.name), el("small", {}, f.description));
      group.append(el("label", { className: "export-format" }, box, text));
    }
    kinds.append(group);
  }
  const chips = $("export-animations");
  const state = $("export-state");
  for (const name of opts.animations) {
    const chip = el("button", { type: "button", className: "export-chip", textContent: label(name) });
    chip.dataset.name = name;
    chip.setAttribute("aria-pressed", String(DEFAULT_ANIMATIONS.includes(name)));
    chips.append(chip);
    state.append(el("option", { value: name, textContent: label(name), selected: name === "idle" }));
  }
  // the signed-in caller's own animations: sent by id, named as they named them
  for (const { id, name } of opts.custom_animations ?? []) {
    const chip = el("button", { type: "button", className: "export-chip custom", textContent: name });
    chip.dataset.name = id;
    chip.title = "your own animation";
    chip.setAttribute("aria-pressed", "false");
    chips.append(chip);
  }
  for (const [key, range] of [["size", opts.size], ["fps", opts.fps]]) {
    const input = $(`export-${key}`);
    input.min = range.min;
    input.max = range.max;
    input.value = range.default;
    $(`export-${key}-range`).textContent = `${range.min}–${range.max}${key === "size" ? " px" : ""}`;
  }
  const sliders = $("export-pose-row");
  const params = new Map(opts.parameters.map((p) => [p.id, p]));
  for (const x of EXPRESSIONS) {
    const p = params.get(x.id);
    if (!p) continue;
    const input = el("input", { type: "range", min: p.min, max: p.max, step: "0.05", value: p.default });
    input.dataset.ids = x.ids.filter((id) => params.has(id)).join(" ");
    const out = el("output", { textContent: Number(p.default).toFixed(2) });
    input.addEventListener("input", () => (out.textContent = Number(input.value).toFixed(2)));
    input.setAttribute("aria-label", x.label);
    sliders.append(el("label", { className: "export-slider" }, el("span", {}, x.label), input, out));
  }
}

// ---- reading the form ---------------------------------------------------------------------

const formatBoxes = () => [...dialog.querySelectorAll('input[name="format"]')];
const chipButtons = () => [...dialog.querySelectorAll(".export-chip")];
const chosenFormats = () => formatBoxes().filter((b) => b.checked);
const chosenAnimations = () =>
  chipButtons().filter((c) => c.getAttribute("aria-pressed") === "true").map((c) => c.dataset.name);

/** The request body: numbers go as typed (the server says what is out of range). */
function body() {
  const parameters = {};
  for (const input of dialog.querySelectorAll("#export-pose-row .export-slider input")) {
    for (const id of input.dataset.ids.split(" ")) parameters[id] = Number(input.value);
  }
  const boxes = formatBoxes();
  const formats = chosenFormats().map((b) => b.value);
  return {
    formats: formats.length === boxes.length && boxes.length ? ["all"] : formats,
    animations: chosenAnimations(),
    size: numberOf($("export-size").value),
    fps: numberOf($("export-fps").value),
    pose: { state: $("export-state").value, time: numberOf($("export-time").value), parameters },
  };
}

/** A typed number, or the text itself when it is none (the server then names the field). */
function numberOf(text) {
  const n = Number(text);
  return text.trim() !== "" && Number.isFinite(n) ? n : text;
}

/** Keep the counts, notes and the "all" box in step with what is chosen. */
function refresh() {
  const boxes = formatBoxes();
  const chosen = chosenFormats();
  const all = $("export-all-formats");
  all.checked = chosen.length === boxes.length;
  all.indeterminate = chosen.length > 0 && chosen.length < boxes.length;
  $("export-format-count").textContent = `${chosen.length} of ${boxes.length}`;
  const kinds = new Set(chosen.map((b) => b.dataset.kind));
  // a still's pose matters only for pictures (presets make stills too)
  $("export-pose").hidden = !(kinds.has("still") || kinds.has("platform"));
  const anims = chosenAnimations();
  $("export-anim-count").textContent = anims.length ? `${anims.length} chosen` : "none chosen";
  $("export-anim-note").textContent = anims.length
    ? "Spine and glTF put every chosen animation in one file; the others make one file each."
    : "None chosen: animated pictures use idle; Spine and glTF take every animation.";
  $("export-summary").textContent = chosen.length
    ? `${chosen.map((b) => b.value).join(", ")} of ${current?.name ?? "this avatar"}`
    : "Choose at least one format.";
}

// ---- errors in words, in place ------------------------------------------------------------

function clearErrors() {
  for (const node of dialog.querySelectorAll(".field-error, .form-error")) {
    node.hidden = true;
    node.textContent = "";
  }
  for (const node of dialog.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
}

/** Show `message` next to the field it names, and above the buttons (never lost there:
 * the choices scroll, that line does not). */
function showError(message, lead = "") {
  clearErrors();
  const form = $("export-error");
  form.textContent = `${lead}${message}`;
  form.hidden = false;
  const hit = ERROR_FIELDS.find((f) => f.words.test(message));
  if (!hit) return;
  const near = $(`export-error-${hit.field}`);
  near.textContent = message;
  near.hidden = false;
  const input = $(`export-${hit.field}`);
  if (input) {
    input.setAttribute("aria-invalid", "true");
    input.focus();
  }
}

// ---- a job: start, watch, finish ----------------------------------------------------------

async function start(event) {
  event.preventDefault();
  clearErrors();
  if (!chosenFormats().length) {
    showError("Choose at least one format to export.");
    return;
  }
  const avatar = current;
  const button = $("export-start");
  button.disabled = true;
  button.textContent = "Starting…";
  let view;
  try {
    view = await request("POST", `/api/avatars/${encodeURIComponent(avatar.id)}/export`, body());
  } catch (e) {
    showError(e.message, "Not started: ");
    button.disabled = false;
    button.textContent = "Start export";
    return;
  }
  const job = { view, avatar, socket: null, timer: null };
  jobs.set(avatar.id, job);
  show(job);
  watch(job);
}

/** Follow `job` on the socket; poll its url if the socket fails before the job ends. */
function watch(job) {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  let ws;
  try {
    ws = new WebSocket(`${proto}://${location.host}/ws`);
  } catch {
    poll(job);
    return;
  }
  job.socket = ws;
  ws.onopen = () => ws.send(JSON.stringify({ type: "export:watch", job: job.view.job }));
  ws.onmessage = (e) => {
    let msg;
    try {
      msg = JSON.parse(e.data);
    } catch {
      return;
    }
    if (msg.job !== job.view.job) return; // the socket also carries other pages' news
    if (msg.type === "export:progress") update(job, { state: msg.state, progress: msg.progress, stage: msg.stage });
    else if (msg.type === "export:done") update(job, { state: "done", progress: 100, stage: "done",
      download: msg.download, filename: msg.filename, bytes: msg.bytes });
    else if (msg.type === "export:failed") update(job, { state: "failed", stage: "failed", error: msg.error });
  };
  ws.onclose = () => {
    job.socket = null;
    if (!ended(job)) poll(job);
  };
}

async function poll(job) {
  if (ended(job) || job.timer) return;
  job.timer = setTimeout(async () => {
    job.timer = null;
    try {
      update(job, await request("GET", job.view.url));
    } catch (e) {
      update(job, { state: "failed", stage: "failed", error: `lost track of the export: ${e.message}` });
    }
    poll(job);
  }, POLL_MS);
}

const ended = (job) => job.view.state === "done" || job.view.state === "failed";

function update(job, changes) {
  const was = ended(job);
  job.view = { ...job.view, ...changes };
  if (jobs.get(job.avatar.id) === job && current?.id === job.avatar.id && dialog.open) show(job);
  if (!ended(job) || was) return;
  job.socket?.close();
  // the dialog may be closed by now: say so where it will be seen
  if (!dialog.open || current?.id !== job.avatar.id) {
    if (job.view.state === "done") toast(`Export of ${job.avatar.name} is ready: open Export… to download it`, "ok");
    else toast(`Export of ${job.avatar.name} failed: ${job.view.error}`, "error");
  }
}

/** The progress section as `job` stands (or hidden when there is no job). */
function show(job) {
  const section = $("export-progress");
  const button = $("export-start");
  section.hidden = !job;
  if (!job) {
    button.classList.add("primary");
    button.disabled = false;
    button.textContent = "Start export";
    return;
  }
  const v = job.view;
  const running = !ended(job);
  const percent = Math.max(0, Math.min(100, Math.round(v.progress ?? 0)));
  $("export-bar").value = percent;
  $("export-percent").textContent = `${percent}%`;
  section.dataset.state = v.state;
  $("export-stage").textContent = stageText(v);
  $("export-keeps").hidden = !running;
  const done = v.state === "done" && v.download;
  $("export-done").hidden = !done;
  if (done) {
    const link = $("export-download");
    link.href = v.download;
    link.download = v.filename ?? "";
    link.textContent = `Download ${v.filename ?? ""}`.trim();
    $("export-file").textContent = formatBytes(v.bytes);
  }
  if (v.state === "failed") showError(v.error ?? "the export failed", "Failed: ");
  button.disabled = running;
  button.textContent = running ? "Exporting…" : "Start again";
  button.classList.toggle("primary", v.state !== "done"); // the download is the next step
}

function stageText(v) {
  if (v.state === "queued") return "Waiting for its turn (one export runs at a time)…";
  if (v.state === "done") return v.formats?.length ? `Done: ${v.formats.join(", ")}.` : "Done.";
  if (v.state === "failed") return "It failed: nothing was written.";
  const stage = v.stage ?? "working";
  return `${stage.charAt(0).toUpperCase()}${stage.slice(1)}…`;
}

// ---- opening and closing --------------------------------------------------------------------

function wire() {
  const form = $("export-form");
  form.addEventListener("submit", start);
  form.addEventListener("change", (e) => {
    if (e.target.id === "export-all-formats") {
      for (const b of formatBoxes()) b.checked = e.target.checked;
    }
    refresh();
  });
  form.addEventListener("input", (e) => {
    // a corrected value clears its complaint
    if (e.target.getAttribute("aria-invalid")) clearErrors();
  });
  $("export-animations").addEventListener("click", (e) => {
    const chip = e.target.closest(".export-chip");
    if (!chip) return;
    chip.setAttribute("aria-pressed", String(chip.getAttribute("aria-pressed") !== "true"));
    refresh();
  });
  const setAll = (on) => {
    for (const c of chipButtons()) c.setAttribute("aria-pressed", String(on));
    refresh();
  };
  $("export-anim-all").addEventListener("click", () => setAll(true));
  $("export-anim-none").addEventListener("click", () => setAll(false));
  $("export-cancel").addEventListener("click", () => dialog.close());
  dialog.querySelector(".export-close").addEventListener("click", () => dialog.close());
  // a click on the backdrop (outside the form) closes it, as Esc does
  dialog.addEventListener("click", (e) => {
    if (e.target === dialog) dialog.close();
  });
}

/** Open the dialog for avatar `id` (named `name`), from `opener` (focus returns there). */
export async function openExport(id, name, opener = null) {
  if (!dialog) {
    dialog = build();
    wire();
    dialog.addEventListener("close", () => (dialog.opener ?? null)?.focus?.());
  }
  current = { id, name };
  dialog.opener = opener;
  $("export-title").textContent = `Export ${name}`;
  clearErrors();
  if (!dialog.open) dialog.showModal();
  if (!options) {
    dialog.dataset.loading = "true";
    try {
      options = await request("GET", "/api/exports/options");
      populate(options);
    } catch (e) {
      showError(`could not load the export options: ${e.message}`);
      $("export-start").disabled = true;
      return;
    } finally {
      delete dialog.dataset.loading;
    }
  }
  refresh();
  show(jobs.get(id) ?? null);
  dialog.querySelector('input[name="format"]')?.focus();
}

// Any "Export…" button: the Digi card's names its avatar, a saved avatar's sits in its <li>.
document.addEventListener("click", (e) => {
  const button = e.target.closest?.("button.export");
  if (!button) return;
  const li = button.closest("li[data-id]");
  const id = button.dataset.avatar ?? li?.dataset.id;
  if (!id) return;
  const name = button.dataset.name ?? li?.querySelector(".name")?.value ?? "this avatar";
  openExport(id, name, button);
});
