// The Expression panel: a slider for every parameter the rig exposes (hello.parameters),
// held over the avatar while they are moved (`params`; "Release" lets go); "Save as
// expression" keeps the moved ones as a named expression with a hotkey and a fade in the
// working customizations (`expressions`), which the puppet page then toggles with that key.

import { studio } from "/static/studio/main.js";
import { checkNumber, el, sliderRow, throttle } from "/static/studio/ui.js";

const MAX_EXPRESSIONS = 32;
export const HOTKEY = /^(Ctrl\+)?(Shift\+)?(Alt\+)?(Digit[1-9]|Key[A-Z]|F(?:[1-9]|1[0-2]))$/;
// the studio's own keys: an expression may not take them
const RESERVED = new Set(["Ctrl+KeyZ", "Ctrl+Shift+KeyZ", "Ctrl+KeyY"]);

const root = el("div");
const sliders = el("div", { className: "stack" });
const rows = new Map(); // parameter id -> sliderRow
let held = {}; // parameter id -> value the sliders hold now
const active = new Set(); // names toggled on (the session's own list when its status says)

const nameInput = el("input", { type: "text", id: "expr-name", maxLength: 40, placeholder: "smile", autocomplete: "off" });
const hotkeyInput = el("input", { type: "text", id: "expr-hotkey", className: "hotkey-field", placeholder: "press a key", readOnly: true, "aria-describedby": "expr-hotkey-help" });
const fadeInput = el("input", { type: "number", id: "expr-fade", min: 0, max: 5, step: 0.05, value: 0.25 });
const formError = el("p", { className: "field-error", id: "expr-error", role: "alert" });
const saveButton = el("button", { type: "button", className: "btn primary", id: "expr-save", textContent: "Save as expression" });
const releaseButton = el("button", { type: "button", className: "btn ghost small", id: "expr-release", textContent: "Release sliders" });
const list = el("ul", { className: "studio-list", id: "expr-list", "aria-label": "saved expressions" });

const sendHeld = throttle(() => studio.send({ type: "params", values: { ...held } }), 50);

// ---- sliders -----------------------------------------------------------------------------

function showSliders() {
  const params = studio.hello?.parameters ?? [];
  rows.clear();
  sliders.replaceChildren(
    ...params.map((p) => {
      const step = p.max - p.min > 10 ? 1 : 0.01;
      const row = sliderRow({
        label: p.id.replace(/^Param/, ""),
        name: p.id,
        min: p.min,
        max: p.max,
        step,
        value: held[p.id] ?? p.default,
        onInput: (v) => {
          held[p.id] = v;
          sendHeld();
        },
        onCommit: (v) => {
          held[p.id] = v;
          sendHeld();
        },
        onError: (m) => studio.toast(m, "error"),
      });
      row.range.title = p.id;
      rows.set(p.id, row);
      return row.row;
    }),
  );
}

function release() {
  held = {};
  studio.send({ type: "params", values: {} });
  for (const p of studio.hello?.parameters ?? []) rows.get(p.id)?.set(p.default);
}
releaseButton.addEventListener("click", release);

// ---- the hotkey field: press the key combination -------------------------------------------

/** "Ctrl+Shift+KeyE" for a keydown (the engine's canonical order), or null. */
export function hotkeyOf(e) {
  const mods = `${e.ctrlKey || e.metaKey ? "Ctrl+" : ""}${e.shiftKey ? "Shift+" : ""}${e.altKey ? "Alt+" : ""}`;
  const key = mods + e.code;
  return HOTKEY.test(key) ? key : null;
}

hotkeyInput.addEventListener("keydown", (e) => {
  if (e.key === "Tab") return; // keep the keyboard able to leave the field
  e.preventDefault();
  if (e.key === "Backspace" || e.key === "Delete" || e.key === "Escape") {
    hotkeyInput.value = "";
    return;
  }
  if (["Control", "Shift", "Alt", "Meta"].includes(e.key)) return;
  const key = hotkeyOf(e);
  if (!key) {
    formError.textContent = `"${e.code}" cannot be a hotkey: use 1-9, A-Z or F1-F12, with Ctrl, Shift or Alt`;
    return;
  }
  if (RESERVED.has(key)) {
    formError.textContent = `${key} is the studio's undo/redo: choose another key`;
    return;
  }
  formError.textContent = "";
  hotkeyInput.value = key;
});

// ---- saving and the list -------------------------------------------------------------------

function expressions() {
  return studio.customizations().expressions ?? [];
}

/** The expression the form describes, or an Error naming what is wrong (nothing is sent). */
function formExpression() {
  const name = nameInput.value.trim();
  if (!name || name.length > 40 || /[\u0000-\u001f\u007f]/.test(name)) {
    return new Error("name: 1 to 40 characters, no control characters");
  }
  const fade = checkNumber("fade", fadeInput.value, 0, 5);
  if (fade instanceof Error) return fade;
  const values = {};
  for (const p of studio.hello?.parameters ?? []) {
    if (!(p.id in held)) continue;
    const v = checkNumber(p.id, held[p.id], p.min, p.max);
    if (v instanceof Error) return v;
    values[p.id] = v;
  }
  if (!Object.keys(values).length) return new Error("move at least one slider: an expression is the values you set");
  const hotkey = hotkeyInput.value || null;
  if (hotkey && !HOTKEY.test(hotkey)) return new Error(`hotkey "${hotkey}" is not a key this page can bind`);
  const others = expressions().filter((x) => x.name !== name);
  const clash = hotkey && others.find((x) => x.hotkey === hotkey);
  if (clash) return new Error(`hotkey ${hotkey} is already "${clash.name}"'s`);
  if (others.length >= MAX_EXPRESSIONS) return new Error(`at most ${MAX_EXPRESSIONS} expressions: delete one first`);
  const out = { name, values, fade };
  if (hotkey) out.hotkey = hotkey;
  return out;
}

