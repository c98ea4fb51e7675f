// The receive-only preview: Digi playing one animation with a chosen look, no camera.
// Reads animation/outfit/accessory/body (and optional size/fps) from the query string and
// POSTs a recvonly offer to /api/previews; every bad value the server names is listed on
// the page. The form offers the avatar's own choices (GET /api/previews/options).

import {
  completeOffer,
  HttpError,
  localPeerConnection,
  onFirstFrame,
  playTrack,
  postJson,
  videoStats,
} from "/static/webrtc.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const FIELDS = ["animation", "outfit", "accessory", "body"];
const NUMBERS = ["size", "fps"];

const preview = {
  pc: null,
  preview: null, // the server's preview id
  state: "starting", // starting | connecting | connected | failed | error
  error: null,
  stats: videoStats(() => preview.pc),
};
window.digigamiPreview = preview;

function setState(state, text, tone) {
  preview.state = state;
  document.body.dataset.state = state;
  $("conn").textContent = text;
  $("conn").dataset.tone = tone;
}

function showError(text) {
  // The server names every bad value, separated by "; ", each with the names it knows;
  // the form's lists show those, so each problem is listed once, short, under the form.
  const problems = text
    .split("; ")
    .filter(Boolean)
    .map((p) => p.replace(/\s*\(known: [^)]*\)/, ""));
  const summary =
    problems.length > 1
      ? `This preview cannot play: ${problems.length} of its values are not available (listed under the form).`
      : problems[0] ?? text;
  preview.error = summary;
  $("problems").replaceChildren(
    ...problems.map((p) => {
      const li = document.createElement("li");
      li.textContent = p;
      return li;
    }),
  );
  $("problems").hidden = problems.length < 2;
  const el = document.createElement("div");
  el.className = "banner error";
  el.setAttribute("role", "alert");
  el.innerHTML = '<span class="icon">!</span><span class="text"></span>';
  el.querySelector(".text").textContent = summary;
  $("banners").replaceChildren(el);
  $("overlay-title").textContent = "No preview";
  $("overlay-text").textContent = problems.length > 1 ? "Choose from the lists below." : summary;
  $("overlay-spinner").hidden = true;
  $("overlay").hidden = false;
  $("avatar").classList.remove("live"); // not the black frame of a closed track
}

/** The request body: the fields given in the query string (the server has the defaults). */
function request() {
  const body = {};
  for (const f of FIELDS) {
    const v = params.get(f);
    if (v) body[f] = v;
  }
  for (const f of NUMBERS) {
    const v = params.get(f);
    if (v !== null && v !== "") body[f] = Number.isFinite(Number(v)) ? Number(v) : v;
  }
  if (params.get("avatar")) body.avatar = params.get("avatar"); // wearing a generated face
  return body;
}

function showChips(body) {
  const chips = FIELDS.filter((f) => body[f]).map((f) => {
    const c = document.createElement("span");
    c.className = "chip";
    c.append(`${f} `);
    const b = document.createElement("b");
    b.textContent = body[f];
    c.append(b);
    return c;
  });
  $("chips").replaceChildren(...chips);
  choices.then((c) => fillForm(c, body));
}

// ---- the form: the avatar's own choices -------------------------------------------------

const choices = fetch("/api/previews/options")
  .then((r) => (r.ok ? r.json() : null))
  .catch(() => null);

function option(value, label = value) {
  return new Option(label, value);
}

/** Choices for each select; a value from the URL that is not among them (a custom
 * animation's id, a typo) stays selected as it is, so the form shows what was asked. */
function fillForm(c, body) {
  const form = $("form");
  if (!c) {
    $("problems").replaceChildren(Object.assign(document.createElement("li"), { textContent: "could not load the choices: reload the page" }));
    $("problems").hidden = false;
    return;
  }
  const anim = form.elements.animation;
  anim.replaceChildren(
    ...c.animations.map((a) => {
      if (a.variants.length < 2) return option(a.state);
      const group = document.createElement("optgroup");
      group.label = a.state;
      group.append(option(a.state, `${a.state} (any)`), ...a.variants.map((v) => option(v)));
      return group;
    }),
  );
  for (const f of ["outfit", "accessory", "body"]) {
    const choice = c[f] ?? { labels: [] };
    form.elements[f].replaceChildren(...choice.labels.map((l) => option(l, l === choice.default && l !== "default" ? `${l} (default)` : l)));
  }
  form.elements.size.replaceChildren(...c.sizes.map((n) => option(String(n), `${n} × ${n}`)));
  form.elements.fps.replaceChildren(...c.fps.map((n) => option(String(n), `${n} fps`)));
  const wanted = {
    animation: body.animation ?? c.defaults.animation,
    outfit: body.outfit ?? c.outfit?.default,
    accessory: body.accessory ?? c.accessory?.default,
    body: body.body ?? c.body?.default,
    size: String(body.size ?? c.defaults.size),
    fps: String(body.fps ?? c.defaults.fps),
  };
  for (const [f, v] of Object.entries(wanted)) {
    const select = form.elements[f];
    if (v == null || v === "") continue;
    if (![...select.options].some((o) => o.value === v)) select.prepend(option(v, `${v} (asked for)`));
    select.value = v;
  }
  for (const el of form.elements) el.disabled = false;
}

async function start() {
  const body = request();
  showChips(body);
  setState("connecting", "connecting", "busy");
  const pc = localPeerConnection();
  preview.pc = pc;
  const transceiver = pc.addTransceiver("video", { direction: "recvonly" });
  playTrack($("avatar"), transceiver.receiver.track);
  onFirstFrame($("avatar"), () => {
    if (preview.error) return;
    $("avatar").classList.add("live");
    $("overlay").hidden = true;
  });
  pc.addEventListener("connectionstatechange", () => {
    const s = pc.connectionState;
    if (s === "connected") setState("connected", "playing", "ok");
    else if (s === "failed") {
      setState("failed", "connection lost", "bad");
      showError("the connection to the server was lost: reload the page to try again");
    }
  });
  try {
    const sdp = await completeOffer(pc);
    const answer = await postJson("/api/previews", { sdp, type: "offer", ...body });
    preview.preview = answer.preview ?? null;
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
  } catch (e) {
    pc.close();
    setState("error", e instanceof HttpError && e.status === 503 ? "server busy" : "error", "bad");
    showError(e instanceof HttpError && e.status ? `${e.message}` : `preview failed: ${e.message}`);
  }
}


$("form").addEventListener("submit", (e) => {
  // a new preview is a new page: the URL stays shareable and the old stream ends cleanly
  e.preventDefault();
  const q = new URLSearchParams();
  for (const f of [...FIELDS, ...NUMBERS]) {
    const v = e.target.elements[f].value;
    if (v) q.set(f, v);
  }
  if (params.get("avatar")) q.set("avatar", params.get("avatar"));
  location.search = q.toString();
});

window.addEventListener("pagehide", () => preview.pc?.close());

start();
