// The puppet page: the VTuber's face is tracked (in this browser by default, tracking.js, or
// on the server from the webcam's video), Digi comes back as video.
//
// One RTCPeerConnection per session: a recvonly video transceiver for the avatar, the
// `control` data channel (JSON messages, see docs/STREAMING.md), and either the `landmarks`
// channel (browser tracking: no video goes up) or the webcam's video (server tracking). The
// offer is POSTed to /api/sessions once ICE gathering is complete (the server does not
// trickle).

import {
  completeOffer,
  HttpError,
  inboundVideo,
  localPeerConnection,
  onFirstFrame,
  playTrack,
  selectedPair,
  videoStats,
} from "/static/webrtc.js";
import { toast } from "/static/toast.js";
import { TrackingPath } from "/static/tracking.js";
import * as tabs from "/static/tabs.js";
import { VoicePath } from "/static/lipsync.js";

const $ = (id) => document.getElementById(id);

const ui = {
  conn: $("conn"),
  trackingPill: $("tracking-pill"),
  banners: $("banners"),
  avatar: $("avatar"),
  selfview: $("selfview"),
  selfviewOn: $("selfview-on"),
  overlay: $("overlay"),
  overlayTitle: $("overlay-title"),
  overlayText: $("overlay-text"),
  overlaySpinner: $("overlay-spinner"),
  hudState: $("hud-state"),
  obsUrl: $("obs-url"),
  obsCopy: $("obs-copy"),
  obsOpen: $("obs-open"),
  swaps: [$("outfit"), $("accessory"), $("body")],
  colorPart: $("color-part"),
  effect: $("effect"), // effects owned from the market (hello.market.effects)
  effectField: $("effect-field"),
  colors: { hue: $("color-hue"), saturation: $("color-saturation"), brightness: $("color-brightness") },
  customEmotes: $("custom-emotes"),
  saveAvatar: $("save-avatar"),
  saveNote: $("save-note"),
  calibrate: $("calibrate"),
  framing: $("framing"),
  look: $("look"),
  trackingState: $("tracking-state"),
  presence: $("presence"),
  st: {
    fps: $("st-fps"),
    serverFps: $("st-server-fps"),
    rtt: $("st-rtt"),
    jitter: $("st-jitter"),
    cameraFps: $("st-camera-fps"),
    landmarker: $("st-landmarker"),
    size: $("st-size"),
    bitrate: $("st-bitrate"),
  },
};

let avatarTransceiver = null;
let avatarReceiver = null; // the receiver the avatar really arrives on (see start())

// What tests (and anyone curious, from the console) can reach.
const digigami = {
  pc: null,
  channel: null,
  session: null, // {session, token, obs_url, whep_url}; the URLs absolute
  lastStatus: null,
  hello: null,
  // starting | connecting | connected | disconnected | reconnecting | failed | busy | error | moved
  state: "starting",
  reconnects: 0, // connections lost and got back by themselves (tests read it)
  camera: null, // the webcam MediaStream
  tracking: null, // the TrackingPath: .active "browser" | "server", .tracker (FaceMesh here)
  stats: videoStats(() => avatarReceiver),
  send,
  // The page's parts in their own modules (controls, scene, voice, plugins...) listen for
  // the server's messages by type: `digigami.on("status", (msg) => ...)`.
  on(type, handler) {
    if (!listeners.has(type)) listeners.set(type, []);
    listeners.get(type).push(handler);
  },
};
const listeners = new Map(); // message type -> handlers (digigami.on)
window.digigami = digigami;
digigami.tracking = new TrackingPath(
  {
    pill: $("path-pill"),
    select: $("tracking-path"),
    privacy: $("privacy"),
    rateLabel: $("st-camera-fps-label"),
    msLabel: $("st-landmarker-label"),
  },
  { banner: (key, text, kind) => showBanner(key, text, kind), clearBanner: (key) => clearBanner(key), restart: () => restart() },
);
// mic lip-sync (lipsync.js): analysed here, only the mouth's numbers go up
digigami.voice = new VoicePath(
  { toggle: $("mic-toggle"), meter: $("mic-meter"), label: $("mic-label"), source: $("mouth-source") },
  { toast },
);
digigami.on("status", (s) => digigami.voice.status(s.voice));

function setState(state) {
  digigami.state = state;
  document.body.dataset.state = state;
}

// ---- small UI pieces ---------------------------------------------------------------

function setPill(el, text, tone) {
  el.textContent = text;
  el.dataset.tone = tone ?? "";
}

const bannerEls = new Map();

