// The puppet page's part of VTube Studio's plugin API (docs/CONTROL.md, "VTube Studio
// API"): a plugin asking for a token shows "<plugin> by <developer> wants to control your
// avatar" with Allow / Deny, and the plugins allowed on this avatar are listed with Revoke.
// Everything comes from the session's status messages (`status.vts`) and goes back over the
// control channel (`vts_answer`, `vts_revoke`).

const digigami = window.digigami;
const $ = (id) => document.getElementById(id);

const ui = {
  card: $("vts-card"),
  list: $("vts-plugins"),
  empty: $("vts-empty"),
  address: $("vts-address"),
  dialog: null,
};

const answered = new Set(); // prompts this page answered (the next status drops them)
let shown = null; // the prompt the dialog shows

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  for (const c of children) node.append(c);
  return node;
}

function buildDialog() {
  const icon = el("img", { className: "vts-icon", alt: "", width: 48, height: 48 });
  const text = el("p", { className: "vts-ask", id: "vts-ask" });
  const allow = el("button", { className: "btn primary", id: "vts-allow", textContent: "Allow" });
  const deny = el("button", { className: "btn", id: "vts-deny", textContent: "Deny" });
  const note = el("p", {
    className: "privacy",
    textContent: "A plugin you allow can trigger your emotes, outfits and expressions and move your avatar's face until you revoke it (Plugins card).",
  });
  const box = el(
    "div",
    { className: "vts-prompt", id: "vts-prompt", role: "alertdialog", ariaLabel: "plugin request", hidden: true },
    el("div", { className: "vts-head" }, icon, text),
    note,
    el("div", { className: "row" }, allow, deny),
  );
  allow.addEventListener("click", () => answer(true));
  deny.addEventListener("click", () => answer(false));
  document.body.append(box);
  return { box, icon, text };
}

function answer(allow) {
  if (!shown) return;
  if (digigami.send({ type: "vts_answer", prompt: shown.id, allow })) {
    answered.add(shown.id);
    shown = null;
    ui.dialog.box.hidden = true;
  }
}

function showPrompts(prompts) {
  const next = prompts.find((p) => !answered.has(p.id)) ?? null;
  if (!ui.dialog) ui.dialog = buildDialog();
  const { box, icon, text } = ui.dialog;
  if (!next) {
    shown = null;
    box.hidden = true;
    return;
  }
  if (shown && shown.id === next.id) return;
  shown = next;
  text.replaceChildren(
    el("strong", { textContent: next.name }),
    " by ",
    el("strong", { textContent: next.developer }),
    " wants to control your avatar",
  );
  icon.hidden = !next.icon;
  if (next.icon) icon.src = next.icon;
  box.hidden = false;
}

function showPlugins(plugins) {
  const key = JSON.stringify(plugins);
  if (ui.list.dataset.key === key) return;
  ui.list.dataset.key = key;
  ui.list.replaceChildren(
    ...plugins.map((p) => {
      const revoke = el("button", { className: "btn small", textContent: "Revoke", title: `stop ${p.name} controlling your avatar` });
      revoke.addEventListener("click", () => {
        if (digigami.send({ type: "vts_revoke", plugin: p.id })) revoke.disabled = true;
      });
      const pill = el("span", { className: "pill", textContent: p.connected ? "connected" : "offline" });
      pill.dataset.tone = p.connected ? "ok" : "";
      return el(
        "li",
        { className: "vts-plugin" },
        el("span", { className: "grow" }, el("strong", { textContent: p.name }), ` by ${p.developer}`),
        pill,
        revoke,
      );
    }),
  );
  ui.empty.hidden = plugins.length > 0;
}

digigami.on("status", (msg) => {
  const vts = msg.vts;
  if (!vts) return;
  for (const id of answered) if (!vts.prompts.some((p) => p.id === id)) answered.delete(id);
  showPrompts(vts.prompts);
  showPlugins(vts.plugins);
});

if (ui.address) {
  const ws = location.protocol === "https:" ? "wss" : "ws";
  ui.address.textContent = `${ws}://${location.host}/api/vts`;
}
