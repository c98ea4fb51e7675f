// The OBS Browser Source page: the session's avatar on a transparent page.
//
// WebRTC video has no alpha channel, so the server sends a packed 1024x512 frame (WHEP,
// `layout=packed`): the left half is the avatar's colour premultiplied by its alpha (over
// black), the right half its alpha as grey. This page puts the two halves back together:
//
//   webgl     a fragment shader outputs vec4(left.rgb, right.r) into a premultiplied-alpha
//             canvas; one texture upload per video frame (the normal path; OBS needs
//             "browser source hardware acceleration" on for it)
//   canvas2d  the same in JavaScript on getImageData pixels (no WebGL)
//   chroma    no pixel access at all: the avatar over chroma-key green (#00ff00) by CSS
//             blending; key it out in OBS with a Chroma Key filter
//
// `?mode=webgl|canvas2d|chroma` forces one; `?quiet=1` hides the problem notes. The page
// reconnects by itself (with backoff) whenever the connection drops or the video stalls.

import {
  completeOffer,
  errorMessage,
  HttpError,
  inboundVideo,
  localPeerConnection,
  playTrack,
} from "/static/webrtc.js";

const params = new URLSearchParams(location.search);
// /obs/<session>?token=...; /static/obs.html?session=...&token=... works as well
const session = params.get("session") ?? decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() ?? "");
const token = params.get("token") ?? "";
const quiet = params.get("quiet") === "1";

const video = document.getElementById("source");
const noteEl = document.getElementById("note");

const obs = {
  pc: null,
  mode: null, // "webgl" | "canvas2d" | "chroma"
  framesDrawn: 0,
  state: "starting", // starting | connecting | connected | retrying
  error: null, // the last problem, as shown in the note
};
window.digigamiObs = obs;

function note(text) {
  obs.error = text || null;
  noteEl.textContent = quiet ? "" : text ?? "";
}

// The server codes the alpha's ends past the studio range (Y 0 and 255), which the decoder
// clamps, so flat clear and solid areas arrive as exactly 0 and 255 whatever the codec's
// noise. Near an edge the codec still rings by a few steps: snap those too, so the surround
// is exactly transparent and the body exactly opaque (no faint box around Digi).
const ALPHA_LO = 4;
const ALPHA_HI = 251;
// The encoder's loop filter smooths across the seam between the halves: the last few
// colour columns and the first few alpha columns take some of the other half (a soft
// alpha by the seam, colour tinted by the alpha's white). Those columns repeat the nearest
// clean one.
const SEAM_GUARD = 4;

// ---- renderers -----------------------------------------------------------------------

function makeCanvas() {
  const canvas = document.createElement("canvas");
  canvas.className = "view";
  document.body.prepend(canvas);
  return canvas;
}

/** The stream's picture is as wide as its colour half: its shape follows the puppet
 *  page's scene (square, 16:9, 9:16). The CSS sizes the view by `--aspect`. */
let aspect = 1;
function followAspect(v) {
  const a = v.videoWidth / 2 / v.videoHeight;
  if (!(a > 0) || Math.abs(a - aspect) < 1e-3) return;
  aspect = a;
  obs.aspect = a;
  document.documentElement.style.setProperty("--aspect", String(a));
}

/** The size [w, h], in device pixels, the picture takes in the window (as large as it
 *  fits, keeping its shape). */
function displaySize() {
  const dpr = devicePixelRatio || 1;
  const w = Math.min(innerWidth, innerHeight * aspect);
  return [Math.max(1, Math.round(w * dpr)), Math.max(1, Math.round((w / aspect) * dpr))];
}

const VERTEX = `
attribute vec2 a_pos;
varying vec2 v_uv;
void main() {
  v_uv = a_pos * 0.5 + 0.5;
  gl_Position = vec4(a_pos, 0.0, 1.0);
}`;

