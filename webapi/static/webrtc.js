// WebRTC helpers shared by the Digigami pages (puppet, OBS, preview).
//
// Everything is local: no STUN/TURN servers, and the server does not trickle ICE, so every
// offer is sent only once ICE gathering has completed (all candidates inside the SDP).

/** A peer connection for talking to our own server: no ICE servers at all. */
export function localPeerConnection() {
  // bundlePolicy stays at its default ("balanced"): aiortc answers BUNDLE either way, and
  // "max-bundle" offers are the ones older WebRTC stacks choke on.
  return new RTCPeerConnection({ iceServers: [] });
}

/**
 * Resolves once `pc` has gathered all its ICE candidates (or after `timeoutMs`: host
 * candidates come in a few milliseconds; an interface that never answers must not hold the
 * page forever, and what was gathered by then is what we send).
 */
export function iceGatheringComplete(pc, timeoutMs = 3000) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      pc.removeEventListener("icecandidate", onCandidate);
      resolve();
    };
    const check = () => { if (pc.iceGatheringState === "complete") done(); };
    // a null candidate is the end-of-candidates marker (older browsers fire only this)
    const onCandidate = (e) => { if (!e.candidate) done(); };
    const timer = setTimeout(done, timeoutMs);
    pc.addEventListener("icegatheringstatechange", check);
    pc.addEventListener("icecandidate", onCandidate);
  });
}

/** createOffer + setLocalDescription + wait for ICE: the complete local offer SDP. */
export async function completeOffer(pc) {
  await pc.setLocalDescription(await pc.createOffer());
  await iceGatheringComplete(pc);
  return pc.localDescription.sdp;
}

/** An HTTP answer that was not a success, with the server's `{"error": ...}` message. */
export class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.name = "HttpError";
    this.status = status;
  }
}

/** The error message in a failed response: the JSON `error` field, else the body text. */
export async function errorMessage(res) {
  const text = await res.text().catch(() => "");
  try {
    const data = JSON.parse(text);
    if (data && typeof data.error === "string") return data.error;
  } catch { /* not JSON: fall through */ }
  return text.trim() || `${res.status} ${res.statusText}`;
}

/** POST JSON, return the parsed JSON answer; throws HttpError (with the server's message). */
export async function postJson(url, body) {
  let res;
  try {
    res = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  } catch (e) {
    throw new HttpError(0, `cannot reach the server (${e.message})`);
  }
  if (!res.ok) throw new HttpError(res.status, await errorMessage(res));
  return res.json();
}

/** The inbound-rtp video report of a getStats() result (the first one; pages receive one). */
export function inboundVideo(report) {
  for (const s of report.values()) {
    if (s.type === "inbound-rtp" && (s.kind === "video" || s.mediaType === "video")) return s;
  }
  return null;
}

/** The candidate pair in use: the transport's selected pair, else a nominated succeeded one. */
export function selectedPair(report) {
  for (const s of report.values()) {
    if (s.type === "transport" && s.selectedCandidatePairId) {
      const pair = report.get(s.selectedCandidatePairId);
      if (pair) return pair;
    }
  }
  for (const s of report.values()) {
    if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") return s;
  }
  return null;
}

/**
 * A `stats()` function for tests and the pages: resolves to
 * `{fps, framesDecoded, width, height}` of the inbound video of `getPc()`. `fps` is the
 * browser's own framesPerSecond where it reports one, else framesDecoded over the time
 * since the previous call.
 */
export function videoStats(getPc) {
  let last = null;
  return async function stats() {
    const pc = getPc();
    const empty = { fps: 0, framesDecoded: 0, width: 0, height: 0 };
    if (!pc) return empty;
    const inbound = inboundVideo(await pc.getStats());
    if (!inbound) return empty;
    const now = performance.now();
    const decoded = inbound.framesDecoded ?? 0;
    let fps = inbound.framesPerSecond;
    if (fps === undefined) {
      fps = last && now > last.t ? ((decoded - last.decoded) * 1000) / (now - last.t) : 0;
    }
    last = { t: now, decoded };
    return {
      fps,
      framesDecoded: decoded,
      framesReceived: inbound.framesReceived ?? 0,
      framesDropped: inbound.framesDropped ?? 0,
      width: inbound.frameWidth ?? 0,
      height: inbound.frameHeight ?? 0,
    };
  };
}

/** Play a MediaStreamTrack in a <video> (muted, so autoplay is always allowed). */
export function playTrack(video, track) {
  video.muted = true;
  video.playsInline = true;
  video.srcObject = new MediaStream([track]);
  return video.play().catch(() => { /* autoplay blocked: the page shows a play hint */ });
}

/**
 * Calls `cb` once, when `video` presents its first real frame. (`loadeddata` is not enough:
 * Chromium fires it for a remote track that has not carried a single frame yet, and again
 * for the black frame of a track that ended.)
 */
export function onFirstFrame(video, cb) {
  if ("requestVideoFrameCallback" in video) {
    video.requestVideoFrameCallback(() => cb());
  } else {
    const check = () => {
      if (video.videoWidth > 0) {
        video.removeEventListener("resize", check);
        cb();
      }
    };
    video.addEventListener("resize", check);
  }
}
