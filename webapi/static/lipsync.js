// Lip-sync from the microphone: the mic is analysed here, in this browser (Web Audio), and
// only six numbers go to the server, about 47 times a second, over the `voice` data channel
// (docs/STREAMING.md, "The voice data channel"): how open the mouth is and the weights of the
// vowels A I U E O. No audio leaves the browser.
//
// Method, per frame of 1024 samples (~21 ms at 48 kHz, from an AudioWorklet:
// lipsync-worklet.js):
// - Loudness: the frame's RMS in dBFS. An adaptive noise floor follows the quietest level of
//   the last FLOOR_WINDOW_S seconds (down at once, up over FLOOR_RISE_S): speech always
//   has quiet gaps between syllables, a fan or a room's hum never does, so the hum becomes
//   the floor and keeps the mouth shut while the voice still opens it. The mouth opens from
//   GATE_DB over that floor (and over an absolute SILENCE_DB) and is fully open
//   OPEN_SPAN_DB above where it starts.
// - Vowels, from the spectral shape: a Hann-windowed FFT, its magnitude smoothed over
//   ~140 Hz (so the voice's harmonics merge into formant humps); F1 is the peak between
//   250 and 1000 Hz, F2 the peak between F1 + 350 and 3000 Hz, each refined by the centroid
//   around it. The vowel weights are a soft nearest match of (F1, F2) against the five
//   vowels' typical formants, in a log-frequency space (so an octave counts the same
//   anywhere), which copes with voices of any pitch better than fixed bands.

const VERSION = 1;
const FLAG_MUTED = 1;
const MESSAGE_BYTES = 36; // struct "<BBHI7f": version, flags, reserved, seq, dB, open, A I U E O
export const VOWELS = ["a", "i", "u", "e", "o"];
// Typical formants (Hz) of the five vowels, between adult voices (Japanese-like vowels, as
// the rigs' mouth shapes are).
export const FORMANTS = { a: [800, 1250], i: [320, 2300], u: [360, 1350], e: [520, 1900], o: [520, 900] };
const VOWEL_SPREAD = 0.22; // in natural-log units of frequency: ~25 %
export const SILENCE_DB = -58; // quieter than this is silence, whatever the floor
export const GATE_DB = 8; // dB over the noise floor where the mouth starts to open
export const OPEN_SPAN_DB = 26; // dB from there to a wide open mouth
const FLOOR_WINDOW_S = 2.5; // the floor is the quietest level of this long
const FLOOR_RISE_S = 0.5; // the floor rises to a louder room with this time constant
const FLOOR_START_MAX_DB = -30; // the first frame sets the floor, at most this loud
const MAX_BUFFERED = MESSAGE_BYTES * 4; // a congested channel drops, it never queues

// ---- the maths (pure: tested on synthetic signals in Chromium) ---------------------------

/** In-place radix-2 FFT of (re, im); their length a power of two. */
export function fft(re, im) {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j], re[i]];
      [im[i], im[j]] = [im[j], im[i]];
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const ang = (-2 * Math.PI) / len;
    const wr = Math.cos(ang);
    const wi = Math.sin(ang);
    for (let i = 0; i < n; i += len) {
      let cr = 1;
      let ci = 0;
      for (let k = 0; k < len / 2; k++) {
        const a = i + k;
        const b = a + len / 2;
        const tr = re[b] * cr - im[b] * ci;
        const ti = re[b] * ci + im[b] * cr;
        re[b] = re[a] - tr;
        im[b] = im[a] - ti;
        re[a] += tr;
        im[a] += ti;
        const ncr = cr * wr - ci * wi;
        ci = cr * wi + ci * wr;
        cr = ncr;
      }
    }
  }
}

/** The frame's RMS level in dBFS (-160 for digital silence). */
export function levelDb(frame) {
  let sum = 0;
  for (let i = 0; i < frame.length; i++) sum += frame[i] * frame[i];
  const rms = Math.sqrt(sum / frame.length);
  return Math.max(-160, Math.min(0, 20 * Math.log10(rms + 1e-12)));
}

/** The magnitude spectrum of a Hann-windowed frame (length/2 bins). */
export function spectrum(frame) {
  const n = frame.length;
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  for (let i = 0; i < n; i++) re[i] = frame[i] * (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1)));
  fft(re, im);
  const mag = new Float64Array(n / 2);
  for (let i = 0; i < n / 2; i++) mag[i] = Math.hypot(re[i], im[i]);
  return mag;
}

