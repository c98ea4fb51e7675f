// One listing (/market/{id}): what it is, who made it, its price and rating, a live "Try it
// on" (market-tryon.js), and getting it: free -> "Get"; credits -> paid from the balance;
// dollars -> a card through Stripe (market-pay.js), fulfilled by the server's webhook.
// Owners rate it (1-5 stars) and download it; its creator gets a link to the dashboard.
// Everything the creator wrote is set with textContent (market-common.js `el`), never HTML.

import { ApiError, api, el, price, stars, typeName } from "/static/market-common.js";
import { mountPayment, waitUntilPaid } from "/static/market-pay.js";
import { chooseWearer, start as startTryOn, tryOn } from "/static/market-tryon.js";
import { toast } from "/static/toast.js";
import { whoami } from "/static/whoami.js";

const $ = (id) => document.getElementById(id);
const ID = decodeURIComponent(location.pathname.split("/").filter(Boolean)[1] ?? "");

const page = {
  listing: null,
  user: null,
  purchase: null, // the last purchase answer
  paying: null, // what the open payment form pays for: "listing" | "credits"
  credits: null, // the viewer's DIGI credits (listings priced in credits)
  payment: null, // the mounted payment form
  tryOn,
};
window.digigamiMarketItem = page;

// ---- what it is -------------------------------------------------------------------------------

function fact(term, value) {
  return el("div", {}, el("dt", {}, term), el("dd", {}, value));
}

function render(listing) {
  page.listing = listing;
  document.title = `Digigami — ${listing.name}`;
  $("name").textContent = listing.name;
  $("by").replaceChildren(`${typeName(listing.type)} by `, el("b", {}, listing.creator?.name ?? ""));
  $("desc").textContent = listing.description ?? "";
  $("tags").replaceChildren(...(listing.tags ?? []).map((t) => el("li", {}, t)));
  $("rating-row").replaceChildren(stars(listing.rating));
  const facts = [
    fact("Type", typeName(listing.type)),
    fact("Works with", (listing.compatibility ?? []).join(", ") || "any avatar"),
    fact("Sales", String(listing.sales ?? 0)),
  ];
  if (listing.status && listing.status !== "published") facts.push(fact("Status", listing.status));
  $("facts").replaceChildren(...facts);
  $("price").textContent = price(listing.price_cents, listing.currency, listing.free);
  $("price").classList.toggle("free", Boolean(listing.free || !listing.price_cents));
  renderBuy();
}

/** The buy card for who is looking: guest, creator, owner, or a buyer-to-be. */
function renderBuy() {
  const l = page.listing;
  const owner = Boolean(l.owned);
  const mine = Boolean(l.mine);
  const buyBtn = $("buy-btn");
  buyBtn.hidden = !page.user || owner || mine;
  buyBtn.textContent = l.free || !l.price_cents ? "Get" : l.currency === "digi" ? `Buy for ${price(l.price_cents, "digi")}` : `Buy for ${price(l.price_cents, l.currency)}`;
  $("signin").hidden = Boolean(page.user) || owner;
  $("signin").href = `/account?next=${encodeURIComponent(location.pathname)}`;
  $("owned").hidden = !owner;
  $("use-link").hidden = !owner;
  $("download").hidden = !(owner || mine);
  $("edit-link").hidden = !mine;
  if (mine) $("buy-status").textContent = "You made this.";
  const inCredits = l.currency === "digi" && Boolean(l.price_cents) && Boolean(page.user) && !owner && !mine;
  $("credits").hidden = !inCredits;
  if (inCredits) showCredits();
  renderRating(owner ? l.my_rating ?? null : undefined);
}

// ---- getting it ---------------------------------------------------------------------------------

function showBuyError(text) {
  $("buy-error").textContent = text || "";
  $("buy-error").hidden = !text;
}

function status(text) {
  $("buy-status").textContent = text;
}

/** The viewer's credit balance (GET /owned), shown next to a listing priced in credits. */
async function showCredits() {
  try {
    page.credits = (await api("GET", "/api/marketplace/owned")).credits ?? 0;
    const n = page.credits;
    $("credit-balance").textContent = `You have ${n.toLocaleString("en-US")} credit${n === 1 ? "" : "s"}.`;
  } catch {
    $("credit-balance").textContent = "";
  }
}

async function buyCredits() {
  showBuyError("");
  $("buy-credits").disabled = true;
  try {
    const answer = await api("POST", "/api/marketplace/credits", { pack: $("pack").value });
    page.purchase = answer;
    page.paying = "credits";
    await openPayment(answer);
  } catch (e) {
    showBuyError(e.message);
  } finally {
    $("buy-credits").disabled = false;
  }
}

async function owned() {
  // the server's word: the listing as it is now (owned, my_rating, sales)
  render(await api("GET", `/api/marketplace/assets/${encodeURIComponent(ID)}`));
  status("It is yours: it is in the puppet page's choices now.");
  $("use-link").focus();
}

