// The animation creator's data: tracks of keys, events, loop, length and name, and their
// translation to (and from) the engine's clip JSON (content/README.md, "Animation clip").
//
// The page checks a clip with the same rules as engine/anim/loader.py and the limits of
// webapi/library/animations.py (ClipLimits) so that it can say what is wrong, naming the
// JSON path, before the server is asked; the server stays the judge (its 400/413 is shown too).
//
// A bezier key keeps its handles NORMALISED to its segment (x: fraction of the time from the
// previous key, y: fraction of the value change), so moving a key never pushes its control
// points out of [previous key time, key time], which the loader refuses. They become
// absolute seconds and value units only in `toDefinition`.

export const CHANNELS = { rotation: 1, position: 2, scale: 2, shear: 2 }; // TARGET_NAMES/DIMS
export const INTERPS = ["linear", "catmullrom", "step", "bezier"]; // engine/kernels/curves.py
export const LIMITS = Object.freeze({
  keys: 2000, // every key of every timeline, and events (ClipLimits.max_keys)
  timelines: 200, // bone channels, slot and parameter timelines
  length: 60, // seconds
  name: 64, // characters
  bytes: 64 * 1024, // the definition as compact JSON
  events: 256, // the page's own bound on the events row
});
export const EASE = [1 / 3, 0, 2 / 3, 1]; // default bezier handles: ease in and out
const CONTROL = /[\x00-\x1f\x7f]/; // eslint-disable-line no-control-regex
const SAME_TIME = 1e-4; // two keys closer than this are one key

/** A key: {time, value: number[], interp, handles: [x1, y1, x2, y2]}. */
export function makeKey(time, value, interp = "linear", handles = EASE) {
  return { time, value: [...value], interp, handles: [...handles] };
}

export const trackId = (kind, owner, channel = "") =>
  kind === "param" ? `param:${owner}` : `bone:${owner}:${channel}`;

export class TimelineModel {
  constructor() {
    this.name = "";
    this.length = 2;
    this.looping = false;
    this.tracks = []; // {id, kind: "bone"|"param", owner, channel, dims, keys: [key]}
    this.events = []; // {time, name, string}
  }

  track(id) {
    return this.tracks.find((t) => t.id === id) ?? null;
  }

  /** The track for a bone channel or a parameter, made when missing. */
  addTrack(kind, owner, channel = "") {
    const id = trackId(kind, owner, channel);
    let t = this.track(id);
    if (!t) {
      const dims = kind === "param" ? 1 : CHANNELS[channel];
      if (!dims) throw new Error(`unknown channel "${channel}"`);
      t = { id, kind, owner, channel: kind === "param" ? "" : channel, dims, keys: [] };
      this.tracks.push(t);
    }
    return t;
  }

  removeTrack(id) {
    this.tracks = this.tracks.filter((t) => t.id !== id);
  }

  /** Put a key at `time` (replacing one already there); returns it. */
  setKey(track, time, value, interp) {
    let key = track.keys.find((k) => Math.abs(k.time - time) < SAME_TIME);
    if (key) {
      key.value = [...value];
      if (interp) key.interp = interp;
    } else {
      key = makeKey(time, value, interp ?? "linear");
      track.keys.push(key);
      sortKeys(track);
    }
    return key;
  }

  removeKey(track, key) {
    track.keys = track.keys.filter((k) => k !== key);
  }

  /** Move `key` to `time` (clamped to the clip); a key already there gives way. */
  moveKey(track, key, time) {
    key.time = Math.min(this.length, Math.max(0, time));
    track.keys = track.keys.filter((k) => k === key || Math.abs(k.time - key.time) >= SAME_TIME);
    sortKeys(track);
  }

  keyCount() {
    return this.tracks.reduce((n, t) => n + t.keys.length, 0) + this.events.length;
  }

  /** The engine's clip JSON. */
  toDefinition() {
    const def = { schema: 1, name: this.name.trim(), length: this.length, looping: this.looping };
    const bones = {};
    const parameters = {};
    for (const t of this.tracks) {
      if (!t.keys.length) continue; // the loader wants at least one key per timeline
      const keys = t.keys.map((k, i) => keyJson(k, t.keys[i - 1], t.dims));
      if (t.kind === "param") parameters[t.owner] = keys;
      else (bones[t.owner] ??= {})[t.channel] = keys;
    }
    if (Object.keys(bones).length) def.bones = bones;
    if (Object.keys(parameters).length) def.parameters = parameters;
    if (this.events.length) {
      def.events = [...this.events]
        .sort((a, b) => a.time - b.time)
        .map((e) => ({ time: e.time, name: e.name, ...(e.string ? { string: e.string } : {}) }));
    }
    return def;
  }

