// The puppet page's Scene card: what is behind the avatar (transparent for OBS to
// composite, a colour, a bundled picture or one you upload), where it stands and how large,
// mirrored or not, and the stream's size. Every change is a `scene` message on the control
// channel (docs/STREAMING.md); the server's status says what the scene is, and the card
// shows that (so a reload, or another tab, shows the scene the stream really has).
// Slider drags are coalesced: at most one message per SEND_MS, with every field changed
// since the last one (the control channel takes 30 messages a second).

const digigami = window.digigami;
const $ = (id) => document.getElementById(id);
const SEND_MS = 80;
const HOLD_MS = 700; // after the user moves a control, the status does not move it back
const SIZE_NAMES = {
  square: "Square 512×512",
  "720p": "720p 1280×720",
  "1080p": "1080p 1920×1080",
  "1080p-portrait": "Portrait 1080×1920",
};

const ui = {
  card: $("scene-card"),
  backgrounds: $("scene-backgrounds"),
  colour: $("scene-colour"),
  upload: $("scene-upload"),
  file: $("scene-file"),
  x: $("scene-x"),
  y: $("scene-y"),
  scale: $("scene-scale"),
  xOut: $("scene-x-out"),
  yOut: $("scene-y-out"),
  scaleOut: $("scene-scale-out"),
  mirror: $("scene-mirror"),
  size: $("scene-size"),
  reset: $("scene-reset"),
  note: $("scene-note"),
  obsInfo: $("obs-info"),
  stage: $("stage"),
};

let scene = null; // the scene as the server last reported it
let pending = {}; // fields changed here and not sent yet
let timer = null;
let touched = 0; // when the user last moved a control (performance.now())
let listed = []; // GET /api/backgrounds: {id, name, kind, url}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  for (const c of children) node.append(c);
  return node;
}

function change(fields) {
  Object.assign(pending, fields);
  touched = performance.now();
  if (scene) {
    scene = { ...scene, ...fields };
    show(scene, true);
  }
  if (timer === null) timer = setTimeout(flush, SEND_MS);
}

function flush() {
  timer = null;
  if (!Object.keys(pending).length) return;
  if (digigami.send({ type: "scene", ...pending })) pending = {};
  else timer = setTimeout(flush, 500); // not connected yet: keep it for when it is
}

// ---- showing the scene -------------------------------------------------------------------

function fmt(v) {
  return (Math.round(v * 100) / 100).toFixed(2);
}

function show(s, own = false) {
  if (!own && performance.now() - touched < HOLD_MS) return; // the user is dragging
  for (const [input, out, value] of [[ui.x, ui.xOut, s.x], [ui.y, ui.yOut, s.y], [ui.scale, ui.scaleOut, s.scale]]) {
    if (document.activeElement !== input || !own) input.value = value;
    out.value = fmt(value);
  }
  ui.mirror.checked = !!s.mirror;
  ui.size.value = s.size;
  if (s.colour) ui.colour.value = s.colour;
  for (const b of ui.backgrounds.querySelectorAll("[data-bg]")) {
    const on = b.dataset.bg === "transparent" ? s.background === "transparent"
      : b.dataset.bg === "colour" ? s.background === "colour"
      : s.background === "image" && s.image === b.dataset.bg;
    b.setAttribute("aria-pressed", on ? "true" : "false");
  }
  const [w, h] = digigami.hello?.sizes?.[s.size] ?? [512, 512];
  ui.stage.style.aspectRatio = `${w} / ${h}`;
  // a portrait stream's preview as tall as the window allows, not 910 px of page
  ui.stage.style.width = w < h ? `min(512px, calc(78vh * ${w / h}))` : "";
  const fps = digigami.lastStatus?.output_fps ?? 60;
  const what = s.background === "transparent" ? "transparent"
    : s.background === "colour" ? `colour ${s.colour ?? ""}`
    : (listed.find((b) => b.id === s.image)?.name ?? "picture");
  if (ui.obsInfo) ui.obsInfo.textContent = `${w}×${h} · ${Math.round(fps)} fps · ${what}`;
}

// ---- the backgrounds -----------------------------------------------------------------------

function swatch(bg, label, child) {
  const b = el("button", { className: "scene-bg", type: "button", title: label, ariaLabel: `background: ${label}` }, child);
  b.dataset.bg = bg;
  b.setAttribute("aria-pressed", "false");
  b.addEventListener("click", () => {
    if (bg === "transparent") change({ background: "transparent" });
    else if (bg === "colour") change({ background: "colour", colour: ui.colour.value });
    else change({ background: "image", image: bg });
  });
  return b;
}

