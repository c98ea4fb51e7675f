// "Try it on" on a listing's page (/market/{id}): a receive-only live preview of the item
// on the viewer's avatar, through the same WebRTC path as the preview page
// (POST /api/previews with `"try": <listing id>`; webrtc.js). An outfit is worn, an
// animation plays, a background stands behind, an effect is applied: the server renders it
// without the viewer owning it. Whose avatar: `?avatar=` in the page's URL as on the
// preview page, else the viewer's newest saved avatar when signed in, else Digi; the select
// under the stage switches (a new preview each time, the old one closed first).

import {
  completeOffer,
  HttpError,
  localPeerConnection,
  onFirstFrame,
  playTrack,
  postJson,
  videoStats,
} from "/static/webrtc.js";
import { api, el } from "/static/market-common.js";

const $ = (id) => document.getElementById(id);

export const tryOn = {
  pc: null,
  preview: null, // the server's preview id
  state: "idle", // idle | connecting | connected | failed | error
  error: null,
  avatar: null, // the avatar worn (null: Digi)
  stats: videoStats(() => tryOn.pc),
};

function setState(state, text, tone) {
  tryOn.state = state;
  document.body.dataset.tryState = state;
  $("conn").textContent = text;
  $("conn").dataset.tone = tone;
}

function overlay(title, text, spinning) {
  $("overlay-title").textContent = title;
  $("overlay-text").textContent = text;
  $("overlay-spinner").hidden = !spinning;
  $("overlay").hidden = false;
}

function fail(message) {
  tryOn.error = message;
  $("avatar").classList.remove("live"); // not the black frame of a closed track
  overlay("Cannot try it on now", message, false);
}

function stop() {
  if (tryOn.pc) tryOn.pc.close();
  tryOn.pc = null;
  tryOn.preview = null;
}

/** Open (or reopen) the live preview of listing `id` on the chosen avatar. */
export async function start(id) {
  stop();
  tryOn.error = null;
  tryOn.avatar = $("wearer").value || null;
  overlay("Putting it on…", "", true);
  setState("connecting", "connecting", "busy");
  const pc = localPeerConnection();
  tryOn.pc = pc;
  const video = $("avatar");
  video.classList.remove("live");
  const transceiver = pc.addTransceiver("video", { direction: "recvonly" });
  playTrack(video, transceiver.receiver.track);
  onFirstFrame(video, () => {
    if (tryOn.pc !== pc || tryOn.error) return;
    video.classList.add("live");
    $("overlay").hidden = true;
  });
  pc.addEventListener("connectionstatechange", () => {
    if (tryOn.pc !== pc) return;
    const s = pc.connectionState;
    if (s === "connected") setState("connected", "live", "ok");
    else if (s === "failed") {
      setState("failed", "connection lost", "bad");
      fail("the connection to the server was lost: press Restart");
    }
  });
  try {
    const sdp = await completeOffer(pc);
    if (tryOn.pc !== pc) return; // switched avatar meanwhile
    const body = { sdp, type: "offer", try: id };
    if (tryOn.avatar) body.avatar = tryOn.avatar;
    const answer = await postJson("/api/previews", body);
    if (tryOn.pc !== pc) return;
    tryOn.preview = answer.preview ?? null;
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
  } catch (e) {
    if (tryOn.pc !== pc) return;
    stop();
    const busy = e instanceof HttpError && e.status === 503;
    setState("error", busy ? "server busy" : "error", "bad");
    fail(e instanceof HttpError && e.status ? e.message : `the preview failed: ${e.message}`);
  }
}

/** Fill the avatar select: Digi, then the viewer's saved avatars; choose the URL's
 * `?avatar=`, else (signed in) the newest saved one. */
export async function chooseWearer(signedIn) {
  const select = $("wearer");
  const asked = new URLSearchParams(location.search).get("avatar");
  let saved = [];
  try {
    saved = (await api("GET", "/api/avatars?limit=24")).avatars ?? [];
  } catch {
    saved = []; // no saved avatars to offer: Digi it is
  }
  for (const a of saved) select.append(el("option", { value: a.id }, a.name || "my avatar"));
  if (asked) {
    if (![...select.options].some((o) => o.value === asked)) select.append(el("option", { value: asked }, "the avatar in the link"));
    select.value = asked;
  } else if (signedIn && saved.length) {
    select.value = saved[0].id;
  }
}

window.addEventListener("pagehide", stop);
