// The Creator Studio (/studio/<avatar>): a private live session of kind "studio" streamed
// over WebRTC (recvonly video + the `control` data channel, docs/STUDIO.md), steered by
// the panels. This module connects, keeps the working copy of the avatar's customizations
// with its undo history (sessionStorage until saved), and exports `studio`, the one object
// every panel module (ours and the timeline/animation/export ones) codes against.

import { completeOffer, HttpError, localPeerConnection, onFirstFrame, playTrack, postJson, videoStats } from "/static/webrtc.js";
import { toast as showToast } from "/static/toast.js";
import { History } from "/static/studio/history.js";
import { Viewport } from "/static/studio/viewport.js";
import { applyDiff, sameJson } from "/static/studio/apply.js";

const $ = (id) => document.getElementById(id);
const AVATAR_ID = decodeURIComponent(location.pathname.replace(/^\/studio\/?/, "").split("/")[0] || "digi");
const STORE = (id) => `digigami.studio.${id}`;

const listeners = new Map(); // message type -> handlers
const history = new History();
let working = {}; // the working customizations
let applied = null; // what the session wears now (null: not connected)
let pc = null;
let channel = null;
let libraryAsked = null; // the library a reconnect was made for

export const studio = {
  avatar: { id: AVATAR_ID, name: "Digi", rig: "digi", customizations: {}, owned: false },
  hello: null,
  status: null,
  session: null, // {session, token} from POST /api/studio
  sent: 0, // control messages sent (tests check that refused input sent nothing)
  state: "starting", // starting | connecting | connected | failed | error
  stats: videoStats(() => pc),
  send,
  on(type, fn) {
    if (!listeners.has(type)) listeners.set(type, []);
    listeners.get(type).push(fn);
  },
  draft: { put: (definition) => draftRequest("PUT", { definition }), clear: () => draftRequest("DELETE", {}) },
  history,
  customizations: () => structuredClone(working),
  setCustomizations,
  save,
  viewport: null,
  registerPanel,
  toast,
};
window.digigamiStudio = studio;

// ---- messages ------------------------------------------------------------------------

/** Send a control message; false (and a toast) when the channel is not open. */
function send(msg) {
  if (!channel || channel.readyState !== "open") {
    toast("not connected to the studio session yet", "error");
    return false;
  }
  channel.send(JSON.stringify(msg));
  studio.sent += 1;
  return true;
}

function emit(type, msg) {
  for (const fn of listeners.get(type) ?? []) {
    try {
      fn(msg);
    } catch (e) {
      console.error(`studio: a "${type}" handler failed`, e);
    }
  }
}

function onMessage(data) {
  let msg;
  try {
    msg = JSON.parse(data);
  } catch {
    return;
  }
  if (msg.type === "hello") {
    studio.hello = msg;
    msg.defaults ??= spriteDefaults(msg);
    const look = msg.customizations ?? studio.avatar.customizations ?? {};
    applied = structuredClone(look);
    // the working copy (restored from this tab's history) goes to the session at once
    applyWorking(working);
  } else if (msg.type === "status") {
    studio.status = msg;
    if (msg.studio?.frame_rect) studio.viewport.setFrameRect(msg.studio.frame_rect);
  } else if (msg.type === "error") {
    toast(msg.message ?? "the studio session refused the last change", "error");
  }
  emit(msg.type, msg);
}

// Digi's base library's own choices (content/sprites/digi/base.json "defaults")
const LIBRARY_DEFAULTS = { outfit: "casual", body: "default", accessories: "none" };

/** What each sprite category wears when the customizations leave it out (undoing a swap
 * goes back to it): the session wears it now when the saved avatar names none. */
function spriteDefaults(hello) {
  if (hello.sprite_defaults) return { ...hello.sprite_defaults };
  const saved = studio.avatar.customizations.sprites ?? {};
  const worn = hello.customizations?.sprites ?? hello.current ?? {};
  const out = {};
  for (const category of Object.keys(hello.labels ?? {})) {
    out[category] = saved[category] === undefined && worn[category] ? worn[category] : LIBRARY_DEFAULTS[category] ?? "default";
  }
  return out;
}

export function toast(text, tone = "") {
  showToast(text, tone === "bad" ? "error" : tone);
  // the last message stays readable under the viewport (and for tests)
  Object.assign($("studio-log"), { textContent: text }).dataset.tone = tone;
}

// ---- the working copy and its history ------------------------------------------------

/** Replace the working customizations (`c`), send what changed to the session and record
 * an undo entry labelled `label` (none when `record` is false: undo/redo themselves). */
function setCustomizations(c, label = "edit", record = true) {
  const before = structuredClone(working);
  const after = structuredClone(c ?? {});
  if (sameJson(before, after)) return;
  working = after;
  applyWorking(after);
  if (record) {
    history.push({
      label,
      data: { before, after },
      undo: () => setCustomizations(before, label, false),
      redo: () => setCustomizations(after, label, false),
    });
  }
  persist();
  emit("customizations", structuredClone(working));
}