const FRAGMENT = `
precision mediump float;
uniform sampler2D u_frame;
uniform float u_texel; // one texel of the packed frame, in texture u
varying vec2 v_uv;
void main() {
  // Each half is read clear of the seam: no bilinear tap across it, and none on the
  // columns the codec's loop filter mixed with the other half (centre of texel i: i + 0.5).
  float u = v_uv.x * 0.5;
  float uc = clamp(u, 0.5 * u_texel, 0.5 - ${SEAM_GUARD + 0.5} * u_texel);
  float ua = clamp(u, ${SEAM_GUARD + 0.5} * u_texel, 0.5 - 0.5 * u_texel) + 0.5;
  float v = 1.0 - v_uv.y; // video rows run top-down; flipping here costs nothing
  vec3 colour = texture2D(u_frame, vec2(uc, v)).rgb;
  float a = texture2D(u_frame, vec2(ua, v)).r;
  a = a < ${(ALPHA_LO / 255).toFixed(5)} ? 0.0 : (a > ${(ALPHA_HI / 255).toFixed(5)} ? 1.0 : a);
  // Premultiplied output: colour can never exceed alpha (that would add light, not cover).
  gl_FragColor = vec4(min(colour, vec3(a)), a);
}`;

function createWebGL() {
  const canvas = makeCanvas();
  const attrs = {
    alpha: true,
    premultipliedAlpha: true, // the left half already is premultiplied: no conversion
    antialias: false,
    depth: false,
    stencil: false,
    preserveDrawingBuffer: false,
  };
  const gl = canvas.getContext("webgl2", attrs) ?? canvas.getContext("webgl", attrs);
  if (!gl) {
    canvas.remove();
    return null;
  }
  let prog, texture, uTexel, lost = false;

  function compile(type, src) {
    const s = gl.createShader(type);
    gl.shaderSource(s, src);
    gl.compileShader(s);
    if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s));
    return s;
  }

  function init() {
    prog = gl.createProgram();
    gl.attachShader(prog, compile(gl.VERTEX_SHADER, VERTEX));
    gl.attachShader(prog, compile(gl.FRAGMENT_SHADER, FRAGMENT));
    gl.bindAttribLocation(prog, 0, "a_pos");
    gl.linkProgram(prog);
    if (!gl.getProgramParameter(prog, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(prog));
    gl.useProgram(prog);
    gl.bindBuffer(gl.ARRAY_BUFFER, gl.createBuffer());
    gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 1, -1, -1, 1, 1, 1]), gl.STATIC_DRAW);
    gl.enableVertexAttribArray(0);
    gl.vertexAttribPointer(0, 2, gl.FLOAT, false, 0, 0);
    texture = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D, texture);
    // video sizes are not powers of two: WebGL 1 needs clamping and no mipmaps for those
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.LINEAR);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.LINEAR);
    gl.uniform1i(gl.getUniformLocation(prog, "u_frame"), 0);
    uTexel = gl.getUniformLocation(prog, "u_texel");
    gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
    gl.pixelStorei(gl.UNPACK_COLORSPACE_CONVERSION_WEBGL, gl.NONE);
    gl.disable(gl.BLEND);
    gl.clearColor(0, 0, 0, 0);
  }

  try {
    init();
  } catch (e) {
    console.warn("webgl unusable:", e);
    canvas.remove();
    return null;
  }

  // A lost context (GPU reset, driver update) usually comes back; if not, fall back.
  canvas.addEventListener("webglcontextlost", (e) => {
    e.preventDefault();
    lost = true;
    setTimeout(() => lost && fallBack("webgl context lost"), 3000);
  });
  canvas.addEventListener("webglcontextrestored", () => {
    lost = false;
    init();
  });

  return {
    mode: "webgl",
    draw(v) {
      if (lost) return false;
      const [w, h] = displaySize();
      if (canvas.width !== w || canvas.height !== h) {
        canvas.width = w;
        canvas.height = h;
      }
      gl.viewport(0, 0, w, h);
      gl.clear(gl.COLOR_BUFFER_BIT);
      gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, gl.RGBA, gl.UNSIGNED_BYTE, v);
      gl.uniform1f(uTexel, 1 / v.videoWidth);
      gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
      return true;
    },
    attach() {},
    destroy() {
      canvas.remove();
    },
  };
}

