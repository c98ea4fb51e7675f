// Small DOM helpers shared by the studio's panels: elements, a labelled slider with its
// number field (both keyboard-usable), and a throttle. User text always goes in as text.

let uid = 0;

/** `el("button", {className: "btn", textContent: "Go"}, child...)`. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("aria-") || k === "role" || k === "for") node.setAttribute(k, v);
    else node[k] = v;
  }
  node.append(...children.filter((c) => c != null));
  return node;
}

/** A number checked against its range: the value, or an Error naming `name` and the range. */
export function checkNumber(name, raw, min, max) {
  const text = String(raw).trim();
  const v = text === "" ? NaN : Number(text);
  if (!Number.isFinite(v)) return new Error(`${name} must be a number (got "${text.slice(0, 20)}")`);
  if (v < min || v > max) return new Error(`${name} must be within ${min}..${max} (got ${v})`);
  return v;
}

/**
 * A row "label | range | number" for a value in min..max. `onInput(v)` while it moves (live
 * preview), `onCommit(v)` when it is let go or a number is entered (an undo entry), and
 * `onError(message)` for a number field that holds no valid value (nothing is sent then).
 */
export function sliderRow({ label, min, max, step, value, onInput, onCommit, onError, name }) {
  const id = `studio-slider-${++uid}`;
  const range = el("input", { type: "range", id, min, max, step, value });
  const number = el("input", { type: "number", min, max, step, value, "aria-label": `${label} value` });
  range.dataset.name = name ?? label;
  number.dataset.name = name ?? label;
  const row = el("div", { className: "slider-row" }, el("label", { htmlFor: id, textContent: label, title: label }), range, number);
  range.addEventListener("input", () => {
    number.value = range.value;
    onInput?.(Number(range.value));
  });
  range.addEventListener("change", () => onCommit?.(Number(range.value)));
  number.addEventListener("change", () => {
    const v = checkNumber(name ?? label, number.value, Number(min), Number(max));
    if (v instanceof Error) {
      onError?.(v.message);
      number.value = range.value; // back to the value the avatar has
      return;
    }
    range.value = String(v);
    onCommit?.(v);
  });
  return {
    row,
    range,
    number,
    set(v) {
      if (document.activeElement === range || document.activeElement === number) return;
      range.value = String(v);
      number.value = String(v);
    },
    set disabled(on) {
      range.disabled = on;
      number.disabled = on;
    },
  };
}

/** `fn` at most once every `ms` (the newest arguments win; the last call always runs). */
export function throttle(fn, ms) {
  let timer = null;
  let args = null;
  let last = 0;
  return (...a) => {
    args = a;
    if (timer) return;
    const wait = Math.max(0, last + ms - performance.now());
    timer = setTimeout(() => {
      timer = null;
      last = performance.now();
      fn(...args);
    }, wait);
  };
}