saveButton.addEventListener("click", () => {
  const x = formExpression();
  if (x instanceof Error) {
    formError.textContent = x.message;
    studio.toast(x.message, "error");
    return;
  }
  formError.textContent = "";
  const list = expressions();
  const i = list.findIndex((e) => e.name === x.name);
  const next = i >= 0 ? list.map((e, j) => (j === i ? x : e)) : [...list, x];
  studio.setCustomizations({ ...studio.customizations(), expressions: next }, `expression "${x.name}"`);
  studio.toast(`expression "${x.name}" saved in the working copy: Save keeps it on the avatar`, "ok");
});

function toggle(name) {
  const on = !active.has(name);
  if (studio.send({ type: "expression", name, on })) {
    if (on) active.add(name);
    else active.delete(name);
    showList();
  }
}

function remove(name) {
  const next = expressions().filter((e) => e.name !== name);
  const c = studio.customizations();
  if (next.length) c.expressions = next;
  else delete c.expressions;
  active.delete(name);
  studio.setCustomizations(c, `delete expression "${name}"`);
}

function showList() {
  const items = expressions().map((x) => {
    const li = el("li", { dataset: { name: x.name, on: String(active.has(x.name)) } });
    const t = el("button", { type: "button", className: "btn small", textContent: active.has(x.name) ? "On" : "Off" });
    t.setAttribute("aria-pressed", String(active.has(x.name)));
    t.setAttribute("aria-label", `toggle ${x.name}`);
    t.addEventListener("click", () => toggle(x.name));
    const edit = el("button", { type: "button", className: "btn small ghost", textContent: "Edit" });
    edit.setAttribute("aria-label", `edit ${x.name}`);
    edit.addEventListener("click", () => load(x));
    const del = el("button", { type: "button", className: "btn small ghost", textContent: "Delete" });
    del.setAttribute("aria-label", `delete ${x.name}`);
    del.addEventListener("click", () => remove(x.name));
    li.append(el("span", { className: "name", textContent: x.name }), x.hotkey ? el("kbd", { textContent: x.hotkey }) : null, t, edit, del);
    return li;
  });
  list.replaceChildren(...items);
  if (!items.length) list.append(el("li", { textContent: "No expressions yet." }));
}

/** Put an expression back on the sliders and in the form, to change and save again. */
function load(x) {
  held = { ...x.values };
  for (const [id, v] of Object.entries(held)) rows.get(id)?.set(v);
  nameInput.value = x.name;
  hotkeyInput.value = x.hotkey ?? "";
  fadeInput.value = String(x.fade ?? 0.25);
  studio.send({ type: "params", values: { ...held } });
}

// an expression's hotkey toggles it here too (not while typing in a field)
document.addEventListener("keydown", (e) => {
  const t = document.activeElement;
  if (t === hotkeyInput || (t?.tagName === "INPUT" && t.type !== "range") || t?.tagName === "TEXTAREA") return;
  const key = hotkeyOf(e);
  const x = key && expressions().find((x) => x.hotkey === key);
  if (!x) return;
  e.preventDefault();
  toggle(x.name);
});

studio.on("status", (s) => {
  const now = s.expressions; // the names toggled on
  if (!Array.isArray(now)) return;
  const changed = now.length !== active.size || now.some((n) => !active.has(n));
  if (!changed) return;
  active.clear();
  for (const n of now) active.add(n);
  showList();
});

root.append(
  el("p", { className: "note", textContent: "Move the sliders to shape a face; they hold until released. Save the moved ones as an expression." }),
  el("div", { className: "row" }, releaseButton),
  sliders,
  el("h3", { textContent: "Save as expression" }),
  el(
    "div",
    { className: "form-grid" },
    el("label", { htmlFor: "expr-name" }, "Name", nameInput),
    el("label", { htmlFor: "expr-hotkey" }, "Hotkey", hotkeyInput),
    el("label", { htmlFor: "expr-fade" }, "Fade (s)", fadeInput),
  ),
  el("p", { className: "note", id: "expr-hotkey-help", textContent: "Focus the hotkey field and press the key (Backspace clears it)." }),
  formError,
  saveButton,
  el("h3", { textContent: "Expressions" }),
  list,
);

studio.on("hello", () => {
  showSliders();
  showList();
  // a new session (a library change reconnects) gets the held sliders back
  if (Object.keys(held).length) sendHeld();
});
studio.on("customizations", showList);
studio.registerPanel({ id: "expression", title: "Expression", element: root, onShow: showList });