function createCanvas2D() {
  const canvas = makeCanvas();
  const ctx = canvas.getContext("2d");
  const scratch = document.createElement("canvas");
  const sctx = scratch.getContext("2d", { willReadFrequently: true });
  if (!ctx || !sctx) {
    canvas.remove();
    return null;
  }
  let out = null;
  return {
    mode: "canvas2d",
    draw(v) {
      const w = v.videoWidth;
      const h = v.videoHeight;
      const half = w >> 1;
      if (scratch.width !== w || scratch.height !== h) {
        scratch.width = w;
        scratch.height = h;
      }
      if (!out || canvas.width !== half || canvas.height !== h) {
        canvas.width = half;
        canvas.height = h;
        out = ctx.createImageData(half, h);
      }
      sctx.drawImage(v, 0, 0);
      const src = sctx.getImageData(0, 0, w, h).data; // throws if the canvas is tainted
      const dst = out.data; // Uint8ClampedArray: stores round and clamp by themselves
      for (let y = 0; y < h; y++) {
        const row = y * w * 4;
        let o = y * half * 4;
        for (let x = 0; x < half; x++, o += 4) {
          // colour from the left half, alpha from the right, both clear of the seam
          const i = row + Math.min(x, half - 1 - SEAM_GUARD) * 4;
          let a = src[row + (half + Math.max(x, SEAM_GUARD)) * 4];
          a = a < ALPHA_LO ? 0 : a > ALPHA_HI ? 255 : a;
          if (a === 0) {
            dst[o] = dst[o + 1] = dst[o + 2] = dst[o + 3] = 0;
            continue;
          }
          // putImageData takes straight (not premultiplied) colour: undo the premultiply
          const k = 255 / a;
          dst[o] = src[i] * k;
          dst[o + 1] = src[i + 1] * k;
          dst[o + 2] = src[i + 2] * k;
          dst[o + 3] = a;
        }
      }
      ctx.putImageData(out, 0, 0);
      return true;
    },
    attach() {},
    destroy() {
      canvas.remove();
    },
  };
}

function createChroma() {
  const box = document.createElement("div");
  box.className = "chroma";
  const alpha = document.createElement("video");
  const colour = document.createElement("video");
  alpha.className = "alpha";
  colour.className = "colour";
  box.append(alpha, colour);
  document.body.prepend(box);
  return {
    mode: "chroma",
    draw() {
      return true; // CSS composites the two halves itself
    },
    attach(track) {
      playTrack(alpha, track);
      playTrack(colour, track);
    },
    destroy() {
      box.remove();
    },
  };
}

const RENDERERS = { webgl: createWebGL, canvas2d: createCanvas2D, chroma: createChroma };
const ORDER = ["webgl", "canvas2d", "chroma"];

let renderer = null;
let track = null;

/** The first renderer that works, starting at `from` in ORDER (or the one ?mode= forces). */
function pickRenderer(from = 0) {
  const forced = params.get("mode");
  const modes = forced in RENDERERS && from === 0 ? [forced] : ORDER.slice(from);
  for (const mode of modes) {
    const r = RENDERERS[mode]();
    if (r) {
      obs.mode = r.mode;
      if (track) r.attach(track);
      return r;
    }
  }
  return null;
}

function fallBack(why) {
  const next = ORDER.indexOf(renderer?.mode) + 1;
  console.warn(`${renderer?.mode} failed (${why}); falling back`);
  renderer?.destroy();
  renderer = next < ORDER.length ? pickRenderer(next) : null;
}

// One draw per decoded video frame (requestVideoFrameCallback); where that is missing,
// one per display frame, which redraws the same picture at times but never misses one.
function frameLoop() {
  const onFrame = () => {
    if (renderer && video.readyState >= 2 && video.videoWidth > 0) {
      followAspect(video);
      try {
        if (renderer.draw(video)) {
          obs.framesDrawn++;
          if (obs.framesDrawn === 1 || attempt > 0) settled();
        }
      } catch (e) {
        fallBack(e.message);
      }
    }
    schedule();
  };
  const schedule = () => {
    if ("requestVideoFrameCallback" in video) video.requestVideoFrameCallback(onFrame);
    else requestAnimationFrame(onFrame);
  };
  schedule();
}

// ---- WHEP and reconnecting -----------------------------------------------------------

let resource = null; // the WHEP resource URL (Location) of the current viewer
let attempt = 0;
let retryTimer = null;
let disconnectTimer = null;
let connectTimer = null;

