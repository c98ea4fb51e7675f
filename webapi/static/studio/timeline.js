// The Animation creator panel: a timeline of tracks (a bone's rotation/position/scale/shear,
// or a parameter), keys with an interpolation each (bezier with handles), events, loop,
// length and name. Every edit is one undo entry (studio.history) and, 50 ms after the last,
// the clip goes to the session as its draft (PUT /api/studio/{id}/draft) so the viewport shows
// it; scrubbing and playing steer that draft with {"type": "timeline"} messages. Save posts
// the clip to /api/animations; the page checks it first with the loader's own rules
// (timeline-model.js `validate`) and shows the server's error when it still says no.

import { studio } from "/static/studio/main.js";
import { CurveEditor } from "/static/studio/curve.js";
import { CHANNELS, INTERPS, TimelineModel, sampleTrack, validate } from "/static/studio/timeline-model.js";
import { TimelineView } from "/static/studio/timeline-view.js";

const DRAFT_DELAY_MS = 50; // edits within this are one draft upload
const FRAME = 1 / 30; // an arrow key moves the playhead one frame (Shift: ten)
const STORE_KEY = () => `digigami.studio.timeline.${studio.avatar?.id ?? "digi"}`;

const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
};
const field = (text, input) => el("label", { className: "tl-field" }, el("span", {}, text), input);
const button = (text, onclick, props = {}) =>
  el("button", { type: "button", textContent: text, onclick, ...props, className: `btn small ${props.className ?? ""}`.trim() });

class TimelinePanel {
  constructor() {
    this.model = restore() ?? starter();
    this.selection = null; // {track, key | null}
    this.selectedEvent = -1;
    this.time = 0;
    this.playing = false;
    this.savedId = null;
    this.draftTimer = null;
    this.drafted = false; // a draft is in the session: timeline messages have a clip to steer
    this.view = new TimelineView(this);
    this.curve = new CurveEditor((handles, done) => this.edit("bezier handles", () => {
      this.selection.key.handles = handles;
    }, done));
    this.element = this.build();
    this.refresh();
  }

  // ---- building the panel ------------------------------------------------------------------

  /** The bones and parameters a track can be added for (hello may come after the build). */
  fillTracks() {
    const hello = studio.hello ?? {};
    const bones = (hello.bones ?? []).map((b) => b.name).filter((n) => n !== "root" && !n.startsWith("ik_"));
    const option = (v) => el("option", { value: v, textContent: v });
    this.trackBone.replaceChildren(...bones.map(option));
    this.trackParam.replaceChildren(...(hello.parameters ?? []).map((p) => option(p.id)));
  }

