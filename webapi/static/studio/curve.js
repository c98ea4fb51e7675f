// The bezier handle editor of the selected key: the segment arriving at the key drawn in a
// unit square (x: time from the previous key to this one, y: value from the previous key's to
// this one's), its two control points dragged with the mouse or typed in four number fields
// (keyboard access). x stays within 0..1 (the loader wants control times inside the segment);
// y may overshoot (-1..2) for anticipation and overshoot.

const SIZE = { w: 200, h: 150, pad: 24 };
const Y_RANGE = [-1, 2];

const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
};

export class CurveEditor {
  /** `onChange(handles, done)`: handles [x1, y1, x2, y2]; done is true when a drag ends or
   * a field is committed (one undo entry per gesture, not per mouse move). */
  constructor(onChange) {
    this.onChange = onChange;
    this.handles = [1 / 3, 0, 2 / 3, 1];
    this.canvas = el("canvas", { width: SIZE.w, height: SIZE.h, className: "tl-curve-canvas" });
    this.canvas.setAttribute("aria-label", "Bezier curve of the selected key: drag the two handles");
    this.fields = ["x1", "y1", "x2", "y2"].map((name, i) => {
      const input = el("input", { type: "number", step: "0.05", min: i % 2 ? Y_RANGE[0] : 0, max: i % 2 ? Y_RANGE[1] : 1, className: "tl-curve-field" });
      input.dataset.handle = name;
      input.addEventListener("change", () => this.typed());
      return el("label", {}, `${name} `, input);
    });
    this.element = el("div", { className: "tl-curve", hidden: true }, el("div", { className: "tl-curve-title" }, "Bezier handles"), this.canvas, el("div", { className: "tl-curve-fields" }, ...this.fields));
    this.dragging = -1;
    this.canvas.addEventListener("pointerdown", (e) => this.down(e));
    this.canvas.addEventListener("pointermove", (e) => this.move(e));
    this.canvas.addEventListener("pointerup", (e) => this.up(e));
    this.canvas.addEventListener("pointercancel", (e) => this.up(e));
  }

  show(handles) {
    this.element.hidden = false;
    this.handles = [...handles];
    this.draw();
  }

  hide() {
    this.element.hidden = true;
  }

  toPx(x, y) {
    const { w, h, pad } = SIZE;
    const fy = (y - Y_RANGE[0]) / (Y_RANGE[1] - Y_RANGE[0]);
    return [pad + x * (w - 2 * pad), h - (pad / 2 + fy * (h - pad))];
  }

  fromPx(px, py) {
    const { w, h, pad } = SIZE;
    const x = (px - pad) / (w - 2 * pad);
    const fy = (h - pad / 2 - py) / (h - pad);
    return [clamp(x, 0, 1), clamp(Y_RANGE[0] + fy * (Y_RANGE[1] - Y_RANGE[0]), ...Y_RANGE)];
  }

  draw() {
    const ctx = this.canvas.getContext("2d");
    const [x1, y1, x2, y2] = this.handles;
    ctx.clearRect(0, 0, SIZE.w, SIZE.h);
    const p0 = this.toPx(0, 0);
    const p3 = this.toPx(1, 1);
    const c1 = this.toPx(x1, y1);
    const c2 = this.toPx(x2, y2);
    ctx.strokeStyle = "rgba(127,127,127,0.5)";
    ctx.strokeRect(p0[0], p3[1], p3[0] - p0[0], p0[1] - p3[1]);
    ctx.strokeStyle = "#8a8";
    ctx.beginPath();
    ctx.moveTo(...p0);
    ctx.lineTo(...c1);
    ctx.moveTo(...p3);
    ctx.lineTo(...c2);
    ctx.stroke();
    ctx.strokeStyle = "#4af";
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.moveTo(...p0);
    ctx.bezierCurveTo(...c1, ...c2, ...p3);
    ctx.stroke();
    ctx.lineWidth = 1;
    for (const [i, c] of [c1, c2].entries()) {
      ctx.fillStyle = i === this.dragging ? "#fc4" : "#fa3";
      ctx.beginPath();
      ctx.arc(c[0], c[1], 5, 0, 2 * Math.PI);
      ctx.fill();
    }
    this.fields.forEach((label, i) => {
      label.querySelector("input").value = this.handles[i].toFixed(2);
    });
  }

  local(e) {
    const r = this.canvas.getBoundingClientRect();
    return [((e.clientX - r.left) * SIZE.w) / r.width, ((e.clientY - r.top) * SIZE.h) / r.height];
  }

  down(e) {
    const [px, py] = this.local(e);
    const d = [0, 1].map((i) => {
      const [cx, cy] = this.toPx(this.handles[2 * i], this.handles[2 * i + 1]);
      return Math.hypot(cx - px, cy - py);
    });
    const i = d[0] <= d[1] ? 0 : 1;
    if (d[i] > 14) return;
    this.dragging = i;
    this.canvas.setPointerCapture(e.pointerId);
    this.move(e);
  }

  move(e) {
    if (this.dragging < 0) return;
    const [x, y] = this.fromPx(...this.local(e));
    this.handles[2 * this.dragging] = x;
    this.handles[2 * this.dragging + 1] = y;
    this.draw();
    this.onChange([...this.handles], false);
  }

  up() {
    if (this.dragging < 0) return;
    this.dragging = -1;
    this.draw();
    this.onChange([...this.handles], true);
  }

  typed() {
    const values = this.fields.map((label, i) => {
      const v = Number(label.querySelector("input").value);
      return Number.isFinite(v) ? (i % 2 ? clamp(v, ...Y_RANGE) : clamp(v, 0, 1)) : this.handles[i];
    });
    this.handles = values;
    this.draw();
    this.onChange([...this.handles], true);
  }
}

const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
