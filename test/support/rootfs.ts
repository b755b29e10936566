// Root filesystem tarballs for import tests, made with the system's tar (and gzip/zstd).
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";

function run(command: string, args: string[], options: { input?: Uint8Array } = {}) {
  const result = spawnSync(command, args, { input: options.input, maxBuffer: 1024 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} failed: ${result.stderr}`);
  return result.stdout;
}

/**
 * Writes DIR/NAME.tar holding a small tree whose content depends on `seed`,
 * and returns its path. compression "gzip"/"zstd" adds .gz/.zst.
 */
export function makeRootfs(dir: string, name: string, seed: string, compression?: "gzip" | "zstd"): string {
  const tree = join(dir, `${name}.tree`);
  mkdirSync(join(tree, "etc"), { recursive: true });
  mkdirSync(join(tree, "bin"), { recursive: true });
  writeFileSync(join(tree, "etc", "os-release"), `NAME=bale-test\nSEED=${seed}\n`);
  writeFileSync(join(tree, "bin", "hello"), `#!/bin/sh\necho ${seed}\n`, { mode: 0o755 });
  const tar = join(dir, `${name}.tar`);
  run("tar", ["-C", tree, "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "-cf", tar, "."]);
  if (!compression) return tar;
  const out = compression === "gzip" ? `${tar}.gz` : `${tar}.zst`;
  writeFileSync(out, run(compression, ["-c", tar]));
  return out;
}

/** A rootfs tar of about `megabytes` MB of incompressible data, written quickly in 4 MB chunks. */
export function makeBigRootfs(dir: string, megabytes: number): string {
  const tree = join(dir, "big.tree");
  mkdirSync(tree, { recursive: true });
  const fd = openSync(join(tree, "random.bin"), "w");
  const chunk = randomBytes(4 * 1024 * 1024);
  for (let i = 0; i < megabytes / 4; i++) {
    chunk[0] = i & 255; // a different chunk each time, cheaply
    chunk[1] = i >> 8;
    writeSync(fd, chunk);
  }
  closeSync(fd);
  const tar = join(dir, "big.tar");
  run("tar", ["-C", tree, "-cf", tar, "."]);
  return tar;
}

export const fileDigest = (path: string) => `sha256:${createHash("sha256").update(readFileSync(path)).digest("hex")}`;
