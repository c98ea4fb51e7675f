// A VTube Studio plugin made with VTubeStudioJS (npm "vtubestudio", a third-party client
// of VTube Studio's API), pointed at Digigami: tests/e2e/test_vts.py runs it with node.
// It asks for a token (the test clicks Allow on the puppet page), authenticates, lists the
// hotkeys, triggers Wave, then injects ParamMouthOpenY: open for PHASE_MS, then shut for
// PHASE_MS, with the head held still, printing one JSON line per step (with Date.now()).
//
//   node tests/e2e/vts_client.mjs ws://127.0.0.1:PORT/api/vts

import vtubestudio from "vtubestudio";
import WebSocket from "ws";

const { ApiClient } = vtubestudio;
const url = process.argv[2];
const PHASE_MS = 5000;
const EVERY_MS = 100; // well inside the API's 1-second hold
const say = (event, more = {}) => console.log(JSON.stringify({ event, at: Date.now(), ...more }));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let token = null;

const client = new ApiClient({
  pluginName: "Digigami Test Deck",
  pluginDeveloper: "Digigami tests",
  url,
  webSocketFactory: (u) => new WebSocket(u),
  authTokenGetter: () => token,
  authTokenSetter: async (t) => {
    token = t;
    say("token", { length: t.length });
  },
});
client.on("error", (e) => say("client-error", { message: String(e?.message ?? e) }));

async function hold(mouth, ms) {
  // the head still and the mouth's other shapes neutral: only the opening differs
  const still = ["ParamAngleX", "ParamAngleY", "ParamAngleZ", "ParamBodyAngleX", "ParamBodyAngleY",
    "ParamBodyAngleZ", "ParamEyeBallX", "ParamEyeBallY", "ParamMouthForm", "ParamA", "ParamI",
    "ParamU", "ParamE", "ParamO"].map((id) => ({ id, value: 0 }));
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    await client.injectParameterData({
      faceFound: true,
      mode: "set",
      parameterValues: [{ id: "ParamMouthOpenY", value: mouth }, { id: "ParamEyeLOpen", value: 1 },
        { id: "ParamEyeROpen", value: 1 }, ...still],
    });
    await sleep(EVERY_MS);
  }
}

async function run() {
  say("connected");
  const model = await client.currentModel();
  say("model", { loaded: model.modelLoaded, name: model.modelName });
  const { availableHotkeys } = await client.hotkeysInCurrentModel();
  say("hotkeys", { names: availableHotkeys.map((h) => h.name) });
  const wave = availableHotkeys.find((h) => h.name === "Wave");
  const fired = await client.hotkeyTrigger({ hotkeyID: wave.hotkeyID });
  say("triggered", { hotkeyID: fired.hotkeyID });
  await sleep(1000);
  say("phase", { name: "open" });
  await hold(1, PHASE_MS);
  say("phase", { name: "shut" });
  await hold(0, PHASE_MS);
  say("done");
  await client.disconnect();
  process.exit(0);
}

client.on("connect", () => {
  run().catch((e) => {
    say("failed", { message: String(e?.message ?? e) });
    process.exit(1);
  });
});
setTimeout(() => {
  say("timeout");
  process.exit(2);
}, 120_000);
