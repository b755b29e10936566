// Builds bale's release artifacts (`npm run build`):
//   dist/bale.mjs                      one ES module with every dependency inside, for node, bun and deno
//   dist/bale, dist/bale-<os>-<arch>   the standalone executable for this machine (bun build --compile)
//   --all    also the executables for every other release target
//   --deno   also try `deno compile` (dist/bale-deno-<os>-<arch>)
// Every tool and runtime binary comes from the npm registry; nothing else is downloaded.
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const ROOT = dirname(fileURLToPath(import.meta.url));
const DIST = join(ROOT, "dist");
const BUNDLE = join(DIST, "bale.mjs");
// Cross-compile runtimes fetched with `npm pack`; under node_modules so git and `npm ci` treat it as disposable.
const CACHE = join(ROOT, "node_modules", ".cache", "bale-build");

const EXE = process.platform === "win32" ? ".exe" : "";
const HOST = `${process.platform === "win32" ? "windows" : process.platform}-${process.arch}`;

/** Release targets: bale's name for it, bun's --target, and the npm package that carries that bun. */
const TARGETS = [
  { name: "linux-x64", bun: "bun-linux-x64", pkg: "@oven/bun-linux-x64" },
  { name: "linux-arm64", bun: "bun-linux-arm64", pkg: "@oven/bun-linux-aarch64" },
  { name: "darwin-x64", bun: "bun-darwin-x64", pkg: "@oven/bun-darwin-x64" },
  { name: "darwin-arm64", bun: "bun-darwin-arm64", pkg: "@oven/bun-darwin-aarch64" },
  { name: "windows-x64", bun: "bun-windows-x64", pkg: "@oven/bun-windows-x64" },
];

/** Returns the first candidate that answers `--version`, or undefined. */
function firstWorking(candidates: string[]): string | undefined {
  return candidates.find((path) => spawnSync(path, ["--version"], { stdio: "ignore" }).status === 0);
}

/** The bun binary: npm may have skipped bun's postinstall, which leaves only the platform package's binary working. */
export function findBun(): string | undefined {
  const libc = process.platform === "linux" && !glibc() ? "-musl" : "";
  const arch = process.arch === "arm64" ? "aarch64" : process.arch;
  const os = process.platform === "win32" ? "windows" : process.platform;
  return firstWorking([
    join(ROOT, "node_modules", "@oven", `bun-${os}-${arch}${libc}`, "bin", `bun${EXE}`),
    join(ROOT, "node_modules", "bun", "bin", "bun.exe"), // the postinstall's copy: named .exe on every OS
    "bun",
  ]);
}

/** The deno binary, straight from its platform package so no node wrapper sits in front of it. */
export function findDeno(): string | undefined {
  const libc = process.platform === "linux" ? "-glibc" : "";
  return firstWorking([
    join(ROOT, "node_modules", "@deno", `${process.platform}-${process.arch}${libc}`, `deno${EXE}`),
    join(ROOT, "node_modules", "deno", `deno${EXE}`),
    "deno",
  ]);
}

function glibc(): boolean {
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  return Boolean(report?.header?.glibcVersionRuntime);
}

/** Runs a tool quietly; its output is shown only when it fails. */
function run(command: string, args: string[]): void {
  const result = spawnSync(command, args, { cwd: ROOT, encoding: "utf8" });
  if (result.status === 0) return;
  process.stderr.write(`${result.stdout ?? ""}${result.stderr ?? ""}`);
  throw new Error(`${command} ${args.join(" ")} failed (${result.error?.message ?? `exit ${result.status}`})`);
}

/** src/version.ts holds the version so the executable starts without reading package.json; keep it in step. */
function syncVersion(): void {
  const { version } = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
  const path = join(ROOT, "src", "version.ts");
  const source = readFileSync(path, "utf8");
  const synced = source.replace(/VERSION = "[^"]*"/, `VERSION = ${JSON.stringify(version)}`);
  if (synced === source) return;
  writeFileSync(path, synced);
  console.log(`src/version.ts: VERSION set to ${version}, as in package.json`);
}

