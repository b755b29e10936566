// End-to-end smoke test of every way bale ships: the bundle under node, bun and
// deno, the sources under deno, and the standalone executable. Run after
// `npm run build`: `tsx test/runtimes/run.mts`.
// Named .mts so `uvu test` (which picks up *.ts/*.js) leaves this script alone.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { findBun, findDeno, ROOT } from "../../build.ts";

const BUNDLE = join(ROOT, "dist", "bale.mjs");
const EXECUTABLE = join(ROOT, "dist", process.platform === "win32" ? "bale.exe" : "bale");
const FIXTURE = join(ROOT, "..", "shared", "fixtures", "real", "docker20-save.tar");
const VERSION: string = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version;
const TINY = "aaa99e2be304";
const EXTRA = "dd80a144f98b";

interface Runtime {
  name: string;
  /** The command line that runs bale, or why it cannot run here. */
  command: string[] | string;
  /** deno finds deno.json (the import map) from its working directory. */
  cwd?: string;
}

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** A step runs bale and returns "" when it passed, else what went wrong. */
type Step = [label: string, check: (bale: Bale, temp: string) => string];
type Bale = (...args: string[]) => Result;

function runtimes(): Runtime[] {
  const bun = findBun();
  const deno = findDeno();
  const missing = (path: string) => (existsSync(path) ? "" : `${relative(ROOT, path)} missing (npm run build)`);
  const bundle = missing(BUNDLE);
  return [
    { name: "node dist/bale.mjs", command: bundle || [process.execPath, BUNDLE] },
    { name: "bun dist/bale.mjs", command: bun ? bundle || [bun, BUNDLE] : "bun not found (npm install)" },
    { name: "deno run -A dist/bale.mjs", command: deno ? bundle || [deno, "run", "-A", BUNDLE] : "deno not found (npm install)" },
    { name: "deno run -A src/cli.ts", command: deno ? [deno, "run", "-A", "src/cli.ts"] : "deno not found (npm install)", cwd: ROOT },
    { name: "dist/bale", command: missing(EXECUTABLE) || [EXECUTABLE] },
  ];
}

// Checks return "" for a pass, so a step reads as a list of conditions.
const exitedZero = (result: Result) => (result.status === 0 ? "" : `exit ${result.status}: ${result.stderr.trim().split("\n")[0]}`);
const lines = (text: string) => text.split("\n").map((line) => line.trim()).filter(Boolean);
const sameIds = (result: Result, want: string[]) => {
  const have = lines(result.stdout).sort();
  return have.join(" ") === [...want].sort().join(" ") ? "" : `images -q gave [${have.join(", ")}], want [${want.join(", ")}]`;
};
const says = (result: Result, text: string) => (result.stdout.includes(text) ? "" : `stdout lacks ${JSON.stringify(text)}: ${result.stdout.trim()}`);
const first = (...problems: string[]) => problems.find(Boolean) ?? "";
const nonEmpty = (path: string) => (existsSync(path) && statSync(path).size > 0 ? "" : `${path} was not written`);

