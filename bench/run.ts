// Benchmarks bale against the peers installed (skopeo, podman) on a generated
// image and prints markdown tables: medians of wall time and peak RSS per
// tool, disk use against the blobs' size, and bale/peer ratios.
//
//   npm run bench -- [--size 500M] [--runs 3] [--cases load-docker,save-oci]
//                    [--bale src,mjs,exe] [--seed 1] [--keep] [--json FILE] [--list]
import { execFileSync, spawnSync } from "node:child_process";
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { baleForms, buildCases, installed, podmanRunRoots, type Case, type Tool } from "./cases.ts";
import { DEFAULT_CACHE, generate, parseSize, type Meta } from "./generate.ts";
import { measure, rssSource, StepFailed } from "./measure.ts";

const repo = resolve(fileURLToPath(new URL("..", import.meta.url)));
const MB = 1 << 20;

interface Result {
  case: string;
  tool: string;
  seconds: number[];
  rssKiB: number[];
  outputBytes?: number;
  blobBytes?: number;
  note?: string;
}

function flags(argv: string[]) {
  const value = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const list = (name: string) => value(name)?.split(",").map((s) => s.trim()).filter(Boolean);
  return {
    size: parseSize(value("size") ?? "500M"),
    runs: Math.max(1, Number(value("runs") ?? 3)),
    seed: Number(value("seed") ?? 1),
    cases: list("cases"),
    bale: list("bale"),
    cache: value("cache") ?? DEFAULT_CACHE,
    json: value("json"),
    keep: argv.includes("--keep"),
    list: argv.includes("--list"),
  };
}

async function main(): Promise<void> {
  const opts = flags(process.argv.slice(2));
  const meta = await generate({ seed: opts.seed, size: opts.size, cacheDir: opts.cache });
  const forms = baleForms(repo, opts.bale);
  let cases = buildCases(meta, repo, forms);
  if (opts.list) {
    for (const c of cases) console.log(`${c.name.padEnd(14)} ${c.about}`);
    return;
  }
  if (opts.cases) {
    const unknown = opts.cases.filter((n) => !cases.some((c) => c.name === n));
    if (unknown.length) throw new Error(`unknown case ${unknown.join(", ")} (see --list)`);
    cases = cases.filter((c) => opts.cases!.includes(c.name));
  }
  if (!forms.length) process.stderr.write("bench: no form of bale found (src/cli.ts, dist/bale.mjs, dist/bale); timing peers only\n");

  const base = mkdtempSync(join(tmpdir(), "bale-bench-"));
  const cleanup = () => {
    for (const dir of podmanRunRoots.values()) rmSync(dir, { recursive: true, force: true });
    if (opts.keep) process.stderr.write(`bench: kept ${base}\n`);
    else rmSync(base, { recursive: true, force: true });
  };
  process.on("SIGINT", () => (cleanup(), process.exit(130)));
  const results: Result[] = [];
  try {
    for (const c of cases) results.push(...(await runCase(c, meta, join(base, c.name), opts.runs, opts.keep)));
  } finally {
    cleanup();
  }
  console.log(report(meta, forms.map((f) => f.name), cases, results, opts.runs));
  if (opts.json) writeFileSync(opts.json, JSON.stringify({ meta, results }, null, 2) + "\n");
}

async function runCase(c: Case, meta: Meta, dir: string, runs: number, keep: boolean): Promise<Result[]> {
  const results = new Map<Tool, Result>();
  const live: Tool[] = [];
  for (const tool of c.tools) {
    const result: Result = { case: c.name, tool: tool.name, seconds: [], rssKiB: [], blobBytes: c.input && meta.blobBytes[c.input] };
    results.set(tool, result);
    if (tool.missing) {
      result.note = tool.missing;
      continue;
    }
    const prep = join(dir, `${slug(tool.name)}-prep`);
    mkdirSync(prep, { recursive: true });
    try {
      await tool.prepare?.(prep);
      live.push(tool);
    } catch (e) {
      result.note = `setup failed: ${message(e)}`;
    }
  }
  // Alternate tools within each run (bale, peer, bale, peer …) so that drift
  // on a shared, noisy machine spreads over all of them alike.
  for (let r = 0; r < runs; r++) {
    for (const tool of [...live]) {
      const result = results.get(tool)!;
      const prep = join(dir, `${slug(tool.name)}-prep`);
      const work = join(dir, `${slug(tool.name)}-run${r}`);
      mkdirSync(work, { recursive: true });
      process.stderr.write(`bench: ${c.name} ${tool.name} run ${r + 1}/${runs}\n`);
      // Flush the previous run's dirty pages now, or they slow this run's writes.
      spawnSync("sync");
      try {
        const m = await measure(tool.steps(prep, work), work);
        result.seconds.push(m.seconds);
        result.rssKiB.push(m.rssKiB);
        const output = tool.output?.(prep, work);
        if (output) result.outputBytes = diskUsage(output);
      } catch (e) {
        if (!(e instanceof StepFailed)) throw e;
        result.note = `failed: ${e.message}`;
        live.splice(live.indexOf(tool), 1);
      }
      if (!keep) rmSync(work, { recursive: true, force: true });
    }
  }
  if (!keep) rmSync(dir, { recursive: true, force: true });
  return [...results.values()];
}

