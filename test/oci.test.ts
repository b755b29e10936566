// The oci format, end to end through the real CLI: real tools' layouts
// against their oracle, hyperd's save/load -r sequence, reproducible saves,
// bad input, and interop with skopeo, umoci and oci-image-tool when installed.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { packTar } from "modern-tar";
import { test } from "uvu";
import * as assert from "uvu/assert";
import oci from "../plugins/oci/index.ts";
import { failsCleanly, fixture, has, sandbox, skip } from "./cli-helpers.ts";

type Row = { Repository: string; Tag: string; ID: string; Digest: string; Names: string[] };
interface Expected { names: string[]; refName: string | null; id: string | null; manifestDigest: string; diffIds?: string[]; children?: { manifestDigest: string; id: string; descriptorPlatform: string | null }[] }
const oracle = {
  ...JSON.parse(readFileSync(fixture("real/expected.json"), "utf8")),
  test_index: JSON.parse(readFileSync(fixture("public/expected.json"), "utf8")).test_index,
} as Record<string, { images: (Expected & { unsupported?: boolean })[] }>;
const FIXTURES: Record<string, string> = {
  "skopeo-oci.tar": "real/skopeo-oci.tar",
  "skopeo-zstd-oci.tar": "real/skopeo-zstd-oci.tar",
  "podman-oci.tar": "real/podman-oci.tar",
  "umoci-layout.tar": "real/umoci-layout.tar",
  "multiarch-oci.tar": "real/multiarch-oci.tar",
  "hyperd-oci.tar": "real/hyperd-oci.tar",
  test_index: "public/test_index",
};
const sha256 = (bytes: Uint8Array | string) => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
const isBareTag = (name: string) => !name.includes("/") && !name.includes(":");

// ── detect ────────────────────────────────────────────────────────────────
const files = (...names: string[]) => ({ names, has: (name: string) => names.includes(name) }) as never;

test("detect: oci-layout + index.json, but not docker ≥25 hybrids with manifest.json", () => {
  assert.ok(oci.detect(files("oci-layout", "index.json", "blobs/sha256/ab")));
  assert.not.ok(oci.detect(files("oci-layout", "index.json", "manifest.json")));
  assert.not.ok(oci.detect(files("index.json")));
  assert.not.ok(oci.detect(files("oci-layout")));
});

// ── real layouts against the oracle, and back out and in again ───────────
for (const [key, path] of Object.entries(FIXTURES)) {
  test(`${key}: load matches expected.json; save -f oci and load elsewhere keeps IDs and digests`, () => {
    const box = sandbox();
    const other = sandbox();
    try {
      box.ok("load", "-i", fixture(path));
      const rows = box.images();
      for (const image of oracle[key].images) {
        const row = rows.find((candidate) => candidate.Digest === image.manifestDigest);
        if (image.unsupported) {
          // An index.json entry of an unknown media type is ignored, as OCI says.
          assert.is(row, undefined, `${image.refName} should be ignored`);
          continue;
        }
        assert.ok(row, `${key}: no image with manifest ${image.manifestDigest}`);
        // A multi-platform image's ID is its index digest; the oracle lists the children instead.
        assert.is(row!.ID, image.id ?? image.manifestDigest);
        const named = image.names.filter((name) => !isBareTag(name));
        assert.equal(row!.Names, named, `${key}: names of ${image.manifestDigest}`);
        const [inspected] = JSON.parse(box.ok("inspect", row!.ID)) as { Layers?: { diffId: string }[]; Platforms?: { digest: string; platform: string }[] }[];
        if (image.children) {
          const children = image.children.map((child) => ({ digest: child.manifestDigest, platform: child.descriptorPlatform ?? "" }));
          assert.equal(inspected.Platforms, children);
        } else if (image.diffIds) {
          assert.equal(inspected.Layers!.map((layer) => layer.diffId), image.diffIds);
        }
      }

      const archive = join(box.dir, "out.tar");
      box.ok("save", "-f", "oci", "-o", archive, ...rows.map((row) => row.Names[0] ?? row.ID));
      other.ok("load", "-i", archive);
      const facts = (list: Row[]) => list.map((row) => `${row.ID} ${row.Digest} ${row.Names.join(",")}`).sort();
      assert.equal(facts(other.images()), facts(rows));
    } finally {
      box.cleanup();
      other.cleanup();
    }
  });
}