  build() {
    this.nameInput = el("input", { type: "text", maxLength: 64, placeholder: "my wave", value: this.model.name });
    this.nameInput.addEventListener("change", () => this.edit("name", () => (this.model.name = this.nameInput.value)));
    this.lengthInput = el("input", { type: "number", min: 0.1, max: 60, step: 0.1, value: this.model.length });
    this.lengthInput.addEventListener("change", () => this.edit("length", () => {
      this.model.length = Number(this.lengthInput.value);
      for (const t of this.model.tracks) for (const k of t.keys) k.time = Math.min(k.time, this.model.length);
    }));
    this.loopBox = el("input", { type: "checkbox", checked: this.model.looping });
    this.loopBox.addEventListener("change", () => this.edit("loop", () => (this.model.looping = this.loopBox.checked)));

    this.trackKind = el("select", { className: "tl-track-kind" }, el("option", { value: "bone", textContent: "Bone" }), el("option", { value: "param", textContent: "Parameter" }));
    this.trackBone = el("select", { className: "tl-track-bone" });
    this.trackChannel = el("select", { className: "tl-track-channel" }, ...Object.keys(CHANNELS).map((c) => el("option", { value: c, textContent: c })));
    this.trackParam = el("select", { hidden: true, className: "tl-track-param" });
    for (const [node, text] of [[this.trackKind, "Track kind"], [this.trackBone, "Bone"], [this.trackChannel, "Channel"], [this.trackParam, "Parameter"]]) node.setAttribute("aria-label", text);
    this.fillTracks();
    this.trackKind.addEventListener("change", () => {
      const param = this.trackKind.value === "param";
      this.trackBone.hidden = this.trackChannel.hidden = param;
      this.trackParam.hidden = !param;
    });
    const addTrack = button("Add track", () => this.addTrack());

    this.playButton = button("Play", () => this.setPlaying(!this.playing), { className: "tl-play" });
    this.timeLabel = el("output", { className: "tl-time" });
    this.keyButton = button("Add key", () => this.addKey(), { className: "tl-add-key" });
    this.deleteButton = button("Delete key", () => this.deleteKey());

    this.keyTime = el("input", { type: "number", min: 0, step: 0.01, className: "tl-key-time" });
    this.keyTime.addEventListener("change", () => this.edit("move key", () => this.model.moveKey(this.selection.track, this.selection.key, Number(this.keyTime.value))));
    this.valueBox = el("span", { className: "tl-values" });
    this.interp = el("select", { className: "tl-interp" }, ...INTERPS.map((i) => el("option", { value: i, textContent: i })));
    this.interp.addEventListener("change", () => this.edit("interpolation", () => (this.selection.key.interp = this.interp.value)));
    this.keyEditor = el("fieldset", { className: "tl-key" }, el("legend", { textContent: "Selected key" }),
      field("Time (s)", this.keyTime), this.valueBox, field("Interpolation", this.interp), this.curve.element);

    this.eventName = el("input", { type: "text", maxLength: 40, placeholder: "footstep", className: "tl-event-name" });
    const addEvent = button("Add event at playhead", () => this.addEvent());
    const delEvent = button("Delete event", () => this.deleteEvent());

    this.errors = el("ul", { className: "tl-errors", hidden: true });
    this.errors.setAttribute("role", "alert");
    this.saveButton = button("Save animation", () => this.save(), { className: "primary tl-save" });
    this.after = el("div", { className: "tl-after", hidden: true });

    const root = el("div", { className: "tl-panel" },
      el("div", { className: "tl-row" }, field("Name", this.nameInput), field("Length (s)", this.lengthInput), field("Loop", this.loopBox)),
      el("div", { className: "tl-row" }, this.trackKind, this.trackBone, this.trackChannel, this.trackParam, addTrack),
      el("div", { className: "tl-row tl-transport" }, this.playButton, this.timeLabel, this.keyButton, this.deleteButton),
      this.view.canvas,
      this.keyEditor,
      el("div", { className: "tl-row" }, field("Event", this.eventName), addEvent, delEvent),
      el("div", { className: "tl-row" }, this.saveButton), this.errors, this.after);
    root.addEventListener("keydown", (e) => this.key(e));
    return root;
  }

  // ---- edits: one undo entry each, then the draft ------------------------------------------

  /** Run `change` on the model as one history entry named `label`. `done` false: a gesture
   * still under way (a drag): shown and drafted, recorded when it ends. */
  edit(label, change, done = true) {
    const before = this.gestureStart ?? JSON.stringify(this.model);
    change();
    if (!done) {
      this.gestureStart = before;
    } else {
      this.gestureStart = null;
      const after = JSON.stringify(this.model);
      if (after !== before) {
        studio.history.push({ label: `Timeline: ${label}`, undo: () => this.load(before), redo: () => this.load(after) });
      }
    }
    this.changed();
  }

  load(json) {
    const sel = this.selection ? [this.model.tracks.indexOf(this.selection.track), this.selection.track.keys.indexOf(this.selection.key)] : null;
    this.model = TimelineModel.fromJSON(JSON.parse(json));
    const track = sel ? this.model.tracks[sel[0]] : null;
    this.selection = track ? { track, key: track.keys[sel[1]] ?? null } : null;
    this.nameInput.value = this.model.name;
    this.lengthInput.value = this.model.length;
    this.loopBox.checked = this.model.looping;
    this.changed();
  }

