// A full disk (a small tmpfs as the store, when this runs as root) fails a
// load or import with one clear line and leaves the store consistent.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { bale, failsCleanly, fixture, skip, tempDir } from "./cli-helpers.ts";
import { makeBigRootfs } from "./support/rootfs.ts";

const scratch = tempDir("bale-full-");
const mountPoint = join(scratch, "small");
mkdirSync(mountPoint);
// 24 MiB: room for the fixtures, not for a 40 MB layer.
const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", "size=24m", "tmpfs", mountPoint]).status === 0;
test.after(() => {
  if (mounted) spawnSync("umount", [mountPoint]);
  rmSync(scratch, { recursive: true, force: true });
});

const root = join(mountPoint, "store");
const run = (...args: string[]) => bale(["--root", root, ...args]);

test("a load or import that fills the disk fails with one line; the store stays sound", () => {
  if (!mounted) return skip("disk-full test: cannot mount a tmpfs (needs root)");
  assert.is(run("load", "-i", fixture("real/docker20-save.tar")).status, 0);
  const before = run("images", "--format", "json").stdout;
  const big = makeBigRootfs(scratch, 40);

  failsCleanly(run("import", big, "big:1"), /no space left/i);
  const archive = join(scratch, "big.tar");
  const other = join(scratch, "other-store");
  assert.is(bale(["--root", other, "import", big, "big:1"]).status, 0);
  assert.is(bale(["--root", other, "save", "-o", archive, "big:1"]).status, 0);
  failsCleanly(run("load", "-i", archive), /no space left/i);

  assert.is(run("images", "--format", "json").stdout, before, "names unchanged");
  assert.is(run("verify").status, 0, "verify passes");
  const ingest = join(root, "ingest");
  assert.equal(existsSync(ingest) ? readdirSync(ingest) : [], [], "no temp file left behind");
  // With room again, the same load works.
  assert.is(run("rmi", "localhost/tiny:1", "localhost/tiny-extra:1").status, 0);
  assert.is(run("load", "-i", fixture("real/podman-docker.tar")).status, 0);
});

test.run();
