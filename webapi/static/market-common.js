// What the three market pages share (/market, /market/{id}, /market/dashboard): JSON calls
// that fail with the server's own words, prices and ratings as people read them, and a tiny
// element builder. Everything a user wrote (names, descriptions, tags, creator names) goes
// into the page as text (textContent / the `el` children below), never as HTML.

/** The seven asset types, in the order the filters show them, with their labels. */
export const TYPES = [
  ["outfit", "Outfits"],
  ["accessory", "Accessories"],
  ["animation", "Animations"],
  ["avatar", "Avatars"],
  ["style_pack", "Styles"],
  ["background", "Backgrounds"],
  ["effect", "Effects"],
];
const TYPE_NAMES = {
  outfit: "outfit",
  accessory: "accessory",
  animation: "animation",
  avatar: "avatar",
  style_pack: "style pack",
  background: "background",
  effect: "effect",
};

/** "style_pack" -> "style pack" (unknown types as they are). */
export const typeName = (type) => TYPE_NAMES[type] ?? String(type);

/** An HTTP answer that was not a success: the server's `{"error"}` words and the status. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

/** JSON in, JSON out; a failure throws ApiError carrying the server's message. */
export async function api(method, url, body) {
  const init = { method, credentials: "same-origin", headers: {}, cache: "no-store" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(url, init);
  } catch (e) {
    throw new ApiError(0, `cannot reach the server (${e.message})`);
  }
  const answer = await res.json().catch(() => ({}));
  if (!res.ok) {
    throw new ApiError(res.status, answer.error ?? `the server answered ${res.status} ${res.statusText}`);
  }
  return answer;
}

/** `el("a", {href, className}, "text", child)`: properties set as properties, children
 * appended as nodes or text (strings never become markup). */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null) continue;
    if (k.startsWith("aria-") || k.startsWith("data-") || k === "role") node.setAttribute(k, v);
    else node[k] = v;
  }
  node.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

/** 500 usd -> "$5.00"; 500 digi -> "500 credits"; a free listing -> "Free". */
export function price(cents, currency, free = cents === 0) {
  if (free || !cents) return "Free";
  if (currency === "digi") return `${cents.toLocaleString("en-US")} credit${cents === 1 ? "" : "s"}`;
  return money(cents);
}

/** Integer cents -> "$12.34" (the ledger's amounts are all USD cents). */
export function money(cents) {
  const n = Number(cents) || 0;
  const sign = n < 0 ? "-" : "";
  const abs = Math.abs(n);
  return `${sign}$${Math.floor(abs / 100).toLocaleString("en-US")}.${String(abs % 100).padStart(2, "0")}`;
}

/** "12.34" / "12" / "$5" -> 1234 cents; null for anything that is not a plain amount (the
 * server checks the number too: this only turns what people type into cents). */
export function parseDollars(text) {
  const t = String(text).trim().replace(/^\$/, "");
  if (!/^\d+(\.\d{1,2})?$/.test(t)) return null;
  const [whole, frac = ""] = t.split(".");
  return Number(whole) * 100 + Number(frac.padEnd(2, "0"));
}

/** A rating as stars, with the numbers for screen readers: ★★★★☆ 4.2 (12). */
export function stars(rating) {
  const count = rating?.count ?? 0;
  const avg = rating?.average ?? 0;
  const span = el("span", { className: "stars" });
  if (!count) {
    span.classList.add("none");
    span.textContent = "no ratings yet";
    return span;
  }
  const full = Math.round(avg);
  span.setAttribute("aria-label", `rated ${avg.toFixed(1)} of 5 by ${count}`);
  span.append(
    el("span", { className: "on", "aria-hidden": "true" }, "★".repeat(full)),
    el("span", { className: "off", "aria-hidden": "true" }, "★".repeat(5 - full)),
    el("span", { className: "num", "aria-hidden": "true" }, ` ${avg.toFixed(1)} (${count})`),
  );
  return span;
}

/** A random UUID (v4) for idempotency keys; crypto.randomUUID needs a secure context and a
 * LAN address served over http is not one, getRandomValues works everywhere. */
export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const NO_THUMBNAIL = "/static/library.digi.png";
// A thumbnail not rendered yet answers 404, and that request queues its render: the card
// shows Digi's picture meanwhile and asks again after these many seconds (about a minute
// in all), then gives up until the card is shown again.
const THUMBNAIL_RETRY_S = [1, 2, 4, 8, 16, 32];

/** A thumbnail <img> that shows Digi's picture while the listing's own cannot load (its
 * previews render in the background after an upload) and tries the real one again. */
export function thumbnail(listing, size = 256) {
  const img = el("img", {
    className: "thumb",
    alt: "",
    width: size,
    height: size,
    loading: "lazy",
    decoding: "async",
  });
  showThumbnail(img, listing);
  return img;
}

/** Point `img` at the listing's thumbnail (see `thumbnail`). Called again for the same
 * listing, it changes nothing while the thumbnail shows or is being tried, and starts
 * trying again once the earlier tries gave up. */
export function showThumbnail(img, listing) {
  const url = listing.thumbnail_url || NO_THUMBNAIL;
  if (img.dataset.thumb === url) return;
  img.dataset.thumb = url;
  let tries = 0;
  img.onerror = () => {
    // Digi's own picture failing too, or a listing shown in this <img> since: nothing to do
    if (img.dataset.thumb !== url || img.getAttribute("src") === NO_THUMBNAIL) return;
    img.src = NO_THUMBNAIL;
    if (tries >= THUMBNAIL_RETRY_S.length) {
      delete img.dataset.thumb; // given up: the next showThumbnail starts again
      return;
    }
    setTimeout(() => {
      if (img.dataset.thumb !== url || !img.isConnected) return; // the card is gone
      tries += 1;
      img.src = `${url}?try=${tries}`; // a new URL: no cached failure stands in for it
    }, THUMBNAIL_RETRY_S[tries] * 1000);
  };
  img.src = url;
}
