// Drawing the timeline and what the pointer does on it: a ruler (click or drag it to scrub),
// one row per track with its keys as diamonds (click selects, drag moves the key in time),
// an events row (triangles), and the playhead. No state of its own beyond the gesture under
// way: the panel (timeline.js) owns the model and the selection and redraws after each change.

const ROW = 22;
const RULER = 20;
const LABEL = 150;
const DIAMOND = 6;
const HIT = 8; // px around a key that counts as a click on it
const RIGHT = 20; // room right of the clip's end for the last key and its time

export class TimelineView {
  /** `panel` gives: model, selection {track, key} | null, time; and the callbacks
   * select(track, key), moveKey(track, key, time, done), scrub(time, done), selectEvent(i). */
  constructor(panel) {
    this.panel = panel;
    this.canvas = document.createElement("canvas");
    this.canvas.className = "tl-canvas";
    this.canvas.tabIndex = 0;
    this.canvas.setAttribute("role", "application");
    this.canvas.setAttribute("aria-label", "Timeline: Space plays, arrow keys move the playhead, Delete removes the selected key");
    this.drag = null; // {kind: "key"|"scrub", track, key, moved}
    this.canvas.addEventListener("pointerdown", (e) => this.down(e));
    this.canvas.addEventListener("pointermove", (e) => this.move(e));
    this.canvas.addEventListener("pointerup", (e) => this.up(e));
    this.canvas.addEventListener("pointercancel", (e) => this.up(e));
    new ResizeObserver(() => this.draw()).observe(this.canvas);
  }

  get width() {
    return Math.max(320, Math.round(this.canvas.clientWidth || 600));
  }

  rows() {
    return this.panel.model.tracks.length + 1; // + the events row
  }

  timeToX(t) {
    const span = this.width - LABEL - RIGHT;
    return LABEL + (t / this.panel.model.length) * span;
  }

  xToTime(x) {
    const span = this.width - LABEL - RIGHT;
    const t = ((x - LABEL) / span) * this.panel.model.length;
    return Math.min(this.panel.model.length, Math.max(0, t));
  }

  /** The pixel centre of a key (tests click these). */
  keyPoint(trackIndex, key) {
    return [this.timeToX(key.time), RULER + trackIndex * ROW + ROW / 2];
  }