/** Bytes a path takes: a file's length, or a directory's allocated blocks (like du, hard links once). */
function diskUsage(path: string): number {
  const top = lstatSync(path);
  if (!top.isDirectory()) return top.size;
  const seen = new Set<number>();
  let total = 0;
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const st = lstatSync(join(dir, name));
      if (seen.has(st.ino)) continue;
      seen.add(st.ino);
      total += st.blocks * 512;
      if (st.isDirectory()) walk(join(dir, name));
    }
  };
  walk(path);
  return total;
}

function report(meta: Meta, forms: string[], cases: Case[], results: Result[], runs: number): string {
  const lines: string[] = [];
  const version = (argv: string[]) => {
    try {
      return execFileSync(argv[0], argv.slice(1), { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim().split("\n")[0];
    } catch {
      return "not installed";
    }
  };
  lines.push(
    `## bale benchmark`,
    ``,
    `- image: seed ${meta.seed}, ${fmt(meta.size / MB, 0)} MiB asked, ${meta.layers.length} layers, ` +
      `${meta.layers.reduce((s, l) => s + l.files, 0)} tar entries; blobs: docker ${mb(meta.blobBytes.docker)}, ` +
      `oci-gzip ${mb(meta.blobBytes["oci-gzip"])}, oci-zstd ${mb(meta.blobBytes["oci-zstd"])} MiB`,
    `- machine: ${cpus().length} × ${cpus()[0]?.model ?? "?"}; node ${process.version}; bale forms: ${forms.join(", ") || "none"}`,
    `- peers: ${installed("skopeo") ? version(["skopeo", "--version"]) : "skopeo not installed"}; ${installed("podman") ? version(["podman", "--version"]) : "podman not installed"} (vfs)`,
    `- ${runs} runs each, alternating tools; medians; peak RSS by ${rssSource}; disk = store (load) or archive (save) vs the input's blobs`,
    ``,
    `| case | tool | median s | runs (s) | peak RSS MiB | output MiB | output / blobs |`,
    `|---|---|--:|---|--:|--:|--:|`,
  );
  for (const r of results) {
    if (!r.seconds.length) {
      lines.push(`| ${r.case} | ${r.tool} | – | ${cell(r.note ?? "no runs")} | – | – | – |`);
      continue;
    }
    const out = r.outputBytes === undefined ? "–" : mb(r.outputBytes);
    const ratio = r.outputBytes !== undefined && r.blobBytes ? fmt(r.outputBytes / r.blobBytes, 2) : "–";
    const runsCell = r.seconds.map((s) => fmt(s, 2)).join(" ") + (r.note ? ` (${cell(r.note)})` : "");
    lines.push(`| ${r.case} | ${r.tool} | ${fmt(median(r.seconds), 2)} | ${runsCell} | ${fmt(median(r.rssKiB) / 1024, 0)} | ${out} | ${ratio} |`);
  }
  lines.push(``, `| case | tool | vs | time ratio | RSS ratio |`, `|---|---|---|--:|--:|`);
  for (const c of cases) {
    for (const [subject, reference] of c.pairs) {
      const a = results.find((r) => r.case === c.name && r.tool === subject);
      const b = results.find((r) => r.case === c.name && r.tool === reference);
      if (!a?.seconds.length || !b?.seconds.length) {
        // Only the reason's first word here ("failed", "not installed"); the first table has the detail.
        const short = (r?: Result) => (r?.note ?? "no runs").replace(/:.*/, "");
        const why = !a?.seconds.length ? `${subject} ${short(a)}` : `${reference} ${short(b)}`;
        lines.push(`| ${c.name} | ${subject} | ${reference} | – (${cell(why)}) | – |`);
        continue;
      }
      lines.push(`| ${c.name} | ${subject} | ${reference} | ${fmt(median(a.seconds) / median(b.seconds), 2)} | ${fmt(median(a.rssKiB) / median(b.rssKiB), 2)} |`);
    }
  }
  return lines.join("\n");
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const fmt = (n: number, digits: number) => n.toFixed(digits);
const mb = (bytes: number) => fmt(bytes / MB, 1);
const slug = (name: string) => name.replace(/[^a-z0-9.-]+/gi, "_");
const cell = (text: string) => text.replace(/\|/g, "\\|").replace(/\s+/g, " ").slice(0, 160);
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

main().catch((e) => {
  console.error(`bench: ${message(e)}`);
  process.exit(1);
});
