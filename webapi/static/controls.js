// The puppet page's controls: emotes, body states and dances, the tool, walking speed and
// their hotkeys, and what plays on each layer with what is queued after it. What each
// control does is in docs/CONTROL.md ("Controls"); the rules live in the state machine on
// the server (engine/anim/controller.py): a body state (Idle, Sit, Dance, walking...)
// replaces the body's state and ends a running emote; an emote plays over the body, which
// shows again when it ends; the tool moves the right arm only.
//
// Talks to the session through `window.digigami` (puppet.js): `send(message)`,
// `on(type, handler)` for the server's messages, `hello` and `lastStatus`.

const digigami = window.digigami;
const $ = (id) => document.getElementById(id);

const ui = {
  hudState: $("hud-state"),
  now: $("now-playing"),
  dance: $("dance"),
  danceGo: $("dance-go"),
  speed: $("speed"),
  speedOut: $("speed-out"),
};

// Names a streamer reads; anything else (custom animations: their own name) as it is.
const LABELS = {
  idle: "Idle",
  walk: "Walk",
  run: "Run",
  jump: "Jump",
  fall: "Fall",
  land: "Land",
  sit: "Sit",
  climb: "Climb",
  swim: "Swim",
  dance: "Dance",
  wave: "Wave",
  point: "Point",
  cheer: "Cheer",
  laugh: "Laugh",
  toolnone: "Hold",
  toolslash: "Slash",
  toollunge: "Lunge",
};
const REGION_LABELS = { body: "Body", emote: "Emote", tool: "Tool" };
// body states that move the avatar along: the speed slider keeps its value for these
const MOVING = new Set(["walk", "run", "jump", "fall", "land"]);

function label(state) {
  if (state == null) return "—";
  const custom = digigami.hello?.custom?.find((c) => c.id === state);
  return custom?.name ?? LABELS[state] ?? state;
}

/** "Dance 3" for dance_3: which dance plays (which idle roll plays is no one's business). */
function animationLabel(state, animation) {
  // a dance bought on the market is a variant named by its listing id: show its name
  const bought = digigami.hello?.market?.dances?.find((d) => d.variant === animation);
  if (state === "dance" && bought) return `${label(state)}: ${bought.name}`;
  const m = animation?.match(/^(.*)_(\d+)$/);
  if (state !== "dance" || !m || m[1] !== state) return label(state);
  return `${label(state)} ${m[2]}`;
}

function regionOf(state) {
  return digigami.hello?.state_regions?.[state] ?? null;
}

function flash(el) {
  if (!el) return;
  el.classList.remove("flash");
  void el.offsetWidth; // restart the animation
  el.classList.add("flash");
}

// ---- commands -------------------------------------------------------------------------

function transition(state) {
  // A body state that does not move (Idle, Sit, Dance...) stops walking: the slider says
  // so, and dragging it again starts a walk from there.
  if (regionOf(state) === "body" && !MOVING.has(state) && speed > 0) setSpeed(0, false);
  digigami.send({ type: "transition", state });
  flash(document.querySelector(`button[data-state="${CSS.escape(state)}"]`));
}

function stop(region) {
  digigami.send({ type: "stop", region });
  flash(document.querySelector(`button[data-stop="${CSS.escape(region)}"]`));
}

function cancel(region) {
  digigami.send(region ? { type: "cancel", region } : { type: "cancel" });
}

function dance(variant) {
  if (speed > 0) setSpeed(0, false); // dancing stops walking
  if (variant) digigami.send({ type: "dance", variant });
  else digigami.send({ type: "transition", state: "dance" });
  flash(document.querySelector('button[data-state="dance"]'));
}

for (const b of document.querySelectorAll("button[data-state]")) {
  b.addEventListener("click", () => {
    if (b.dataset.state === "dance") dance(ui.dance.value);
    else transition(b.dataset.state);
  });
}
for (const b of document.querySelectorAll("button[data-stop]")) {
  b.addEventListener("click", () => stop(b.dataset.stop));
}
ui.dance.addEventListener("change", () => ui.dance.value && dance(ui.dance.value));
ui.danceGo.addEventListener("click", () => dance(ui.dance.value));