async function connect() {
  obs.state = "connecting";
  const pc = localPeerConnection();
  obs.pc = pc;
  const transceiver = pc.addTransceiver("video", { direction: "recvonly" });
  track = transceiver.receiver.track;
  playTrack(video, track);
  renderer?.attach(track);
  pc.addEventListener("connectionstatechange", () => onConnectionState(pc));

  const sdp = await completeOffer(pc);
  const url =
    `/whep/${encodeURIComponent(session)}?token=${encodeURIComponent(token)}&layout=packed`;
  let res;
  try {
    res = await fetch(url, { method: "POST", headers: { "Content-Type": "application/sdp" }, body: sdp });
  } catch (e) {
    throw new HttpError(0, `cannot reach the server (${e.message})`);
  }
  if (!res.ok) throw new HttpError(res.status, await errorMessage(res));
  const location = res.headers.get("Location");
  resource = location ? new URL(location, new URL(url, window.location.href)).href : null;
  await pc.setRemoteDescription({ type: "answer", sdp: await res.text() });
  // an answer but no media within 15 s: start over
  connectTimer = setTimeout(() => obs.state !== "connected" && retry("connection timed out"), 15000);
}

function onConnectionState(pc) {
  if (pc !== obs.pc) return;
  const s = pc.connectionState;
  if (s === "connected") {
    obs.state = "connected";
    clearTimeout(disconnectTimer);
    clearTimeout(connectTimer);
    note(null);
  } else if (s === "disconnected") {
    // ICE often recovers from a short glitch by itself; give it a few seconds
    clearTimeout(disconnectTimer);
    disconnectTimer = setTimeout(() => pc.connectionState !== "connected" && retry("connection lost"), 4000);
  } else if (s === "failed") {
    retry("connection failed");
  }
}

/** Frames flow again: the next failure starts its backoff from the beginning. */
function settled() {
  attempt = 0;
}

function describe(e) {
  if (!(e instanceof HttpError)) return e.message;
  if (e.status === 401 || e.status === 403) {
    return `${e.message} — the token is wrong: copy the OBS URL again from the puppet page`;
  }
  if (e.status === 404) return `${e.message} — is the puppet page still open? copy its OBS URL again`;
  if (e.status === 503) return `server busy: ${e.message}`;
  return e.message;
}

function teardown() {
  clearTimeout(disconnectTimer);
  clearTimeout(connectTimer);
  // the token ends only this session's viewers (docs/STREAMING.md, WHEP DELETE)
  if (resource) {
    fetch(resource, { method: "DELETE", keepalive: true, headers: { Authorization: `Bearer ${token}` } })
      .catch(() => {});
  }
  resource = null;
  obs.pc?.close();
  obs.pc = null;
}

/** Drop the current connection and try again after a backoff (1 s, 2 s, 4 s, ... 10 s). */
function retry(reason) {
  if (retryTimer) return;
  teardown();
  obs.state = "retrying";
  const delay = Math.min(10000, 1000 * 2 ** attempt) * (0.8 + 0.4 * Math.random());
  attempt++;
  note(`Digigami: ${reason}; reconnecting in ${Math.round(delay / 1000)} s`);
  retryTimer = setTimeout(() => {
    retryTimer = null;
    connect().catch((e) => retry(describe(e)));
  }, delay);
}

// A connection can look fine while no video arrives (the puppet session ended, the server
// stalled): watch the decoder, and start over when it has stood still for 6 s.
let lastDecoded = -1;
let stillSince = performance.now();
setInterval(async () => {
  const pc = obs.pc;
  if (!pc || obs.state !== "connected") {
    stillSince = performance.now();
    return;
  }
  const inbound = inboundVideo(await pc.getStats());
  const decoded = inbound?.framesDecoded ?? 0;
  if (decoded !== lastDecoded) {
    lastDecoded = decoded;
    stillSince = performance.now();
  } else if (performance.now() - stillSince > 6000) {
    stillSince = performance.now();
    retry("no video for 6 s");
  }
}, 1000);

window.addEventListener("pagehide", teardown);

// ---- go ------------------------------------------------------------------------------

renderer = pickRenderer();
frameLoop();
if (!session || !token) {
  obs.state = "error";
  note("Digigami: this OBS URL lacks its session or token: copy it again from the puppet page");
} else {
  connect().catch((e) => retry(describe(e)));
}
