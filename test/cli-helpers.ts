// Runs the real CLI (from source, under Node with tsx) in a temporary store.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const repo = fileURLToPath(new URL("..", import.meta.url));
export const fixtures = fileURLToPath(new URL("../../shared/fixtures/", import.meta.url));
export const fixture = (path: string) => join(fixtures, path);

/** The command that runs bale; BALE_CMD (JSON array) runs another build, e.g. ["node","dist/bale.mjs"]. */
export const baleCommand: string[] = process.env.BALE_CMD ? JSON.parse(process.env.BALE_CMD) : [process.execPath, "--import", "tsx", join(repo, "src/cli.ts")];

export interface Result {
  status: number;
  stdout: string;
  stderr: string;
}

export function tempDir(prefix = "bale-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A fresh store and a way to run bale against it. */
export function sandbox() {
  const dir = tempDir();
  const root = join(dir, "root");
  const run = (...args: string[]) => bale(["--root", root, ...args]);
  return {
    dir,
    root,
    run,
    /** Runs and insists on success, returning stdout. */
    ok(...args: string[]): string {
      const result = run(...args);
      if (result.status !== 0) throw new Error(`bale ${args.join(" ")} failed (${result.status}): ${result.stderr}`);
      return result.stdout;
    },
    /** index.json and the blob list: what a failed command must leave unchanged. */
    snapshot(): string {
      let index = "";
      try {
        index = readFileSync(join(root, "index.json"), "utf8");
      } catch {}
      let blobs: string[] = [];
      try {
        blobs = readdirSync(join(root, "blobs", "sha256")).sort();
      } catch {}
      return JSON.stringify({ index, blobs });
    },
    images(): { Repository: string; Tag: string; ID: string; Digest: string; Names: string[] }[] {
      return JSON.parse(this.ok("images", "--format", "json"));
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export function bale(args: string[], options: { input?: string | Buffer; env?: Record<string, string> } = {}): Result {
  const [command, ...rest] = baleCommand;
  const result = spawnSync(command, [...rest, ...args], {
    cwd: repo,
    input: options.input,
    env: { ...process.env, ...options.env },
    maxBuffer: 256 * 1024 * 1024,
  });
  return { status: result.status ?? -1, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

/** Starts bale without waiting, for kill and concurrency tests. */
export function baleAsync(args: string[], env: Record<string, string> = {}) {
  const [command, ...rest] = baleCommand;
  return spawn(command, [...rest, ...args], { cwd: repo, env: { ...process.env, ...env } });
}

/** Asserts the shape every failure must have: exit 1 (or 2), one line on stderr starting "bale: ". */
export function failsCleanly(result: Result, pattern?: RegExp, status = 1): string {
  if (result.status !== status) throw new Error(`expected exit ${status}, got ${result.status}: ${result.stderr}`);
  const lines = result.stderr.trimEnd().split("\n").filter((line) => !line.startsWith("bale: warning:"));
  if (lines.length !== 1 || !lines[0].startsWith("bale: ")) throw new Error(`expected one "bale: " line, got: ${JSON.stringify(result.stderr)}`);
  if (pattern && !pattern.test(lines[0])) throw new Error(`error ${JSON.stringify(lines[0])} does not match ${pattern}`);
  return lines[0];
}

export function has(tool: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0;
}

/** Marks a test skipped loudly, so a missing tool is never a silent pass. */
export function skip(why: string) {
  process.stderr.write(`SKIPPED: ${why}\n`);
}
