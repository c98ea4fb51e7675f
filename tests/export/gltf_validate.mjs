// Validates a .glb with the Khronos glTF-Validator (node_modules/gltf-validator) and prints
// its report's counts and messages as JSON on stdout: node gltf_validate.mjs <file.glb>
import { readFile } from "node:fs/promises";
import validator from "gltf-validator";

const data = new Uint8Array(await readFile(process.argv[2]));
const report = await validator.validateBytes(data, { maxIssues: 200 });
const issues = report.issues;
console.log(JSON.stringify({
  errors: issues.numErrors,
  warnings: issues.numWarnings,
  infos: issues.numInfos,
  hints: issues.numHints,
  messages: issues.messages.map((m) => `${m.severity} ${m.code} ${m.pointer ?? ""}: ${m.message}`),
  info: report.info,
}));