  toJSON() {
    return { name: this.name, length: this.length, looping: this.looping, tracks: this.tracks, events: this.events };
  }

  /** A model from `toJSON()` (the undo history and sessionStorage keep that form). */
  static fromJSON(data) {
    const m = new TimelineModel();
    m.name = String(data?.name ?? "");
    m.length = Number(data?.length ?? 2);
    m.looping = Boolean(data?.looping);
    m.tracks = (data?.tracks ?? []).map((t) => ({ ...t, keys: t.keys.map((k) => makeKey(k.time, k.value, k.interp, k.handles)) }));
    m.events = (data?.events ?? []).map((e) => ({ ...e }));
    return m;
  }

  /** A model from an engine clip (a saved or built-in animation to start from). */
  static fromDefinition(def) {
    const m = new TimelineModel();
    m.name = String(def.name ?? "");
    m.length = Number(def.length ?? 2);
    m.looping = Boolean(def.looping);
    const add = (kind, owner, channel, keys) => {
      const t = m.addTrack(kind, owner, channel);
      t.keys = keys.map((k, i) => fromKeyJson(k, keys[i - 1], t.dims));
    };
    for (const [bone, chans] of Object.entries(def.bones ?? {})) {
      for (const [channel, keys] of Object.entries(chans)) if (CHANNELS[channel]) add("bone", bone, channel, keys);
    }
    for (const [pid, keys] of Object.entries(def.parameters ?? {})) add("param", pid, "", keys);
    m.events = (def.events ?? []).map((e) => ({ time: e.time, name: e.name, string: e.string ?? "" }));
    return m;
  }
}

function sortKeys(track) {
  track.keys.sort((a, b) => a.time - b.time);
}

const round = (x) => Math.round(x * 1e6) / 1e6; // keeps the JSON short, times exact enough

function keyJson(key, prev, dims) {
  const out = { time: round(key.time), value: dims === 1 ? key.value[0] : key.value.slice(0, dims) };
  if (key.interp !== "linear") out.interp = key.interp;
  if (key.interp === "bezier") {
    const t0 = prev ? prev.time : key.time;
    const dt = key.time - t0;
    const [x1, y1, x2, y2] = key.handles;
    out.curve = [];
    for (let d = 0; d < dims; d++) {
      const v0 = prev ? prev.value[d] : key.value[d];
      const dv = key.value[d] - v0;
      // clamped into the segment: rounding must not put a handle a hair outside it
      const cx = (x) => Math.min(key.time, Math.max(t0, round(t0 + x * dt)));
      out.curve.push(cx(x1), round(v0 + y1 * dv), cx(x2), round(v0 + y2 * dv));
    }
  }
  return out;
}

function fromKeyJson(k, prev, dims) {
  const value = Array.isArray(k.value) ? k.value.map(Number) : [Number(k.value)];
  let handles = EASE;
  if (k.interp === "bezier" && Array.isArray(k.curve) && prev) {
    const t0 = prev.time;
    const v0 = Array.isArray(prev.value) ? prev.value[0] : prev.value;
    const dt = k.time - t0;
    const dv = value[0] - v0;
    const [cx1, cy1, cx2, cy2] = k.curve;
    handles = [
      dt > 0 ? (cx1 - t0) / dt : EASE[0],
      dv !== 0 ? (cy1 - v0) / dv : EASE[1],
      dt > 0 ? (cx2 - t0) / dt : EASE[2],
      dv !== 0 ? (cy2 - v0) / dv : EASE[3],
    ];
  }
  return makeKey(Number(k.time), value.slice(0, dims), k.interp ?? "linear", handles);
}

/** What the server would refuse, as [{path, message}] (empty: fine). `info` is the rig as
 * the studio's hello tells it: {bones: [{name}], parameters: [{id, min, max}]}. The counts
 * come first, as on the server: a 10,000-key clip is refused without walking every key. */