/** F1 and F2 (Hz) from a magnitude spectrum: smoothed peaks in their ranges. */
export function formants(mag, sampleRate) {
  const hz = sampleRate / (2 * mag.length); // per bin
  const width = Math.max(1, Math.round(70 / hz)); // ~140 Hz across
  const smooth = new Float64Array(mag.length);
  for (let i = 0; i < mag.length; i++) {
    let s = 0;
    let c = 0;
    for (let j = Math.max(0, i - width); j <= Math.min(mag.length - 1, i + width); j++) {
      s += mag[j];
      c++;
    }
    smooth[i] = s / c;
  }
  const peak = (lo, hi) => {
    const a = Math.max(1, Math.floor(lo / hz));
    const b = Math.min(mag.length - 2, Math.ceil(hi / hz));
    let best = a;
    for (let i = a; i <= b; i++) if (smooth[i] > smooth[best]) best = i;
    let s = 0;
    let w = 0; // centroid of the hump around the peak
    for (let i = Math.max(a, best - width); i <= Math.min(b, best + width); i++) {
      s += i * smooth[i];
      w += smooth[i];
    }
    return (w > 0 ? s / w : best) * hz;
  };
  const f1 = peak(250, 1000);
  const f2 = peak(Math.max(f1 + 350, 700), 3000);
  return [f1, f2];
}

/** Soft weights of the five vowels (summing to 1) for formants (f1, f2). */
export function vowelWeights(f1, f2) {
  const k = VOWELS.map((v) => {
    const [p1, p2] = FORMANTS[v];
    const d1 = Math.log(f1 / p1) / VOWEL_SPREAD;
    const d2 = Math.log(f2 / p2) / VOWEL_SPREAD;
    return Math.exp(-0.5 * (d1 * d1 + d2 * d2));
  });
  const total = k.reduce((a, b) => a + b, 0);
  if (!(total > 1e-9)) return VOWELS.map(() => 0.2);
  return k.map((v) => v / total);
}

/** A new analyser state: the adaptive noise floor and the recent levels it follows. */
export function newState() {
  return { floor: null, recent: [] };
}

/**
 * One frame's lip-sync signals: {db, open (0..1), vowels [A, I, U, E, O] (summing to 1, or
 * all 0 when the mouth is shut), f1, f2, floor}. `state` (newState()) keeps the noise floor
 * across frames; `dt` is the frame's duration in seconds.
 */
export function analyse(frame, sampleRate, state, dt = frame.length / sampleRate) {
  const db = levelDb(frame);
  state.recent.push(db);
  if (state.recent.length > Math.ceil(FLOOR_WINDOW_S / dt)) state.recent.shift();
  const quietest = Math.min(...state.recent);
  if (state.floor === null) state.floor = Math.min(db, FLOOR_START_MAX_DB);
  state.floor = quietest < state.floor ? quietest : state.floor + (quietest - state.floor) * (1 - Math.exp(-dt / FLOOR_RISE_S));
  const start = Math.max(state.floor + GATE_DB, SILENCE_DB);
  const u = Math.max(0, Math.min(1, (db - start) / OPEN_SPAN_DB));
  const open = u * u * (3 - 2 * u) * 0.15 + u * 0.85; // a soft start, no dead zone
  if (open <= 0) return { db, open: 0, vowels: [0, 0, 0, 0, 0], f1: 0, f2: 0, floor: state.floor };
  const [f1, f2] = formants(spectrum(frame), sampleRate);
  return { db, open, vowels: vowelWeights(f1, f2), f1, f2, floor: state.floor };
}

/** The 36-byte voice message (streaming/voice.py). */
export function encodeVoice(seq, result, muted = false) {
  const buf = new ArrayBuffer(MESSAGE_BYTES);
  const v = new DataView(buf);
  v.setUint8(0, VERSION);
  v.setUint8(1, muted ? FLAG_MUTED : 0);
  v.setUint16(2, 0, true);
  v.setUint32(4, seq >>> 0, true);
  const clamp = (x, lo, hi) => (Number.isFinite(x) ? Math.max(lo, Math.min(hi, x)) : lo);
  v.setFloat32(8, clamp(result.db, -160, 0), true);
  v.setFloat32(12, muted ? 0 : clamp(result.open, 0, 1), true);
  // float32 rounding must not push the sum over 1: scale a hair under
  const total = result.vowels.reduce((a, b) => a + clamp(b, 0, 1), 0);
  const scale = total > 0.999 ? 0.999 / total : 1;
  result.vowels.forEach((w, i) => v.setFloat32(16 + 4 * i, muted ? 0 : clamp(w, 0, 1) * scale, true));
  return buf;
}

// ---- the page part ---------------------------------------------------------------------

const MIC_KEY = "digigami.mic";

/**
 * The mic lip-sync on the puppet page. `ui`: {toggle (a button), meter (an element whose
 * width shows the level), label (the toggle's state text), source (what drives the mouth)}.
 * `attach(pc)` adds the `voice` channel to a new session's connection; the toggle starts and
 * stops the mic (remembered in this browser); `status(s)` shows the server's view.
 */
export class VoicePath {
  constructor(ui, { toast }) {
    this.ui = ui;
    this.toast = toast;
    this.channel = null;
    this.stream = null;
    this.context = null;
    this.node = null;
    this.seq = 0;
    this.state = newState();
    this.last = null; // the newest analysis, for tests and the meter
    this.frames = 0;
    this.stored = safeGet(MIC_KEY); // "on", "off" (the user's own choice) or null
    this.wanted = this.stored === "on" || new URLSearchParams(location.search).get("mic") === "on";
    ui.toggle?.addEventListener("click", () => (this.on ? this.stop(true) : this.start(true)));
    this.show();
  }

