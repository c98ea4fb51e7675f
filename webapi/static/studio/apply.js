// What the studio session must be told to go from one set of customizations to another:
// the control messages (docs/STREAMING.md) for each part that differs. Undo and redo are
// exactly this, so a part's message always carries all of its values (an undone hue must
// send the neutral hue back, not leave the old one on).

export const NEUTRAL = { hue: 0, saturation: 1, brightness: 1, contrast: 1 };

export function sameJson(a, b) {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

/** `v` with object keys sorted: two equal customizations compare equal as JSON. */
function canonical(v) {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === "object") {
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical(v[k])]));
  }
  return v;
}

/** The messages that turn the session wearing `from` into one wearing `to` (the library is
 * not among them: a new library needs a new session). `hello` gives each category's
 * default label for a category `to` leaves out. */
export function applyDiff(from, to, hello) {
  const msgs = [];
  const fromColors = from?.colors ?? {};
  const toColors = to?.colors ?? {};
  for (const part of new Set([...Object.keys(fromColors), ...Object.keys(toColors)])) {
    const a = { ...NEUTRAL, ...fromColors[part] };
    const b = { ...NEUTRAL, ...toColors[part] };
    if (!sameJson(a, b)) msgs.push({ type: "color", part, ...b });
  }
  const fromSprites = from?.sprites ?? {};
  const toSprites = to?.sprites ?? {};
  for (const category of new Set([...Object.keys(fromSprites), ...Object.keys(toSprites)])) {
    const fallback = hello?.defaults?.[category] ?? (category === "accessories" ? "none" : "default");
    const a = fromSprites[category] ?? fallback;
    const b = toSprites[category] ?? fallback;
    if (a !== b) msgs.push({ type: "swap", category, label: b });
  }
  if ((from?.style ?? "none") !== (to?.style ?? "none")) msgs.push({ type: "style", value: to?.style ?? "none" });
  if (!sameJson(from?.accessories ?? {}, to?.accessories ?? {})) {
    msgs.push({ type: "offsets", offsets: to?.accessories ?? {} });
  }
  if (!sameJson(from?.expressions ?? [], to?.expressions ?? [])) {
    msgs.push({ type: "expressions", list: to?.expressions ?? [] });
  }
  return msgs;
}