export function validate(model, info) {
  const errors = [];
  const fail = (path, message) => errors.push({ path, message });
  const name = model.name.trim();
  if (!name) fail("name", "give the animation a name");
  else if (name.length > LIMITS.name) fail("name", `at most ${LIMITS.name} characters (got ${name.length})`);
  else if (CONTROL.test(name)) fail("name", "must not contain control characters");
  if (!Number.isFinite(model.length) || model.length <= 0) fail("definition.length", `must be a number > 0, got ${model.length}`);
  else if (model.length > LIMITS.length) fail("definition.length", `the clip is too long: ${model.length} s (at most ${LIMITS.length} s)`);
  const keys = model.keyCount();
  if (keys > LIMITS.keys) fail("definition", `too many keys: ${keys} keys and events (at most ${LIMITS.keys})`);
  const timelines = model.tracks.filter((t) => t.keys.length).length;
  if (timelines > LIMITS.timelines) fail("definition", `too many timelines: ${timelines} (at most ${LIMITS.timelines})`);
  if (model.events.length > LIMITS.events) fail("definition.events", `at most ${LIMITS.events} events`);
  if (errors.length) return errors;

  const bones = new Set((info?.bones ?? []).map((b) => b.name));
  const params = new Map((info?.parameters ?? []).map((p) => [p.id, p]));
  for (const t of model.tracks) {
    const base = t.kind === "param" ? `definition.parameters.${t.owner}` : `definition.bones.${t.owner}.${t.channel}`;
    if (t.kind === "bone" && bones.size && !bones.has(t.owner)) fail(`definition.bones.${t.owner}`, `unknown bone "${t.owner}"`);
    const p = params.get(t.owner);
    if (t.kind === "param" && params.size && !p) fail(`definition.parameters.${t.owner}`, `unknown parameter "${t.owner}"`);
    let prev = -1;
    t.keys.forEach((k, i) => {
      const at = `${base}[${i}]`;
      if (!Number.isFinite(k.time) || k.time < 0 || k.time > model.length) fail(`${at}.time`, `must be within 0..${model.length}, got ${k.time}`);
      else if (k.time <= prev) fail(`${at}.time`, `key times must increase (previous key is at ${prev})`);
      prev = k.time;
      if (k.value.length !== t.dims || !k.value.every(Number.isFinite)) fail(`${at}.value`, `expected ${t.dims === 1 ? "a finite number" : `${t.dims} finite numbers`}, got ${JSON.stringify(k.value.map(String))}`);
      else if (p && (k.value[0] < p.min || k.value[0] > p.max)) fail(`${at}.value`, `${k.value[0]} is outside ${t.owner}'s range ${p.min}..${p.max}`);
      if (!INTERPS.includes(k.interp)) fail(`${at}.interp`, `expected one of ${INTERPS.join(", ")}`);
      if (k.interp === "bezier" && !(k.handles.length === 4 && k.handles.every(Number.isFinite) && k.handles[0] >= 0 && k.handles[0] <= 1 && k.handles[2] >= 0 && k.handles[2] <= 1)) {
        fail(`${at}.curve`, "control point times must lie within the segment");
      }
    });
  }
  model.events.forEach((e, i) => {
    if (!Number.isFinite(e.time) || e.time < 0 || e.time > model.length) fail(`definition.events[${i}].time`, `must be within 0..${model.length}, got ${e.time}`);
    if (!e.name || typeof e.name !== "string") fail(`definition.events[${i}].name`, "expected a name");
  });
  if (!errors.length) {
    const size = new TextEncoder().encode(JSON.stringify(model.toDefinition())).length;
    if (size > LIMITS.bytes) fail("definition", `the clip is too large: ${size} bytes as compact JSON (at most ${LIMITS.bytes})`);
  }
  return errors;
}

/** The value of `track` at `time` per the engine's rules (the value field's default). */
export function sampleTrack(track, time) {
  const ks = track.keys;
  if (!ks.length) return null;
  let j = ks.findIndex((k) => time <= k.time);
  if (j < 0) return [...ks[ks.length - 1].value];
  const i = Math.max(0, j - 1);
  j = Math.min(i + 1, ks.length - 1);
  const a = i === j ? 0 : Math.min(1, Math.max(0, (time - ks[i].time) / (ks[j].time - ks[i].time)));
  if (ks[j].interp === "step") return [...(a < 1 ? ks[i].value : ks[j].value)];
  return ks[i].value.map((v, d) => v + (ks[j].value[d] - v) * a); // linear is near enough for a default
}