  get on() {
    return this.stream !== null;
  }

  /** The `voice` channel on a new session's connection: unordered, never retransmitted
   * (a late mouth is worth less than the next one). `cameraLess`: the voice is all the
   * avatar has, so the mic starts unless the user turned it off before. */
  attach(pc, cameraLess = false) {
    if (cameraLess && this.stored !== "off") this.wanted = true;
    const channel = pc.createDataChannel("voice", { ordered: false, maxRetransmits: 0 });
    channel.binaryType = "arraybuffer";
    this.channel = channel;
    channel.addEventListener("open", () => {
      if (this.wanted && !this.on) this.start(false);
    });
  }

  /** Turn the mic on (asking the browser's permission the first time). */
  async start(remember) {
    if (this.on || this.starting) return;
    this.starting = true;
    try {
      if (!navigator.mediaDevices?.getUserMedia) throw new Error("this page is not a secure context, so the browser offers no microphone");
      const stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: false },
        video: false,
      });
      const context = new AudioContext();
      await context.audioWorklet.addModule("/static/lipsync-worklet.js");
      const source = context.createMediaStreamSource(stream);
      const node = new AudioWorkletNode(context, "lipsync-tap", { numberOfInputs: 1, numberOfOutputs: 0 });
      node.port.onmessage = (e) => this.frame(e.data, context.sampleRate);
      source.connect(node);
      if (context.state === "suspended") await context.resume().catch(() => {});
      if (context.state !== "running") {
        // a browser may hold audio until the page is clicked (its autoplay rule)
        this.toast("click anywhere on the page to start the mic lip-sync");
        const resume = () => context.resume().catch(() => {});
        document.addEventListener("pointerdown", resume, { once: true });
        document.addEventListener("keydown", resume, { once: true });
      }
      Object.assign(this, { stream, context, node, state: newState() });
      for (const track of stream.getAudioTracks()) track.addEventListener("ended", () => this.stop(false));
      this.wanted = true;
      if (remember) safeSet(MIC_KEY, (this.stored = "on"));
    } catch (e) {
      const why = {
        NotAllowedError: "microphone access was blocked: allow the microphone for this site",
        NotFoundError: "no microphone found",
        NotReadableError: "the microphone is busy or failed to start",
      }[e.name];
      this.toast(`mic lip-sync: ${why ?? e.message}`, "error");
    } finally {
      this.starting = false;
      this.show();
    }
  }

  /** Turn the mic off: the mouth shuts at once (a muted message), the device is released. */
  stop(remember) {
    this.stream?.getTracks().forEach((t) => t.stop());
    this.node?.disconnect();
    this.context?.close().catch(() => {});
    Object.assign(this, { stream: null, node: null, context: null, last: null });
    this.send({ db: -160, open: 0, vowels: [0, 0, 0, 0, 0] }, true);
    if (remember) {
      this.wanted = false;
      this.stored = "off";
      safeSet(MIC_KEY, "off");
    }
    this.show();
  }

  frame(samples, sampleRate) {
    if (!this.on) return;
    const result = analyse(samples, sampleRate, this.state);
    this.last = result;
    this.frames++;
    this.send(result, false);
    this.meter(result);
  }

  send(result, muted) {
    const ch = this.channel;
    if (!ch || ch.readyState !== "open" || ch.bufferedAmount > MAX_BUFFERED) return;
    this.seq = (this.seq + 1) >>> 0;
    try {
      ch.send(encodeVoice(this.seq, result, muted));
    } catch { /* closing: the next session's channel takes over */ }
  }

  meter(result) {
    if (!this.ui.meter) return;
    const level = Math.max(0, Math.min(1, (result.db + 70) / 60));
    this.ui.meter.style.width = `${Math.round(level * 100)}%`;
    this.ui.meter.dataset.open = result.open > 0 ? "yes" : "no";
  }

  /** The server's view of the voice path (the status message's `voice`). */
  status(voice) {
    if (!this.ui.source) return;
    const source = voice?.source;
    this.ui.source.textContent = source === "camera" ? "mouth: camera" : source === "voice" ? "mouth: voice" : "mouth: —";
    this.ui.source.dataset.tone = source ? "ok" : "";
    if (voice?.refused && voice.last_error && voice.refused !== this.refused) {
      this.toast(`the server refused lip-sync messages: ${voice.last_error}`, "error");
    }
    this.refused = voice?.refused ?? 0;
  }

  show() {
    const { toggle, label } = this.ui;
    if (toggle) {
      toggle.setAttribute("aria-pressed", String(this.on));
      toggle.textContent = this.on ? "Mic on" : "Mic off";
      toggle.classList.toggle("primary", this.on);
    }
    if (label) label.textContent = this.on ? "lip-sync from your voice" : "lip-sync off";
    if (!this.on && this.ui.meter) this.ui.meter.style.width = "0%";
  }
}

function safeGet(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function safeSet(key, value) {
  try {
    localStorage.setItem(key, value);
  } catch { /* storage off: the toggle still works for this page */ }
}