async function buy() {
  const l = page.listing;
  showBuyError("");
  const buyBtn = $("buy-btn");
  buyBtn.disabled = true;
  const payWith = l.currency === "digi" && l.price_cents ? "credits" : "card";
  try {
    status(l.free || !l.price_cents ? "Getting it…" : "Starting the purchase…");
    const answer = await api("POST", "/api/marketplace/purchase", { asset_id: l.id, pay_with: payWith });
    page.purchase = answer;
    if (answer.status === "owned" || answer.status === "paid") {
      if (typeof answer.credits === "number") toast(`${answer.credits} credits left`, "ok");
      await owned();
      return;
    }
    if (!answer.client_secret) throw new Error("the server did not start a card payment");
    status("");
    page.paying = "listing";
    await openPayment(answer);
  } catch (e) {
    status("");
    showBuyError(e instanceof ApiError && e.status === 401 ? "sign in to get it" : e.message);
  } finally {
    buyBtn.disabled = false;
  }
}

async function openPayment(answer) {
  const form = $("pay");
  form.hidden = false;
  $("buy-btn").hidden = true;
  $("pay-btn").textContent = `Pay ${price(answer.amount_cents ?? page.listing.price_cents, answer.currency ?? page.listing.currency)}`;
  $("credits").hidden = true;
  // test mode (the local fake Stripe, or Stripe's own test keys): say which card to type
  const testMode = !String(answer.stripe_js).startsWith("https://js.stripe.com/") || String(answer.publishable_key).startsWith("pk_test_");
  $("test-card").hidden = !testMode;
  page.payment = await mountPayment(answer, $("pay-element"));
  const first = $("pay-element").querySelector("input, iframe");
  if (first) first.focus();
}

function closePayment() {
  page.payment?.destroy?.();
  page.payment = null;
  $("pay").hidden = true;
  renderBuy();
}

async function pay(e) {
  e.preventDefault();
  if (!page.payment || !page.purchase) return;
  showBuyError("");
  const payBtn = $("pay-btn");
  payBtn.disabled = true;
  try {
    status("Paying…");
    await page.payment.confirm();
    status("Paid: waiting for Stripe's confirmation…");
    await waitUntilPaid(page.purchase.purchase_id, {
      onWait: () => status("Paid: waiting for Stripe's confirmation…"),
    });
    $("pay").hidden = true;
    page.payment?.destroy?.();
    page.payment = null;
    if (page.paying === "credits") {
      renderBuy();
      await showCredits();
      status("The credits are yours: buy it with them now.");
      $("buy-btn").focus();
    } else {
      await owned();
    }
  } catch (err) {
    status("");
    showBuyError(err.message);
  } finally {
    payBtn.disabled = false;
  }
}

// ---- owners: rating and download -----------------------------------------------------------------

/** The five star buttons for an owner (`mine`: their rating or null); hidden for others. */
function renderRating(mine) {
  const box = $("rate");
  box.hidden = mine === undefined;
  if (mine === undefined) return;
  const legend = box.querySelector("legend");
  box.replaceChildren(legend);
  for (let n = 1; n <= 5; n++) {
    const b = el("button", { type: "button", "aria-label": `${n} star${n > 1 ? "s" : ""}`, title: `${n} of 5` }, "★");
    b.setAttribute("aria-pressed", String(mine === n));
    if (mine && n <= mine) b.classList.add("lit");
    b.addEventListener("click", () => rate(n));
    box.append(b);
  }
}

async function rate(n) {
  try {
    const r = await api("POST", `/api/marketplace/assets/${encodeURIComponent(ID)}/rating`, { stars: n });
    page.listing = { ...page.listing, my_rating: r.mine ?? n, rating: { average: r.average, count: r.count } };
    $("rating-row").replaceChildren(stars(page.listing.rating));
    renderRating(page.listing.my_rating);
    $("rate").querySelector(`button:nth-of-type(${n})`)?.focus();
    toast("thanks for rating it", "ok");
  } catch (e) {
    toast(`could not rate it: ${e.message}`, "error");
  }
}

async function download() {
  try {
    const { url } = await api("POST", `/api/marketplace/assets/${encodeURIComponent(ID)}/download`);
    const a = el("a", { href: url, download: "" });
    document.body.append(a);
    a.click();
    a.remove();
  } catch (e) {
    toast(`could not download it: ${e.message}`, "error");
  }
}

// ---- start -----------------------------------------------------------------------------------------

async function main() {
  page.user = await whoami();
  let listing;
  try {
    listing = await api("GET", `/api/marketplace/assets/${encodeURIComponent(ID)}`);
  } catch (e) {
    $("name").textContent = e instanceof ApiError && e.status === 404 ? "Not in the market" : "Could not load it";
    $("by").textContent = e.message;
    $("buy").hidden = true;
    $("overlay-title").textContent = "Nothing to try on";
    $("overlay-spinner").hidden = true;
    $("conn").hidden = true;
    return;
  }
  render(listing);
  await chooseWearer(Boolean(page.user));
  startTryOn(ID);
}

$("buy-btn").addEventListener("click", buy);
$("buy-credits").addEventListener("click", buyCredits);
$("pay").addEventListener("submit", pay);
$("pay-cancel").addEventListener("click", closePayment);
$("download").addEventListener("click", download);
$("retry").addEventListener("click", () => startTryOn(ID));
$("wearer").addEventListener("change", () => startTryOn(ID));
window.addEventListener("digigami:account", (e) => {
  page.user = e.detail;
  if (page.listing) renderBuy();
});

main();