const SCENARIO: Step[] = [
  ["--version", (bale) => {
    const result = bale("--version");
    return first(exitedZero(result), says(result, VERSION));
  }],
  ["images on an empty store", (bale) => {
    const result = bale("images");
    return first(exitedZero(result), lines(result.stdout).length <= 1 ? "" : `listed images: ${result.stdout.trim()}`);
  }],
  ["load -i docker20-save.tar", (bale) => {
    const result = bale("load", "-i", FIXTURE);
    return first(exitedZero(result), says(result, "Loaded image: localhost/tiny:1"), says(result, "Loaded image: localhost/tiny-extra:1"));
  }],
  ["images -q lists both IDs", (bale) => {
    const result = bale("images", "-q");
    return first(exitedZero(result), sameIds(result, [TINY, EXTRA]));
  }],
  ["tag localhost/tiny:1 x:1", (bale) => exitedZero(bale("tag", "localhost/tiny:1", "x:1"))],
  ["save -f oci -o out.tar x:1", (bale, temp) => {
    const result = bale("save", "-f", "oci", "-o", join(temp, "out.tar"), "x:1");
    return first(exitedZero(result), nonEmpty(join(temp, "out.tar")));
  }],
  ["rmi x:1 localhost/tiny:1", (bale) => {
    const result = bale("rmi", "x:1", "localhost/tiny:1");
    return first(exitedZero(result), sameIds(bale("images", "-q"), [EXTRA]));
  }],
  ["load -i out.tar (oci)", (bale, temp) => {
    const result = bale("load", "-i", join(temp, "out.tar"));
    return first(exitedZero(result), says(result, "x:1"), sameIds(bale("images", "-q"), [TINY, EXTRA]));
  }],
  ["save -o d.tar localhost/tiny-extra:1 (docker)", (bale, temp) => {
    const result = bale("save", "-o", join(temp, "d.tar"), "localhost/tiny-extra:1");
    return first(exitedZero(result), nonEmpty(join(temp, "d.tar")));
  }],
  ["load -i d.tar into a fresh store", (bale, temp) => {
    const fresh = ["--root", join(temp, "fresh")];
    const result = bale(...fresh, "load", "-i", join(temp, "d.tar"));
    return first(exitedZero(result), says(result, "localhost/tiny-extra:1"), sameIds(bale(...fresh, "images", "-q"), [EXTRA]));
  }],
  ["save --compress gzip, load it back", (bale, temp) => {
    const out = join(temp, "gz.tar");
    const fresh = ["--root", join(temp, "gz")];
    const saved = bale("save", "--compress", "gzip", "-o", out, "localhost/tiny-extra:1");
    return first(exitedZero(saved), exitedZero(bale(...fresh, "load", "-i", out)), sameIds(bale(...fresh, "images", "-q"), [EXTRA]));
  }],
  ["a plugin from a temporary directory", (bale, temp) => {
    // Written only against ctx, so it must work inside the bundle and the compiled binary too.
    const plugin = join(temp, "ids.mjs");
    writeFileSync(plugin, `export default {
  name: "ids", description: "image IDs as text",
  detect: () => false,
  load: async () => { throw new Error("save only"); },
  async save(images, ctx) {
    const manifest = ctx.parseManifest(await ctx.blobJson((await ctx.singleManifest(images[0].root)).digest), "manifest");
    ctx.write("id.txt", manifest.config.digest);
  },
};
`);
    const formats = bale("formats", "--plugin", plugin);
    const out = join(temp, "ids.tar");
    const saved = bale("save", "--plugin", plugin, "-f", "ids", "-o", out, "localhost/tiny-extra:1");
    return first(exitedZero(formats), says(formats, plugin), exitedZero(saved), nonEmpty(out));
  }],
];

/** Runs bale on the store at root; arguments that start with an option (--version, --root) are passed as they are. */
function baleIn(runtime: Runtime, temp: string, root: string): Bale {
  const [command, ...base] = runtime.command as string[];
  // Point every default store location into temp, so a lost --root can never touch the user's store.
  const env = { ...process.env, BALE_ROOT: join(temp, "default-root"), XDG_DATA_HOME: join(temp, "xdg"), NO_COLOR: "1" };
  return (...args) => {
    const rooted = args[0].startsWith("-") ? args : ["--root", root, ...args];
    const result = spawnSync(command, [...base, ...rooted],
      { cwd: runtime.cwd ?? temp, env, encoding: "utf8", timeout: 120_000, stdio: ["ignore", "pipe", "pipe"] });
    return { status: result.status, stdout: result.stdout ?? "", stderr: result.stderr || (result.error?.message ?? "") };
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Median wall time of five runs, in ms. */
function startup(bale: Bale, ...args: string[]): string {
  const times = Array.from({ length: 5 }, () => {
    const start = performance.now();
    bale(...args);
    return performance.now() - start;
  });
  return `${median(times).toFixed(0)} ms`;
}

const counts = { passed: 0, failed: 0, skipped: 0 };
const timings: string[] = [];
if (!existsSync(FIXTURE)) console.log(`warning: fixture ${FIXTURE} is missing; the load steps will fail`);
for (const runtime of runtimes()) {
  console.log(`\n${runtime.name}`);
  if (typeof runtime.command === "string") {
    console.log(`  SKIPPED: ${runtime.command}`);
    counts.skipped += SCENARIO.length;
    timings.push(`  ${runtime.name.padEnd(28)} skipped`);
    continue;
  }
  const temp = mkdtempSync(join(tmpdir(), "bale-runtimes-"));
  try {
    const bale = baleIn(runtime, temp, join(temp, "root"));
    let failed = 0;
    for (const [label, check] of SCENARIO) {
      const problem = check(bale, temp);
      console.log(`  ${problem ? "FAIL" : "ok  "}  ${label}${problem ? `: ${problem}` : ""}`);
      if (problem) failed++;
    }
    counts.passed += SCENARIO.length - failed;
    counts.failed += failed;
    console.log(`  ${SCENARIO.length - failed} passed, ${failed} failed`);
    const empty = baleIn(runtime, temp, join(temp, "empty-root"));
    timings.push(`  ${runtime.name.padEnd(28)} --version ${startup(empty, "--version").padStart(7)}   images ${startup(empty, "images").padStart(7)}`);
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
}

console.log("\nstart-up, median of 5:");
console.log(timings.join("\n"));
console.log();
if (counts.passed + counts.failed === 0) console.log("nothing ran: build first (npm run build) and install the runtimes (npm install)");
console.log(`${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`);
process.exit(counts.failed > 0 || counts.passed === 0 ? 1 : 0);
