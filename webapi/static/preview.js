// The receive-only preview: Digi playing one animation with a chosen look, no camera.
// Reads animation/outfit/accessory/body (and optional size/fps) from the query string and
// POSTs a recvonly offer to /api/previews; the server's 400 message is shown on the page.

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
  preview.error = text;
  const el = document.createElement("div");
  el.className = "banner error";
  el.setAttribute("role", "alert");
  el.innerHTML = '<span class="icon">!</span><span class="text"></span>';
  el.querySelector(".text").textContent = text;
  $("banners").replaceChildren(el);
  $("overlay-title").textContent = "No preview";
  $("overlay-text").textContent = text;
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
  for (const f of ["size", "fps"]) {
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
  const form = $("form");
  for (const f of FIELDS) form.elements[f].value = body[f] ?? "";
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
  for (const f of FIELDS) {
    const v = e.target.elements[f].value.trim();
    if (v) q.set(f, v);
  }
  for (const f of ["size", "fps", "avatar"]) if (params.get(f)) q.set(f, params.get(f));
  location.search = q.toString();
});

window.addEventListener("pagehide", () => preview.pc?.close());

start();
