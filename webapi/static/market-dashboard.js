// The creator dashboard (/market/dashboard): become a creator, upload a package (a zip,
// with its progress; a refusal is shown in the server's own words), the creator's listings
// (status, publish / unpublish, price, delete a draft), sales analytics for a time range
// (GET /api/marketplace/dashboard), the balance and "Request payout" (a fresh request_key
// per click: the server never pays one request twice), with "Set up payouts with Stripe"
// (Stripe's onboarding of the creator's Connect account) until that account can be paid. Listing names are the creator's
// text: set with textContent only.

import { ApiError, api, el, money, parseDollars, price, thumbnail, typeName, uuid } from "/static/market-common.js";
import { toast } from "/static/toast.js";
import { whoami } from "/static/whoami.js";

const $ = (id) => document.getElementById(id);
const DAY_MS = 86_400_000;

const dash = { data: null, user: null, uploaded: null, payouts: null };
window.digigamiDashboard = dash;

function show(which) {
  $("loading").hidden = true;
  for (const id of ["guest", "become", "creator"]) $(id).hidden = id !== which;
}

function setText(id, text) {
  $(id).textContent = text || "";
  $(id).hidden = !text;
}

// ---- analytics -----------------------------------------------------------------------------

function since() {
  const v = $("range").value;
  return v === "all" ? null : new Date(Date.now() - Number(v) * DAY_MS).toISOString();
}

async function refresh() {
  const q = new URLSearchParams();
  const s = since();
  if (s) q.set("since", s);
  let data;
  try {
    data = await api("GET", `/api/marketplace/dashboard${q.toString() ? `?${q}` : ""}`);
  } catch (e) {
    if (e instanceof ApiError && e.status === 403) return becomeForm();
    if (e instanceof ApiError && e.status === 401) return show("guest");
    toast(`could not load the dashboard: ${e.message}`, "error");
    return;
  }
  dash.data = data;
  show("creator");
  renderFigures(data);
  renderListings(data.listings ?? []);
  await payoutSetup();
  document.body.dataset.dashboard = String(Date.now());
}

/** The creator's Connect account and, until it can receive transfers, a link to Stripe's
 * onboarding (a fresh one per ask: links are single-use). Asked again on each refresh until
 * ready; without Stripe on the server (503) nothing is shown and payouts say why. */
async function payoutSetup() {
  if (!dash.payouts?.ready) {
    try {
      dash.payouts = await api("POST", "/api/marketplace/creator/connect");
    } catch (e) {
      dash.payouts = null;
      if (!(e instanceof ApiError && e.status === 503)) toast(`payouts: ${e.message}`, "error");
    }
  }
  let box = $("payout-setup");
  if (!box) {
    box = el("p", { id: "payout-setup" });
    $("balance").after(box);
  }
  const url = dash.payouts && !dash.payouts.ready ? dash.payouts.onboarding_url : null;
  box.hidden = !url;
  box.replaceChildren(...(url ? [el("a", { href: url, className: "btn primary", id: "payout-setup-link" }, "Set up payouts with Stripe"), el("div", { className: "hint" }, "Stripe asks who you are and where to send the money; payouts open once it is done.")] : []));
  $("payout-btn").disabled = Boolean(url);
}

function figure(term, value, id) {
  return el("div", {}, el("dt", {}, term), el("dd", { id }, value));
}

