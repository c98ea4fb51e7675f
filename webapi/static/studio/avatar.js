// The Avatar panel: colour (hue, saturation, brightness, contrast) of the whole avatar or
// one part, sprite swaps with thumbnails, the sprite library (base, winter...), and the worn
// accessory's offset on its bone. Every change goes into the working customizations
// (studio.setCustomizations: an undo entry, the session told); while a slider moves the
// session gets live messages only, and the undo entry is made when it is let go.

import { studio } from "/static/studio/main.js";
import { NEUTRAL } from "/static/studio/apply.js";
import { el, sliderRow, throttle } from "/static/studio/ui.js";

const COLOR_FIELDS = [
  { key: "hue", label: "Hue", min: -180, max: 180, step: 1 },
  { key: "saturation", label: "Saturation", min: 0, max: 2, step: 0.01 },
  { key: "brightness", label: "Brightness", min: 0, max: 2, step: 0.01 },
  { key: "contrast", label: "Contrast", min: 0, max: 2, step: 0.01 },
];
export const OFFSET_FIELDS = [
  { key: "x", label: "Offset x", min: -200, max: 200, step: 1, neutral: 0 },
  { key: "y", label: "Offset y", min: -200, max: 200, step: 1, neutral: 0 },
  { key: "rotation", label: "Rotation", min: -180, max: 180, step: 1, neutral: 0 },
  { key: "scale", label: "Scale", min: 0.25, max: 4, step: 0.01, neutral: 1 },
];
// The accessory labels' bones on Digi, where the hello does not list them
// (`accessory_bones`: label -> bones): the bones the accessory's own slots hang on.
const ACCESSORY_BONES = { hat: ["hat"], glasses: ["glasses"], scarf: ["scarf_1", "scarf_2", "scarf_3"] };
const LIBRARIES = ["base", "winter"];

const root = el("div");
const partSelect = el("select", { id: "color-part", "aria-label": "colour of which part" });
const colorRows = {};
const swaps = el("div");
const librarySelect = el("select", { id: "library", "aria-label": "sprite library" });
const boneSelect = el("select", { id: "accessory-bone", "aria-label": "accessory bone" });
const offsetRows = {};
const offsetNote = el("p", { className: "note", textContent: "Wear an accessory (hat, glasses, scarf) to place it." });

const error = (message) => studio.toast(message, "error");

// ---- colours ---------------------------------------------------------------------------

function partValues(c, part) {
  return { ...NEUTRAL, ...(c.colors?.[part] ?? {}) };
}

/** `colors[part]` with the neutral values dropped (the server stores it that way). */
function withColor(c, part, values) {
  const kept = Object.fromEntries(Object.entries(values).filter(([k, v]) => NEUTRAL[k] !== v));
  const colors = { ...(c.colors ?? {}) };
  if (Object.keys(kept).length) colors[part] = kept;
  else delete colors[part];
  const out = { ...c, colors };
  if (!Object.keys(colors).length) delete out.colors;
  return out;
}

const liveColor = throttle((part, values) => studio.send({ type: "color", part, ...values }), 50);

for (const f of COLOR_FIELDS) {
  colorRows[f.key] = sliderRow({
    ...f,
    name: `color.${f.key}`,
    value: NEUTRAL[f.key],
    onError: error,
    onInput: (v) => liveColor(partSelect.value, { ...partValues(studio.customizations(), partSelect.value), [f.key]: v }),
    onCommit: (v) => {
      const c = studio.customizations();
      const part = partSelect.value;
      studio.setCustomizations(withColor(c, part, { ...partValues(c, part), [f.key]: v }), `${f.key} of ${part}`);
    },
  });
}
partSelect.addEventListener("change", showColors);

function showColors() {
  const values = partValues(studio.customizations(), partSelect.value);
  for (const f of COLOR_FIELDS) colorRows[f.key].set(values[f.key]);
}

// ---- sprites, library --------------------------------------------------------------------

function wearing(c, category) {
  return c.sprites?.[category] ?? studio.hello?.defaults?.[category] ?? studio.hello?.current?.[category] ?? null;
}

let swapsKey = null; // what the thumbnails were made for: rebuilt only when it changes

