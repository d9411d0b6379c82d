// The JavaScript a student downloads to browse, order and track: the entry
// script and every chunk it imports statically (lazy vendor/runner/admin
// chunks excluded), gzipped. Prints one line; exits 1 over the budget.
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

const BUDGET = 100 * 1024;
const dist = new URL("../dist/", import.meta.url).pathname;
const manifest = JSON.parse(readFileSync(`${dist}.vite/manifest.json`, "utf8"));
const entry = Object.values(manifest).find((c) => c.isEntry);
const seen = new Set();
const visit = (key) => {
  const chunk = manifest[key];
  if (!chunk || seen.has(chunk.file)) return;
  seen.add(chunk.file);
  for (const dep of chunk.imports || []) visit(dep);
};
visit(Object.keys(manifest).find((k) => manifest[k] === entry));
let raw = 0;
let gz = 0;
for (const file of seen) {
  const bytes = readFileSync(`${dist}${file}`);
  raw += bytes.length;
  gz += gzipSync(bytes, { level: 9 }).length;
}
const kb = (n) => (n / 1024).toFixed(1);
console.log(`student path JavaScript: ${seen.size} files, ${kb(raw)} KiB raw, ${kb(gz)} KiB gzipped (budget ${kb(BUDGET)} KiB)`);
if (gz > BUDGET) process.exit(1);