// ---- speed ----------------------------------------------------------------------------

// The state machine's `speed` input; walking starts when it leaves 0 and stops when it
// comes back (the server's state machine blends walk/run by speed on its own).
let speed = 0;
let speedPending = false;
let walkSentAt = -Infinity;

function setSpeed(value, withTransition = true) {
  const v = Math.max(0, Math.min(3, Math.round(value * 10) / 10));
  ui.speed.value = String(v);
  ui.speedOut.textContent = v.toFixed(1);
  const was = speed;
  speed = v;
  digigami.send({ type: "controls", values: { speed: v } });
  if (!withTransition) return;
  const body = digigami.lastStatus?.layers?.body;
  // leaving 0, or moving the slider while the body does something else (a plugin made it
  // sit): walk. A status is up to half a second old, so not again right after a walk.
  const stale = performance.now() - walkSentAt < 1500;
  if (v > 0 && (was === 0 || (body && !MOVING.has(body) && !stale))) {
    walkSentAt = performance.now();
    digigami.send({ type: "transition", state: "walk" });
  } else if (was > 0 && v === 0) {
    digigami.send({ type: "transition", state: "idle" });
  }
}

ui.speed.addEventListener("input", () => {
  ui.speedOut.textContent = Number(ui.speed.value).toFixed(1);
  // a dragged slider fires far more often than the server needs: its newest value at most
  // every 100 ms (the server drops control messages over 30 a second: docs/STREAMING.md)
  if (speedPending) return;
  speedPending = true;
  setTimeout(() => {
    speedPending = false;
    setSpeed(Number(ui.speed.value));
  }, 100);
});

// ---- what plays now -------------------------------------------------------------------

function hudPill(region, text) {
  const pill = document.createElement("span");
  pill.className = "pill hud-layer";
  pill.dataset.region = region;
  const small = document.createElement("small");
  small.textContent = REGION_LABELS[region] ?? region;
  pill.append(small, ` ${text}`);
  return pill;
}

/** The HUD over the avatar: the body's state, then each layer playing over it. */
function showHud(s) {
  const layers = s.layers ?? {};
  const animations = s.animations ?? {};
  const hud = ui.hudState.parentElement;
  for (const old of hud.querySelectorAll(".hud-layer")) old.remove();
  const body = layers.body ?? s.state;
  ui.hudState.replaceChildren();
  if (body) {
    const small = document.createElement("small");
    small.textContent = "Body";
    ui.hudState.append(small, ` ${animationLabel(body, animations.body)}`);
  } else {
    ui.hudState.textContent = s.state ?? "—";
  }
  ui.hudState.dataset.region = "body";
  ui.hudState.hidden = false;
  for (const [region, state] of Object.entries(layers)) {
    if (region === "body" || state == null) continue;
    hud.append(hudPill(region, animationLabel(state, animations[region])));
  }
}

