// The create page's character panel: what was measured in the photo (as chips), the
// character assembled from it (a still drawn by the engine, in a render style), and an
// editor for its hairstyle, colours, face and eye shapes, brows, facial hair, glasses and
// hat. Edits are PUT to /avatars/<id>/character (the owner's alone) and the still is drawn
// again. docs/GENERATION.md, "Characters".

const $ = (id) => document.getElementById(id);

// a chip's editor: clicking the chip of a feature goes to the control that changes it
const EDITS = {
  hair_length: "char-hairstyle", hair_texture: "char-hairstyle", fringe: "char-hairstyle",
  scalp: "char-hairstyle", hair_colour: "char-hair", skin: "char-skin", iris_class: "char-iris",
  face_shape: "char-face_shape", glasses: "char-glasses", facial_hair: "char-facial_hair",
  eye_shape: "char-eye_shape", hat: "char-hat",
};
// the editor's colour inputs and choices, by the character's field names
const COLOURS = ["skin", "hair", "iris", "brows", "facial_hair_colour", "glasses_colour", "hat_colour"];
const FLAGS = ["glasses", "hat"];
const CHOICES = ["face_shape", "eye_shape", "brow_thickness", "facial_hair"];

// a feature's words on a chip, in the order a person reads themselves
const FEATURES = [
  ["hair_length", "hair"], ["hair_texture", null], ["fringe", "fringe"], ["scalp", null],
  ["hair_colour", null], ["skin", "skin"], ["iris_class", "eyes"], ["eye_shape", "eye shape"],
  ["face_shape", "face"],
  ["glasses", "glasses"], ["facial_hair", "facial hair"], ["hat", "hat"],
];
const UNSURE = 0.5; // chips of features measured with less confidence are dimmed

let avatar = null;
let busy = false;

function chip(name, label, value, confidence) {
  const c = document.createElement(EDITS[name] ? "button" : "span");
  c.className = "chip" + (confidence < UNSURE ? " unsure" : "") + (EDITS[name] ? " editable" : "");
  c.title = `measured with ${Math.round(confidence * 100)}% confidence` + (EDITS[name] ? "; click to change it" : "");
  if (EDITS[name]) {
    c.type = "button";
    c.onclick = () => {
      const control = $(EDITS[name]);
      control.focus();
      if (control.showPicker && control.type === "color") control.showPicker();
    };
  }
  if (label) c.append(`${label} `);
  const b = document.createElement("b");
  b.textContent = value;
  c.append(b);
  return c;
}

function words(value) {
  if (value === true) return "yes";
  if (value === false) return "no";
  if (value && typeof value === "object" && value.hex) return value.hex;
  return String(value).replace(/_/g, " ");
}

function showFeatures(features) {
  const box = $("char-features");
  box.replaceChildren();
  const all = features?.features ?? {};
  for (const [name, label] of FEATURES) {
    const f = all[name];
    if (!f || f.value === null || f.value === undefined) continue;
    if (name === "scalp" && f.value === "hair") continue;
    if (name === "facial_hair" && f.value === "none") continue;
    if ((name === "glasses" || name === "hat") && f.value === false) continue;
    box.append(chip(name, label, words(f.value), f.confidence ?? 1));
  }
}

function fillEditor(answer) {
  const c = answer.character;
  const select = $("char-hairstyle");
  if (!select.options.length) {
    for (const [name, k] of Object.entries(answer.hairstyles)) {
      const o = document.createElement("option");
      o.value = name;
      const bald = k.bald !== "none" ? k.bald : `${k.length}, ${k.texture}`;
      o.textContent = `${name.replace(/_/g, " ")} (${bald})`;
      select.append(o);
    }
  }
  select.value = c.hairstyle;
  // absent colours show what is drawn: facial hair in the hair's colour, frames near black
  const shown = { facial_hair_colour: c.hair, glasses_colour: "#5b2430", hat_colour: "#2f97a0" };
  for (const key of COLOURS) $(`char-${key}`).value = c[key] ?? shown[key] ?? "#000000";
  const defaults = {
    face_shape: "oval", eye_shape: "round", brow_thickness: "medium", facial_hair: "none",
  };
  for (const key of CHOICES) $(`char-${key}`).value = c[key] ?? defaults[key];
  for (const key of FLAGS) $(`char-${key}`).checked = Boolean(c[key]);
  $("char-facial_hair_colour").disabled = (c.facial_hair ?? "none") === "none";
  $("char-glasses_colour").disabled = !c.glasses;
  $("char-hat_colour").disabled = !c.hat;
}

function drawStill() {
  // a new query string each time: an edited character is a new picture
  const style = $("char-style").value;
  $("char-still").src = `/avatars/${encodeURIComponent(avatar)}/character.png?framing=full&style=${style}&v=${Date.now()}`;
}

async function edit(change) {
  if (!avatar || busy) return;
  busy = true;
  $("char-note").textContent = "Redrawing your character…";
  try {
    const r = await fetch(`/avatars/${encodeURIComponent(avatar)}/character`, {
      method: "PUT",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(change),
    });
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(body.error || `the server answered ${r.status}`);
    fillEditor(body);
    drawStill();
    $("char-note").textContent = "Saved. Sessions you start from now on wear it.";
  } catch (e) {
    $("char-note").textContent = `Could not change it: ${e.message}`;
  } finally {
    busy = false;
  }
}

$("char-hairstyle").onchange = (e) => edit({ hairstyle: e.target.value });
for (const key of COLOURS) {
  $(`char-${key}`).onchange = (e) => edit({ [key]: e.target.value.toLowerCase() });
}
for (const key of CHOICES) $(`char-${key}`).onchange = (e) => edit({ [key]: e.target.value });
// the style is how it is drawn, not part of the character: the still and the live session
$("char-style").onchange = () => {
  drawStill();
  puppetLinks();
};

function puppetLinks() {
  const style = $("char-style").value;
  const tail = style === "none" ? "" : `&style=${style}`;
  $("char-puppet").href = `/?avatar=${encodeURIComponent(avatar)}${tail}`;
  $("photo-puppet").href = `/?avatar=${encodeURIComponent(avatar)}&wears=photo${tail}`;
}
for (const key of FLAGS) $(`char-${key}`).onchange = (e) => edit({ [key]: e.target.checked });
$("char-still").onerror = () => { $("char-note").textContent = "The character could not be drawn."; };

/** Show the character of generated avatar `id` (the panel stays hidden without one). */
export async function showCharacter(id) {
  avatar = id;
  const panel = $("character");
  const r = await fetch(`/avatars/${encodeURIComponent(id)}/character`);
  if (!r.ok) {
    panel.hidden = true; // made without a character: the portrait is worn as a photo face
    return false;
  }
  const answer = await r.json();
  showFeatures(answer.features);
  fillEditor(answer);
  drawStill();
  $("char-note").textContent = "";
  puppetLinks();
  panel.hidden = false;
  return true;
}