/** A banner that stays until cleared (errors must be seen). `key` replaces an older one. */
function showBanner(key, text, kind = "error", action = null) {
  let el = bannerEls.get(key);
  if (!el) {
    el = document.createElement("div");
    el.className = "banner";
    el.setAttribute("role", kind === "error" ? "alert" : "status");
    el.innerHTML = '<span class="icon"></span><span class="text"></span>';
    ui.banners.append(el);
    bannerEls.set(key, el);
  }
  el.className = `banner ${kind}`;
  el.dataset.key = key;
  el.querySelector(".icon").textContent = kind === "info" ? "i" : "!";
  el.querySelector(".text").textContent = text;
  el.querySelector("button")?.remove();
  if (action) {
    const b = document.createElement("button");
    b.className = "btn small";
    b.textContent = action.label;
    b.addEventListener("click", action.run);
    el.append(b);
  }
}

function clearBanner(key) {
  bannerEls.get(key)?.remove();
  bannerEls.delete(key);
}

function overlay(title, text, spinning = true) {
  ui.overlayTitle.textContent = title;
  ui.overlayText.textContent = text;
  ui.overlaySpinner.hidden = !spinning;
  ui.overlay.hidden = false;
}

// ---- the camera --------------------------------------------------------------------

const CAMERA = { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30 } };

async function openCamera() {
  if (!navigator.mediaDevices?.getUserMedia) {
    // Browsers only offer the camera to secure pages: https, or http://localhost.
    throw new Error(
      "this page is not a secure context, so the browser offers no camera: open it as " +
        "http://localhost:<port>/ on this machine, or over HTTPS",
    );
  }
  try {
    return await navigator.mediaDevices.getUserMedia({ video: CAMERA, audio: false });
  } catch (e) {
    const why = {
      NotAllowedError: "camera access was blocked: allow the camera for this site, then retry",
      NotFoundError: "no camera found: plug one in, then retry",
      NotReadableError: "the camera is busy (another application is using it), or failed to start",
    }[e.name];
    if (e.name === "OverconstrainedError") {
      return navigator.mediaDevices.getUserMedia({ video: true, audio: false });
    }
    throw new Error(why ?? `${e.name}: ${e.message}`);
  }
}

// ---- the session -------------------------------------------------------------------

let firstFrameSeen = false;

async function start() {
  stopReconnecting();
  setState("starting");
  setPill(ui.conn, "starting", "busy");
  firstFrameSeen = false;
  ui.avatar.classList.remove("live"); // no black box where no frame has come yet
  ui.hudState.hidden = true;
  // a new session starts at the avatar's defaults: forget the last one's choices
  digigami.hello = null;
  digigami.lastStatus = null;
  for (const select of ui.swaps) select.replaceChildren();
  setControlsEnabled(false);

  let camera = digigami.camera;
  if (digigami.tracking.wanted === "none") {
    // camera-less: let the webcam go (its light goes off), the avatar idles on its own
    camera?.getTracks().forEach((t) => t.stop());
    camera = digigami.camera = null;
    ui.selfview.srcObject = null;
    ui.selfview.hidden = true; // no black box where no camera is
  } else if (!camera || camera.getVideoTracks().every((t) => t.readyState === "ended")) {
    overlay("Starting the camera…", "Allow camera access when your browser asks.");
    try {
      camera = await openCamera();
    } catch (e) {
      fail("error", `camera: ${e.message}`, "camera");
      // no camera, or not allowed: the avatar can still go live, idling and talking
      showBanner("camera", `camera: ${e.message}. Or go on without a camera: the avatar idles and talks with your voice.`, "error", {
        label: "Go on without a camera",
        run: () => digigami.tracking.choose("none"),
      });
      return;
    }
    digigami.camera = camera;
    ui.selfview.hidden = false;
    playTrack(ui.selfview, camera.getVideoTracks()[0]);
  }
  clearBanner("camera");

  if (digigami.tracking.wanted === "browser") overlay("Starting face tracking…", "Loading FaceMesh in this browser.");
  await digigami.tracking.prepare(ui.selfview); // FaceMesh here, or the server path
  await connect();
}

/**
 * A peer connection and its offer. `reconnecting`: the connection was lost (see "Losing the
 * connection" below); the same session is offered again, its id and token with `"move":
 * true` (a peer of it the server still holds is taken over), and a failure that may pass (the
 * server unreachable, busy, restarting) schedules the next try instead of failing.
 */