/** The controls card's "Now" rows: each region's state, what follows it, and a Cancel. */
function showNow(s) {
  const layers = s.layers ?? {};
  const animations = s.animations ?? {};
  const queued = new Map((s.queued ?? []).map((q) => [q.region, q]));
  const rows = Object.entries(layers).map(([region, state]) => {
    const row = document.createElement("div");
    row.className = "now-row";
    row.dataset.region = region;
    row.dataset.playing = state ?? "";
    const name = document.createElement("span");
    name.className = "now-region";
    name.textContent = REGION_LABELS[region] ?? region;
    const what = document.createElement("span");
    what.className = "now-state";
    what.textContent = state == null ? "—" : animationLabel(state, animations[region]);
    row.append(name, what);
    const q = queued.get(region);
    if (q) {
      const then = document.createElement("span");
      then.className = "now-queued";
      then.textContent = `then ${q.state == null ? "rest" : label(q.state)}`;
      const b = document.createElement("button");
      b.className = "btn small ghost";
      b.dataset.cancel = region;
      b.textContent = "Cancel";
      b.title = `${label(q.after)} plays to its end, then the ${REGION_LABELS[region]?.toLowerCase() ?? region} rests`;
      b.disabled = digigami.channel?.readyState !== "open";
      b.addEventListener("click", () => cancel(region));
      row.append(then, b);
    } else if (region === "emote" && state != null) {
      const b = document.createElement("button");
      b.className = "btn small ghost";
      b.textContent = "Stop";
      b.title = "stop the emote now";
      b.disabled = digigami.channel?.readyState !== "open";
      b.addEventListener("click", () => stop("emote"));
      row.append(b);
    }
    return row;
  });
  ui.now.replaceChildren(...rows);
}

digigami.on("status", (s) => {
  showHud(s);
  showNow(s);
  // the buttons of what plays now, on any layer, light up
  const playing = new Set(Object.values(s.layers ?? {}).filter(Boolean));
  if (!s.layers && s.state) playing.add(s.state);
  for (const b of document.querySelectorAll("button[data-state]")) {
    b.classList.toggle("active", playing.has(b.dataset.state));
  }
});

digigami.on("hello", (h) => {
  const dances = h.dances ?? [];
  ui.dance.replaceChildren(
    new Option("dance variant…", ""),
    ...dances.map((d, i) => new Option(i < 9 ? `${animationLabel("dance", d)} · key ${i + 1}` : animationLabel("dance", d), d)),
  );
  ui.dance.disabled = dances.length === 0;
  ui.danceGo.disabled = dances.length === 0;
  // a rig without some state: its button does nothing, so say so (data-missing keeps it
  // disabled when puppet.js enables the panel again)
  if (Array.isArray(h.states)) {
    for (const b of document.querySelectorAll("button[data-state]")) {
      const missing = !h.states.includes(b.dataset.state);
      b.disabled = missing || digigami.channel?.readyState !== "open";
      if (missing) b.dataset.missing = "";
      else delete b.dataset.missing;
      b.title = missing ? `this avatar has no "${b.dataset.state}" state` : "";
    }
  }
  // a new session starts standing still
  speed = 0;
  ui.speed.value = "0";
  ui.speedOut.textContent = "0.0";
});

// ---- keys -----------------------------------------------------------------------------

// The desktop preview's keys, so a VTuber can drive Digi without looking (the page's other
// keys, for the look and the camera, are puppet.js's).
const KEYS = {
  w: () => transition("wave"),
  p: () => transition("point"),
  c: () => transition("cheer"),
  l: () => transition("laugh"),
  e: () => stop("emote"),
  d: () => dance(ui.dance.value),
  " ": () => transition("jump"),
  s: () => transition("sit"),
  k: () => transition("climb"),
  m: () => transition("swim"),
  i: () => transition("idle"), // idle means standing still: the speed goes to 0
  t: () => transition("toolnone"),
  x: () => transition("toolslash"),
  z: () => transition("toollunge"),
  q: () => stop("tool"),
  backspace: () => cancel(null),
  arrowup: () => setSpeed(speed + 0.5),
  arrowdown: () => setSpeed(speed - 0.5),
};

document.addEventListener("keydown", (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
  if (e.target.closest?.("input, select, textarea")) return; // typing, or a focused control
  const key = e.key.toLowerCase();
  let action = KEYS[key];
  if (!action && /^[1-9]$/.test(key)) {
    const d = digigami.hello?.dances?.[Number(key) - 1];
    if (d) {
      action = () => {
        ui.dance.value = d;
        dance(d);
      };
    }
  }
  if (!action || !digigami.channel || digigami.channel.readyState !== "open") return;
  e.preventDefault();
  action();
});

digigami.controls = { transition, stop, cancel, dance, setSpeed };
