// save --compress: layers recompressed on the way out, the manifest rewritten
// to name them, the stored image untouched, the output reproducible.
import { spawnSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { failsCleanly, fixture, has, sandbox, skip } from "./cli-helpers.ts";

const TINY_ID = "sha256:aaa99e2be304d792d0cf2fe932c0f36f30a2240c384c9f6c7573baf62a209e16";

/** A store holding tiny with uncompressed layers (docker 20's archive). */
function tinyStore() {
  const box = sandbox();
  box.ok("load", "-i", fixture("real/docker20-save.tar"));
  return box;
}

function inspect(box: ReturnType<typeof sandbox>, image: string) {
  return JSON.parse(box.ok("inspect", image))[0] as { Id: string; Digest: string; Layers: { mediaType: string; diffId: string; digest: string }[] };
}

for (const format of ["oci", "docker"]) {
  test(`${format}: --compress gzip writes gzip layers that load back with the same ID and diff_ids`, () => {
    const box = tinyStore();
    const before = inspect(box, "localhost/tiny:1");
    const blobsBefore = readdirSync(join(box.root, "blobs/sha256")).sort();
    const out = join(box.dir, "gzip.tar");
    box.ok("save", "-f", format, "--compress", "gzip", "-o", out, "localhost/tiny:1");

    // The stored image is as it was, and the converted layers did not stay behind.
    assert.equal(inspect(box, "localhost/tiny:1"), before);
    assert.equal(readdirSync(join(box.root, "blobs/sha256")).sort(), blobsBefore);

    const other = sandbox();
    other.ok("load", "-i", out);
    const loaded = inspect(other, "localhost/tiny:1");
    assert.is(loaded.Id, TINY_ID);
    assert.equal(loaded.Layers.map((layer) => layer.diffId), before.Layers.map((layer) => layer.diffId));
    assert.ok(loaded.Layers.every((layer) => layer.mediaType.endsWith("gzip")), JSON.stringify(loaded.Layers));
    assert.is.not(loaded.Digest, before.Digest, "the manifest names the new layers");

    // Two saves give the same bytes: parallel gzip is still deterministic.
    const again = join(box.dir, "gzip-again.tar");
    box.ok("save", "-f", format, "--compress", "gzip", "-o", again, "localhost/tiny:1");
    assert.ok(readFileSync(out).equals(readFileSync(again)));
    box.cleanup();
    other.cleanup();
  });
}

test("--compress none (and --uncompressed) turn gzip layers back into the diff_ids", () => {
  const box = sandbox();
  box.ok("load", "-i", fixture("real/podman-oci.tar"));
  for (const flags of [["--compress", "none"], ["--uncompressed"]]) {
    const out = join(box.dir, `plain-${flags.length}.tar`);
    box.ok("save", "-f", "oci", ...flags, "-o", out, "localhost/tiny:1");
    const other = sandbox();
    other.ok("load", "-i", out);
    const loaded = inspect(other, "localhost/tiny:1");
    assert.is(loaded.Id, TINY_ID);
    assert.ok(loaded.Layers.every((layer) => layer.digest === layer.diffId && layer.mediaType.endsWith(".tar")));
    other.cleanup();
  }
  box.cleanup();
});

test("a bale gzip layer is one stream to other tools: gzip -dc gives the diff_id", () => {
  if (!has("gzip") || !has("sha256sum")) return skip("gzip or sha256sum is not installed");
  const box = tinyStore();
  const dir = join(box.dir, "layout/");
  box.ok("save", "-f", "oci", "--compress", "gzip", "-o", dir, "localhost/tiny:1");
  const loaded = sandbox();
  loaded.ok("load", "-i", dir);
  for (const layer of inspect(loaded, "localhost/tiny:1").Layers) {
    const blob = join(dir, "blobs/sha256", layer.digest.slice(7));
    const out = spawnSync("sh", ["-c", `gzip -dc '${blob}' | sha256sum`], { encoding: "utf8" });
    assert.is(`sha256:${out.stdout.split(" ")[0]}`, layer.diffId);
  }
  box.cleanup();
  loaded.cleanup();
});

test("--compress zstd works where the runtime has zstd, else says why in one line", () => {
  const box = tinyStore();
  const out = join(box.dir, "zstd.tar");
  const result = box.run("save", "-f", "oci", "--compress", "zstd", "-o", out, "localhost/tiny:1");
  if (result.status === 0) {
    const other = sandbox();
    other.ok("load", "-i", out);
    assert.ok(inspect(other, "localhost/tiny:1").Layers.every((layer) => layer.mediaType.endsWith("zstd")));
    other.cleanup();
  } else {
    failsCleanly(result, /zstd compression needs a runtime with zstd/);
  }
  box.cleanup();
});

test("--compress with an unknown kind is a usage error", () => {
  const box = tinyStore();
  failsCleanly(box.run("save", "--compress", "lz4", "-o", join(box.dir, "x.tar"), "localhost/tiny:1"), /--compress lz4: want gzip, zstd or none/, 2);
  box.cleanup();
});

test("--compress on a multi-platform image asks for --platform, and works with it", () => {
  const box = sandbox();
  box.ok("load", "-i", fixture("real/multiarch-oci.tar"));
  const out = join(box.dir, "x.tar");
  failsCleanly(box.run("save", "-f", "oci", "--compress", "none", "-o", out, "localhost/tiny-multiarch:1"), /--platform/);
  box.ok("save", "-f", "oci", "--compress", "none", "--platform", "linux/arm64", "-o", out, "localhost/tiny-multiarch:1");
  const other = sandbox();
  other.ok("load", "-i", out);
  assert.is(inspect(other, "localhost/tiny-multiarch:1").Id, "sha256:2627be699aeb35d3b0394ae71ef34b2ee7c978dfba139079d04bcdeceda5e40e");
  box.cleanup();
  other.cleanup();
});

test.run();
