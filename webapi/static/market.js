// The market (/market): search (debounced), type chips, free only, price range, sort, and
// "Load more" through the API's keyset cursor (GET /api/marketplace/assets). The filters
// live in the page's URL too, so a search can be shared and Back returns to it. Names,
// creators and tags are the users' text: set with textContent only (market-common.js `el`).

import { ApiError, TYPES, api, el, parseDollars, price, showThumbnail, stars, thumbnail, typeName } from "/static/market-common.js";

const $ = (id) => document.getElementById(id);
const PAGE = 24;
const DEBOUNCE_MS = 250;

const ui = {
  form: $("filters"),
  q: $("q"),
  types: $("types"),
  free: $("free"),
  min: $("min"),
  max: $("max"),
  sort: $("sort"),
  error: $("filter-error"),
  grid: $("grid"),
  empty: $("empty"),
  more: $("more"),
  note: $("note"),
};

const state = {
  seq: 0, // answers to older requests are dropped: only the latest search shows
  cursor: null,
  shown: 0,
  loading: false,
};
// for tests and the curious: what the page asked and got last
window.digigamiMarket = { state, lastQuery: null };

// ---- the filters ---------------------------------------------------------------------------

function chip(value, label) {
  const b = el("button", { type: "button", className: "chip-btn", "data-type": value }, label);
  b.setAttribute("aria-pressed", "false");
  b.addEventListener("click", () => {
    for (const other of ui.types.querySelectorAll("button")) other.setAttribute("aria-pressed", String(other === b));
    search();
  });
  return b;
}

ui.types.append(chip("", "All"), ...TYPES.map(([value, label]) => chip(value, label)));

function chosenType() {
  return ui.types.querySelector('button[aria-pressed="true"]')?.dataset.type ?? "";
}

/** The API's query (interfaces.md `Query`) from the form; null and an error shown when a
 * price is not an amount. */
function query() {
  const q = new URLSearchParams();
  const text = ui.q.value.trim();
  if (text) q.set("text", text);
  const type = chosenType();
  if (type) q.set("type", type);
  if (ui.free.checked) q.set("free", "true");
  const problems = [];
  for (const [input, name] of [[ui.min, "min_price"], [ui.max, "max_price"]]) {
    const raw = input.value.trim();
    if (!raw) continue;
    const cents = parseDollars(raw);
    if (cents === null) problems.push(`"${raw}" is not a price: write dollars like 5 or 4.99`);
    else q.set(name, String(cents));
    input.setAttribute("aria-invalid", String(cents === null));
  }
  if (problems.length) {
    showError(problems.join("; "));
    return null;
  }
  q.set("sort", ui.sort.value);
  q.set("limit", String(PAGE));
  return q;
}

function showError(text) {
  ui.error.textContent = text || "";
  ui.error.hidden = !text;
}

/** The filters into the address bar (replace: typing is not a history entry per key). */
function remember(q) {
  const shown = new URLSearchParams(q);
  shown.delete("limit");
  if (shown.get("sort") === "newest") shown.delete("sort");
  const url = shown.toString() ? `/market?${shown}` : "/market";
  history.replaceState(null, "", url);
}

function restore() {
  const p = new URLSearchParams(location.search);
  ui.q.value = p.get("text") ?? "";
  const type = p.get("type") ?? "";
  let matched = false;
  for (const b of ui.types.querySelectorAll("button")) {
    const on = b.dataset.type === type;
    matched ||= on;
    b.setAttribute("aria-pressed", String(on));
  }
  if (!matched) ui.types.querySelector("button").setAttribute("aria-pressed", "true");
  ui.free.checked = p.get("free") === "true";
  const dollars = (c) => (c && /^\d+$/.test(c) ? (Number(c) / 100).toString() : "");
  ui.min.value = dollars(p.get("min_price"));
  ui.max.value = dollars(p.get("max_price"));
  const sort = p.get("sort");
  if (sort && [...ui.sort.options].some((o) => o.value === sort)) ui.sort.value = sort;
}

// ---- results --------------------------------------------------------------------------------

