// "My avatars" (/library): the caller's saved avatars (GET /api/avatars, newest first, in
// pages), each with its thumbnail, rename, public/private, delete (confirmed in place),
// and links to wear it live ("Puppet": /?avatar=<id>) or in a preview. Names are the
// user's own text: always set with textContent / value, never as HTML.

import { toast } from "/static/toast.js";
import { whoami } from "/static/whoami.js";

const $ = (id) => document.getElementById(id);
const PAGE = 24;
const DIGI_PICTURE = "/static/library.digi.png"; // a render of Digi, for rig avatars

const ui = {
  list: $("avatars"),
  template: $("avatar-item"),
  more: $("more"),
  empty: $("empty"),
  count: $("count"),
  guestNote: $("guest-note"),
};

let next = null; // the cursor of the next page
let shown = 0;

function request(method, url, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  return fetch(url, init).then(async (res) => {
    const answer = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(answer.error ?? `${res.status} ${res.statusText}`);
    return answer;
  });
}

async function load(before = null) {
  const q = new URLSearchParams({ limit: String(PAGE) });
  if (before) q.set("before", before);
  let page;
  try {
    page = await request("GET", `/api/avatars?${q}`);
  } catch (e) {
    toast(`could not load your avatars: ${e.message}`, "error");
    return;
  }
  for (const avatar of page.avatars) ui.list.append(item(avatar));
  shown += page.avatars.length;
  next = page.next;
  ui.more.hidden = !next;
  refreshCount();
  const target = location.hash.slice(1);
  const el = target && document.getElementById(`avatar-${target}`);
  if (el) {
    el.classList.add("target");
    el.scrollIntoView({ block: "nearest" });
  }
}

function refreshCount() {
  ui.empty.hidden = shown > 0;
  ui.count.textContent = shown ? `${shown}${next ? "+" : ""}` : "";
}

function item(avatar) {
  const li = ui.template.content.firstElementChild.cloneNode(true);
  li.id = `avatar-${avatar.id}`;
  li.dataset.id = avatar.id;
  const q = (sel) => li.querySelector(sel);
  const thumb = q(".thumb");
  thumb.src = avatar.thumbnail_url || DIGI_PICTURE;
  thumb.alt = avatar.name;
  const name = q(".name");
  name.value = avatar.name;
  q(".public").checked = avatar.is_public;
  q(".puppet-link").href = `/?avatar=${encodeURIComponent(avatar.id)}`;
  q(".preview-link").href = `/preview?avatar=${encodeURIComponent(avatar.id)}&animation=wave`;
  q(".meta").textContent = describe(avatar);
  // the Creator Studio on this avatar: made next to Preview, so the template stays as it is
  const studio = document.createElement("a");
  studio.className = "btn studio-link";
  studio.href = `/studio/${encodeURIComponent(avatar.id)}`;
  studio.textContent = "Studio";
  studio.title = "edit this avatar's look, expressions and poses, and make animations";
  q(".preview-link").after(studio);

  q(".rename").addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const changed = await request("PATCH", `/api/avatars/${avatar.id}`, { name: name.value });
      name.value = changed.name;
      thumb.alt = changed.name;
      toast("renamed", "ok");
    } catch (err) {
      toast(`could not rename: ${err.message}`, "error");
    }
  });
  q(".public").addEventListener("change", async (e) => {
    const want = e.target.checked;
    try {
      await request("PATCH", `/api/avatars/${avatar.id}`, { is_public: want });
      toast(want ? "now public" : "now private", "ok");
    } catch (err) {
      e.target.checked = !want;
      toast(`could not change it: ${err.message}`, "error");
    }
  });
  const confirmRow = q(".confirm");
  q(".delete").addEventListener("click", () => {
    confirmRow.hidden = false;
    q(".keep").focus();
  });
  q(".keep").addEventListener("click", () => (confirmRow.hidden = true));
  q(".really").addEventListener("click", async () => {
    try {
      await request("DELETE", `/api/avatars/${avatar.id}`);
      li.remove();
      shown -= 1;
      refreshCount();
      toast("deleted", "ok");
    } catch (err) {
      toast(`could not delete: ${err.message}`, "error");
    }
  });
  return li;
}

function describe(avatar) {
  const kind = avatar.source === "generated" ? "generated from a photo" : "Digi";
  const made = new Date(avatar.created_at);
  const when = Number.isNaN(made.getTime()) ? "" : ` · saved ${made.toLocaleString()}`;
  return `${kind}${when}`;
}

ui.more.addEventListener("click", () => next && load(next));

// a guest's avatars live with this browser's cookie: say so, and where to keep them
whoami().then((user) => (ui.guestNote.hidden = user !== null));

load();
