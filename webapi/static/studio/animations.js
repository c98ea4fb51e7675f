// The Animation preview panel: every animation this avatar can play (hello.animations:
// the rig's built-in ones, the creator's custom ones, those owned from the market), played
// in the viewport with a speed and a loop flag ({"type": "animation"}, "studio_speed",
// "studio_play"). A session loads the creator's own animations when it opens: one saved in
// the Animation creator is listed (and playable) after the studio reloads.

import { studio } from "/static/studio/main.js";

const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
};

const GROUPS = [
  ["builtin", "Built in"],
  ["custom", "Yours"],
  ["owned", "From the market"],
];
let chosen = null; // the id playing (or last played)

/** {id, name} of an entry given as a name ("wave") or an object. */
const entry = (a) => (typeof a === "string" ? { id: a, name: a } : { id: a.id ?? a.name, name: a.name ?? a.id });

const list = el("div", { className: "an-lists" });
const speed = el("input", { type: "range", min: 0.1, max: 3, step: 0.1, value: 1, id: "an-speed" });
const speedOut = el("output", { htmlFor: "an-speed", textContent: "1.0×" });
const loop = el("input", { type: "checkbox", checked: true, id: "an-loop" });
const pause = el("button", { type: "button", className: "btn small", textContent: "Pause", id: "an-pause" });
const now = el("p", { className: "an-now", textContent: "Choose an animation to play it on this avatar." });
now.setAttribute("aria-live", "polite");

speed.addEventListener("input", () => {
  speedOut.textContent = `${Number(speed.value).toFixed(1)}×`;
});
speed.addEventListener("change", () => studio.send({ type: "studio_speed", value: Number(speed.value) }));
pause.addEventListener("click", () => {
  const resume = pause.getAttribute("aria-pressed") === "true";
  studio.send({ type: "studio_play", playing: resume });
  setPaused(!resume);
});

function setPaused(on) {
  pause.setAttribute("aria-pressed", String(on));
  pause.textContent = on ? "Resume" : "Pause";
}

function play(a) {
  chosen = a.id;
  studio.send({ type: "timeline_off" }); // the creator's draft gives the viewport back
  studio.send({ type: "studio_speed", value: Number(speed.value) });
  studio.send({ type: "animation", name: a.id, loop: loop.checked });
  studio.send({ type: "studio_play", playing: true });
  setPaused(false);
  now.textContent = `Playing ${a.name}${loop.checked ? " (looping)" : " once"}.`;
  render();
}

function labelled(node, label) {
  node.setAttribute("aria-label", label);
  return node;
}

function render() {
  const anims = studio.hello?.animations ?? {};
  const groups = GROUPS.map(([key, title]) => {
    const items = (anims[key] ?? []).map(entry);
    return [key, title, items];
  }).filter(([, , items]) => items.length);
  if (!groups.length) {
    list.replaceChildren(el("p", { textContent: studio.hello ? "No animations for this avatar." : "Connecting…" }));
    return;
  }
  list.replaceChildren(...groups.flatMap(([key, title, items]) => [
    el("h3", { className: "an-group", textContent: title }),
    labelled(el("ul", { className: "an-list" }, ...items.map((a) => {
      const b = el("button", { type: "button", className: "btn small an-play", textContent: a.name });
      b.dataset.id = a.id;
      b.dataset.group = key;
      b.setAttribute("aria-pressed", String(a.id === chosen));
      b.addEventListener("click", () => play(a));
      return el("li", {}, b);
    })), title),
  ]));
}

const element = el("section", {},
  el("div", { className: "tl-row" },
    el("label", { className: "tl-field" }, el("span", { textContent: "Speed" }), speed), speedOut,
    el("label", { className: "tl-field" }, el("span", { textContent: "Loop" }), loop), pause),
  now, list);

studio.registerPanel({ id: "animations", title: "Preview", element, onShow: render });
studio.on("hello", render);
