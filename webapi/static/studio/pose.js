// The Pose panel: IK handles (hands, feet, head) drawn on the viewport where the status
// says they are; dragging one sends the studio pose with that target (the engine solves
// IK, its limits apply); dragging anywhere near a bone rotates that bone. The same with
// keys: a handle or bone select and number fields. Named poses are kept in the working
// customizations (`poses`); a pose exports as a PNG or becomes timeline keys.

import { studio } from "/static/studio/main.js";
import { checkNumber, el, throttle } from "/static/studio/ui.js";

const TARGET_LIMIT = 5000; // engine units, as the engine's PoseEdits allow
const MAX_POSES = 32;
const HANDLE_PX = 14; // how near (stream pixels) a press must be to take a handle
const BONE_PX = 12;

let edits = { bones: {}, targets: {} }; // the studio pose as the page last sent it
let dragging = null; // {kind: "handle"|"bone", name, ...}

const root = el("div");
const handleSelect = el("select", { id: "pose-handle", "aria-label": "IK handle" });
const handleX = el("input", { type: "number", id: "pose-x", step: 1, "aria-label": "handle x (engine units)" });
const handleY = el("input", { type: "number", id: "pose-y", step: 1, "aria-label": "handle y (engine units, up)" });
const moveButton = el("button", { type: "button", className: "btn small", id: "pose-move", textContent: "Move handle" });
const boneSelect = el("select", { id: "pose-bone", "aria-label": "bone to rotate" });
const boneAngle = el("input", { type: "number", id: "pose-angle", step: 1, min: -360, max: 360, "aria-label": "rotation offset, degrees" });
const rotateButton = el("button", { type: "button", className: "btn small", id: "pose-rotate", textContent: "Rotate bone" });
const resetButton = el("button", { type: "button", className: "btn ghost small", id: "pose-reset", textContent: "Reset pose" });
const nameInput = el("input", { type: "text", id: "pose-name", maxLength: 40, placeholder: "pose name", "aria-label": "pose name" });
const saveButton = el("button", { type: "button", className: "btn small", id: "pose-save", textContent: "Save pose" });
const list = el("ul", { className: "studio-list", id: "pose-list", "aria-label": "saved poses" });
const exportButton = el("button", { type: "button", className: "btn small", id: "pose-export", textContent: "Export PNG" });
const keyButton = el("button", { type: "button", className: "btn small", id: "pose-key", textContent: "Use as keyframe" });
const download = el("a", { className: "btn small ghost", id: "pose-download", hidden: true, textContent: "Download PNG" });
const error = (m) => studio.toast(m, "error");

// ---- sending -------------------------------------------------------------------------

function clean(e) {
  const out = {};
  if (Object.keys(e.bones ?? {}).length) out.bones = { ...e.bones };
  if (Object.keys(e.targets ?? {}).length) out.targets = { ...e.targets };
  return out;
}

const sendLive = throttle(() => studio.send({ type: "pose", edits: clean(edits) }), 50); // 20 a second

/** Make `next` the studio pose, with an undo entry (`label`) unless `record` is false. */
function setEdits(next, label, record = true) {
  const before = structuredClone(edits);
  edits = { bones: { ...(next.bones ?? {}) }, targets: { ...(next.targets ?? {}) } };
  studio.send({ type: "pose", edits: clean(edits) });
  if (!record) return;
  const after = structuredClone(edits);
  studio.history.push({ label, undo: () => setEdits(before, label, false), redo: () => setEdits(after, label, false) });
}

// ---- the viewport: handles and bones ---------------------------------------------------

const round = (v) => Math.round(v * 100) / 100;

function pixelOf(x, y) {
  return studio.viewport.toPixel(x, y);
}

function boneTip([x, y, angle, length]) {
  const a = (angle * Math.PI) / 180;
  return [x + Math.cos(a) * length, y + Math.sin(a) * length];
}

function distanceToSegment(p, a, b) {
  const [dx, dy] = [b[0] - a[0], b[1] - a[1]];
  const len2 = dx * dx + dy * dy;
  const t = len2 ? Math.max(0, Math.min(1, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2)) : 0;
  return Math.hypot(p[0] - a[0] - t * dx, p[1] - a[1] - t * dy);
}

function rotatable(name) {
  return name !== "root" && !name.startsWith("ik_");
}

/** The bone nearest to a point (stream pixels), within BONE_PX. */
function boneAt(px, py) {
  let best = null;
  for (const [name, b] of Object.entries(studio.status?.studio?.bones ?? {})) {
    if (!rotatable(name) || !(b[3] > 0)) continue;
    const a = pixelOf(b[0], b[1]);
    const t = pixelOf(...boneTip(b));
    const d = distanceToSegment([px, py], a, t);
    if (d <= BONE_PX && (!best || d < best.d)) best = { name, d };
  }
  return best?.name ?? null;
}