function renderFigures(d) {
  $("figures").replaceChildren(
    figure("Sales", String(d.sales ?? 0), "fig-sales"),
    figure("Downloads", String(d.downloads ?? 0), "fig-downloads"),
    figure("Revenue", money(d.revenue_cents ?? 0), "fig-revenue"),
    figure("You earned (80%)", money(d.earned_cents ?? 0), "fig-earned"),
  );
  $("balance").replaceChildren(
    figure("Available", money(d.balance_cents ?? 0), "fig-balance"),
    figure("Paid out", money(d.paid_out_cents ?? 0), "fig-paid"),
    figure("Pending", money(d.pending_payout_cents ?? 0), "fig-pending"),
  );
  const days = everyDay(d.by_day ?? []);
  const top = Math.max(1, ...days.map((x) => x.sales ?? 0));
  $("bars").replaceChildren(
    ...days.map((x) => {
      const bar = el("i", { title: `${x.day}: ${x.sales} sale${x.sales === 1 ? "" : "s"}, ${money(x.earned_cents ?? 0)}` });
      bar.style.height = `${Math.max(3, ((x.sales ?? 0) / top) * 100)}%`; // CSSOM: allowed by the CSP
      if (!x.sales) bar.classList.add("zero");
      return bar;
    }),
  );
  const topAssets = d.top_assets ?? [];
  $("top").replaceChildren(
    ...(topAssets.length
      ? topAssets.map((a) => el("li", {}, el("a", { href: `/market/${encodeURIComponent(a.id)}`, className: "accent-link" }, a.name), ` · ${a.sales} sale${a.sales === 1 ? "" : "s"} · ${money(a.earned_cents ?? 0)}`))
      : [el("li", { className: "hint" }, "no sales in this range")]),
  );
}

/** The range's days, oldest first, each with its sales (0 on a day without): a bar per day
 * (for "all time", from the first day with a sale). */
function everyDay(byDay) {
  const known = new Map(byDay.map((x) => [String(x.day).slice(0, 10), x]));
  const s = since();
  const first = s ? s.slice(0, 10) : [...known.keys()].sort()[0];
  if (!first) return [];
  const out = [];
  const today = new Date().toISOString().slice(0, 10);
  for (let t = Date.parse(`${first}T00:00:00Z`); out.length < 400; t += DAY_MS) {
    const day = new Date(t).toISOString().slice(0, 10);
    out.push(known.get(day) ?? { day, sales: 0, earned_cents: 0 });
    if (day >= today) break;
  }
  return out;
}

// ---- listings --------------------------------------------------------------------------------

/** The price as typed in the row: dollars for usd, whole credits for digi. */
function priceText(l) {
  if (!l.price_cents) return "0";
  return l.currency === "digi" ? String(l.price_cents) : (l.price_cents / 100).toFixed(2);
}

function parsePrice(text, currency) {
  if (currency === "digi") return /^\s*\d+\s*$/.test(text) ? Number(text) : null;
  return parseDollars(text);
}

async function change(l, method, path, body, done) {
  try {
    await api(method, `/api/marketplace/assets/${encodeURIComponent(l.id)}${path}`, body);
    toast(done, "ok");
    await refresh();
  } catch (e) {
    toast(`${l.name}: ${e.message}`, "error");
  }
}

function row(l) {
  const tr = el("tr", { "data-id": l.id });
  const input = el("input", { type: "text", value: priceText(l), inputMode: "decimal", "aria-label": `price of ${l.name}` });
  const currency = el("select", { "aria-label": `currency of ${l.name}` }, el("option", { value: "usd" }, "USD"), el("option", { value: "digi" }, "credits"));
  currency.value = l.currency === "digi" ? "digi" : "usd";
  const save = el("button", { type: "submit", className: "btn small" }, "Save");
  const priceForm = el("form", { className: "price-edit" }, input, currency, save);
  priceForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const cents = parsePrice(input.value, currency.value);
    input.setAttribute("aria-invalid", String(cents === null));
    if (cents === null) {
      toast(currency.value === "digi" ? "a price in credits is a whole number" : "write the price in dollars, like 4.99", "error");
      return;
    }
    change(l, "PATCH", "", { price_cents: cents, currency: currency.value }, `${l.name}: now ${price(cents, currency.value)}`);
  });

  const actions = el("div", { className: "row wrap" });
  if (l.status === "published") {
    const b = el("button", { type: "button", className: "btn small" }, "Unpublish");
    b.addEventListener("click", () => change(l, "POST", "/unpublish", undefined, `${l.name} is no longer listed`));
    actions.append(b);
  } else {
    const b = el("button", { type: "button", className: "btn small primary" }, "Publish");
    b.addEventListener("click", () => change(l, "POST", "/publish", undefined, `${l.name} is in the market now`));
    actions.append(b);
  }
  if (l.status === "draft") {
    const del = el("button", { type: "button", className: "btn small ghost danger" }, "Delete");
    del.addEventListener("click", () => {
      if (del.dataset.armed) return change(l, "DELETE", "", undefined, `${l.name} deleted`);
      del.dataset.armed = "1";
      del.textContent = "Really delete?";
      setTimeout(() => {
        delete del.dataset.armed;
        del.textContent = "Delete";
      }, 4000);
    });
    actions.append(del);
  }
  const status = el("span", { className: "status", "data-status": l.status }, l.status);
  tr.append(
    el("td", {}, thumbnail(l, 44)),
    el("td", { className: "name" }, el("a", { href: `/market/${encodeURIComponent(l.id)}`, className: "accent-link" }, l.name), el("div", { className: "hint" }, typeName(l.type))),
    el("td", {}, status),
    el("td", {}, priceForm),
    el("td", {}, String(l.sales ?? 0)),
    el("td", {}, actions),
  );
  return tr;
}

