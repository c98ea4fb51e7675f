// One session, many tabs (issue 15; docs/STREAMING.md, "One session, many tabs").
//
// A browser keeps its avatar's session id and token so that a reload, or a tab opened
// later, resumes the same session and the OBS URL pasted into OBS keeps working. When that
// session is live in another tab, the server answers 409 `live_elsewhere`, and this module
// asks: move it here (the offer is sent again with `"move": true`; the other tab is told
// it moved and stays idle), or start a separate avatar (a new session of its own, kept for
// this tab only). A reload of the tab the avatar is live in never asks: it takes it back.
//
// Where ids are kept:
//   localStorage   `digigami.session`: the browser's avatar (what a new tab resumes);
//   sessionStorage `digigami.session`: this tab's own, with `live` (the avatar was live
//                  here when the page went: its reload moves it back without a question)
//                  and `separate` (a separate avatar: never written to localStorage).

const KEY = "digigami.session";

function read(storage) {
  try {
    const v = JSON.parse(storage.getItem(KEY) ?? "null");
    return v && typeof v.session === "string" && typeof v.token === "string" ? v : null;
  } catch {
    return null;
  }
}

function write(storage, value) {
  try {
    if (value) storage.setItem(KEY, JSON.stringify(value));
    else storage.removeItem(KEY);
  } catch { /* storage full or disabled: the page still works, without resuming */ }
}

/** The session this tab should resume: its own (a reload), else the browser's. */
export function savedIdent() {
  return read(sessionStorage) ?? read(localStorage);
}

/** Whether this tab had the avatar live when it went away (a reload): take it back. */
export function ownsLiveSession() {
  const mine = read(sessionStorage);
  return Boolean(mine?.live);
}

/** Remember the session an answer gave: this tab's, and the browser's unless separate. */
export function keepIdent(answer, { separate = false } = {}) {
  const ident = { session: answer.session, token: answer.token };
  write(sessionStorage, { ...ident, live: true, ...(separate ? { separate: true } : {}) });
  if (!separate) write(localStorage, ident);
}

/** Forget an id the server no longer knows (403): the next offer starts a new one. */
export function forgetIdent(ident) {
  if (!ident) return;
  for (const storage of [sessionStorage, localStorage]) {
    if (read(storage)?.session === ident.session) write(storage, null);
  }
}

/** This tab's avatar moved to another tab: a reload here must ask, not take it back. */
export function markMoved() {
  const mine = read(sessionStorage);
  if (mine) write(sessionStorage, { ...mine, live: false });
}

/** Whether this tab runs a separate avatar (its reloads keep it separate). */
export function isSeparate() {
  return Boolean(read(sessionStorage)?.separate);
}

// ---- the question ------------------------------------------------------------------------

let styled = false;

function style() {
  if (styled) return;
  styled = true;
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = "/static/tabs.css";
  document.head.append(link);
}

/**
 * Ask whether to move the avatar live in another tab here. Resolves "move" or
 * "separate"; Escape (or closing the dialog) counts as neither: "cancel".
 */
export function askToMove() {
  style();
  return new Promise((resolve) => {
    const dialog = document.createElement("dialog");
    dialog.className = "tabs-dialog";
    dialog.id = "tabs-dialog";
    dialog.setAttribute("aria-labelledby", "tabs-dialog-title");
    const title = document.createElement("h2");
    title.id = "tabs-dialog-title";
    title.textContent = "This avatar is live in another tab: move it here?";
    const text = document.createElement("p");
    text.textContent =
      "Moving it here ends nothing: your OBS source keeps showing the avatar, and the " +
      "other tab goes idle. Or start a separate avatar in this tab, with its own OBS URL.";
    const buttons = document.createElement("div");
    buttons.className = "tabs-buttons";
    const move = document.createElement("button");
    move.className = "btn primary";
    move.id = "tabs-move";
    move.textContent = "Move here";
    const separate = document.createElement("button");
    separate.className = "btn";
    separate.id = "tabs-separate";
    separate.textContent = "Start a separate avatar";
    buttons.append(move, separate);
    dialog.append(title, text, buttons);
    document.body.append(dialog);
    let answer = "cancel";
    move.addEventListener("click", () => {
      answer = "move";
      dialog.close();
    });
    separate.addEventListener("click", () => {
      answer = "separate";
      dialog.close();
    });
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(answer);
    });
    dialog.showModal();
    move.focus();
  });
}