  changed() {
    sessionStorage.setItem(STORE_KEY(), JSON.stringify(this.model));
    this.refresh();
    clearTimeout(this.draftTimer);
    this.draftTimer = setTimeout(() => this.putDraft(), DRAFT_DELAY_MS);
  }

  /** The draft goes to the viewport only when the page finds nothing wrong with it. */
  async putDraft() {
    const problems = validate(this.model, studio.hello);
    const named = problems.filter((p) => p.path !== "name"); // a draft needs no name yet
    this.showErrors(named);
    if (named.length || !this.model.tracks.some((t) => t.keys.length)) return;
    const definition = { ...this.model.toDefinition(), name: this.model.name.trim() || "draft" };
    try {
      await studio.draft.put(definition);
      this.drafted = true;
      studio.send({ type: "timeline", time: this.time, loop: this.model.looping });
    } catch (e) {
      this.showErrors([{ path: "", message: e.message }]);
    }
  }

  addTrack() {
    const param = this.trackKind.value === "param";
    const owner = param ? this.trackParam.value : this.trackBone.value;
    if (!owner) return;
    this.edit("add track", () => {
      const track = this.model.addTrack(param ? "param" : "bone", owner, param ? "" : this.trackChannel.value);
      this.selection = { track, key: null };
    });
  }

  /** The value a new key takes: the pose's offset for a bone's rotation, else the track's
   * value at the playhead, else the channel's rest value. */
  currentValue(track) {
    if (track.kind === "bone" && track.channel === "rotation") {
      const off = studio.status?.studio?.pose_offsets?.[track.owner];
      if (Number.isFinite(off)) return [off];
    }
    const sampled = sampleTrack(track, this.time);
    if (sampled) return sampled;
    if (track.kind === "param") return [(studio.hello?.parameters ?? []).find((p) => p.id === track.owner)?.default ?? 0];
    return track.channel === "scale" ? [1, 1] : new Array(track.dims).fill(0);
  }

  addKey() {
    const track = this.selection?.track ?? this.model.tracks[0];
    if (!track) {
      studio.toast("Add a track first (bone channel or parameter).", "error");
      return;
    }
    this.edit("add key", () => {
      const key = this.model.setKey(track, this.time, this.currentValue(track));
      this.selection = { track, key };
    });
  }

  deleteKey() {
    const sel = this.selection;
    if (!sel?.key) return;
    this.edit("delete key", () => {
      this.model.removeKey(sel.track, sel.key);
      this.selection = { track: sel.track, key: null };
    });
  }

  addEvent() {
    const name = this.eventName.value.trim();
    if (!name) {
      studio.toast("Name the event first.", "error");
      return;
    }
    this.edit("add event", () => this.model.events.push({ time: this.time, name, string: "" }));
  }

  deleteEvent() {
    if (this.selectedEvent < 0) return;
    this.edit("delete event", () => this.model.events.splice(this.selectedEvent, 1));
    this.selectedEvent = -1;
  }

  /** A pose from the Pose panel: a rotation key per posed bone at the playhead. */
  poseKey(bones) {
    const entries = Object.entries(bones ?? {}).filter(([, v]) => Number.isFinite(v));
    if (!entries.length) return;
    this.edit("pose as keys", () => {
      for (const [bone, deg] of entries) {
        const track = this.model.addTrack("bone", bone, "rotation");
        this.selection = { track, key: this.model.setKey(track, this.time, [deg]) };
      }
    });
  }

  // ---- the view's callbacks ----------------------------------------------------------------

  select(track, key) {
    this.selection = { track, key };
    this.selectedEvent = -1;
    this.refresh();
  }

