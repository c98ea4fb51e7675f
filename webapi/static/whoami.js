// Who is signed in, for every page: fills the top bar's <nav id="account-nav"> with
// "Signed in as NAME · My avatars · Sign out", or a "Sign in" link. User text goes in with
// textContent only, never as HTML (a username is data, whatever it looks like).
// Other scripts may `import { whoami } from "/static/whoami.js"`, and hear of changes as
// the window's "digigami:account" event (detail: the user, or null).

const NAV_STYLE = "/static/account.css"; // the nav's few styles live with the account page's

let asked = null;

/** The signed-in user ({id, username, email, created_at}) or null; asked once per page.
 * /api/whoami answers 200 with a null user for a visitor (where /api/me's 401 would show in
 * the console as a failed request on every page). */
export function whoami(refresh = false) {
  if (!asked || refresh) {
    asked = fetch("/api/whoami", { credentials: "same-origin", cache: "no-store" })
      .then((res) => (res.ok ? res.json() : null))
      .then((body) => (body && body.user) || null)
      .catch(() => null);
  }
  return asked;
}

/** Sign out (the session ends on the server and its cookie is dropped). */
export async function signOut() {
  const res = await fetch("/api/auth/logout", { method: "POST", credentials: "same-origin" });
  if (!res.ok) {
    const body = await res.json().catch(() => ({}));
    throw new Error(body.error || `sign-out failed (${res.status})`);
  }
  announce(null);
}

/** Tell this page that the account changed (after a sign-in, sign-up or sign-out). */
export function announce(user) {
  asked = Promise.resolve(user);
  window.dispatchEvent(new CustomEvent("digigami:account", { detail: user }));
}

function link(href, text) {
  const a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  return a;
}

function dot() {
  const s = document.createElement("span");
  s.setAttribute("aria-hidden", "true");
  s.textContent = "·";
  return s;
}

function here() {
  return location.pathname + location.search;
}

export function render(nav, user) {
  nav.replaceChildren();
  if (!user) {
    if (location.pathname !== "/account") {
      nav.append(link(`/account?next=${encodeURIComponent(here())}`, "Sign in"));
    }
    return;
  }
  const who = document.createElement("span");
  who.className = "who";
  const name = document.createElement("b");
  name.textContent = user.username;
  who.append("Signed in as ", name);
  who.title = user.username;
  nav.append(who);
  // the page may already link to the library in its own bar: no second link then
  const elsewhere = [...document.querySelectorAll('a[href="/library"]')].some(
    (a) => !nav.contains(a),
  );
  if (!elsewhere && location.pathname !== "/library") {
    nav.append(dot(), link("/library", "My avatars"));
  }
  const out = document.createElement("button");
  out.type = "button";
  out.textContent = "Sign out";
  out.addEventListener("click", async () => {
    out.disabled = true;
    try {
      await signOut();
    } catch (e) {
      out.disabled = false;
      out.title = e.message;
    }
  });
  nav.append(dot(), out);
}

function start() {
  const nav = document.getElementById("account-nav");
  if (!nav) return;
  if (!document.querySelector(`link[href="${NAV_STYLE}"]`)) {
    const css = document.createElement("link");
    css.rel = "stylesheet";
    css.href = NAV_STYLE;
    document.head.append(css);
  }
  window.addEventListener("digigami:account", (e) => render(nav, e.detail));
  whoami().then((user) => render(nav, user));
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", start);
} else {
  start();
}