async function bundle(): Promise<void> {
  const result = await build({
    entryPoints: [join(ROOT, "src", "cli.ts")],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    // hash-wasm's ES build lets the bundler keep SHA-256 alone (18 KB), not the WASM of every algorithm (~200 KB).
    mainFields: ["module", "main"],
    minify: true,
    metafile: true,
    write: false,
    outfile: BUNDLE,
    logLevel: "warning",
  });
  let code = result.outputFiles[0].text.replace(/^#!.*\n/, "");
  // A CommonJS dependency calling require() inside an ES module needs a real require to reach node: builtins.
  const hasCommonJS = Object.values(result.metafile.inputs).some((input) => input.format === "cjs");
  if (hasCommonJS) code = `import { createRequire } from "node:module";\nconst require = createRequire(import.meta.url);\n${code}`;
  mkdirSync(DIST, { recursive: true });
  writeFileSync(BUNDLE, `#!/usr/bin/env node\n${code}`, { mode: 0o755 });
}

/** Compiles dist/bale.mjs into a standalone executable; without a runtime path it is for this machine. */
function compile(bun: string, outfile: string, target?: { bun: string; runtime: string }): void {
  const cross = target ? [`--target=${target.bun}`, `--compile-executable-path=${target.runtime}`] : [];
  // Bytecode halves start-up; a CLI must not pick up .env or bunfig.toml from the user's directory.
  run(bun, ["build", BUNDLE, "--compile", "--bytecode", "--format=esm", "--no-compile-autoload-dotenv",
    "--no-compile-autoload-bunfig", ...cross, `--outfile=${outfile}`]);
}

/** The bun binary of `pkg` at `version`, fetched from the npm registry once and kept in the cache. */
function bunRuntime(pkg: string, version: string, exe: string): string {
  const dir = join(CACHE, `${pkg.replace("@oven/", "")}-${version}`);
  const binary = join(dir, "package", "bin", `bun${exe}`);
  if (existsSync(binary)) return binary;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  run("npm", ["pack", `${pkg}@${version}`, "--pack-destination", dir, "--silent"]);
  const tarball = readdirSync(dir).find((name) => name.endsWith(".tgz"));
  if (!tarball) throw new Error(`npm pack ${pkg}@${version} left no tarball in ${dir}`);
  run("tar", ["-xzf", join(dir, tarball), "-C", dir]);
  return binary;
}

/** Tries `deno compile`; its runtime (denort) comes only from dl.deno.land, which this build must not need. */
function denoCompile(): void {
  const deno = findDeno();
  if (!deno) throw new Error("deno not found: run `npm install` (deno is a devDependency)");
  const outfile = join(DIST, `bale-deno-${HOST}${EXE}`);
  const result = spawnSync(deno, ["compile", "-A", "--no-config", "--output", outfile, BUNDLE],
    { cwd: ROOT, encoding: "utf8", timeout: 300_000 });
  const output = `${result.stdout ?? ""}${result.stderr ?? ""}`;
  if (result.status === 0) return report(outfile);
  if (/denort|dl\.deno\.land/.test(output) && !process.env.DENORT_BIN) {
    console.log("deno compile: skipped, it downloads its runtime (denort) from dl.deno.land, which the npm registry does not carry; set DENORT_BIN to a local denort to build it");
    return;
  }
  process.stderr.write(output);
  throw new Error(`deno compile failed (${result.error?.message ?? `exit ${result.status}`})`);
}

function report(path: string): void {
  const bytes = statSync(path).size;
  const size = bytes > 1 << 20 ? `${(bytes / (1 << 20)).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`;
  console.log(`${path.slice(ROOT.length + 1)}  ${size}`);
}

async function main(args: string[]): Promise<void> {
  const unknown = args.filter((arg) => arg !== "--all" && arg !== "--deno");
  if (unknown.length) throw new Error(`unknown option ${unknown[0]} (want --all, --deno)`);
  syncVersion();
  rmSync(DIST, { recursive: true, force: true });
  await bundle();
  report(BUNDLE);

  const bun = findBun();
  if (!bun) throw new Error("bun not found: run `npm install` (bun is a devDependency)");
  const host = join(DIST, `bale-${HOST}${EXE}`);
  compile(bun, host);
  copyFileSync(host, join(DIST, `bale${EXE}`));
  report(join(DIST, `bale${EXE}`));
  report(host);

  if (args.includes("--all")) {
    const version = spawnSync(bun, ["--version"], { encoding: "utf8" }).stdout.trim();
    for (const target of TARGETS.filter((target) => target.name !== HOST)) {
      const exe = target.name.startsWith("windows") ? ".exe" : "";
      const outfile = join(DIST, `bale-${target.name}${exe}`);
      compile(bun, outfile, { bun: target.bun, runtime: bunRuntime(target.pkg, version, exe) });
      report(outfile);
    }
  }
  if (args.includes("--deno")) denoCompile();
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main(process.argv.slice(2)).catch((error: Error) => {
    console.error(`build: ${error.message}`);
    process.exit(1);
  });
}