  selectEvent(i) {
    this.selectedEvent = i;
    this.selection = null;
    this.refresh();
  }

  moveKey(track, key, time, done) {
    this.edit("move key", () => this.model.moveKey(track, key, time), done);
  }

  scrub(time, done) {
    if (this.playing) this.setPlaying(false);
    this.time = Math.min(this.model.length, Math.max(0, time));
    this.refresh();
    // before the first draft the session has nothing to scrub (it would answer an error)
    if (this.drafted && (done || !this.scrubSent || performance.now() - this.scrubSent > 30)) {
      this.scrubSent = performance.now();
      studio.send({ type: "timeline", time: this.time });
    }
  }

  setPlaying(on) {
    if (!this.drafted) {
      studio.toast("Add a key first: the viewport plays the animation once it has one.", "error");
      return;
    }
    this.playing = on;
    studio.send({ type: "timeline", playing: on, loop: this.model.looping, ...(on ? {} : { time: this.time }) });
    this.refresh();
  }

  /** Space plays, arrows move the playhead, Delete removes the selected key; not while
   * typing in a field. */
  key(e) {
    const t = e.target;
    if (t.matches?.("input[type=text], input[type=number], select, textarea")) return;
    if (e.code === "Space") {
      this.setPlaying(!this.playing);
    } else if (e.key === "ArrowLeft" || e.key === "ArrowRight") {
      const step = (e.shiftKey ? 10 : 1) * FRAME * (e.key === "ArrowLeft" ? -1 : 1);
      this.scrub(this.time + step, true);
    } else if (e.key === "Delete" || e.key === "Backspace") {
      if (this.selectedEvent >= 0) this.deleteEvent();
      else this.deleteKey();
    } else {
      return;
    }
    e.preventDefault();
  }

  // ---- showing -----------------------------------------------------------------------------

  refresh() {
    this.timeLabel.textContent = `${this.time.toFixed(2)} s / ${this.model.length} s`;
    this.playButton.textContent = this.playing ? "Pause" : "Play";
    this.playButton.setAttribute("aria-pressed", String(this.playing));
    const key = this.selection?.key;
    this.keyEditor.disabled = !key;
    this.deleteButton.disabled = !key;
    this.valueBox.replaceChildren();
    if (key) {
      this.keyTime.value = key.time.toFixed(3);
      this.interp.value = key.interp;
      this.valueBox.append(...this.valueFields(this.selection.track, key));
      if (key.interp === "bezier") this.curve.show(key.handles);
      else this.curve.hide();
    } else {
      this.curve.hide();
    }
    this.view.draw();
  }

  valueFields(track, key) {
    const param = track.kind === "param" ? (studio.hello?.parameters ?? []).find((p) => p.id === track.owner) : null;
    const names = track.dims === 1 ? ["Value"] : ["x", "y"];
    return names.flatMap((n, d) => {
      const input = el("input", { type: "number", step: param ? 0.01 : 1, value: key.value[d], className: "tl-value" });
      input.dataset.dim = d;
      const out = [field(track.dims === 1 && track.channel === "rotation" ? "Value (°)" : n, input)];
      input.addEventListener("change", () => this.edit("key value", () => (key.value[d] = Number(input.value))));
      if (param) {
        const slider = el("input", { type: "range", min: param.min, max: param.max, step: (param.max - param.min) / 100, value: key.value[d], className: "tl-slider" });
        slider.setAttribute("aria-label", `${track.owner} value`);
        slider.addEventListener("input", () => this.edit("key value", () => (key.value[d] = Number(slider.value)), false));
        slider.addEventListener("change", () => this.edit("key value", () => (key.value[d] = Number(slider.value))));
        out.push(slider);
      }
      return out;
    });
  }

  showErrors(problems) {
    this.errors.hidden = !problems.length;
    this.errors.replaceChildren(...problems.slice(0, 8).map((p) => el("li", { textContent: p.path ? `${p.path}: ${p.message}` : p.message })));
  }