  draw() {
    const { model, selection, time } = this.panel;
    const w = this.width;
    const h = RULER + this.rows() * ROW + 4;
    const dpr = window.devicePixelRatio || 1;
    if (this.canvas.width !== w * dpr || this.canvas.height !== h * dpr) {
      this.canvas.width = w * dpr;
      this.canvas.height = h * dpr;
      this.canvas.style.height = `${h}px`;
    }
    const ctx = this.canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const css = getComputedStyle(this.canvas);
    const fg = css.color || "#ddd";
    ctx.clearRect(0, 0, w, h);
    ctx.font = "11.5px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    // ruler: a tick every tenth of a second or second, whichever fits
    const step = model.length > 6 ? 1 : model.length > 1.5 ? 0.5 : 0.1;
    ctx.fillStyle = fg;
    ctx.strokeStyle = "rgba(127,127,127,0.45)";
    for (let t = 0; t <= model.length + 1e-9; t += step) {
      const x = Math.round(this.timeToX(t)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(x, RULER - 6);
      ctx.lineTo(x, h);
      ctx.stroke();
      ctx.fillText(t.toFixed(step < 1 ? 1 : 0), x + 2, RULER / 2 - 2);
    }
    const rows = [...model.tracks.map((t) => label(t)), "events"];
    rows.forEach((text, i) => {
      const y = RULER + i * ROW;
      if (selection && selection.track === model.tracks[i]) {
        ctx.fillStyle = "rgba(80,160,255,0.15)";
        ctx.fillRect(0, y, w, ROW);
      }
      ctx.fillStyle = fg;
      ctx.fillText(fit(ctx, text, LABEL - 14), 6, y + ROW / 2);
      ctx.strokeStyle = "rgba(127,127,127,0.25)";
      ctx.beginPath();
      ctx.moveTo(0, y + ROW + 0.5);
      ctx.lineTo(w, y + ROW + 0.5);
      ctx.stroke();
    });
    model.tracks.forEach((track, i) => {
      for (const key of track.keys) {
        const [x, y] = this.keyPoint(i, key);
        const on = selection?.key === key;
        ctx.fillStyle = on ? "#ffcc33" : INTERP_COLOURS[key.interp] ?? "#aaa";
        ctx.beginPath();
        ctx.moveTo(x, y - DIAMOND);
        ctx.lineTo(x + DIAMOND, y);
        ctx.lineTo(x, y + DIAMOND);
        ctx.lineTo(x - DIAMOND, y);
        ctx.closePath();
        ctx.fill();
        if (on) {
          ctx.strokeStyle = fg;
          ctx.stroke();
        }
      }
    });
    const ey = RULER + model.tracks.length * ROW + ROW / 2;
    model.events.forEach((ev, i) => {
      const x = this.timeToX(ev.time);
      ctx.fillStyle = this.panel.selectedEvent === i ? "#ffcc33" : "#e77";
      ctx.beginPath();
      ctx.moveTo(x - 5, ey - 6);
      ctx.lineTo(x + 5, ey - 6);
      ctx.lineTo(x, ey + 6);
      ctx.closePath();
      ctx.fill();
    });
    const px = Math.round(this.timeToX(time)) + 0.5;
    ctx.strokeStyle = "#f44";
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.moveTo(px, 0);
    ctx.lineTo(px, h);
    ctx.stroke();
    ctx.lineWidth = 1;
  }

  local(e) {
    const r = this.canvas.getBoundingClientRect();
    return [e.clientX - r.left, e.clientY - r.top];
  }

  /** What is under (x, y): {kind: "key", track, key} | {kind: "event", index} |
   * {kind: "row", track} | {kind: "ruler"} | null. */
  hit(x, y) {
    const { model } = this.panel;
    if (y < RULER) return { kind: "ruler" };
    const row = Math.floor((y - RULER) / ROW);
    if (row < model.tracks.length) {
      const track = model.tracks[row];
      let best = null;
      let bestD = HIT;
      for (const key of track.keys) {
        const d = Math.abs(this.timeToX(key.time) - x);
        if (d <= bestD) [best, bestD] = [key, d];
      }
      return best ? { kind: "key", track, key: best } : { kind: "row", track };
    }
    if (row === model.tracks.length) {
      const i = model.events.findIndex((ev) => Math.abs(this.timeToX(ev.time) - x) <= HIT);
      if (i >= 0) return { kind: "event", index: i };
    }
    return null;
  }

  down(e) {
    const [x, y] = this.local(e);
    const what = this.hit(x, y);
    this.canvas.focus();
    if (!what) return;
    this.canvas.setPointerCapture(e.pointerId);
    if (what.kind === "key") {
      this.panel.select(what.track, what.key);
      this.drag = { kind: "key", track: what.track, key: what.key, x, moved: false };
    } else if (what.kind === "event") {
      this.panel.selectEvent(what.index);
    } else if (what.kind === "row") {
      this.panel.select(what.track, null);
      if (x > LABEL) this.startScrub(x);
    } else if (x > LABEL) {
      this.startScrub(x);
    }
  }

  startScrub(x) {
    this.drag = { kind: "scrub" };
    this.panel.scrub(this.xToTime(x), false);
  }

  move(e) {
    if (!this.drag) return;
    const [x] = this.local(e);
    if (this.drag.kind === "scrub") {
      this.panel.scrub(this.xToTime(x), false);
    } else if (this.drag.moved || Math.abs(x - this.drag.x) > 3) {
      // a small jitter of a click is not a move
      this.drag.moved = true;
      this.panel.moveKey(this.drag.track, this.drag.key, this.xToTime(x), false);
    }
  }

  up(e) {
    const drag = this.drag;
    this.drag = null;
    if (!drag) return;
    const [x] = this.local(e);
    if (drag.kind === "scrub") this.panel.scrub(this.xToTime(x), true);
    else if (drag.moved) this.panel.moveKey(drag.track, drag.key, this.xToTime(x), true);
  }
}

const INTERP_COLOURS = { linear: "#6ab0ff", catmullrom: "#7dd87d", step: "#c9a0ff", bezier: "#ff9e4a" };

/** `text` cut (with an ellipsis) to `width` px: the label column never runs into the keys. */
function fit(ctx, text, width) {
  if (ctx.measureText(text).width <= width) return text;
  let n = text.length;
  while (n > 1 && ctx.measureText(`${text.slice(0, n)}…`).width > width) n -= 1;
  return `${text.slice(0, n)}…`;
}

function label(track) {
  return track.kind === "param" ? track.owner : `${track.owner} ${track.channel}`;
}