function showSwaps() {
  const h = studio.hello;
  const c = studio.customizations();
  const library = c.library ?? "base";
  const key = `${library}|${JSON.stringify(h?.labels ?? {})}`;
  if (key === swapsKey) {
    // the same buttons (focus stays where it is): only which one is worn changes
    for (const b of swaps.querySelectorAll(".thumb-btn")) {
      b.setAttribute("aria-pressed", String(wearing(c, b.dataset.category) === b.dataset.label));
    }
    return;
  }
  swapsKey = key;
  swaps.replaceChildren();
  for (const [category, labels] of Object.entries(h?.labels ?? {})) {
    const grid = el("div", { className: "thumbs", role: "group", "aria-label": category });
    for (const label of labels) {
      const q = new URLSearchParams({ rig: studio.avatar.rig, library, category, label });
      const b = el(
        "button",
        { type: "button", className: "thumb-btn", title: `${category}: ${label}`, dataset: { category, label } },
        el("img", { src: `/api/studio/thumbnail?${q}`, alt: "", loading: "lazy" }),
        el("span", { textContent: label }),
      );
      b.setAttribute("aria-pressed", String(wearing(c, category) === label));
      b.addEventListener("click", () => {
        const now = studio.customizations();
        studio.setCustomizations({ ...now, sprites: { ...(now.sprites ?? {}), [category]: label } }, `${category}: ${label}`);
      });
      grid.append(b);
    }
    swaps.append(el("h3", { textContent: category }), grid);
  }
}

librarySelect.addEventListener("change", () => {
  const c = studio.customizations();
  const library = librarySelect.value;
  const next = { ...c, library };
  if (library === "base") delete next.library;
  studio.setCustomizations(next, `library ${library}`);
});

function showLibrary() {
  const names = studio.hello?.libraries ?? LIBRARIES;
  const now = studio.customizations().library ?? "base";
  librarySelect.replaceChildren(...names.map((n) => new Option(n, n)));
  if (names.includes(now)) librarySelect.value = now;
}

// ---- accessory offsets -------------------------------------------------------------------

function accessoryBones(c) {
  const label = wearing(c, "accessories");
  const known = studio.hello?.accessory_bones ?? ACCESSORY_BONES;
  return known[label] ?? [];
}

function offsetValues(c, bone) {
  const neutral = Object.fromEntries(OFFSET_FIELDS.map((f) => [f.key, f.neutral]));
  return { ...neutral, ...(c.accessories?.[bone] ?? {}) };
}

function withOffset(c, bone, values) {
  const accessories = { ...(c.accessories ?? {}) };
  const neutral = OFFSET_FIELDS.every((f) => values[f.key] === f.neutral);
  if (neutral) delete accessories[bone];
  else accessories[bone] = values;
  const out = { ...c, accessories };
  if (!Object.keys(accessories).length) delete out.accessories;
  return out;
}

const liveOffsets = throttle((offsets) => studio.send({ type: "offsets", offsets }), 50);

for (const f of OFFSET_FIELDS) {
  offsetRows[f.key] = sliderRow({
    ...f,
    name: `accessories.${f.key}`,
    value: f.neutral,
    onError: error,
    onInput: (v) => {
      const c = studio.customizations();
      const bone = boneSelect.value;
      if (bone) liveOffsets(withOffset(c, bone, { ...offsetValues(c, bone), [f.key]: v }).accessories ?? {});
    },
    onCommit: (v) => {
      const c = studio.customizations();
      const bone = boneSelect.value;
      if (!bone) return;
      studio.setCustomizations(withOffset(c, bone, { ...offsetValues(c, bone), [f.key]: v }), `${f.key} of ${bone}`);
    },
  });
}
boneSelect.addEventListener("change", showOffsets);

function showOffsets() {
  const c = studio.customizations();
  const bones = accessoryBones(c);
  const keep = boneSelect.value;
  boneSelect.replaceChildren(...bones.map((b) => new Option(b, b)));
  if (bones.includes(keep)) boneSelect.value = keep;
  offsetNote.hidden = bones.length > 0;
  boneSelect.disabled = bones.length === 0;
  const values = offsetValues(c, boneSelect.value);
  for (const f of OFFSET_FIELDS) {
    offsetRows[f.key].disabled = bones.length === 0;
    offsetRows[f.key].set(values[f.key]);
  }
}

// ---- the panel ---------------------------------------------------------------------------

function showAll() {
  const h = studio.hello;
  if (!h) return;
  const parts = [...new Set(["avatar", ...(h.color_parts ?? [])])];
  const keep = partSelect.value;
  partSelect.replaceChildren(...parts.map((p) => new Option(p === "avatar" ? "whole avatar" : p, p)));
  if (parts.includes(keep)) partSelect.value = keep;
  showColors();
  showSwaps();
  showLibrary();
  showOffsets();
}

root.append(
  el("h3", { textContent: "Colour" }),
  el("label", { className: "field" }, "Part", partSelect),
  ...COLOR_FIELDS.map((f) => colorRows[f.key].row),
  el("h3", { textContent: "Sprite library" }),
  librarySelect,
  swaps,
  el("h3", { textContent: "Accessory placement" }),
  offsetNote,
  el("label", { className: "field" }, "Bone", boneSelect),
  ...OFFSET_FIELDS.map((f) => offsetRows[f.key].row),
);

studio.on("hello", showAll);
studio.on("customizations", showAll);
studio.registerPanel({ id: "avatar", title: "Avatar", element: root, onShow: showAll });
