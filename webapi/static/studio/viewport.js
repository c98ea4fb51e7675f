// The studio's viewport: the session's video with a canvas over it for handles and bones.
// Coordinates: "pixels" are the stream's own pixels (0..videoWidth, y down), "world" is the
// engine's space (y up); the status's frame_rect [x0, y0, x1, y1] maps one onto the other:
// px = (x - x0) / (x1 - x0) * W, py = (y1 - y) / (y1 - y0) * H (the session's framing is
// fixed, so the mapping only changes with the stream size).

export class Viewport {
  constructor(video, canvas) {
    this.video = video;
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.frameRect = null;
    this.drawers = [];
    this.dragHandlers = [];
    this.drag = null; // {handler} while a pointer is down on something a handler took
    canvas.addEventListener("pointerdown", (e) => this.pointer("start", e));
    canvas.addEventListener("pointermove", (e) => this.pointer("move", e));
    canvas.addEventListener("pointerup", (e) => this.pointer("end", e));
    canvas.addEventListener("pointercancel", (e) => this.pointer("end", e));
    const loop = () => {
      this.draw();
      requestAnimationFrame(loop);
    };
    requestAnimationFrame(loop);
  }

  /** The stream's size in pixels (512 x 512 until the first frame says otherwise). */
  get size() {
    return { w: this.video.videoWidth || 512, h: this.video.videoHeight || 512 };
  }

  setFrameRect(rect) {
    if (Array.isArray(rect) && rect.length === 4 && rect.every(Number.isFinite)) this.frameRect = rect;
  }

  /** Stream pixels -> engine point (null before the session said its frame). */
  toWorld(px, py) {
    const r = this.frameRect;
    if (!r) return null;
    const { w, h } = this.size;
    return [r[0] + (px / w) * (r[2] - r[0]), r[3] - (py / h) * (r[3] - r[1])];
  }

  /** Engine point -> stream pixels. */
  toPixel(x, y) {
    const r = this.frameRect;
    if (!r) return null;
    const { w, h } = this.size;
    return [((x - r[0]) / (r[2] - r[0])) * w, ((r[3] - y) / (r[3] - r[1])) * h];
  }

  /** Pixels of a pointer event (CSS pixels on the canvas scaled to the stream's). */
  eventPixel(e) {
    const box = this.canvas.getBoundingClientRect();
    const { w, h } = this.size;
    return [((e.clientX - box.left) / box.width) * w, ((e.clientY - box.top) / box.height) * h];
  }

  /** `handler(phase, {px, py, x, y, event})`, phase "start" | "move" | "end"; a handler
   * returning true from "start" takes the drag (its moves and end), others do not see it. */
  onDrag(handler) {
    this.dragHandlers.push(handler);
  }

  /** `fn(ctx, viewport)` draws over the video each animation frame (canvas in pixels). */
  onDraw(fn) {
    this.drawers.push(fn);
  }

  pointer(phase, e) {
    const [px, py] = this.eventPixel(e);
    const world = this.toWorld(px, py);
    const at = { px, py, x: world?.[0], y: world?.[1], event: e };
    if (phase === "start") {
      this.drag = null;
      for (const h of this.dragHandlers) {
        if (h("start", at) === true) {
          this.drag = { handler: h };
          this.canvas.setPointerCapture(e.pointerId);
          e.preventDefault();
          break;
        }
      }
      return;
    }
    if (!this.drag) return;
    this.drag.handler(phase, at);
    if (phase === "end") this.drag = null;
  }

  draw() {
    const { w, h } = this.size;
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
    }
    this.ctx.clearRect(0, 0, w, h);
    for (const fn of this.drawers) fn(this.ctx, this);
  }
}