test("load: a bare-tag ref name is no name; -r names it, and says how", () => {
  const box = sandbox();
  try {
    const bare = box.run("load", "-i", fixture("real/skopeo-oci.tar"));
    assert.is(bare.status, 0);
    assert.match(bare.stdout, /Loaded image ID: sha256:aaa99e2be304/);
    assert.match(bare.stderr, /-r NAME:TAG=1/);
    assert.match(box.ok("load", "-i", fixture("real/hyperd-oci.tar"), "-r", "localhost/hyperd:hello=hello"), /Loaded image: localhost\/hyperd:hello/);
    box.ok("load", "-i", fixture("real/umoci-layout.tar"), "-r", "tiny:one=tiny-1", "-r", "umoci=tiny-umoci");
    const names = box.images().flatMap((row) => row.Names);
    for (const name of ["localhost/hyperd:hello", "docker.io/library/tiny:one", "docker.io/library/umoci:latest"]) {
      assert.ok(names.some((shown) => shown === name || `docker.io/library/${shown}` === name || `docker.io/library/${shown}:latest` === name), `${name} in ${names}`);
    }
  } finally {
    box.cleanup();
  }
});

// ── hyperd's seed sequence ───────────────────────────────────────────────
test("seed: save two images with -r, rmi them, load them back under new names", () => {
  const box = sandbox();
  try {
    box.ok("load", "-i", fixture("real/hyperd-oci.tar"), "-r", "centos:7=hello");
    box.ok("load", "-i", fixture("real/umoci-layout.tar"), "-r", "busybox:latest=tiny-extra-1");
    const mix = join(box.dir, "mix.tar");
    box.ok("save", "-o", mix, "-f", "oci", "-r", "centos:7=hello", "-r", "busybox:latest=world", "centos:7", "busybox:latest");
    const index = JSON.parse(tarMember(mix, "index.json"));
    assert.equal(index.manifests.map((entry: { annotations: object }) => entry.annotations), [
      { "org.opencontainers.image.ref.name": "hello" },
      { "org.opencontainers.image.ref.name": "world" },
    ]);
    box.ok("rmi", "centos:7", "busybox:latest");
    const loaded = box.ok("load", "-i", mix, "-r", "centos:7=hello", "-r", "busybox:test=world");
    assert.match(loaded, /Loaded image: centos:7\n/);
    assert.match(loaded, /Loaded image: busybox:test\n/);
    const table = box.ok("images");
    assert.match(table, /centos\s+7\s+aaa99e2be304/);
    assert.match(table, /busybox\s+test\s+dd80a144f98b/);
  } finally {
    box.cleanup();
  }
});