  /** The status tells where a playing draft is: the playhead follows it. */
  follow(status) {
    const s = status?.studio;
    if (!s || !this.playing || !Number.isFinite(s.time)) return;
    this.time = s.time;
    this.refresh();
  }

  async save() {
    const problems = validate(this.model, studio.hello);
    this.showErrors(problems);
    if (problems.length) {
      studio.toast(`Not saved: ${problems[0].path}: ${problems[0].message}`, "error");
      return;
    }
    this.saveButton.disabled = true;
    try {
      const res = await fetch("/api/animations", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ name: this.model.name.trim(), rig: studio.avatar?.rig ?? "digi", definition: this.model.toDefinition() }),
      });
      const answer = await res.json().catch(() => ({}));
      if (!res.ok) throw new Error(answer.error ?? `${res.status} ${res.statusText}`);
      this.savedId = answer.id;
      this.showSaved(answer);
      window.dispatchEvent(new CustomEvent("studio:animation-saved", { detail: { id: answer.id, name: answer.name } }));
      studio.toast(`Saved "${answer.name}"`, "ok");
    } catch (e) {
      this.showErrors([{ path: "", message: `Not saved: ${e.message}` }]);
      studio.toast(`Not saved: ${e.message}`, "error");
    } finally {
      this.saveButton.disabled = false;
    }
  }

  showSaved(clip) {
    const id = encodeURIComponent(clip.id);
    this.after.hidden = false;
    this.after.dataset.id = clip.id;
    this.after.replaceChildren(
      el("span", { textContent: `Saved as "${clip.name}".` }),
      button("Play it here", () => {
        this.scrub(0, true);
        this.setPlaying(true);
      }, { className: "tl-preview" }),
      // a session loads the creator's animations when it opens: a reload lists this one
      el("a", { href: `${location.pathname}#animations`, textContent: "Preview it (reloads the studio)", onclick: (e) => {
        e.preventDefault();
        location.hash = "animations";
        location.reload();
      } }),
      el("a", { href: "/puppet", textContent: "Use as an emote on the puppet page", target: "_blank" }),
      button("Export…", () => window.dispatchEvent(new CustomEvent("studio:export-animation", { detail: { id: clip.id, name: clip.name } }))),
      el("a", { href: `/market/sell?animation=${id}`, textContent: "List on the marketplace" }));
  }
}

/** A new animation's first track: the right upper arm, ready for a wave. */
function starter() {
  const m = new TimelineModel();
  m.addTrack("bone", "upperarm_r", "rotation");
  return m;
}

function restore() {
  try {
    const text = sessionStorage.getItem(STORE_KEY());
    return text ? TimelineModel.fromJSON(JSON.parse(text)) : null;
  } catch {
    return null;
  }
}

let panel = null;
function open() {
  if (panel) return panel;
  panel = new TimelinePanel();
  window.digigamiTimeline = panel; // tests read and force state through this
  return panel;
}

const host = el("section", { className: "tl-host" });
studio.registerPanel({
  id: "timeline",
  title: "Animation",
  element: host,
  onShow() {
    if (!host.firstChild) host.append(open().element);
    panel.refresh();
    if (!panel.drafted && studio.hello) panel.putDraft();
  },
  onHide() {
    if (panel?.playing) panel.setPlaying(false);
    studio.send({ type: "timeline_off" });
  },
});
studio.on("status", (s) => panel?.follow(s));
studio.on("hello", () => {
  // a new session (a reload, a reconnect) has no draft yet: the restored clip goes to it
  panel?.fillTracks();
  if (panel) {
    panel.drafted = false;
    if (!host.hidden) panel.putDraft();
  }
});
window.addEventListener("studio:pose-key", (e) => {
  open().poseKey(e.detail?.bones);
  if (!host.firstChild) host.append(panel.element);
});
