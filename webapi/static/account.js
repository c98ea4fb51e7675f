// The account page: sign in, sign up, sign out, API tokens. Every request is JSON from
// this page (the browser adds our Origin, which the server checks for cookie-signed
// changes). User text is shown with textContent only, never as HTML.

import { announce, signOut, whoami } from "/static/whoami.js";

const $ = (id) => document.getElementById(id);
const ui = {
  loading: $("loading"),
  signedOut: $("signed-out"),
  signedIn: $("signed-in"),
  signinForm: $("signin-form"),
  signupForm: $("signup-form"),
  meName: $("me-name"),
  meEmail: $("me-email"),
  claimed: $("claimed"),
  signout: $("signout"),
  tokenForm: $("token-form"),
  tokenError: $("token-error"),
  newToken: $("new-token"),
  newTokenValue: $("new-token-value"),
  copyToken: $("copy-token"),
  tokens: $("tokens"),
  noTokens: $("no-tokens"),
  tokenItem: $("token-item"),
};

async function call(method, url, body) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(url, init);
  const answer = await res.json().catch(() => ({}));
  if (!res.ok) {
    let message = answer.error || `the server answered ${res.status}`;
    if (res.status === 429 && res.headers.get("Retry-After")) {
      message += ` (retry in ${res.headers.get("Retry-After")} s)`;
    }
    throw new Error(message);
  }
  return answer;
}

function showError(el, message) {
  el.textContent = message || "";
  el.hidden = !message;
}

/** Where to go after signing in: `?next=` when it is a path on this site, else nowhere. */
function nextPath() {
  const next = new URLSearchParams(location.search).get("next");
  return next && next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\")
    ? next
    : null;
}

function show(user, claimed = 0) {
  ui.loading.hidden = true;
  ui.signedOut.hidden = !!user;
  ui.signedIn.hidden = !user;
  if (!user) return;
  ui.meName.textContent = user.username;
  ui.meEmail.textContent = `(${user.email})`;
  ui.claimed.hidden = !claimed;
  ui.claimed.textContent = claimed
    ? `${claimed} avatar${claimed === 1 ? "" : "s"} you made as a guest ${claimed === 1 ? "is" : "are"} now in your account.`
    : "";
  loadTokens();
}

function fields(form) {
  return Object.fromEntries(new FormData(form).entries());
}

function onSubmit(form, url) {
  const error = form.querySelector(".form-error");
  const button = form.querySelector('button[type="submit"]');
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    showError(error, "");
    button.disabled = true;
    try {
      const answer = await call("POST", url, fields(form));
      form.reset();
      announce(answer.user);
      const next = nextPath();
      if (next) {
        location.assign(next);
        return;
      }
      show(answer.user, answer.claimed_avatars);
    } catch (err) {
      showError(error, err.message);
      form.querySelector('input[type="password"]').value = "";
    } finally {
      button.disabled = false;
    }
  });
}

function when(iso) {
  const t = new Date(iso);
  return Number.isNaN(t.getTime()) ? "" : t.toLocaleString();
}

async function loadTokens() {
  let answer;
  try {
    answer = await call("GET", "/api/tokens");
  } catch (err) {
    showError(ui.tokenError, err.message);
    return;
  }
  ui.tokens.replaceChildren();
  for (const token of answer.tokens) {
    const item = ui.tokenItem.content.firstElementChild.cloneNode(true);
    item.querySelector(".token-name").textContent = token.name;
    item.querySelector(".token-dates").textContent =
      `made ${when(token.created_at)}` +
      (token.last_used_at ? ` · used ${when(token.last_used_at)}` : " · never used");
    const revoke = item.querySelector("button");
    revoke.addEventListener("click", async () => {
      if (!confirm(`Revoke the token "${token.name}"? Scripts using it stop working.`)) return;
      revoke.disabled = true;
      try {
        await call("DELETE", `/api/tokens/${encodeURIComponent(token.id)}`);
        item.remove();
        ui.noTokens.hidden = ui.tokens.children.length > 0;
      } catch (err) {
        revoke.disabled = false;
        showError(ui.tokenError, err.message);
      }
    });
    ui.tokens.append(item);
  }
  ui.noTokens.hidden = answer.tokens.length > 0;
}

ui.tokenForm.addEventListener("submit", async (e) => {
  e.preventDefault();
  showError(ui.tokenError, "");
  try {
    const answer = await call("POST", "/api/tokens", fields(ui.tokenForm));
    ui.tokenForm.reset();
    ui.newTokenValue.textContent = answer.token;
    ui.newToken.hidden = false;
    loadTokens();
  } catch (err) {
    showError(ui.tokenError, err.message);
  }
});

ui.copyToken.addEventListener("click", () => {
  navigator.clipboard?.writeText(ui.newTokenValue.textContent).then(
    () => (ui.copyToken.textContent = "Copied"),
    () => {},
  );
});

ui.signout.addEventListener("click", async () => {
  ui.signout.disabled = true;
  try {
    await signOut();
  } catch (err) {
    showError(ui.tokenError, err.message);
  } finally {
    ui.signout.disabled = false;
  }
});

window.addEventListener("digigami:account", (e) => {
  ui.newToken.hidden = true;
  ui.newTokenValue.textContent = "";
  show(e.detail);
});

onSubmit(ui.signinForm, "/api/auth/login");
onSubmit(ui.signupForm, "/api/auth/signup");
whoami().then((user) => show(user));