function drawList() {
  const keep = [...ui.backgrounds.querySelectorAll("[data-bg='transparent'], [data-bg='colour']")];
  ui.backgrounds.replaceChildren(...keep);
  for (const b of listed) {
    const img = el("img", { src: b.url, alt: "", loading: "lazy", decoding: "async" });
    const button = swatch(b.id, b.name, img);
    if (b.kind === "upload") {
      const del = el("span", { className: "scene-del", role: "button", title: `delete ${b.name}`, textContent: "×" });
      del.addEventListener("click", (e) => {
        e.stopPropagation();
        remove(b);
      });
      button.append(del);
    }
    ui.backgrounds.append(button);
  }
  if (scene) show(scene, true);
}

async function loadList() {
  try {
    const r = await fetch("/api/backgrounds", { credentials: "same-origin" });
    if (!r.ok) throw new Error(`${r.status}`);
    listed = (await r.json()).backgrounds;
    drawList();
  } catch (e) {
    note(`The backgrounds could not be listed (${e.message}); try reloading the page.`, true);
  }
}

function note(text, bad = false) {
  ui.note.textContent = text;
  ui.note.hidden = !text;
  ui.note.dataset.tone = bad ? "bad" : "";
}

async function upload(file) {
  if (!file) return;
  note(`Uploading ${file.name}…`);
  try {
    const name = file.name.replace(/\.[a-z0-9]+$/i, "").slice(0, 60) || "My background";
    const r = await fetch(`/api/backgrounds?name=${encodeURIComponent(name)}`, {
      method: "POST",
      body: file,
      headers: { "Content-Type": file.type || "application/octet-stream" },
      credentials: "same-origin",
    });
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(body.error ?? `the server answered ${r.status}`);
    note("");
    listed.push(body);
    drawList();
    change({ background: "image", image: body.id });
  } catch (e) {
    note(`Not uploaded: ${e.message}`, true);
  } finally {
    ui.file.value = "";
  }
}

async function remove(b) {
  if (!confirm(`Delete the background "${b.name}"?`)) return;
  const r = await fetch(b.url, { method: "DELETE", credentials: "same-origin" });
  if (!r.ok && r.status !== 404) {
    note(`Not deleted: the server answered ${r.status}`, true);
    return;
  }
  listed = listed.filter((x) => x.id !== b.id);
  if (scene?.background === "image" && scene.image === b.id) change({ background: "transparent" });
  drawList();
}

// ---- wiring ---------------------------------------------------------------------------------

function init() {
  if (!ui.card) return;
  const chip = el("span", { className: "scene-chip scene-clear" });
  ui.backgrounds.append(swatch("transparent", "Transparent (OBS shows what is behind)", chip));
  const dot = el("span", { className: "scene-chip scene-dot" });
  ui.backgrounds.append(swatch("colour", "The colour on the right", dot));
  ui.colour.addEventListener("input", () => change({ background: "colour", colour: ui.colour.value }));
  for (const [input, key] of [[ui.x, "x"], [ui.y, "y"], [ui.scale, "scale"]]) {
    input.addEventListener("input", () => change({ [key]: Number(input.value) }));
  }
  ui.mirror.addEventListener("change", () => change({ mirror: ui.mirror.checked }));
  ui.size.addEventListener("change", () => change({ size: ui.size.value }));
  ui.reset.addEventListener("click", () => change({ x: 0, y: 0, scale: 1, mirror: false }));
  ui.upload.addEventListener("click", () => ui.file.click());
  ui.file.addEventListener("change", () => upload(ui.file.files?.[0]));
  digigami.on("hello", onHello);
  if (digigami.hello) onHello(digigami.hello); // it came before this module ran
  digigami.on("status", (s) => {
    if (!s.scene) return;
    scene = s.scene;
    show(scene);
  });
  loadList();
}

function onHello(h) {
  ui.size.replaceChildren(
    ...Object.entries(h.sizes ?? {}).map(([key, [w, hgt]]) =>
      el("option", { value: key, textContent: SIZE_NAMES[key] ?? `${key} ${w}×${hgt}` }),
    ),
  );
  for (const input of ui.card.querySelectorAll("input, select, button")) input.disabled = false;
  if (!h.scene) return;
  scene = h.scene;
  show(scene, true);
}

init();