// ── save ─────────────────────────────────────────────────────────────────
test("save: names, shared blobs once, reproducible bytes, unpacked -o DIR/", () => {
  const box = sandbox();
  try {
    box.ok("load", "-i", fixture("real/umoci-layout.tar"), "-r", "localhost/tiny:1=tiny-1", "-r", "localhost/tiny-extra:1=tiny-extra-1");
    const first = join(box.dir, "a.tar");
    const args = ["save", "-f", "oci", "localhost/tiny:1", "localhost/tiny-extra:1", "sha256:5f91105adbde"];
    box.ok(...args, "-o", first);
    const index = JSON.parse(tarMember(first, "index.json"));
    assert.is(index.mediaType, "application/vnd.oci.image.index.v1+json");
    assert.equal(index.manifests.map((entry: { annotations?: object }) => entry.annotations), [
      { "io.containerd.image.name": "localhost/tiny:1", "org.opencontainers.image.ref.name": "localhost/tiny:1" },
      { "io.containerd.image.name": "localhost/tiny-extra:1", "org.opencontainers.image.ref.name": "localhost/tiny-extra:1" },
      undefined, // saved by ID: no name to give
    ]);
    assert.is(tarMember(first, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
    const blobs = tarList(first).filter((name) => name.startsWith("blobs/sha256/") && name.length > 13);
    // 3 manifests, 3 configs, 4 distinct layers: the shared ones once.
    assert.is(blobs.length, 10);
    for (const name of blobs) assert.is(sha256(tarBytes(first, name)), `sha256:${name.slice(13)}`);

    const again = join(box.dir, "b.tar");
    box.ok(...args, "-o", again);
    assert.ok(readFileSync(first).equals(readFileSync(again)), "two saves differ");

    // The same images in another store give the same bytes too.
    const other = sandbox();
    try {
      other.ok("load", "-i", first);
      const third = join(other.dir, "c.tar");
      other.ok(...args, "-o", third);
      assert.ok(readFileSync(first).equals(readFileSync(third)), "a save after a round trip differs");
    } finally {
      other.cleanup();
    }

    const dir = join(box.dir, "layout") + "/";
    box.ok(...args, "-o", dir);
    assert.is(readFileSync(join(dir, "index.json"), "utf8"), tarMember(first, "index.json"));
    for (const name of blobs) assert.ok(existsSync(join(dir, name)), name);
  } finally {
    box.cleanup();
  }
});

test("save: a multi-platform image keeps its index; --platform writes one manifest", () => {
  const box = sandbox();
  try {
    box.ok("load", "-i", fixture("real/multiarch-oci.tar"));
    const all = join(box.dir, "all.tar");
    box.ok("save", "-f", "oci", "-o", all, "localhost/tiny-multiarch:1");
    const [entry] = JSON.parse(tarMember(all, "index.json")).manifests;
    assert.is(entry.digest, "sha256:b6f540deecdbb281df23c52bc402fdce971bc045f78574f78b9ea304ff1e6b85");
    assert.ok(tarList(all).includes("blobs/sha256/6e987a7850188dfaef40bd7adcde525b0f82441125c8f29668d4ad2d95ea843a"));
    const arm = join(box.dir, "arm.tar");
    box.ok("save", "-f", "oci", "--platform", "linux/arm64/v8", "-o", arm, "localhost/tiny-multiarch:1");
    const [child] = JSON.parse(tarMember(arm, "index.json")).manifests;
    assert.is(child.digest, "sha256:6e987a7850188dfaef40bd7adcde525b0f82441125c8f29668d4ad2d95ea843a");
    assert.is(child.annotations["org.opencontainers.image.ref.name"], "localhost/tiny-multiarch:1");
    assert.not.ok(tarList(arm).includes("blobs/sha256/b6f540deecdbb281df23c52bc402fdce971bc045f78574f78b9ea304ff1e6b85"));
  } finally {
    box.cleanup();
  }
});

test("save: a clash of ref names and an invalid ref name are errors that name them", () => {
  const box = sandbox();
  try {
    box.ok("load", "-i", fixture("real/umoci-layout.tar"), "-r", "a:1=tiny-1", "-r", "b:1=tiny-extra-1");
    const out = join(box.dir, "x.tar");
    failsCleanly(box.run("save", "-f", "oci", "-o", out, "-r", "a:1=same", "-r", "b:1=same", "a:1", "b:1"), /"same".*a:1.*b:1/);
    failsCleanly(box.run("save", "-f", "oci", "-o", out, "-r", "a:1=bad name!", "a:1"), /bad name!/);
    assert.not.ok(existsSync(out), "a failed save leaves no archive");
  } finally {
    box.cleanup();
  }
});

// ── bad input: one line, exit 1, index.json unchanged ─────────────────────
const MT = {
  index: "application/vnd.oci.image.index.v1+json",
  manifest: "application/vnd.oci.image.manifest.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layer: "application/vnd.oci.image.layer.v1.tar",
};
type Members = [name: string, body: Uint8Array | string][];
interface Edits {
  manifest?(manifest: Record<string, any>): void;
  index?(index: Record<string, any>): void;
  members?(members: Members, digests: { layer: string; config: string; manifest: string }): void;
}
const text = (value: unknown) => JSON.stringify(value);
const descriptor = (mediaType: string, body: Uint8Array | string) => ({ mediaType, digest: sha256(body), size: Buffer.byteLength(body) });
const blob = (body: Uint8Array | string): [string, Uint8Array | string] => [`blobs/sha256/${sha256(body).slice(7)}`, body];

/** A valid one-layer layout, bent by `edits` at the stage each targets. */
async function badLayout(edits: Edits = {}): Promise<Uint8Array> {
  const layer = await packTar([{ header: { name: "hello.txt", size: 5, mtime: new Date(0) }, body: "hello" }]);
  const config = text({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [sha256(layer)] } });
  const manifest: Record<string, any> = { schemaVersion: 2, mediaType: MT.manifest, config: descriptor(MT.config, config), layers: [descriptor(MT.layer, layer)] };
  edits.manifest?.(manifest);
  const manifestText = text(manifest);
  const index: Record<string, any> = { schemaVersion: 2, mediaType: MT.index, manifests: [{ ...descriptor(MT.manifest, manifestText), annotations: { "org.opencontainers.image.ref.name": "example.com/bad:1" } }] };
  edits.index?.(index);
  const members: Members = [["oci-layout", '{"imageLayoutVersion":"1.0.0"}'], ["index.json", text(index)], blob(layer), blob(config), blob(manifestText)];
  edits.members?.(members, { layer: sha256(layer), config: sha256(config), manifest: sha256(manifestText) });
  return packTar(members.map(([name, body]) => ({ header: { name, size: Buffer.byteLength(body), mtime: new Date(0) }, body })));
}

const drop = (members: Members, digest: string) => members.splice(members.findIndex(([name]) => name.endsWith(digest.slice(7))), 1);
const big = "x".repeat(4 * 1024 * 1024 + 1);

const bad: [what: string, edits: Edits | ((tar: Uint8Array) => Uint8Array), error: RegExp, args?: string[]][] = [
  ["a blob whose content does not match its digest", { members: (m, d) => { m.find(([name]) => name.endsWith(d.layer.slice(7)))![1] = "tampered"; } }, /holds sha256:[a-f0-9]{64}, not sha256:/],
  ["a descriptor whose size is wrong", { manifest: (m) => { m.layers[0].size += 1; } }, /bytes, but its descriptor says/],
  ["a digest with a path in it", { index: (i) => { i.manifests[0].digest = "sha256:../../etc/passwd"; } }, /not a valid digest/],
  ["a digest in uppercase hex", { manifest: (m) => { m.layers[0].digest = m.layers[0].digest.toUpperCase().replace("SHA256", "sha256"); } }, /not a valid digest/],
  ["a member named with ..", { members: (m) => { m.push(["../evil", "x"]); } }, /escapes the archive/],
  ["a member with an absolute name", { members: (m) => { m.push(["/etc/evil", "x"]); } }, /absolute name/],
  ["an index.json over 4 MiB", { index: (i) => { i.annotations = { pad: big }; } }, /index\.json.*over the \d+-byte limit/],
  ["a manifest over 4 MiB", { manifest: (m) => { m.annotations = { pad: big }; } }, /over the \d+-byte limit/],
  ["a missing blob", { members: (m, d) => { drop(m, d.config); } }, /config sha256:[a-f0-9]{64} is missing from the archive/],
  ["an index.json with schemaVersion 1", { index: (i) => { i.schemaVersion = 1; } }, /index\.json: schemaVersion 1 is not supported/],
  ["a manifest with schemaVersion 1", { manifest: (m) => { m.schemaVersion = 1; } }, /schemaVersion 1 is not supported/],
  ["a truncated tar", (tar) => tar.subarray(0, 1536 + 700), /truncated|unexpected end|tar/i],
  ["no oci-layout", { members: (m) => { m.shift(); } }, /not an image archive/],
  ["no oci-layout, with -f oci", { members: (m) => { m.shift(); } }, /no oci-layout/, ["-f", "oci"]],
  ["an oci-layout without imageLayoutVersion", { members: (m) => { m[0][1] = "{}"; } }, /imageLayoutVersion/],
  ["two index.json members with different content", { members: (m) => { m.push(["index.json", text({ schemaVersion: 2, manifests: [] })]); } }, /two different members named index\.json/],
  ["a -r REFNAME that matches nothing", {}, /no image named nosuch.*nothing was loaded/, ["-r", "x:1=nosuch"]],
  ["an index.json with only unknown media types", { index: (i) => { i.manifests[0].mediaType = "application/vnd.oci.descriptor.v1+json"; } }, /no image manifests or indexes/],
];

// One store for all of them: each failed load must leave its index.json as it was.
let store: ReturnType<typeof sandbox>;
test("bad input: (a store with one image to keep intact)", () => {
  store = sandbox();
  store.ok("load", "-i", fixture("real/podman-oci.tar"));
});

for (const [what, edits, error, args = []] of bad) {
  test(`bad input: ${what}`, async () => {
    const before = JSON.parse(store.snapshot()).index;
    const tar = typeof edits === "function" ? edits(await badLayout()) : await badLayout(edits);
    const path = join(store.dir, "bad.tar");
    writeFileSync(path, tar);
    failsCleanly(store.run("load", "-i", path, ...args), error);
    assert.is(JSON.parse(store.snapshot()).index, before, "index.json changed");
  });
}

test("bad input: the crafted layout loads when left alone", async () => {
  const path = join(store.dir, "good.tar");
  writeFileSync(path, await badLayout());
  assert.match(store.ok("load", "-i", path), /Loaded image: example.com\/bad:1/);
  store.cleanup();
});

// ── interop with the tools that read OCI layouts ─────────────────────────
/** A store holding tiny with gzip layers (podman's) and with uncompressed ones (hyperd's), saved by bale. */
function savedByBale() {
  const box = sandbox();
  box.ok("load", "-i", fixture("real/podman-oci.tar"));
  box.ok("load", "-i", fixture("real/hyperd-oci.tar"), "-r", "localhost/tiny:raw=hello");
  const archive = join(box.dir, "bale.tar");
  box.ok("save", "-f", "oci", "-o", archive, "localhost/tiny:1", "localhost/tiny:raw");
  const layout = join(box.dir, "layout");
  mkdirSync(layout);
  run("tar", ["xf", archive, "-C", layout]);
  return { box, archive, layout, id: "sha256:aaa99e2be304d792d0cf2fe932c0f36f30a2240c384c9f6c7573baf62a209e16" };
}

test("interop: skopeo inspects and copies what bale saves", () => {
  if (!has("skopeo")) return skip("skopeo is not installed: interop with skopeo untested");
  const { box, archive, id } = savedByBale();
  try {
    for (const [ref, manifest] of [["localhost/tiny:1", "sha256:decf203cd4bc3ce5b2e6875bbafe2c6fb59e6da033982658f4eba88dd5154216"], ["localhost/tiny:raw", "sha256:ca63dc30479a6b1d005fb00e2f8ff0f2a3af8c33b695ae9709607f4b0f004264"]]) {
      assert.is(JSON.parse(run("skopeo", ["inspect", `oci-archive:${archive}:${ref}`])).Digest, manifest);
      assert.is(sha256(run("skopeo", ["inspect", "--raw", "--config", `oci-archive:${archive}:${ref}`])), id);
    }
    const copy = join(box.dir, "copy");
    run("skopeo", ["copy", "-q", `oci-archive:${archive}:localhost/tiny:1`, `oci:${copy}:tiny`]);
    assert.is(JSON.parse(readFileSync(join(copy, "index.json"), "utf8")).manifests[0].digest, "sha256:decf203cd4bc3ce5b2e6875bbafe2c6fb59e6da033982658f4eba88dd5154216");
    // And bale reads skopeo's copy back.
    assert.match(box.ok("load", "-i", copy, "-r", "localhost/tiny:copied=tiny"), /Loaded image: localhost\/tiny:copied/);
  } finally {
    box.cleanup();
  }
});

test("interop: umoci unpacks gzip and uncompressed layers from a bale layout", () => {
  if (!has("umoci")) return skip("umoci is not installed: interop with umoci untested");
  const { box, layout } = savedByBale();
  try {
    for (const ref of ["localhost/tiny:1", "localhost/tiny:raw"]) {
      const bundle = join(box.dir, `bundle-${ref.split(":")[1]}`);
      run("umoci", ["unpack", "--rootless", "--image", `${layout}:${ref}`, bundle]);
      assert.ok(existsSync(join(bundle, "rootfs", "data", "added-in-l3.txt")), `${ref}: rootfs`);
      assert.not.ok(existsSync(join(bundle, "rootfs", "data", "remove-me.txt")), `${ref}: whiteout applied`);
      const stat = JSON.parse(run("umoci", ["stat", "--json", "--image", `${layout}:${ref}`]));
      assert.is(stat.history.length, 9, `${ref}: history`);
    }
  } finally {
    box.cleanup();
  }
});

test("interop: oci-image-tool validates a bale layout", () => {
  if (!has("oci-image-tool")) return skip("oci-image-tool is not installed: layout validation untested");
  const { box, layout } = savedByBale();
  try {
    for (const ref of ["localhost/tiny:1", "localhost/tiny:raw"]) {
      assert.match(run("oci-image-tool", ["validate", "--type", "image", "--ref", `name=${ref}`, layout]), /Validation succeeded/);
    }
  } finally {
    box.cleanup();
  }
});

// ── helpers ──────────────────────────────────────────────────────────────
function run(command: string, args: string[]): string {
  const result = spawnSync(command, args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} failed (${result.status}): ${result.stderr}`);
  return result.stdout;
}

function tarList(archive: string): string[] {
  return run("tar", ["tf", archive]).split("\n").filter(Boolean).map((name) => name.replace(/\/$/, ""));
}

function tarBytes(archive: string, member: string): Buffer {
  const result = spawnSync("tar", ["xOf", archive, member], { maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`tar: no ${member} in ${archive}`);
  return result.stdout;
}

const tarMember = (archive: string, member: string) => tarBytes(archive, member).toString("utf8");

test.run();