/** Bring the session to `c`: one message per changed part; a new library reconnects. */
function applyWorking(c) {
  if (!applied || !studio.hello) return;
  const library = (x) => x?.library ?? "base";
  if (library(c) !== library(applied)) {
    // once per library: a session that came back in another library must not loop
    if (libraryAsked !== library(c)) {
      libraryAsked = library(c);
      reconnect();
      return;
    }
    toast(`the studio session could not switch to the "${library(c)}" library`, "error");
  } else {
    libraryAsked = null;
  }
  for (const msg of applyDiff(applied, c, studio.hello)) send(msg);
  applied = structuredClone(c);
}

function persist() {
  try {
    const saved = history.serialize();
    // nothing unsaved (just saved, or every edit undone into the saved look): nothing kept
    if (!saved.entries.length && sameJson(working, studio.avatar.customizations)) sessionStorage.removeItem(STORE(studio.avatar.id));
    else sessionStorage.setItem(STORE(studio.avatar.id), JSON.stringify({ working, history: saved }));
  } catch {
    // storage full or off: the history lives for this page only
  }
}

function restore() {
  let saved = null;
  try {
    saved = JSON.parse(sessionStorage.getItem(STORE(studio.avatar.id)) ?? "null");
  } catch {
    saved = null;
  }
  if (!saved || typeof saved.working !== "object" || saved.working === null) return false;
  working = saved.working;
  history.restore(saved.history, ({ before, after }) => ({
    undo: () => setCustomizations(before, "undo", false),
    redo: () => setCustomizations(after, "redo", false),
  }));
  return true;
}

history.onChange(() => {
  persist();
  const undo = $("undo");
  const redo = $("redo");
  undo.disabled = !history.canUndo;
  redo.disabled = !history.canRedo;
  undo.title = history.canUndo ? `undo ${history.undoLabel} (Ctrl+Z)` : "nothing to undo";
  redo.title = history.canRedo ? `redo ${history.redoLabel} (Ctrl+Shift+Z)` : "nothing to redo";
});

// ---- saving --------------------------------------------------------------------------

async function request(method, url, body) {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = res.status === 204 ? {} : await res.json().catch(() => ({}));
  if (!res.ok) throw new HttpError(res.status, answer.error ?? `${res.status} ${res.statusText}`);
  return answer;
}

/** Save the working copy: PATCH the avatar when it is yours, else "save as" a new one
 * (Digi, someone's public avatar); the studio then edits the saved one. */
async function save() {
  const customizations = structuredClone(working);
  let answer;
  try {
    if (studio.avatar.owned) {
      answer = await request("PATCH", `/api/avatars/${encodeURIComponent(studio.avatar.id)}`, { customizations });
    } else {
      const name = studio.avatar.id === "digi" ? "My Digi" : `${studio.avatar.name} (copy)`.slice(0, 80);
      answer = await request("POST", "/api/avatars", { name, rig: studio.avatar.rig, customizations });
    }
  } catch (e) {
    toast(`could not save: ${e.message}`, "error");
    throw e;
  }
  sessionStorage.removeItem(STORE(studio.avatar.id));
  studio.avatar = { id: answer.id, name: answer.name, rig: answer.rig ?? "digi", customizations: answer.customizations ?? {}, owned: true };
  working = structuredClone(studio.avatar.customizations);
  if (location.pathname !== `/studio/${answer.id}`) window.history.replaceState(null, "", `/studio/${encodeURIComponent(answer.id)}`);
  history.clear();
  showAvatar();
  toast(`saved "${answer.name}"`, "ok");
  emit("saved", studio.avatar);
  return studio.avatar;
}

async function draftRequest(method, body) {
  if (!studio.session) throw new Error("the studio session is not open yet");
  return request(method, `/api/studio/${encodeURIComponent(studio.session.session)}/draft`, { token: studio.session.token, ...body });
}

// ---- panels (tabs) -------------------------------------------------------------------

const panels = [];

/** Add a panel as a tab: {id, title, element, onShow?(), onHide?()}. */
function registerPanel({ id, title, element, onShow, onHide }) {
  const tab = document.createElement("button");
  tab.type = "button";
  tab.className = "studio-tab";
  tab.id = `tab-${id}`;
  tab.setAttribute("role", "tab");
  tab.setAttribute("aria-controls", `panel-${id}`);
  tab.textContent = title;
  element.id = `panel-${id}`;
  element.classList.add("studio-panel");
  element.setAttribute("role", "tabpanel");
  element.setAttribute("aria-labelledby", tab.id);
  element.tabIndex = 0;
  $("studio-tabs").append(tab);
  $("studio-panels").append(element);
  element.hidden = true; // shown by showPanel (a panel never shown is never "hidden")
  const panel = { id, tab, element, onShow, onHide };
  panels.push(panel);
  tab.addEventListener("click", () => showPanel(id));
  const wanted = location.hash.slice(1) || "avatar";
  if (panels.length === 1 || id === wanted) showPanel(id);
  else hidePanel(panel);
}

function hidePanel(p) {
  const was = !p.element.hidden;
  p.tab.setAttribute("aria-selected", "false");
  p.tab.tabIndex = -1;
  p.element.hidden = true;
  if (was) p.onHide?.();
}