function angleFrom(origin, x, y) {
  return (Math.atan2(y - origin[1], x - origin[0]) * 180) / Math.PI;
}

function wrap(deg) {
  return round(((((deg + 180) % 360) + 360) % 360) - 180);
}

function onDrag(phase, at) {
  if (document.body.dataset.panel !== "pose") return false;
  if (phase === "start") {
    if (at.x === undefined) return false;
    for (const [name, [x, y]] of Object.entries(studio.status?.studio?.handles ?? {})) {
      const p = pixelOf(x, y);
      if (Math.hypot(p[0] - at.px, p[1] - at.py) <= HANDLE_PX) {
        dragging = { kind: "handle", name, before: structuredClone(edits) };
        handleSelect.value = name;
        return true;
      }
    }
    const bone = boneAt(at.px, at.py);
    if (!bone) return false;
    const b = studio.status.studio.bones[bone];
    const base = edits.bones[bone] ?? studio.status.studio.pose_offsets?.[bone] ?? 0;
    dragging = { kind: "bone", name: bone, origin: [b[0], b[1]], start: angleFrom(b, at.x, at.y), base, before: structuredClone(edits) };
    boneSelect.value = bone;
    return true;
  }
  if (at.x === undefined) return true;
  if (dragging.kind === "handle") {
    edits.targets[dragging.name] = [round(at.x), round(at.y)];
    dragging.at = [at.px, at.py];
    showHandle();
  } else {
    edits.bones[dragging.name] = wrap(dragging.base + angleFrom(dragging.origin, at.x, at.y) - dragging.start);
    boneAngle.value = String(edits.bones[dragging.name]);
  }
  sendLive();
  if (phase === "end") {
    const { before, name, kind } = dragging;
    dragging = null;
    const after = structuredClone(edits);
    const label = kind === "handle" ? `move ${name}` : `rotate ${name}`;
    studio.send({ type: "pose", edits: clean(edits) });
    studio.history.push({ label, undo: () => setEdits(before, label, false), redo: () => setEdits(after, label, false) });
  }
  return true;
}

function draw(ctx) {
  if (document.body.dataset.panel !== "pose") return;
  const s = studio.status?.studio;
  if (!s) return;
  ctx.lineWidth = 1.5;
  ctx.strokeStyle = "#4aa8ffa0";
  for (const [name, b] of Object.entries(s.bones ?? {})) {
    if (!rotatable(name) || !(b[3] > 0)) continue;
    const a = pixelOf(b[0], b[1]);
    const t = pixelOf(...boneTip(b));
    ctx.beginPath();
    ctx.moveTo(a[0], a[1]);
    ctx.lineTo(t[0], t[1]);
    ctx.stroke();
  }
  for (const [name, [x, y]] of Object.entries(s.handles ?? {})) {
    const p = dragging?.kind === "handle" && dragging.name === name && dragging.at ? dragging.at : pixelOf(x, y);
    ctx.beginPath();
    ctx.arc(p[0], p[1], 8, 0, Math.PI * 2);
    ctx.fillStyle = name === handleSelect.value ? "#f28a3bd0" : "#ffb06e80";
    ctx.fill();
    ctx.strokeStyle = "#0e1016";
    ctx.stroke();
  }
}

// ---- the same with keys -------------------------------------------------------------------

function showHandle() {
  const name = handleSelect.value;
  const at = edits.targets[name] ?? studio.status?.studio?.handles?.[name];
  if (!at || [handleX, handleY].includes(document.activeElement)) return;
  handleX.value = String(round(at[0]));
  handleY.value = String(round(at[1]));
}

moveButton.addEventListener("click", () => {
  const x = checkNumber("x", handleX.value, -TARGET_LIMIT, TARGET_LIMIT);
  const y = checkNumber("y", handleY.value, -TARGET_LIMIT, TARGET_LIMIT);
  const bad = [x, y].find((v) => v instanceof Error);
  if (bad) return error(`${handleSelect.value}: ${bad.message}`);
  setEdits({ ...edits, targets: { ...edits.targets, [handleSelect.value]: [x, y] } }, `move ${handleSelect.value}`);
});

rotateButton.addEventListener("click", () => {
  const v = checkNumber(`rotation of ${boneSelect.value}`, boneAngle.value, -360, 360);
  if (v instanceof Error) return error(v.message);
  setEdits({ ...edits, bones: { ...edits.bones, [boneSelect.value]: v } }, `rotate ${boneSelect.value}`);
});

handleSelect.addEventListener("change", showHandle);
boneSelect.addEventListener("change", () => {
  boneAngle.value = String(edits.bones[boneSelect.value] ?? studio.status?.studio?.pose_offsets?.[boneSelect.value] ?? 0);
});
resetButton.addEventListener("click", () => setEdits({}, "reset pose"));

