// Paying for a listing with a card, on its page: the purchase answer
// (POST /api/marketplace/purchase) names the Stripe.js to load (`stripe_js`: Stripe's own,
// or the test mode's stand-in served by the local fake Stripe), the publishable key and the
// PaymentIntent's client secret. The amount is the server's: the page never sends one.
// Paying only confirms the intent; the purchase is fulfilled by Stripe's webhook on the
// server, so the page then asks GET /api/marketplace/purchases/{id} until it is paid.

import { api } from "/static/market-common.js";

const POLL_MS = 700;
const PAID = new Set(["paid", "owned", "fulfilled", "succeeded"]);
const FAILED = new Set(["failed", "canceled", "refunded"]);

const loaded = new Map(); // script URL -> its load promise

/** Load Stripe.js from `url` with a script tag (once; Stripe.js must be a classic script,
 * and the test mode's stand-in finds its server from its own <script src>). */
export function loadStripeJs(url) {
  if (!loaded.has(url)) {
    loaded.set(url, new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = url;
      s.async = true;
      s.addEventListener("load", () => (window.Stripe ? resolve(window.Stripe) : reject(new Error("Stripe.js loaded but did not define Stripe"))));
      s.addEventListener("error", () => {
        loaded.delete(url);
        reject(new Error("could not load Stripe.js: check the connection and try again"));
      });
      document.head.append(s);
    }));
  }
  return loaded.get(url);
}

/**
 * Mount a payment form for `answer` (the purchase answer) in `mount`; resolves to
 * `{confirm, destroy}`. Stripe's own Stripe.js gets the Payment Element and
 * `confirmPayment` (no redirect unless the card's bank needs one); the test mode's stand-in
 * has only a card element and `confirmCardPayment`.
 */
export async function mountPayment(answer, mount) {
  const StripeCtor = await loadStripeJs(answer.stripe_js);
  const stripe = StripeCtor(answer.publishable_key);
  mount.replaceChildren();
  if (typeof stripe.confirmPayment === "function") {
    const elements = stripe.elements({ clientSecret: answer.client_secret });
    const element = elements.create("payment");
    element.mount(mount);
    return {
      async confirm() {
        const result = await stripe.confirmPayment({
          elements,
          redirect: "if_required",
          confirmParams: { return_url: location.href },
        });
        if (result.error) throw new Error(result.error.message || "the payment was refused");
        return result.paymentIntent;
      },
      destroy: () => element.destroy(),
    };
  }
  const elements = stripe.elements();
  const card = elements.create("card");
  card.mount(mount);
  return {
    async confirm() {
      const result = await stripe.confirmCardPayment(answer.client_secret, { payment_method: { card } });
      if (result.error) throw new Error(result.error.message || String(result.error) || "the payment was refused");
      return result.paymentIntent;
    },
    destroy: () => card.destroy(),
  };
}

/** Ask for the purchase until the webhook has fulfilled it (resolves to its answer) or it
 * failed (throws with its words). `onWait` hears each pending answer. Gives up after
 * `timeoutMs` with an error saying the payment may still arrive. */
export async function waitUntilPaid(purchaseId, { timeoutMs = 120_000, onWait = () => {} } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const p = await api("GET", `/api/marketplace/purchases/${encodeURIComponent(purchaseId)}`);
    if (PAID.has(p.status)) return p;
    if (FAILED.has(p.status)) throw new Error(p.error || `the payment ${p.status}`);
    onWait(p);
    if (Date.now() > deadline) {
      throw new Error("the payment has not been confirmed yet: reload this page in a minute to see it");
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