function showPanel(id) {
  for (const p of panels) if (p.id !== id) hidePanel(p);
  const p = panels.find((x) => x.id === id);
  if (!p) return;
  p.tab.setAttribute("aria-selected", "true");
  p.tab.tabIndex = 0;
  p.element.hidden = false;
  document.body.dataset.panel = id;
  p.onShow?.();
}

// arrow keys move between tabs (the WAI-ARIA tabs pattern)
$("studio-tabs").addEventListener("keydown", (e) => {
  const i = panels.findIndex((p) => p.tab === document.activeElement);
  if (i < 0 || !["ArrowLeft", "ArrowRight", "Home", "End"].includes(e.key)) return;
  e.preventDefault();
  const n = panels.length;
  const j = e.key === "Home" ? 0 : e.key === "End" ? n - 1 : (i + (e.key === "ArrowRight" ? 1 : n - 1)) % n;
  panels[j].tab.focus();
  showPanel(panels[j].id);
});

// ---- keys: undo/redo everywhere but in text fields ----------------------------------

function typing(el) {
  return el?.isContentEditable || (el?.tagName === "INPUT" && !["range", "checkbox", "radio", "button"].includes(el.type)) || el?.tagName === "TEXTAREA";
}

document.addEventListener("keydown", (e) => {
  if (!(e.ctrlKey || e.metaKey) || e.altKey || typing(document.activeElement)) return;
  const key = e.key.toLowerCase();
  if (key === "z" && !e.shiftKey) history.undo();
  else if ((key === "z" && e.shiftKey) || key === "y") history.redo();
  else return;
  e.preventDefault();
});
$("undo").addEventListener("click", () => history.undo());
$("redo").addEventListener("click", () => history.redo());
$("save").addEventListener("click", () => save().catch(() => {}));

// ---- the session ---------------------------------------------------------------------

function setState(state, text, tone) {
  studio.state = state;
  document.body.dataset.state = state;
  $("conn").textContent = text;
  $("conn").dataset.tone = tone;
}

async function connect() {
  setState("connecting", "connecting", "busy");
  applied = null;
  studio.hello = null;
  const video = $("avatar");
  video.classList.remove("live");
  pc = localPeerConnection();
  const transceiver = pc.addTransceiver("video", { direction: "recvonly" });
  playTrack(video, transceiver.receiver.track);
  onFirstFrame(video, () => {
    video.classList.add("live");
    $("overlay").hidden = true;
  });
  channel = pc.createDataChannel("control");
  channel.addEventListener("message", (e) => onMessage(e.data));
  const mine = pc;
  pc.addEventListener("connectionstatechange", () => {
    if (pc !== mine) return;
    if (pc.connectionState === "connected") setState("connected", "live", "ok");
    else if (pc.connectionState === "failed") setState("failed", "connection lost: reload", "bad");
  });
  try {
    // the session wears the working copy from its first frame (unsaved edits, another
    // sprite library): nothing to replay once it is up
    const body = { sdp: await completeOffer(pc), type: "offer", avatar: studio.avatar.id, customizations: working };
    const answer = await postJson("/api/studio", body);
    studio.session = { session: answer.session, token: answer.token };
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
  } catch (e) {
    setState("error", e instanceof HttpError && e.status === 503 ? "server busy" : "error", "bad");
    $("overlay-title").textContent = "No studio session";
    $("overlay-text").textContent = e.message;
    $("overlay-spinner").hidden = true;
    toast(`could not open the studio: ${e.message}`, "error");
  }
}

function reconnect() {
  const old = pc;
  channel = null;
  pc = null;
  old?.close();
  $("overlay").hidden = false;
  connect();
}

async function loadAvatar() {
  if (AVATAR_ID === "digi") return;
  const a = await request("GET", `/api/avatars/${encodeURIComponent(AVATAR_ID)}`);
  studio.avatar = { id: a.id, name: a.name, rig: a.rig ?? "digi", customizations: a.customizations ?? {}, owned: Boolean(a.mine) };
}

function showAvatar() {
  $("avatar-name").textContent = studio.avatar.name;
  $("save").textContent = studio.avatar.owned ? "Save" : "Save as new";
  $("save").title = studio.avatar.owned ? "save the edits on this avatar" : "save as a new avatar in My avatars (this one is not yours to change)";
  document.title = `Digigami — studio · ${studio.avatar.name}`;
}

async function start() {
  studio.viewport = new Viewport($("avatar"), $("overlay-canvas"));
  try {
    await loadAvatar();
  } catch (e) {
    setState("error", "no such avatar", "bad");
    $("overlay-title").textContent = "Cannot open this avatar";
    $("overlay-text").textContent = e.message;
    $("overlay-spinner").hidden = true;
    return;
  }
  showAvatar();
  working = structuredClone(studio.avatar.customizations);
  if (restore()) toast("your unsaved edits are back (undo history kept)", "ok");
  history.changed();
  await connect();
}

window.addEventListener("pagehide", () => pc?.close());
start();