// ---- named poses, export, keyframe -------------------------------------------------------

function poses() {
  return studio.customizations().poses ?? [];
}

saveButton.addEventListener("click", () => {
  const name = nameInput.value.trim();
  if (!name || name.length > 40 || /[\u0000-\u001f\u007f]/.test(name)) return error("pose name: 1 to 40 characters, no control characters");
  const others = poses().filter((p) => p.name !== name);
  if (others.length >= MAX_POSES) return error(`at most ${MAX_POSES} poses: delete one first`);
  const c = studio.customizations();
  c.poses = [...others, { name, edits: clean(edits) }];
  studio.setCustomizations(c, `pose "${name}"`);
});

function showList() {
  const items = poses().map((p) => {
    const apply = el("button", { type: "button", className: "btn small", textContent: "Apply", "aria-label": `apply ${p.name}` });
    apply.addEventListener("click", () => setEdits(p.edits ?? {}, `apply pose "${p.name}"`));
    const del = el("button", { type: "button", className: "btn small ghost", textContent: "Delete", "aria-label": `delete ${p.name}` });
    del.addEventListener("click", () => {
      const c = studio.customizations();
      c.poses = poses().filter((x) => x.name !== p.name);
      if (!c.poses.length) delete c.poses;
      studio.setCustomizations(c, `delete pose "${p.name}"`);
    });
    return el("li", { dataset: { name: p.name } }, el("span", { className: "name", textContent: p.name }), apply, del);
  });
  list.replaceChildren(...items);
  if (!items.length) list.append(el("li", { textContent: "No saved poses yet." }));
}

async function exportPng() {
  exportButton.disabled = true;
  download.hidden = true;
  try {
    const body = { formats: ["png"], pose: { state: "idle", time: 0, edits: clean(edits) } };
    const res = await fetch(`/api/avatars/${encodeURIComponent(studio.avatar.id)}/export`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    let job = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(job.error ?? `${res.status} ${res.statusText}`);
    for (let i = 0; i < 240 && !["done", "failed"].includes(job.state); i += 1) {
      await new Promise((r) => setTimeout(r, 500));
      const poll = await fetch(`/api/exports/${encodeURIComponent(job.job)}`);
      job = await poll.json();
      if (!poll.ok) throw new Error(job.error ?? `${poll.status}`);
    }
    if (job.state !== "done") throw new Error(job.error ?? "the export did not finish");
    download.href = job.download ?? `/api/exports/${encodeURIComponent(job.job)}/download`;
    download.hidden = false;
    studio.toast("the pose's PNG is ready", "ok");
  } catch (e) {
    error(`export failed: ${e.message}`);
  } finally {
    exportButton.disabled = false;
  }
}
exportButton.addEventListener("click", exportPng);

keyButton.addEventListener("click", () => {
  const bones = studio.status?.studio?.pose_offsets;
  if (!bones) return error("no pose from the session yet");
  window.dispatchEvent(new CustomEvent("studio:pose-key", { detail: { bones: { ...bones } } }));
  studio.toast(`${Object.keys(bones).length} bone keys sent to the timeline`, "ok");
});

// ---- wiring ----------------------------------------------------------------------------

function showSelects() {
  const h = studio.hello;
  if (!h) return;
  handleSelect.replaceChildren(...(h.handles ?? []).map((n) => new Option(n, n)));
  if ((h.handles ?? []).includes("hand_r")) handleSelect.value = "hand_r";
  const bones = (h.bones ?? []).map((b) => b.name).filter(rotatable);
  boneSelect.replaceChildren(...bones.map((n) => new Option(n, n)));
  // a new session starts without the studio pose: it gets the one this page holds
  if (Object.keys(clean(edits)).length) studio.send({ type: "pose", edits: clean(edits) });
}

root.append(
  el("p", { className: "note", textContent: "Drag a round handle (hands, feet, head) or a bone on the viewport. Or use the fields." }),
  el("h3", { textContent: "IK handle" }),
  el("div", { className: "form-grid" }, handleSelect, handleX, handleY),
  el("div", { className: "row" }, moveButton, resetButton),
  el("h3", { textContent: "Bone rotation" }),
  el("div", { className: "form-grid" }, boneSelect, boneAngle, rotateButton),
  el("h3", { textContent: "Poses" }),
  el("div", { className: "row" }, nameInput, saveButton),
  list,
  el("div", { className: "row wrap" }, exportButton, download, keyButton),
);

studio.viewport.onDrag(onDrag);
studio.viewport.onDraw(draw);
studio.on("hello", showSelects);
studio.on("status", showHandle);
studio.on("customizations", showList);
studio.registerPanel({ id: "pose", title: "Pose", element: root, onShow: () => { showList(); showHandle(); } });
window.digigamiStudioPose = { get edits() { return clean(edits); } };
