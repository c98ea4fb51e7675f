// The puppet page's expressions: the avatar's saved expressions (made in the Creator
// Studio, kept in its customizations) toggled with their hotkeys or a chip each. The
// server blends one over tracking with its fade (engine/params/expressions.py), so the face
// keeps tracking under it. The hello lists them ({name, hotkey, fade}); each status says
// which are on (`expressions`: their names). Sends {"type": "expression", "name"}.
//
// Talks to the session through `window.digigami` (puppet.js): `send`, `on`, `channel`.

const digigami = window.digigami;

let expressions = []; // hello.expressions
let active = new Set(); // status.expressions
let card = null; // the chip list, made on the first hello that has expressions

// A KeyboardEvent as the hotkey format the server checks: "Ctrl+Shift+KeyE", "Digit1",
// "F5" (modifiers in this order; the key by its physical code, so layouts agree).
export function hotkeyOf(e) {
  return (e.ctrlKey ? "Ctrl+" : "") + (e.shiftKey ? "Shift+" : "") + (e.altKey ? "Alt+" : "") + e.code;
}

function typing(target) {
  return Boolean(target?.closest?.("input, select, textarea, [contenteditable='true']"));
}

function toggle(name) {
  if (!digigami.channel || digigami.channel.readyState !== "open") return;
  digigami.send({ type: "expression", name });
}

function render() {
  if (!expressions.length) {
    if (card) card.hidden = true;
    return;
  }
  if (!card) {
    card = document.createElement("div");
    card.className = "card";
    card.id = "expressions-card";
    const title = document.createElement("h2");
    title.textContent = "Expressions";
    const hint = document.createElement("span");
    hint.className = "hint";
    hint.textContent = "blend over tracking";
    title.append(" ", hint);
    const list = document.createElement("div");
    list.className = "grid-3";
    list.id = "expressions";
    list.setAttribute("role", "group");
    list.setAttribute("aria-label", "expressions");
    card.append(title, list);
    const panel = document.querySelector("aside.panel");
    (panel ?? document.body).prepend(card);
  }
  card.hidden = false;
  const list = card.querySelector("#expressions");
  list.replaceChildren(
    ...expressions.map((x) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "btn small";
      b.dataset.expression = x.name;
      b.textContent = x.name;
      if (x.hotkey) {
        const k = document.createElement("kbd");
        k.textContent = x.hotkey.replace(/Key|Digit/g, "");
        b.append(" ", k);
      }
      b.addEventListener("click", () => toggle(x.name));
      return b;
    }),
  );
  mark();
}

function mark() {
  for (const b of card?.querySelectorAll("button[data-expression]") ?? []) {
    const on = active.has(b.dataset.expression);
    b.classList.toggle("active", on);
    b.setAttribute("aria-pressed", String(on));
  }
}

digigami.on("hello", (h) => {
  expressions = Array.isArray(h.expressions) ? h.expressions : [];
  render();
});

digigami.on("status", (s) => {
  if (!Array.isArray(s.expressions)) return;
  const next = new Set(s.expressions);
  if (next.size === active.size && [...next].every((n) => active.has(n))) return;
  active = next;
  mark();
});

// In the capture phase, before the page's other hotkeys: a key the streamer gave an
// expression is theirs (a saved "Digit1" wins over the first dance).
window.addEventListener(
  "keydown",
  (e) => {
    if (e.repeat || e.metaKey || typing(e.target) || !expressions.length) return;
    const key = hotkeyOf(e);
    const x = expressions.find((x) => x.hotkey === key);
    if (!x) return;
    e.preventDefault();
    e.stopPropagation();
    toggle(x.name);
  },
  true,
);

digigami.expressions = {
  toggle,
  hotkeyOf,
  get list() {
    return expressions;
  },
  get active() {
    return [...active];
  },
};
