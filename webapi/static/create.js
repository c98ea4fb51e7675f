// The create page: a photo (webcam snapshot or upload) becomes a styled avatar.
//
// One WebSocket to /ws carries the seed's messages (docs/GENERATION.md): `generate_avatar`
// out; `progress` and `result` back; `generate:cancel` to stop. The photo travels as a data
// URL; a very large photo is scaled down here first so it stays under the server's limits.

import { showCharacter } from "/static/character.js";
import { toast } from "/static/toast.js";

const $ = (id) => document.getElementById(id);

const MAX_UPLOAD = 10 * 1024 * 1024; // the server's limit on image bytes
const MAX_SIDE = 2048; // larger photos are scaled down before sending (a face needs far less)

const ui = {
  conn: $("conn"),
  banners: $("banners"),
  stage: $("stage"),
  cam: $("cam"),
  photo: $("photo"),
  overlay: $("overlay"),
  overlayTitle: $("overlay-title"),
  overlayText: $("overlay-text"),
  camStart: $("cam-start"),
  snap: $("snap"),
  upload: $("upload"),
  file: $("file"),
  generate: $("generate"),
  cancel: $("cancel"),
  bar: $("bar"),
  barWrap: $("bar-wrap"),
  stageText: $("stage-text"),
  percent: $("percent"),
  queueHint: $("queue-hint"),
  result: $("result"),
  resultId: $("result-id"),
  puppet: $("puppet"),
  savedNote: $("saved-note"),
  savedLink: $("saved-link"),
  resFull: $("res-full"),
  resMeta: $("res-meta"),
  resTransparent: $("res-transparent"),
  resProfile: $("res-profile"),
  resThumbnail: $("res-thumbnail"),
  resHd: $("res-hd"),
  download: $("download"),
  optExpression: $("opt-expression"),
  optDetails: $("opt-details"),
};

let ws = null;
let wsReady = false;
let photoUrl = null; // the chosen photo as a data URL
let stream = null; // the webcam, while on
let running = null; // the sessionId of the generation in flight

// ---- messages on the page ---------------------------------------------------------------

function banner(text, kind = "error") {
  ui.banners.replaceChildren();
  if (!text) return;
  const el = document.createElement("div");
  el.className = `banner ${kind}`;
  const icon = document.createElement("span");
  icon.className = "icon";
  icon.textContent = kind === "error" ? "!" : "i";
  const body = document.createElement("span");
  body.className = "text";
  body.textContent = text;
  const close = document.createElement("button");
  close.className = "btn ghost small";
  close.textContent = "Dismiss";
  close.onclick = () => el.remove();
  el.append(icon, body, close);
  ui.banners.append(el);
}

function setConn(text, tone) {
  ui.conn.textContent = text;
  ui.conn.dataset.tone = tone;
}

function setProgress(percent, text) {
  const p = Math.max(0, Math.min(100, percent));
  ui.bar.style.width = `${p}%`;
  ui.barWrap.setAttribute("aria-valuenow", String(p));
  ui.percent.textContent = percent < 0 ? "—" : `${Math.round(p)}%`;
  if (text !== undefined) ui.stageText.textContent = text;
}

function refresh() {
  ui.generate.disabled = !photoUrl || !wsReady || running !== null;
  ui.cancel.disabled = running === null;
  ui.snap.disabled = !stream;
  ui.upload.disabled = running !== null;
  ui.camStart.textContent = stream ? "Stop webcam" : "Use webcam";
}

// ---- the WebSocket ------------------------------------------------------------------------

function connect() {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  ws = new WebSocket(`${proto}://${location.host}/ws`);
  setConn("connecting", "busy");
  ws.onopen = () => {
    wsReady = true;
    setConn("ready", "ok");
    refresh();
  };
  ws.onclose = () => {
    wsReady = false;
    setConn("reconnecting", "warn");
    if (running !== null) {
      finish();
      banner("The connection to the server was lost while generating; please try again.");
    }
    refresh();
    setTimeout(connect, 1500);
  };
  ws.onmessage = (e) => {
    let msg;
    try {
      msg = JSON.parse(e.data);
    } catch {
      return;
    }
    if (msg.type === "progress" && msg.sessionId === running) onProgress(msg);
    else if (msg.type === "result" && msg.sessionId === running) onResult(msg);
    else if (msg.type === "error") toast(`server: ${msg.message}`, "error");
  };
}

function onProgress(msg) {
  setProgress(msg.percent, msg.message || "Working…");
  ui.queueHint.textContent = msg.stage === "queued" ? "waiting in line" : "";
}

