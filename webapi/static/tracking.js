// Face tracking in the browser: MediaPipe FaceMesh on the webcam, its 478 points sent to the
// server over the `landmarks` data channel (docs/STREAMING.md). The camera's video never
// leaves the browser; the server runs the same solver and filters on the points as it would
// on its own landmarks.
//
// FaceMesh (@mediapipe/face_mesh, its wasm and model) comes from our own server under
// /vendor/face_mesh/ (package.json; nothing from a CDN). It needs WebAssembly and WebGL;
// `startFaceTracker` throws when either is missing or the model does not load, and the
// puppet page then tracks on the server instead.

const VENDOR = "/vendor/face_mesh/";
const POINTS = 478;
const HEADER_BYTES = 20; // struct "<BBHIdHH": version, flags, count, seq, capture ms, w, h
// version 2: x, y, z as int16 in 1/16384ths (version 1's float32 took twice the bytes: 5
// SCTP packets a message where this takes 3, for a 0.06 px step on a 1280 px camera)
const VERSION = 2;
const Q = 16384;
const VALUE_BYTES = 2;
const FLAG_FACE = 1;
const START_TIMEOUT_MS = 30_000; // the wasm and the 4 MB model, on a slow machine
// one message queued at most: a newer frame is worth more than an older one still waiting
const MAX_BUFFERED = HEADER_BYTES + POINTS * 3 * VALUE_BYTES;

/** Why this browser cannot run FaceMesh, or null when it can (as far as can be told). */
export function browserCannotTrack() {
  if (typeof WebAssembly !== "object") return "this browser has no WebAssembly";
  const canvas = document.createElement("canvas");
  if (!(canvas.getContext("webgl2") || canvas.getContext("webgl"))) return "this browser has no WebGL";
  return null;
}

/** Whether WebGL is drawn in software (no GPU): SwiftShader, llvmpipe and the like. */
function softwareGL() {
  const gl = document.createElement("canvas").getContext("webgl2") ?? document.createElement("canvas").getContext("webgl");
  if (!gl) return true;
  const info = gl.getExtension("WEBGL_debug_renderer_info");
  const renderer = String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
  return /swiftshader|llvmpipe|softpipe|software|basic render/i.test(renderer);
}

let scriptLoading = null;

function loadFaceMeshScript() {
  // face_mesh.js is a classic script that defines window.FaceMesh, not an ES module
  scriptLoading ??= new Promise((resolve, reject) => {
    const s = document.createElement("script");
    s.src = `${VENDOR}face_mesh.js`;
    s.crossOrigin = "anonymous";
    s.onload = () => (window.FaceMesh ? resolve() : reject(new Error("face_mesh.js defined no FaceMesh")));
    s.onerror = () => {
      scriptLoading = null;
      reject(new Error(`${VENDOR}face_mesh.js did not load: is @mediapipe/face_mesh installed on the server (npm ci)?`));
    };
    document.head.append(s);
  });
  return scriptLoading;
}

function timeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms / 1000} s`)), ms);
    }),
  ]);
}

/** One landmarks message: `points` the 478 {x, y, z} of FaceMesh, or null without a face. */
export function encodeLandmarks(points, seq, capturedMs, width, height) {
  const count = points ? POINTS : 0;
  const buf = new ArrayBuffer(HEADER_BYTES + count * 3 * VALUE_BYTES);
  const v = new DataView(buf);
  v.setUint8(0, VERSION);
  v.setUint8(1, points ? FLAG_FACE : 0);
  v.setUint16(2, count, true);
  v.setUint32(4, seq >>> 0, true);
  v.setFloat64(8, capturedMs, true);
  v.setUint16(16, width, true);
  v.setUint16(18, height, true);
  for (let i = 0; i < count; i++) {
    const p = points[i];
    const o = HEADER_BYTES + i * 3 * VALUE_BYTES;
    v.setInt16(o, quantize(p.x), true);
    v.setInt16(o + 2, quantize(p.y), true);
    v.setInt16(o + 4, quantize(p.z), true);
  }
  return buf;
}

/** A normalized coordinate as version 2's int16 (rounded, held to the type's range). int16
 * has no NaN or infinity: a non-finite value is -32768 (-2), which the server refuses for x
 * and y. */
function quantize(value) {
  if (!Number.isFinite(value)) return -32768;
  return Math.max(-32768, Math.min(32767, Math.round(value * Q)));
}

/**
 * Load FaceMesh and run it once on `video` (so a broken WebGL or model fails here, before
 * the session is offered). Resolves to a tracker: `attach(channel)` starts sending on an
 * open data channel, `stop()` ends it, `stats` says how it goes:
 * {frames, faces, sent, skipped, ms (FaceMesh per frame, mean of the last second), hz}.
 */
export async function startFaceTracker(video, { onError } = {}) {
  const missing = browserCannotTrack();
  if (missing) throw new Error(missing);
  await timeout(loadFaceMeshScript(), START_TIMEOUT_MS, "loading face_mesh.js");
  const mesh = new window.FaceMesh({ locateFile: (file) => `${VENDOR}${file}` });
  mesh.setOptions({
    maxNumFaces: 1,
    refineLandmarks: true, // 478 points: the irises the gaze needs
    minDetectionConfidence: 0.5,
    minTrackingConfidence: 0.5,
    // Without a real GPU (WebGL on SwiftShader or llvmpipe) the models run about 6x faster
    // on FaceMesh's wasm CPU path (XNNPACK) than through software WebGL: ~30 against
    // ~190 ms a frame on a 2-core machine.
    useCpuInference: softwareGL(),
    selfieMode: false, // the server expects the camera's own picture, as in server tracking
  });
  if (video.readyState < 2) {
    await timeout(new Promise((r) => video.addEventListener("loadeddata", r, { once: true })), 10_000, "the camera's first frame");
  }
  await timeout(mesh.initialize(), START_TIMEOUT_MS, "starting FaceMesh");
  await timeout(mesh.send({ image: video }), START_TIMEOUT_MS, "FaceMesh's first frame");
  return new FaceTracker(mesh, video, onError);
}

class FaceTracker {
  constructor(mesh, video, onError) {
    this.mesh = mesh;
    this.video = video;
    this.latest = null; // the newest frame's results (onResults fires inside send)
    mesh.onResults((r) => { this.latest = r; });
    this.onError = onError;
    this.channel = null;
    this.seq = 0;
    this.running = true;
    this.busy = false;
    this.stats = { frames: 0, faces: 0, sent: 0, skipped: 0, ms: null, hz: 0 };
    this.window = []; // [time, ms] of the last second's frames
    this.lastFrameAt = 0;
    this.schedule();
    // requestVideoFrameCallback stops while the video is not painted (the self view
    // hidden): a slower timer then keeps the face coming
    this.fallback = setInterval(() => {
      if (performance.now() - this.lastFrameAt > 100) this.frame(performance.now());
    }, 33);
  }

  /** Send landmarks on `channel` (the `landmarks` data channel) from now on. */
  attach(channel) {
    this.channel = channel;
  }

  stop() {
    this.running = false;
    this.channel = null;
    clearInterval(this.fallback);
    try {
      Promise.resolve(this.mesh.close()).catch(() => {});
    } catch { /* closing a broken graph: nothing more to free */ }
  }

  schedule() {
    if (!this.running) return;
    if ("requestVideoFrameCallback" in this.video) {
      this.video.requestVideoFrameCallback((now, meta) => {
        this.frame(meta.captureTime ?? now);
        this.schedule();
      });
    }
  }

  async frame(capturedMs) {
    // one frame in FaceMesh at a time: a camera frame that comes meanwhile is skipped
    if (!this.running || this.busy || this.video.readyState < 2) return;
    const ch = this.channel;
    if (!ch || ch.readyState !== "open") return; // no session to send to: spare the CPU
    if (this.backedUp()) {
      this.stats.skipped++; // the last message is still on its way: spare FaceMesh's work
      return;
    }
    this.busy = true;
    this.lastFrameAt = performance.now();
    const t0 = performance.now();
    try {
      this.latest = null;
      await this.mesh.send({ image: this.video });
    } catch (e) {
      this.busy = false;
      if (this.running) {
        this.running = false;
        clearInterval(this.fallback);
        this.onError?.(e);
      }
      return;
    }
    const t1 = performance.now();
    this.busy = false;
    if (!this.running) return;
    this.count(t1, t1 - t0);
    const face = this.latest?.multiFaceLandmarks?.[0];
    const points = face && face.length === POINTS ? face : null;
    if (points) this.stats.faces++;
    this.sendPoints(points, capturedMs);
  }

  sendPoints(points, capturedMs) {
    const ch = this.channel;
    if (!ch || ch.readyState !== "open") return;
    if (this.backedUp()) {
      this.stats.skipped++; // the previous message is still on its way: newest wins
      return;
    }
    const w = this.video.videoWidth, h = this.video.videoHeight;
    ch.send(encodeLandmarks(points, this.seq++, Math.max(0, capturedMs), w, h));
    this.stats.sent++;
  }

  backedUp() {
    const ch = this.channel;
    return !!ch && ch.readyState === "open" && ch.bufferedAmount > MAX_BUFFERED;
  }

  count(now, ms) {
    const w = this.window;
    w.push([now, ms]);
    while (w.length && now - w[0][0] > 1000) w.shift();
    this.stats.frames++;
    this.stats.hz = w.length;
    this.stats.ms = w.reduce((a, [, m]) => a + m, 0) / w.length;
  }
}

// ---- the puppet page's choice of path ---------------------------------------------------

const PATH_KEY = "digigami.tracking";
const PRIVATE = "Your camera stays in this browser: only face points are sent.";
const SENT = "Your camera's video is sent to the server, which tracks your face.";
const NO_CAMERA = "No camera: the avatar idles, blinks and looks around on its own, and talks with your voice (the mic in the Voice card).";
const LABELS = {
  browser: ["tracking in this browser", "ok"],
  server: ["tracking on the server", ""],
  none: ["no camera", ""],
};
const PATHS = ["browser", "server", "none"];

/**
 * Where the puppet page tracks the face: "browser" (the default: FaceMesh here, landmarks
 * up, no video up) or "server" (the webcam's video goes up and the server runs MediaPipe).
 * `?tracking=server` or the page's control chooses the server; a browser that cannot run
 * FaceMesh falls back to it by itself, with a banner saying so.
 *
 * `ui`: {pill, select, privacy, rateLabel, msLabel} elements; `banner(key, text, kind)` and
 * `clearBanner(key)` the page's banners; `restart()` starts a new session (a changed path
 * needs a new offer).
 */
export class TrackingPath {
  constructor(ui, { banner, clearBanner, restart }) {
    this.ui = ui;
    this.banner = banner;
    this.clearBanner = clearBanner;
    this.restart = restart;
    this.tracker = null;
    this.failed = null; // why FaceMesh could not run here, once it could not
    this.active = null; // the path of the current session
    const asked = new URLSearchParams(location.search).get("tracking");
    this.wanted = PATHS.includes(asked) ? asked : (safeGet(PATH_KEY) ?? "browser");
    ui.select.value = this.wanted;
    ui.select.addEventListener("change", () => this.choose(ui.select.value));
  }

  /** The path for the next session: FaceMesh started on `video` when the browser path is
   * wanted and works here; "server" otherwise. */
  async prepare(video) {
    this.refused = 0; // the new session counts afresh
    this.clearBanner("landmarks");
    if (this.wanted === "browser" && !this.failed) {
      try {
        this.tracker ??= await startFaceTracker(video, { onError: (e) => this.lost(e) });
      } catch (e) {
        this.fallBack(e);
      }
    }
    if (this.wanted !== "browser" || this.failed) this.stopTracker();
    // camera-less ("none"): no video and no landmarks go up; the avatar idles on its own
    this.active = this.wanted === "none" ? "none" : this.tracker ? "browser" : "server";
    this.show();
    return this.active;
  }

  /** What the path sends on `pc`: on the browser path the `landmarks` channel, unordered
   * and never retransmitted (a lost or late message is worth less than the next one), and
   * no video; on the server path the webcam's video. */
  addSections(pc, camera) {
    if (this.active === "none") return;
    if (this.active !== "browser" || !this.tracker) {
      addWebcam(pc, camera);
      return;
    }
    const channel = pc.createDataChannel("landmarks", { ordered: false, maxRetransmits: 0 });
    channel.binaryType = "arraybuffer";
    channel.addEventListener("open", () => this.tracker?.attach(channel));
  }

  /** What the stats show for the face: points (or camera frames) a second reaching the
   * server, and the tracker's time a frame (FaceMesh here, or MediaPipe there). */
  figures(status) {
    const refused = status.landmarks?.refused ?? 0;
    if (refused > (this.refused ?? 0) && status.landmarks?.last_error) {
      this.banner("landmarks", `the server refused face points: ${status.landmarks.last_error}`, "warn");
    } else if (refused === (this.refused ?? 0)) {
      this.clearBanner("landmarks");
    }
    this.refused = refused;
    if (this.active === "none") return { rate: null, ms: null };
    if (this.active === "browser") {
      return { rate: status.landmarks?.per_s ?? null, ms: this.tracker?.stats.ms ?? null };
    }
    return { rate: status.camera_fps, ms: status.landmarker_ms };
  }

  choose(path) {
    if (path === this.wanted) return;
    this.wanted = path;
    safeSet(PATH_KEY, path);
    const url = new URL(location.href);
    url.searchParams.set("tracking", path);
    history.replaceState(null, "", url);
    if (path === "browser") this.failed = null; // asked again: try again
    this.restart();
  }

  fallBack(e) {
    this.failed = e?.message ?? String(e);
    this.stopTracker();
    this.banner(
      "tracking-path",
      `Face tracking could not start in this browser: ${this.failed.replace(/[.?]?$/, (m) => m || ".")} ` +
        "Tracking on the server instead, so your camera's video is sent to the server.",
      "warn",
    );
  }

  /** FaceMesh broke mid-session: track on the server from now on. */
  lost(e) {
    this.fallBack(e);
    this.restart();
  }

  stopTracker() {
    this.tracker?.stop();
    this.tracker = null;
  }

  show() {
    const path = this.active ?? this.wanted;
    const [text, tone] = LABELS[path];
    this.ui.pill.textContent = text;
    this.ui.pill.dataset.tone = tone;
    const words = path === "none" ? NO_CAMERA : path === "browser" ? PRIVATE : SENT;
    this.ui.pill.title = `${words} (change it in the Camera card)`;
    this.ui.select.value = path === "browser" || !this.failed ? this.wanted : "server";
    this.ui.privacy.dataset.path = path;
    this.ui.privacy.textContent = words;
    this.ui.rateLabel.textContent = path === "browser" ? "face points at server" : "camera at server";
    this.ui.msLabel.textContent = path === "browser" ? "FaceMesh (browser)" : "landmarker";
    if (path === "browser") this.clearBanner("tracking-path");
  }
}

/** Server tracking: the webcam's video goes up on its own section. */
function addWebcam(pc, camera) {
  // The webcam goes sendrecv, not sendonly (the protocol allows both): a server that puts
  // the avatar on the webcam's own section then still reaches us, and one that uses the
  // recvonly section too. Whichever section the avatar arrives on fires "track".
  const webcam = camera.getVideoTracks()[0];
  // Face tracking needs the face's detail (a lip moves a few pixels) more than frames: when
  // the encoder is short of CPU or bandwidth it drops frames rather than resolution.
  webcam.contentHint = "detail";
  const cameraTransceiver = pc.addTransceiver(webcam, {
    direction: "sendrecv",
    streams: [camera],
    sendEncodings: [{ maxBitrate: 2_500_000 }],
  });
  keepResolution(cameraTransceiver.sender);
}

/** Ask the camera's encoder to hold its resolution under load (Chromium otherwise halves
 * it when the CPU is busy, and the tracker loses the mouth). Best effort: not every
 * browser takes the setting. */
async function keepResolution(sender) {
  try {
    const params = sender.getParameters();
    params.degradationPreference = "maintain-resolution";
    await sender.setParameters(params);
  } catch {
    // the default (balanced) still works, a little less sharply
  }
}

function safeGet(key) {
  try {
    const v = localStorage.getItem(key);
    return PATHS.includes(v) ? v : null;
  } catch {
    return null;
  }
}

function safeSet(key, value) {
  try {
    localStorage.setItem(key, value);
  } catch { /* storage off: the URL still says it */ }
}