async function connect(reconnecting = false) {
  if (!reconnecting) {
    setState("connecting");
    setPill(ui.conn, "connecting", "busy");
    overlay("Connecting…", "Opening a live session with the server.");
  }
  firstFrameSeen = false;
  const camera = digigami.camera;
  const pc = localPeerConnection();
  digigami.pc = pc;
  digigami.tracking.addSections(pc, camera); // the webcam's video, or the landmarks channel
  digigami.voice.attach(pc, digigami.tracking.active === "none"); // mic lip-sync (camera-less: on)
  avatarTransceiver = pc.addTransceiver("video", { direction: "recvonly" });
  avatarReceiver = avatarTransceiver.receiver;
  // The receiver's track exists before negotiation; frames flow into it once connected.
  playTrack(ui.avatar, avatarReceiver.track);
  pc.addEventListener("track", (e) => {
    if (e.track.kind !== "video" || digigami.pc !== pc) return;
    avatarReceiver = e.receiver;
    playTrack(ui.avatar, e.track);
  });
  onFirstFrame(ui.avatar, () => {
    if (digigami.pc !== pc) return; // a frame of an older connection
    firstFrameSeen = true;
    ui.avatar.classList.add("live");
    if (digigami.state === "connected") ui.overlay.hidden = true;
    if (reconnecting) reconnected();
  });

  const channel = pc.createDataChannel("control");
  digigami.channel = channel;
  channel.addEventListener("open", () => setControlsEnabled(true));
  channel.addEventListener("close", () => {
    setControlsEnabled(false);
    // the server closed this peer (its session ended, its worker went): the quickest sign
    if (digigami.pc === pc && firstFrameSeen) connectionLost(pc, "the server closed the connection");
  });
  channel.addEventListener("message", (e) => onMessage(e.data));

  pc.addEventListener("connectionstatechange", () => onConnectionState(pc));

  let answer;
  try {
    const sdp = await completeOffer(pc);
    if (reconnecting) moveNext = true; // a peer of the session still held is taken over
    answer = await postOffer(sdp);
  } catch (e) {
    pc.close();
    if (digigami.pc !== pc) return; // given up meanwhile (Retry, moved, left)
    digigami.pc = null;
    if (reconnecting && mayPass(e)) {
      reconnectLater(e.message);
      return;
    }
    if (e instanceof HttpError && e.status === 503) {
      const why = e.message.replace(/^busy:\s*/i, "");
      fail("busy", `server busy: ${why}. Try again in a moment.`, "connection", "warn");
    } else if (e instanceof HttpError && e.status) {
      fail("error", `the server refused the session (${e.status}): ${e.message}`, "connection");
    } else {
      fail("error", e.message, "connection");
    }
    return;
  }
  clearBanner("connection");
  digigami.session = {
    ...answer,
    obs_url: absolute(answer.obs_url),
    whep_url: absolute(answer.whep_url),
  };
  delete digigami.session.sdp;
  delete digigami.session.type;
  showObsUrl(digigami.session.obs_url);
  await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
  if (reconnecting) {
    // answered, but the media path may still not come up (the worker went again)
    setTimeout(() => {
      if (digigami.pc === pc && !firstFrameSeen) connectionLost(pc, "no video after reconnecting");
    }, RECONNECT_STREAMS_WITHIN_MS);
  }
}

// The session id and token this browser (or this tab) had last time are sent back with
// the next offer, so the server gives the same id again and the OBS URL pasted into OBS
// keeps working across reloads (docs/STREAMING.md, POST /api/sessions); tabs.js keeps them
// and asks before taking over a session live in another tab.
let moveNext = false; // the user chose "Move it back here": the next offer takes it over

// An avatar to wear: a saved one from My avatars (/?avatar=<32 hex digits>: its face and
// customizations) or a generated one (the create page's "Puppet it live": 16 hex digits).
const AVATAR = new URLSearchParams(location.search).get("avatar");
// how a generated avatar is worn: its character (the default) or its photo face ("photo")
const WEARS = new URLSearchParams(location.search).get("wears");
// the render style to start in (engine/render/looks.py), switched live from the select
const STYLE = new URLSearchParams(location.search).get("style");
if (AVATAR) document.getElementById("wearing").hidden = false;
const SAVED_ID = /^[0-9a-f]{32}$/;
const GENERATED_ID = /^[0-9a-f]{16}$/;
let savedAvatar = AVATAR && SAVED_ID.test(AVATAR) ? AVATAR : null; // PATCHed by "Save"

// The signed-in user's own custom animations (at most 8), offered as emotes in the session.
const MAX_CUSTOM = 8;
const customAnimations = fetch("/api/animations?limit=200")
  .then((r) => (r.ok ? r.json() : { animations: [] }))
  .then((page) => (page.animations ?? []).filter((a) => !a.builtin).slice(-MAX_CUSTOM).map((a) => a.id))
  .catch(() => []);