function finish() {
  running = null;
  ui.queueHint.textContent = "";
  refresh();
}

function onResult(msg) {
  finish();
  if (!msg.success) {
    const cancelled = /cancel/i.test(msg.error || "");
    setProgress(-1, cancelled ? "Cancelled." : "Failed.");
    if (cancelled) toast("Generation cancelled");
    else banner(`Could not generate the avatar: ${msg.error}`);
    return;
  }
  setProgress(100, `Ready in ${seconds(msg.metadata?.processingTime)}.`);
  showResult(msg);
}

function showResult(msg) {
  const out = msg.outputs || {};
  ui.resFull.src = msg.avatarData || msg.avatarUrl;
  ui.resTransparent.src = out.transparent || "";
  ui.resProfile.src = out.profile || "";
  ui.resThumbnail.src = out.thumbnail || "";
  ui.resHd.href = out.hd || "#";
  ui.download.href = msg.avatarUrl;
  ui.download.download = `digigami-${msg.metadata?.style || "avatar"}-${msg.avatarId}.png`;
  ui.resultId.textContent = msg.avatarId;
  ui.puppet.href = `/?avatar=${encodeURIComponent(msg.avatarId)}`;
  // the result is saved to the maker's library at once (their account's, or their guest
  // cookie's until they sign up or in): say so, and link to it
  const saved = typeof msg.libraryId === "string" ? msg.libraryId : null;
  ui.savedNote.hidden = saved === null;
  ui.savedLink.href = saved ? `/library#${encodeURIComponent(saved)}` : "/library";
  ui.resMeta.replaceChildren();
  const m = msg.metadata || {};
  // what a creator cares about: the look and how long it took (not the model or device)
  for (const [k, v] of [
    ["style", styleName(m.style)],
    ["made in", m.processingTime !== undefined ? seconds(m.processingTime) : undefined],
  ]) {
    if (v === undefined || v === null) continue;
    const chip = document.createElement("span");
    chip.className = "chip";
    chip.innerHTML = `${k} <b></b>`;
    chip.querySelector("b").textContent = String(v);
    ui.resMeta.append(chip);
  }
  ui.result.hidden = false;
  showCharacter(msg.avatarId)
    .catch(() => false)
    .then((shown) => ($(shown ? "character" : "result").scrollIntoView({ behavior: "smooth", block: "nearest" })));
}

/** "2.1 seconds" from milliseconds. */
function seconds(ms) {
  const s = (ms ?? 0) / 1000;
  return `${s < 10 ? s.toFixed(1) : Math.round(s)} seconds`;
}

/** A style's name as the style cards show it ("Kingdom Hearts"), not its id. */
function styleName(id) {
  const card = document.querySelector(`input[name="style"][value="${CSS.escape(id ?? "")}"]`);
  return card?.closest("label")?.querySelector("b")?.textContent ?? id;
}

// ---- generate / cancel ----------------------------------------------------------------------

function style() {
  return document.querySelector('input[name="style"]:checked')?.value || "kingdom-hearts";
}

ui.generate.onclick = () => {
  if (!photoUrl || !wsReady) return;
  banner(null);
  running = `digi_${Math.random().toString(36).slice(2, 10)}`;
  setProgress(0, "Sending the photo…");
  ws.send(
    JSON.stringify({
      type: "generate_avatar",
      sessionId: running,
      image: photoUrl,
      style: style(),
      options: {
        preserveExpression: ui.optExpression.checked,
        enhanceDetails: ui.optDetails.checked,
        outputSize: 512,
      },
    }),
  );
  refresh();
};

ui.cancel.onclick = () => {
  if (running === null || !wsReady) return;
  ws.send(JSON.stringify({ type: "generate:cancel", sessionId: running }));
  ui.stageText.textContent = "Cancelling…";
};

// ---- the photo ----------------------------------------------------------------------------

function showPhoto(url) {
  photoUrl = url;
  ui.photo.src = url;
  ui.photo.hidden = false;
  ui.cam.hidden = true;
  ui.overlay.hidden = true;
  setProgress(-1, "Photo ready: pick a style and generate.");
  refresh();
}

async function startCamera() {
  if (stream) return stopCamera();
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 1280 }, height: { ideal: 960 } } });
  } catch (e) {
    banner(`The webcam could not be opened (${e.name}: ${e.message}). You can upload a photo instead.`);
    return;
  }
  ui.cam.srcObject = stream;
  ui.cam.hidden = false;
  ui.photo.hidden = true;
  ui.overlay.hidden = true;
  refresh();
}