const shownJson = new WeakMap(); // a card -> the listing it shows, as JSON

function card(item) {
  const href = `/market/${encodeURIComponent(item.id)}`;
  const creator = item.creator?.name ?? "";
  const li = el(
    "li",
    { className: "market-card", "data-id": item.id },
    el(
      "a",
      { href, className: "market-link" },
      el("span", { className: "thumb-wrap" }, thumbnail(item), el("span", { className: "type-badge" }, typeName(item.type))),
      el("span", { className: "name" }, item.name),
      el("span", { className: "creator" }, "by ", el("b", {}, creator)),
      el(
        "span",
        { className: "card-foot" },
        el("span", { className: `price${item.free || !item.price_cents ? " free" : ""}` }, price(item.price_cents, item.currency, item.free)),
        stars(item.rating),
      ),
    ),
  );
  shownJson.set(li, JSON.stringify(item));
  return li;
}

// A search's answer keeps the cards it shows again unchanged (the same node, not a redrawn
// copy): a click needs its press and its release on the same element, so a card swapped
// from under a pointer pressed on it as the debounced search answers loses the click.
function showCards(items) {
  const shown = new Map([...ui.grid.children].map((li) => [li.dataset.id, li]));
  const want = items.map((item) => {
    const old = shown.get(item.id);
    if (!old || shownJson.get(old) !== JSON.stringify(item)) return card(item);
    const img = old.querySelector("img.thumb");
    if (img) showThumbnail(img, item); // one given up on is tried again
    return old;
  });
  const keep = new Set(want);
  for (const li of [...ui.grid.children]) if (!keep.has(li)) li.remove();
  // moved only where the order changed: a kept card that stays in place is not touched
  want.forEach((li, i) => {
    const at = ui.grid.children[i] ?? null;
    if (at !== li) ui.grid.insertBefore(li, at);
  });
}

async function load(q, append) {
  const seq = ++state.seq;
  state.loading = true;
  ui.more.disabled = true;
  window.digigamiMarket.lastQuery = q.toString();
  let page;
  try {
    page = await api("GET", `/api/marketplace/assets?${q}`);
  } catch (e) {
    if (seq !== state.seq) return;
    state.loading = false;
    ui.more.disabled = false;
    showError(e instanceof ApiError && e.status ? e.message : `could not load the market: ${e.message}`);
    return;
  }
  if (seq !== state.seq) return; // a newer search is on its way
  state.loading = false;
  showError("");
  if (append) {
    ui.grid.append(...page.items.map(card));
  } else {
    showCards(page.items);
    state.shown = 0;
  }
  state.shown += page.items.length;
  state.cursor = page.next_cursor ?? null;
  ui.more.hidden = !state.cursor;
  ui.more.disabled = false;
  ui.empty.hidden = state.shown > 0;
  ui.note.textContent = state.shown
    ? `${state.shown}${state.cursor ? "+" : ""} item${state.shown === 1 ? "" : "s"}`
    : "";
  document.body.dataset.loaded = String(state.seq);
}

function search() {
  clearTimeout(timer);
  const q = query();
  if (!q) return;
  remember(q);
  state.cursor = null;
  load(q, false);
}

let timer = null;
function searchSoon() {
  clearTimeout(timer);
  timer = setTimeout(search, DEBOUNCE_MS);
}

ui.q.addEventListener("input", () => {
  // a typed word is a better order than "newest"; back to newest when the box is cleared
  if (ui.q.value.trim() && ui.sort.value === "newest") ui.sort.value = "relevance";
  else if (!ui.q.value.trim() && ui.sort.value === "relevance") ui.sort.value = "newest";
  searchSoon();
});
ui.min.addEventListener("input", searchSoon);
ui.max.addEventListener("input", searchSoon);
ui.free.addEventListener("change", search);
ui.sort.addEventListener("change", search);
ui.form.addEventListener("submit", (e) => {
  e.preventDefault();
  search();
});
ui.more.addEventListener("click", () => {
  const q = query();
  if (!q || !state.cursor) return;
  q.set("cursor", state.cursor);
  load(q, true);
});

restore();
search();