async function postOffer(sdp) {
  let ident = tabs.savedIdent();
  let separate = tabs.isSeparate();
  // this tab's own reload, or a deliberate "move it back": no question
  const move = moveNext || tabs.ownsLiveSession();
  moveNext = false;
  const animations = await customAnimations;
  const wear = {
    ...(AVATAR ? { avatar: AVATAR } : {}),
    ...(AVATAR && WEARS ? { wears: WEARS } : {}),
    ...(STYLE ? { style: STYLE } : {}),
    ...(animations.length ? { animations } : {}),
    tracking: digigami.tracking.active,
  };
  const identOf = (i) => (i ? { session: i.session, token: i.token } : {});
  let res = await sendOffer({ sdp, type: "offer", ...wear, ...identOf(ident), ...(move ? { move } : {}) });
  if (res.status === 403 && ident) {
    tabs.forgetIdent(ident); // not ours any more: start under a new id
    ident = null;
    res = await sendOffer({ sdp, type: "offer", ...wear });
  }
  if (res.status === 409 && ident) {
    const refusal = await res.clone().json().catch(() => ({}));
    if (refusal.live_elsewhere) {
      overlay("Live in another tab", "Choose where this avatar should be live.", false);
      const choice = await tabs.askToMove();
      if (choice === "move") {
        res = await sendOffer({ sdp, type: "offer", ...wear, ...identOf(ident), move: true });
      } else if (choice === "separate") {
        separate = true;
        res = await sendOffer({ sdp, type: "offer", ...wear });
      } else {
        throw new Error("this avatar is live in another tab: Retry to move it here, or to start a separate avatar");
      }
    }
  }
  if (res.ok) {
    const answer = await res.json();
    tabs.keepIdent(answer, { separate });
    return answer;
  }
  return failed(res);
}