function stopCamera() {
  stream?.getTracks().forEach((t) => t.stop());
  stream = null;
  ui.cam.hidden = true;
  if (photoUrl) ui.photo.hidden = false;
  else ui.overlay.hidden = false;
  refresh();
}

function snapshot() {
  const v = ui.cam;
  if (!stream || !v.videoWidth) return;
  const c = document.createElement("canvas");
  c.width = v.videoWidth;
  c.height = v.videoHeight;
  const g = c.getContext("2d");
  g.translate(c.width, 0); // as the user saw it: mirrored
  g.scale(-1, 1);
  g.drawImage(v, 0, 0);
  stopCamera();
  showPhoto(c.toDataURL("image/jpeg", 0.92));
}

function readAsDataUrl(file) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(r.result);
    r.onerror = () => reject(r.error);
    r.readAsDataURL(file);
  });
}

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const im = new Image();
    im.onload = () => resolve(im);
    im.onerror = () => reject(new Error("the browser cannot read this file as an image"));
    im.src = url;
  });
}

async function useFile(file) {
  if (!file) return;
  if (file.type && !file.type.startsWith("image/")) {
    banner(`"${file.name}" is not an image (${file.type}). Choose a PNG, JPEG or WebP photo.`);
    return;
  }
  banner(null);
  let url;
  try {
    url = await readAsDataUrl(file);
    const im = await loadImage(url);
    const big = Math.max(im.naturalWidth, im.naturalHeight);
    if (file.size > MAX_UPLOAD || big > MAX_SIDE) {
      // Scale down here: the server refuses more than 10 MB, and a face needs far less.
      const k = Math.min(1, MAX_SIDE / big);
      const c = document.createElement("canvas");
      c.width = Math.round(im.naturalWidth * k);
      c.height = Math.round(im.naturalHeight * k);
      c.getContext("2d").drawImage(im, 0, 0, c.width, c.height);
      url = c.toDataURL("image/jpeg", 0.92);
    }
  } catch (e) {
    // Let the server give its own precise answer (truncated, too small, ...) when it can.
    if (!url || file.size > MAX_UPLOAD) {
      banner(`Could not read "${file.name}": ${e.message}`);
      return;
    }
  }
  stopCamera();
  showPhoto(url);
}

ui.camStart.onclick = startCamera;
ui.snap.onclick = snapshot;
ui.upload.onclick = () => ui.file.click();
ui.file.onchange = () => useFile(ui.file.files[0]);

for (const t of ["dragenter", "dragover"]) {
  ui.stage.addEventListener(t, (e) => {
    e.preventDefault();
    ui.stage.classList.add("drop");
  });
}
for (const t of ["dragleave", "drop"]) {
  ui.stage.addEventListener(t, () => ui.stage.classList.remove("drop"));
}
ui.stage.addEventListener("drop", (e) => {
  e.preventDefault();
  useFile(e.dataTransfer.files[0]);
});
document.addEventListener("dragover", (e) => e.preventDefault());
document.addEventListener("drop", (e) => {
  e.preventDefault();
  if (e.dataTransfer.files[0]) useFile(e.dataTransfer.files[0]);
});

window.addEventListener("error", (e) => toast(`page error: ${e.message}`, "error"));

// ---- the caller's style packs from the marketplace --------------------------------------------

/** Adds the style packs the visitor owns or made (GET /api/marketplace/styles) after the
 * built-in cards; a generation names one by its listing id. Built by DOM nodes, never HTML:
 * a pack's name is a stranger's text. Without it (offline, an error) the built-ins remain. */
async function addOwnedStyles() {
  let styles;
  try {
    const r = await fetch("/api/marketplace/styles", { credentials: "same-origin" });
    if (!r.ok) return;
    ({ styles } = await r.json());
  } catch {
    return;
  }
  const box = $("styles");
  for (const s of styles ?? []) {
    if (s.builtin || box.querySelector(`input[value="${CSS.escape(s.id)}"]`)) continue;
    const label = document.createElement("label");
    label.className = "style-opt";
    const input = Object.assign(document.createElement("input"), { type: "radio", name: "style", value: s.id });
    const name = document.createElement("b");
    name.textContent = s.name;
    const about = document.createElement("span");
    about.textContent = s.mine ? "Your style pack (marketplace)." : "Your style pack from the marketplace.";
    label.append(input, name, about);
    box.append(label);
  }
}

refresh();
connect();
addOwnedStyles();
