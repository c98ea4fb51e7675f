// The puppet page's first-run guide: three steps a new streamer takes (allow the camera,
// calibrate, copy the OBS URL), each ticked off as it happens, gone once all are done or
// dismissed, and not shown again on this browser (?guide brings it back).

const KEY = "digigami.guide.done";
const guide = document.getElementById("guide");

function remembered() {
  try {
    return localStorage.getItem(KEY) === "1";
  } catch {
    return false; // storage blocked: show it, it is dismissible
  }
}

function remember() {
  try {
    localStorage.setItem(KEY, "1");
  } catch {
    /* the guide comes back next time: harmless */
  }
}

function close() {
  remember();
  guide.hidden = true;
}

function done(step) {
  const li = guide.querySelector(`[data-step="${step}"]`);
  if (!li || li.classList.contains("done")) return;
  li.classList.add("done");
  li.querySelector(".tick").textContent = "✓";
  if ([...guide.querySelectorAll("[data-step]")].every((s) => s.classList.contains("done"))) {
    guide.querySelector(".guide-title").textContent = "You're set: add the URL as a Browser Source in OBS.";
    remember();
    setTimeout(() => (guide.hidden = true), 6000);
  }
}

if (guide && (!remembered() || new URLSearchParams(location.search).has("guide"))) {
  guide.hidden = false;
  guide.querySelector("#guide-close").addEventListener("click", close);
  // 1: the camera is allowed and the avatar is live (or live without a camera)
  window.digigami?.on("hello", () => done("camera"));
  // 2: the neutral face is taken
  document.getElementById("calibrate")?.addEventListener("click", () => done("calibrate"));
  // 3: the OBS URL is on the clipboard (or opened)
  document.getElementById("obs-copy")?.addEventListener("click", () => done("obs"));
  document.getElementById("obs-open")?.addEventListener("click", () => done("obs"));
}