async function sendOffer(body) {
  try {
    return await fetch("/api/sessions", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  } catch (e) {
    throw new HttpError(0, `cannot reach the server (${e.message})`);
  }
}

/** Throw the server's own words for a refused offer. */
async function failed(res) {
  let message = `${res.status} ${res.statusText}`;
  try {
    message = (await res.json()).error ?? message;
  } catch { /* not JSON */ }
  throw new HttpError(res.status, message);
}

/** Show a failure on the page (banner, overlay, pill) with a Retry button. */
function fail(state, text, key, kind = "error") {
  stopReconnecting(); // a refusal no later try would change: the user decides (Retry)
  setState(state);
  setPill(ui.conn, state === "busy" ? "server busy" : "not connected", kind === "warn" ? "warn" : "bad");
  showBanner(key, text, kind, { label: "Retry", run: restart });
  overlay(state === "busy" ? "Server busy" : "Not connected", text, false);
  ui.avatar.classList.remove("live");
  ui.hudState.hidden = true;
  setControlsEnabled(false);
}

function onConnectionState(pc) {
  if (pc !== digigami.pc) return; // an old connection closing after a restart
  const s = pc.connectionState;
  if (s === "connected") {
    setState("connected");
    setPill(ui.conn, "connected", "ok");
    if (retry.tries === 0) clearBanner("connection"); // a reconnect's banner waits for video
    if (firstFrameSeen) ui.overlay.hidden = true;
    else if (retry.tries === 0) overlay("Connected", "Waiting for Digi's first frame…");
  } else if (s === "disconnected") {
    // ICE may recover by itself from a short glitch; past LOST_AFTER_MS it is lost
    setState("disconnected");
    setPill(ui.conn, "reconnecting…", "warn");
    setTimeout(() => {
      if (digigami.pc === pc && pc.connectionState !== "connected") {
        connectionLost(pc, "the connection was interrupted");
      }
    }, LOST_AFTER_MS);
  } else if (s === "failed") {
    connectionLost(pc, "the connection failed");
  }
}

// ---- losing the connection, and getting it back ----------------------------------------
// A worker box that dies, a server restarted, a session ended under the page: its peer goes
// quiet or closes. The page says so and offers the same session again by itself (same id and
// token, so the OBS URL keeps working; in a cluster the session lands on another worker), with
// a backoff; after RETRY_DELAYS_MS it gives up and shows Retry. Lost means: the connection
// failed, stayed "disconnected" or sent no video for LOST_AFTER_MS while streaming, or the
// server closed the control channel.

const LOST_AFTER_MS = 2000;
const RETRY_DELAYS_MS = [500, 1000, 2000, 4000, 8000]; // then "Connection lost" + Retry
const RECONNECT_STREAMS_WITHIN_MS = 15000; // an answered reconnect that shows no video: lost
const retry = { tries: 0, timer: null };

/** The connection `pc` is lost: let it go (without ending the session) and reconnect. */
function connectionLost(pc, why) {
  if (pc !== digigami.pc) return; // an older connection, or already handled
  digigami.pc = null; // its closing is no further loss
  digigami.channel = null;
  pc.close();
  console.info(`connection lost (${why}); reconnecting`);
  reconnectLater(why);
}

/** Schedule the next reconnect, or give up (the Retry banner) after the last. */
function reconnectLater(why) {
  clearTimeout(retry.timer);
  retry.timer = null;
  ui.avatar.classList.remove("live");
  ui.hudState.hidden = true;
  setControlsEnabled(false);
  if (retry.tries >= RETRY_DELAYS_MS.length) {
    retry.tries = 0;
    fail("failed", `the connection to the server was lost (${why}).`, "connection");
    ui.overlayTitle.textContent = "Connection lost";
    return;
  }
  const delay = RETRY_DELAYS_MS[retry.tries++];
  const attempt = `try ${retry.tries} of ${RETRY_DELAYS_MS.length}`;
  setState("reconnecting");
  setPill(ui.conn, "reconnecting…", "warn");
  setPill(ui.trackingPill, "tracking: —", ""); // no status comes until it is back
  setPill(ui.trackingState, "—", "");
  showBanner("connection", `Connection lost — reconnecting… (${attempt}). Your OBS URL stays the same.`, "warn");
  overlay("Connection lost — reconnecting…", `Getting your avatar back (${attempt}).`);
  retry.timer = setTimeout(() => {
    retry.timer = null;
    connect(true).catch((e) => {
      // an answer that could not be applied: this try's connection goes, the next comes
      if (digigami.pc) connectionLost(digigami.pc, e.message);
      else reconnectLater(e.message);
    });
  }, delay);
}

/** The reconnected session streams: the next loss starts its backoff afresh. */
function reconnected() {
  retry.tries = 0;
  digigami.reconnects++;
  clearBanner("connection");
  if (digigami.state === "connected") ui.overlay.hidden = true;
  toast("Reconnected", "ok");
}

function stopReconnecting() {
  clearTimeout(retry.timer);
  retry.timer = null;
  retry.tries = 0;
}

/** Failures a later try may not meet: the server unreachable, busy or gone for a moment. */
function mayPass(e) {
  return e instanceof HttpError && (e.status === 0 || e.status === 502 || e.status === 503 || e.status === 504);
}

// No video while streaming: a worker that died sends nothing, and its connection may take
// many seconds to be called "disconnected". Packets received, not frames shown, count: a
// hidden tab shows no frames but still receives.
const flow = { pc: null, packets: -1, at: 0 };

async function watchFlow() {
  const pc = digigami.pc;
  const receiver = avatarReceiver;
  if (!pc || !receiver || !firstFrameSeen || digigami.state !== "connected") return;
  let inbound;
  try {
    inbound = inboundVideo(await receiver.getStats());
  } catch {
    return;
  }
  const packets = inbound?.packetsReceived ?? 0;
  const now = performance.now();
  if (flow.pc !== pc || packets !== flow.packets) {
    Object.assign(flow, { pc, packets, at: now });
  } else if (now - flow.at > LOST_AFTER_MS) {
    connectionLost(pc, `no video for ${LOST_AFTER_MS / 1000} s`);
  }
}

setInterval(watchFlow, 500);

/** End this session (the server frees its slot at once) and start a new one. */
function restart() {
  stopReconnecting();
  endSession();
  start();
}

function endSession() {
  const { pc, session } = digigami;
  if (session) {
    // keepalive: this also runs on pagehide, when a normal fetch would be cancelled.
    // linger: while OBS watches, the session waits a few seconds for this page to come
    // back (a reload), so the stream on air never stops (docs/STREAMING.md)
    const url = `/api/sessions/${encodeURIComponent(session.session)}?token=${encodeURIComponent(session.token)}&linger=1`;
    fetch(url, { method: "DELETE", keepalive: true }).catch(() => {});
  }
  pc?.close();
  digigami.pc = null;
  digigami.channel = null;
  digigami.session = null;
  showObsUrl(null);
}

function absolute(url) {
  return url ? new URL(url, location.href).href : url;
}

function showObsUrl(url) {
  ui.obsUrl.value = url ?? "";
  ui.obsCopy.disabled = !url;
  if (url) {
    ui.obsOpen.href = url;
    ui.obsOpen.removeAttribute("aria-disabled");
  } else {
    ui.obsOpen.removeAttribute("href");
    ui.obsOpen.setAttribute("aria-disabled", "true");
  }
}

ui.obsCopy.addEventListener("click", async () => {
  const url = ui.obsUrl.value;
  try {
    await navigator.clipboard.writeText(url);
  } catch {
    // the async clipboard needs a secure context and focus; the old way works elsewhere
    ui.obsUrl.select();
    document.execCommand("copy");
  }
  toast("OBS URL copied — paste it into a Browser Source");
});

window.addEventListener("pagehide", endSession);

// This tab's avatar was moved to another tab (docs/STREAMING.md, "One session, many tabs"):
// the session goes on there, its OBS source never noticed. This tab lets go of it (no
// DELETE on leaving, no retry that would take it back) until asked to move it back.
function onMoved() {
  const pc = digigami.pc;
  stopReconnecting();
  tabs.markMoved();
  digigami.pc = null; // its closing is no "connection lost"
  digigami.channel = null;
  digigami.session = null; // leaving this page must not end the session
  pc?.close();
  digigami.tracking.stopTracker?.();
  for (const t of digigami.camera?.getTracks() ?? []) t.stop(); // the camera is the other tab's
  if (digigami.voice?.on) digigami.voice.stop(false); // so is the mic (back with "Move it back")
  digigami.camera = null;
  ui.selfview.dataset.off = ""; // no black box where the camera was
  setPill(ui.trackingPill, "tracking: —", "");
  setPill(ui.trackingState, "—", "");
  setState("moved");
  setPill(ui.conn, "moved to another tab", "warn");
  const text = "Moved to another tab: this avatar is live there now, and your OBS source still shows it.";
  showBanner("connection", text, "info", { label: "Move it back here", run: moveBack });
  overlay("Moved to another tab", "This avatar is live in another tab now. This tab is idle.", false);
  ui.avatar.classList.remove("live");
  ui.hudState.hidden = true;
  showObsUrl(null);
  setControlsEnabled(false);
}

function moveBack() {
  moveNext = true;
  setSelfview(ui.selfviewOn.checked);
  start();
}

digigami.on("moved", onMoved);

// ---- the control channel ------------------------------------------------------------

function send(message) {
  const ch = digigami.channel;
  if (!ch || ch.readyState !== "open") return false;
  ch.send(JSON.stringify(message));
  return true;
}

function onMessage(data) {
  let msg;
  try {
    msg = JSON.parse(data);
  } catch {
    return;
  }
  if (msg.type === "status") onStatus(msg);
  else if (msg.type === "hello") onHello(msg);
  else if (msg.type === "error") toast(`server: ${msg.message}`, "error");
  for (const handler of listeners.get(msg.type) ?? []) {
    try {
      handler(msg);
    } catch (e) {
      console.error(`handling "${msg.type}":`, e); // one part's bug never stops the others
    }
  }
}

const TRACKING = {
  tracking: ["tracking", "ok"],
  lost: ["no face", "warn"],
  none: ["no camera", ""],
  error: ["error", "bad"],
};

function onStatus(s) {
  digigami.lastStatus = s;
  const [label, tone] = TRACKING[s.tracking] ?? [String(s.tracking ?? "—"), ""];
  setPill(ui.trackingState, label, tone);
  setPill(ui.trackingPill, `tracking: ${label}`, tone);
  ui.presence.style.width = `${Math.round(100 * Math.max(0, Math.min(1, s.presence ?? 0)))}%`;

  if (s.tracking === "error" || s.error) {
    showBanner("tracking", `tracking error: ${s.error ?? "unknown"}`, "error");
  } else {
    clearBanner("tracking");
  }

  setStat(ui.st.serverFps, num(s.fps, 0), "fps", grade(s.fps, 55, 30));
  const face = digigami.tracking.figures(s); // face points or camera frames, per path
  setStat(ui.st.cameraFps, num(face.rate, 0), "fps", grade(face.rate, 25, 12));
  setStat(ui.st.landmarker, num(face.ms, 1), "ms", face.ms == null ? "" : face.ms < 20 ? "good" : face.ms < 33 ? "meh" : "bad");

  // what plays on each layer (the HUD, the controls card): controls.js
  if (s.framing && document.activeElement !== ui.framing) ui.framing.value = s.framing;
  if (s.style && document.activeElement !== ui.look) ui.look.value = s.style;
  if (!Object.values(ui.colors).includes(document.activeElement)) showColors();
}

function onHello(h) {
  digigami.hello = h;
  const labels = h.labels ?? {};
  for (const select of ui.swaps) {
    const category = select.dataset.category;
    const list = labels[category] ?? [];
    const keep = select.value; // a swap made before a re-sent hello stays shown
    select.replaceChildren(...list.map((l) => new Option(l, l)));
    // What the avatar wears now: the hello's current/default choice when it says, then
    // the conventional "default"/"none" labels; otherwise a placeholder, not a guess (a
    // select showing "armor" while Digi wears casual would lie).
    const known = [keep, h.current?.[category], h.defaults?.[category], "default", "none"];
    const current = known.find((l) => l && list.includes(l));
    if (current) {
      select.value = current;
    } else if (list.length) {
      const placeholder = new Option("choose…", "", true, true);
      placeholder.disabled = true;
      select.prepend(placeholder);
    }
    select.disabled = list.length === 0;
  }
  showEffects(h);
  const parts = h.color_parts ?? [];
  const part = ui.colorPart.value;
  ui.colorPart.replaceChildren(...parts.map((p) => new Option(p === "avatar" ? "whole avatar" : p, p)));
  if (parts.includes(part)) ui.colorPart.value = part;
  ui.colorPart.disabled = parts.length === 0;
  showColors();
  // the user's own animations, and those they own from the market: one button each, named
  // as they were named (text only)
  const emotes = [
    ...(h.custom ?? []).map((c) => ({ state: c.id, name: c.name, title: "your custom animation" })),
    ...(h.market?.emotes ?? []).map((e) => ({ state: e.state, name: e.name, title: "yours from the market" })),
  ];
  ui.customEmotes.replaceChildren(
    ...emotes.map((c) => {
      const b = document.createElement("button");
      b.className = "btn";
      b.textContent = c.name;
      b.title = c.title;
      b.addEventListener("click", () => send({ type: "transition", state: c.state }));
      return b;
    }),
  );
  ui.saveAvatar.disabled = false;
  // the dances and the buttons of states this avatar lacks: controls.js
}

function setControlsEnabled(on) {
  for (const el of document.querySelectorAll(".panel button, .panel select, .panel input[type=range]")) {
    if (el === ui.framing || el === ui.selfviewOn || el.id === "tracking-path") continue;
    el.disabled = !on || "missing" in el.dataset; // a state this avatar lacks (controls.js)
  }
  ui.framing.disabled = !on;
  if (on && digigami.hello) onHello(digigami.hello); // re-apply what the avatar lacks
}

// ---- the look ------------------------------------------------------------------------
// (emotes, body states, dances, the tool, speed and their keys: controls.js)

for (const select of ui.swaps) {
  select.addEventListener("change", () => {
    send({ type: "swap", category: select.dataset.category, label: select.value });
  });
}

function cycle(select) {
  const options = [...select.options].filter((o) => !o.disabled);
  if (select.disabled || options.length === 0) return;
  const next = (options.indexOf(select.selectedOptions[0]) + 1) % options.length;
  select.value = options[next].value;
  select.dispatchEvent(new Event("change"));
}

ui.framing.addEventListener("change", () => send({ type: "framing", value: ui.framing.value }));
ui.look.addEventListener("change", () => send({ type: "style", value: ui.look.value }));

// Effects the user owns (bought or got free in the market): the hello lists them
// (`market.effects`: [{id, name}]), `{"type": "effect", "id"}` applies one, null takes it off.
function showEffects(h) {
  const effects = h.market?.effects ?? [];
  const keep = ui.effect.value;
  ui.effect.replaceChildren(new Option("none", ""), ...effects.map((e) => new Option(e.name ?? e.id, e.id)));
  const current = h.effect ?? keep;
  if (current && effects.some((e) => e.id === current)) ui.effect.value = current;
  ui.effectField.hidden = effects.length === 0;
  ui.effect.disabled = effects.length === 0;
}
ui.effect.addEventListener("change", () => send({ type: "effect", id: ui.effect.value || null }));

// Colours: the renderer's filter for the whole avatar or one part (docs/API.md); the
// session reports what it wears in every status (`customizations`).
const NEUTRAL = { hue: 0, saturation: 1, brightness: 1, contrast: 1 };

function wornNow() {
  return digigami.lastStatus?.customizations ?? digigami.hello?.customizations ?? null;
}

function showColors() {
  const c = { ...NEUTRAL, ...(wornNow()?.colors?.[ui.colorPart.value] ?? {}) };
  for (const [key, input] of Object.entries(ui.colors)) {
    input.value = String(c[key]);
    input.disabled = ui.colorPart.disabled;
  }
}

ui.colorPart.addEventListener("change", showColors);
let colorPending = false;
for (const [key, input] of Object.entries(ui.colors)) {
  input.addEventListener("input", () => {
    if (colorPending) return; // at most one message every 100 ms while dragging
    colorPending = true;
    setTimeout(() => {
      colorPending = false;
      send({ type: "color", part: ui.colorPart.value, [key]: Number(input.value) });
    }, 100);
  });
}

// "Save to my avatars": the avatar as it is now. The saved avatar this page wears is
// updated (if it is yours); otherwise a new one is made (with the generated face worn).
ui.saveAvatar.addEventListener("click", saveToLibrary);

async function saveToLibrary() {
  const customizations = wornNow();
  if (!customizations) return;
  ui.saveAvatar.disabled = true;
  try {
    let res = null;
    if (savedAvatar) {
      res = await jsonRequest("PATCH", `/api/avatars/${savedAvatar}`, { customizations });
      if (res.status === 403 || res.status === 404) res = null; // someone else's: a copy
    }
    if (res === null) {
      const body = { customizations, name: AVATAR && GENERATED_ID.test(AVATAR) ? "My avatar" : "My Digi" };
      if (AVATAR && GENERATED_ID.test(AVATAR)) body.generation_id = AVATAR;
      res = await jsonRequest("POST", "/api/avatars", body);
    }
    const answer = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(answer.error ?? `${res.status} ${res.statusText}`);
    savedAvatar = answer.id;
    ui.saveNote.hidden = false;
    toast("Saved to My avatars", "ok");
  } catch (e) {
    toast(`could not save: ${e.message}`, "error");
  } finally {
    ui.saveAvatar.disabled = false;
  }
}

function jsonRequest(method, url, body) {
  return fetch(url, { method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
}

let calibrating = null;
ui.calibrate.addEventListener("click", calibrate);

function calibrate() {
  if (!send({ type: "calibrate" })) return;
  if (digigami.lastStatus && digigami.lastStatus.tracking !== "tracking") {
    toast("no face in view: look at the camera, relaxed, and calibrate again", "error");
  }
  // the server takes the next 0.5 s of the face as neutral: ask the user to hold still
  clearTimeout(calibrating);
  ui.calibrate.textContent = "Hold still…";
  calibrating = setTimeout(() => {
    ui.calibrate.textContent = "Neutral set ✓";
    calibrating = setTimeout(() => (ui.calibrate.textContent = "Calibrate neutral"), 1500);
  }, 700);
}

function setSelfview(on) {
  ui.selfviewOn.checked = on;
  // hidden, not removed: the track keeps playing, so showing it again is instant
  if (on) delete ui.selfview.dataset.off;
  else ui.selfview.dataset.off = "";
  try {
    localStorage.setItem("digigami.selfview", on ? "1" : "0");
  } catch { /* storage off */ }
}
ui.selfviewOn.addEventListener("change", () => setSelfview(ui.selfviewOn.checked));
try {
  setSelfview(localStorage.getItem("digigami.selfview") !== "0");
} catch {
  setSelfview(true);
}

// Keyboard: the desktop preview's keys for the look and the camera (the emote, body, tool,
// dance and speed keys are controls.js's), so a VTuber can drive Digi without looking.
const KEYS = {
  o: () => cycle(ui.swaps[0]),
  a: () => cycle(ui.swaps[1]),
  b: () => cycle(ui.swaps[2]),
  f: () => cycle(ui.framing),
  n: () => calibrate(),
};

document.addEventListener("keydown", (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
  if (e.target.closest?.("input, select, textarea")) return; // typing, or a focused control
  const key = e.key.toLowerCase();
  const action = KEYS[key];
  if (!action || !digigami.channel || digigami.channel.readyState !== "open") return;
  e.preventDefault();
  action();
});

// ---- live stats ----------------------------------------------------------------------

function num(v, digits) {
  return v == null || Number.isNaN(v) ? "—" : Number(v).toFixed(digits);
}

function grade(v, good, meh) {
  if (v == null) return "";
  return v >= good ? "good" : v >= meh ? "meh" : "bad";
}

function setStat(el, value, unit, cls = "") {
  el.innerHTML = "";
  el.append(value);
  if (value !== "—" && unit) {
    const s = document.createElement("small");
    s.textContent = ` ${unit}`;
    el.append(s);
  }
  el.className = cls;
}

let prev = null;

async function pollStats() {
  const receiver = avatarReceiver;
  if (!digigami.pc || !receiver) return;
  let report;
  try {
    report = await receiver.getStats();
  } catch {
    return;
  }
  const inbound = inboundVideo(report);
  const pair = selectedPair(report) ?? selectedPair(await digigami.pc.getStats());
  const now = performance.now();
  if (inbound) {
    const cur = {
      t: now,
      decoded: inbound.framesDecoded ?? 0,
      bytes: inbound.bytesReceived ?? 0,
      jbDelay: inbound.jitterBufferDelay ?? 0,
      jbCount: inbound.jitterBufferEmittedCount ?? 0,
    };
    const dt = prev ? (now - prev.t) / 1000 : 0;
    const fps = inbound.framesPerSecond ?? (dt > 0 ? (cur.decoded - prev.decoded) / dt : null);
    setStat(ui.st.fps, num(fps, 0), "fps", grade(fps, 55, 30));
    if (inbound.frameWidth) {
      setStat(ui.st.size, `${inbound.frameWidth}×${inbound.frameHeight}`, "");
    }
    if (dt > 0) {
      setStat(ui.st.bitrate, num(((cur.bytes - prev.bytes) * 8) / dt / 1e6, 2), "Mbps");
      // the jitter buffer's average hold over the last interval, not since the start
      const n = cur.jbCount - prev.jbCount;
      if (n > 0) {
        const ms = ((cur.jbDelay - prev.jbDelay) / n) * 1000;
        setStat(ui.st.jitter, num(ms, 0), "ms", ms < 40 ? "good" : ms < 100 ? "meh" : "bad");
      }
    }
    prev = cur;
  }
  if (pair?.currentRoundTripTime != null) {
    const ms = pair.currentRoundTripTime * 1000;
    setStat(ui.st.rtt, num(ms, 1), "ms", ms < 20 ? "good" : ms < 80 ? "meh" : "bad");
  }
}

setInterval(pollStats, 1000);

// ---- go ------------------------------------------------------------------------------

window.addEventListener("error", (e) => toast(`page error: ${e.message}`, "error"));
window.addEventListener("unhandledrejection", (e) => toast(`page error: ${e.reason?.message ?? e.reason}`, "error"));

start();
