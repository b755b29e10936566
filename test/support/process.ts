// Running bale processes in the background: waiting for them, and killing them mid-work.
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { baleAsync, type Result } from "../cli-helpers.ts";

export interface Finished extends Result {
  signal: NodeJS.Signals | null;
}

export type Child = ReturnType<typeof baleAsync>;

export function finished(child: Child): Promise<Finished> {
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk) => (stdout += chunk));
  child.stderr?.on("data", (chunk) => (stderr += chunk));
  return new Promise((resolve) => {
    child.on("close", (code, signal) => resolve({ status: code ?? -1, signal, stdout, stderr }));
  });
}

/** Runs bale in the background and resolves when it exits. */
export function run(args: string[], env: Record<string, string> = {}): Promise<Finished> {
  return finished(baleAsync(args, env));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Bytes in the store's temporary ingest files. */
export function ingestBytes(root: string): number {
  const dir = join(root, "ingest");
  if (!existsSync(dir)) return 0;
  let total = 0;
  for (const name of readdirSync(dir)) total += statSync(join(dir, name), { throwIfNoEntry: false })?.size ?? 0;
  return total;
}

export function blobCount(root: string): number {
  const dir = join(root, "blobs", "sha256");
  return existsSync(dir) ? readdirSync(dir).length : 0;
}

/**
 * When to kill: after a delay, or once the store shows a state (bytes being
 * written, a new blob). A process that ends first is simply not killed.
 */
export type KillPoint = { label: string; after: number } | { label: string; when: (root: string) => boolean };

/** Starts bale, SIGKILLs it at the kill point, and reports how it ended. */
export async function killAt(args: string[], root: string, point: KillPoint): Promise<Finished & { killed: boolean }> {
  const child = baleAsync(args);
  const done = finished(child);
  let exited = false;
  void done.then(() => (exited = true));
  if ("after" in point) await sleep(point.after);
  else while (!exited && !point.when(root)) await sleep(5);
  const killed = !exited && child.kill("SIGKILL");
  return { ...(await done), killed };
}
