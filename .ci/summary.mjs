// Adds up the counts of every suite in a test log into one "N passed, N failed" line.
import { readFileSync } from "node:fs";

const log = readFileSync(process.argv[2], "utf8").replace(/\x1b\[[0-9;]*m/g, "");
let passed = 0;
let failed = 0;
let skipped = 0;
for (const block of log.matchAll(/Total:\s+(\d+)\s+Passed:\s+(\d+)\s+Skipped:\s+(\d+)/g)) {
  const [total, pass, skip] = block.slice(1).map(Number);
  passed += pass;
  skipped += skip;
  failed += total - pass - skip;
}
for (const line of log.matchAll(/^(\d+) passed, (\d+) failed(?:, (\d+) skipped)?$/gm)) {
  passed += Number(line[1]);
  failed += Number(line[2]);
  skipped += Number(line[3] ?? 0);
}
// A run that crashed before printing its totals must not look green.
if (/FAIL|Error:|✘/.test(log) && failed === 0 && !/Total:/.test(log)) failed = 1;
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
