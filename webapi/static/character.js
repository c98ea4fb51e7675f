// The create page's character panel: what was measured in the photo (as chips), the
// character assembled from it (a still drawn by the engine), and an editor for its
// hairstyle, colours and glasses. Edits are PUT to /avatars/<id>/character (the owner's
// alone) and the still is drawn again. docs/GENERATION.md, "Characters".

const $ = (id) => document.getElementById(id);

// a feature's words on a chip, in the order a person reads themselves
const FEATURES = [
  ["hair_length", "hair"], ["hair_texture", null], ["fringe", "fringe"], ["scalp", null],
  ["hair_colour", null], ["skin", "skin"], ["iris_class", "eyes"], ["face_shape", "face"],
  ["glasses", "glasses"], ["facial_hair", "facial hair"], ["hat", "hat"],
];
const UNSURE = 0.5; // chips of features measured with less confidence are dimmed

let avatar = null;
let busy = false;

function chip(label, value, confidence) {
  const c = document.createElement("span");
  c.className = "chip" + (confidence < UNSURE ? " unsure" : "");
  c.title = `measured with ${Math.round(confidence * 100)}% confidence`;
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
    box.append(chip(label, words(f.value), f.confidence ?? 1));
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
  for (const key of ["skin", "hair", "iris", "brows"]) $(`char-${key}`).value = c[key] ?? "#000000";
  $("char-glasses").checked = c.glasses;
}

function drawStill() {
  // a new query string each time: an edited character is a new picture
  $("char-still").src = `/avatars/${encodeURIComponent(avatar)}/character.png?framing=full&v=${Date.now()}`;
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
for (const key of ["skin", "hair", "iris", "brows"]) {
  $(`char-${key}`).onchange = (e) => edit({ [key]: e.target.value.toLowerCase() });
}
$("char-glasses").onchange = (e) => edit({ glasses: e.target.checked });
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
  $("char-puppet").href = `/?avatar=${encodeURIComponent(id)}`;
  $("photo-puppet").href = `/?avatar=${encodeURIComponent(id)}&wears=photo`;
  panel.hidden = false;
  return true;
}