function renderListings(items) {
  $("listing-rows").replaceChildren(...items.map(row));
  $("no-listings").hidden = items.length > 0;
  $("listing-count").textContent = items.length ? String(items.length) : "";
}

// ---- upload ----------------------------------------------------------------------------------

/** POST the zip with XMLHttpRequest: fetch cannot report an upload's progress. */
function send(file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/marketplace/assets");
    xhr.setRequestHeader("Content-Type", "application/zip");
    xhr.responseType = "json";
    xhr.upload.addEventListener("progress", (e) => e.lengthComputable && onProgress(e.loaded / e.total));
    xhr.addEventListener("load", () => {
      const body = xhr.response ?? {};
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else reject(new ApiError(xhr.status, body.error ?? `the server answered ${xhr.status}`));
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, "the upload did not reach the server: check the connection and try again")));
    xhr.send(file);
  });
}

$("upload").addEventListener("submit", async (e) => {
  e.preventDefault();
  const file = $("file").files[0];
  setText("upload-error", "");
  $("upload-ok").textContent = "";
  if (!file) return setText("upload-error", "choose a .zip package first");
  const bar = $("progress");
  bar.hidden = false;
  bar.value = 0;
  $("upload-btn").disabled = true;
  try {
    const listing = await send(file, (f) => (bar.value = Math.round(f * 100)));
    dash.uploaded = listing;
    bar.value = 100;
    $("upload-ok").textContent = `"${listing.name}" is a draft now: publish it from My listings.`;
    $("file").value = "";
    await refresh();
  } catch (err) {
    setText("upload-error", err.message);
  } finally {
    $("upload-btn").disabled = false;
    bar.hidden = true;
  }
});

// ---- payouts ----------------------------------------------------------------------------------

$("payout").addEventListener("submit", async (e) => {
  e.preventDefault();
  setText("payout-error", "");
  $("payout-ok").textContent = "";
  const cents = parseDollars($("payout-amount").value);
  $("payout-amount").setAttribute("aria-invalid", String(cents === null));
  if (cents === null) return setText("payout-error", "write the amount in dollars, like 25 or 25.00");
  const button = $("payout-btn");
  button.disabled = true;
  const requestKey = uuid(); // one per click: a retried request is never paid twice
  try {
    const payout = await api("POST", "/api/marketplace/payouts", { amount_cents: cents, request_key: requestKey });
    $("payout-ok").textContent = `${money(payout.amount_cents ?? cents)} ${payout.status === "paid" ? "paid out" : `payout ${payout.status}`}.`;
    $("payout-amount").value = "";
    await refresh();
  } catch (err) {
    setText("payout-error", err.message);
  } finally {
    button.disabled = false;
  }
});

// ---- becoming a creator --------------------------------------------------------------------------

function becomeForm() {
  show("become");
  if (!$("display-name").value && dash.user) $("display-name").value = dash.user.username;
  $("display-name").focus();
}

$("become").addEventListener("submit", async (e) => {
  e.preventDefault();
  setText("become-error", "");
  try {
    await api("POST", "/api/marketplace/creator", { display_name: $("display-name").value.trim() });
    await refresh();
    $("file").focus();
  } catch (err) {
    setText("become-error", err.message);
  }
});

$("range").addEventListener("change", refresh);

async function main() {
  dash.user = await whoami();
  if (!dash.user) return show("guest");
  await refresh();
}

window.addEventListener("digigami:account", () => main());
main();
