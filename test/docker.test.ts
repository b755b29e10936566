// The docker format through the real CLI: every Docker archive fixture loads
// with the names and IDs the oracle (expected.json) gives; bad archives fail
// with one line and leave index.json alone; saves are hybrid, reproducible and
// load in podman and skopeo when they are installed.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { bale, failsCleanly, fixture, has, sandbox, skip } from "./cli-helpers.ts";
import { gzip, json, makeTar, sha256, type RawMember } from "./support/craft.ts";

type Sandbox = ReturnType<typeof sandbox>;

interface ExpectedImage {
  names: string[];
  id: string;
  diffIds: string[];
}
interface ExpectedFile {
  format: string | null;
  images?: ExpectedImage[];
}

const oracle: Record<string, ExpectedFile> = {};
for (const dir of ["real", "public"]) {
  const file = JSON.parse(readFileSync(fixture(`${dir}/expected.json`), "utf8")) as Record<string, ExpectedFile>;
  for (const [name, entry] of Object.entries(file)) oracle[`${dir}/${name}`] = entry;
}
const dockerFixtures = Object.keys(oracle).filter((path) => oracle[path].format?.startsWith("docker"));

/** A RepoTag as bale shows it: Docker's rule makes a bare name `:latest`. */
const familiar = (name: string) => (name.slice(name.lastIndexOf("/") + 1).includes(":") ? name : `${name}:latest`);

/** (name or <none>) → ID, as `images --format json` shows the store. */
function shown(box: Sandbox): Map<string, string> {
  const rows = box.images();
  return new Map(rows.map((row) => [row.Repository === "<none>" ? `<none>@${row.ID}` : `${row.Repository}:${row.Tag}`, row.ID]));
}

function expectedShown(path: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const image of oracle[path].images!) {
    if (image.names.length === 0) map.set(`<none>@${image.id}`, image.id);
    for (const name of image.names) map.set(familiar(name), image.id);
  }
  return map;
}

/** diff_ids of several images, with one `inspect`. */
function allDiffIds(box: Sandbox, images: string[]): string[][] {
  const details = JSON.parse(box.ok("inspect", ...images)) as { Layers: { diffId: string }[] }[];
  return details.map((image) => image.Layers.map((layer) => layer.diffId));
}

function diffIds(box: Sandbox, image: string): string[] {
  const [details] = JSON.parse(box.ok("inspect", image)) as { Layers: { diffId: string }[] }[];
  return details.Layers.map((layer) => layer.diffId);
}

/** Arguments that save every image in the store under its names (untagged ones by ID). */
function everything(box: Sandbox): string[] {
  return [...shown(box).keys()].map((key) => (key.startsWith("<none>@") ? key.slice("<none>@sha256:".length) : key));
}

function tarMembers(path: string): string[] {
  return spawnSync("tar", ["tf", path], { encoding: "utf8" }).stdout.split("\n").filter(Boolean);
}

function tarMember(path: string, name: string): string {
  return spawnSync("tar", ["xOf", path, name], { encoding: "utf8" }).stdout;
}

function indexOf(box: Sandbox): string {
  return JSON.parse(box.snapshot()).index;
}

// ---- every Docker archive fixture --------------------------------------------------------------

// One test per fixture: load it (names, IDs, diff_ids as the oracle says), then
// docker → oci → docker through bale must keep them all.
for (const path of dockerFixtures) {
  test(`${path}: loads as expected.json says, and survives docker → oci → docker`, () => {
    const boxes = [sandbox(), sandbox(), sandbox()];
    try {
      const [a, b, c] = boxes;
      a.ok("load", "-i", fixture(path));
      const expected = Object.fromEntries(expectedShown(path));
      const images = oracle[path].images!;
      const diffIdsOf = (box: Sandbox) => allDiffIds(box, images.map((image) => image.id.slice(7, 19)));
      assert.equal(Object.fromEntries(shown(a)), expected);
      assert.equal(diffIdsOf(a), images.map((image) => image.diffIds));

      const oci = join(a.dir, "x.oci.tar");
      a.ok("save", "-f", "oci", "-o", oci, ...everything(a));
      b.ok("load", "-i", oci);
      assert.equal(Object.fromEntries(shown(b)), expected, "after docker → oci");
      const docker = join(b.dir, "x.docker.tar");
      b.ok("save", "-f", "docker", "-o", docker, ...everything(b));
      c.ok("load", "-i", docker);
      assert.equal(Object.fromEntries(shown(c)), expected, "after docker → oci → docker");
      assert.equal(diffIdsOf(c), images.map((image) => image.diffIds));
    } finally {
      boxes.forEach((box) => box.cleanup());
    }
  });
}

test("load public/test_bundle.tar: bare RepoTags follow Docker's rule (:latest)", () => {
  const box = sandbox();
  try {
    box.ok("load", "-i", fixture("public/test_bundle.tar"));
    const ids = shown(box);
    assert.is(ids.get("test_image_2:latest"), "sha256:930705ce23e3b6ed4c08746b6fe880089c864fbaf62482702ae3fdd66b8c7fe9");
    assert.is(ids.get("test_image_1:latest"), "sha256:6e0b05049ed9c17d02e1a55e80d6599dbfcce7f4f4b022e3c673e685789c470e");
  } finally {
    box.cleanup();
  }
});

test("load -r renames one RepoTag of a multi-image archive; an unknown REFNAME loads nothing", () => {
  const box = sandbox();
  try {
    box.ok("images");
    const before = indexOf(box);
    failsCleanly(box.run("load", "-i", fixture("real/podman-multi-docker.tar"), "-r", "mine:1=localhost/tiny:nope"), /tiny:nope/);
    assert.is(indexOf(box), before);
    box.ok("load", "-i", fixture("real/podman-multi-docker.tar"), "-r", "mine:1=localhost/tiny:alias");
    const ids = shown(box);
    assert.is(ids.get("mine:1"), "sha256:aaa99e2be304d792d0cf2fe932c0f36f30a2240c384c9f6c7573baf62a209e16");
    assert.is(ids.get("localhost/tiny:1"), ids.get("mine:1"));
    assert.not.ok(ids.has("localhost/tiny:alias"));
  } finally {
    box.cleanup();
  }
});

test("load the whole archive compressed with xz and bzip2 (as docker load does)", () => {
  for (const tool of ["xz", "bzip2"]) {
    if (!has(tool)) {
      skip(`${tool} is not installed: whole-archive ${tool} load not tested`);
      continue;
    }
    const box = sandbox();
    try {
      const packed = join(box.dir, `archive.tar.${tool}`);
      writeFileSync(packed, spawnSync(tool, ["-c", fixture("real/docker20-save.tar")]).stdout);
      box.ok("load", "-i", packed);
      assert.equal(Object.fromEntries(shown(box)), Object.fromEntries(expectedShown("real/docker20-save.tar")));
    } finally {
      box.cleanup();
    }
  }
});

test("load from stdin", () => {
  const box = sandbox();
  try {
    const result = bale(["--root", box.root, "load"], { input: readFileSync(fixture("real/podman-docker.tar")) });
    assert.is(result.status, 0, result.stderr);
    assert.is(shown(box).get("localhost/tiny:1"), "sha256:aaa99e2be304d792d0cf2fe932c0f36f30a2240c384c9f6c7573baf62a209e16");
  } finally {
    box.cleanup();
  }
});

test("hybrid: a multi-platform index keeps its digest when whole, its platform manifest's when partial, and loads from index.json alone", () => {
  const box = sandbox();
  try {
    const dir = join(box.dir, "layout");
    mkdirSync(dir);
    spawnSync("tar", ["xf", fixture("real/multiarch-oci.tar"), "-C", dir]);
    const blob = (digest: string) => JSON.parse(readFileSync(join(dir, "blobs/sha256", hex(digest)), "utf8"));
    const [root] = JSON.parse(readFileSync(join(dir, "index.json"), "utf8")).manifests;
    const children = blob(root.digest).manifests as { digest: string; platform: { architecture: string } }[];
    const amd64 = children.find((child) => child.platform.architecture === "amd64")!;
    const arm64 = children.find((child) => child.platform.architecture === "arm64")!;
    const manifest = blob(amd64.digest);
    const entry = { Config: `blobs/sha256/${hex(manifest.config.digest)}`, RepoTags: ["localhost/tiny-multiarch:1"], Layers: manifest.layers.map((layer: { digest: string }) => `blobs/sha256/${hex(layer.digest)}`) };
    const members = (skip: string[], manifestJson: unknown): RawMember[] => [
      ...spawnSync("tar", ["tf", fixture("real/multiarch-oci.tar")], { encoding: "utf8" }).stdout.split("\n")
        .filter((name) => name && !name.endsWith("/") && !skip.some((digest) => name.endsWith(hex(digest))))
        .map((name) => ({ name, body: readFileSync(join(dir, name)) })),
      { name: "manifest.json", body: json(manifestJson) },
    ];
    const digestAfterLoad = (name: string, archive: RawMember[]) => {
      const file = join(box.dir, `${name}.tar`);
      writeFileSync(file, makeTar(archive));
      const check = sandbox();
      try {
        check.ok("load", "-i", file);
        return check.images().map((row) => `${row.Repository}:${row.Tag} ${row.Digest}`);
      } finally {
        check.cleanup();
      }
    };
    assert.equal(digestAfterLoad("whole", members([], [entry])), [`localhost/tiny-multiarch:1 ${root.digest}`]);
    assert.equal(digestAfterLoad("partial", members([arm64.digest], [entry])), [`localhost/tiny-multiarch:1 ${amd64.digest}`]);
    assert.equal(digestAfterLoad("layout-only", members([], [])), [`localhost/tiny-multiarch:1 ${root.digest}`]);
  } finally {
    box.cleanup();
  }
});

// ---- crafted archives ------------------------------------------------------------------------------

const plainLayer = makeTar([{ name: "hello.txt", body: "hello\n" }]);
const hex = (digest: string) => digest.slice("sha256:".length);

interface Craft {
  /** Uncompressed layers: diff_ids come from these. */
  layers?: Uint8Array[];
  /** What the archive holds for each layer, when not the plain layer (e.g. gzip). */
  stored?: Uint8Array[];
  diffIds?: string[];
  repoTags?: unknown;
  /** Rewrites the one manifest.json entry, or replaces manifest.json (a string is written as is). */
  manifest?: (entry: Record<string, unknown>) => unknown;
  extra?: RawMember[];
}

function craft(options: Craft = {}): Uint8Array {
  const layers = options.layers ?? [plainLayer];
  const config = json({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: options.diffIds ?? layers.map((layer) => sha256(layer)) } });
  const configName = `${hex(sha256(config))}.json`;
  const layerNames = layers.map((_, i) => `l${i}/layer.tar`);
  const entry = { Config: configName, RepoTags: options.repoTags ?? ["crafted:1"], Layers: layerNames };
  const manifest = options.manifest ? options.manifest(entry) : [entry];
  return makeTar([
    { name: configName, body: config },
    ...layers.map((layer, i) => ({ name: layerNames[i], body: options.stored?.[i] ?? layer })),
    ...(options.extra ?? []),
    { name: "manifest.json", body: typeof manifest === "string" ? manifest : json(manifest) },
  ]);
}

/** One store, holding an image, for every load that must fail: a failed load leaves it as it was. */
let victim: Sandbox | undefined;
test.after(() => victim?.cleanup());

/** Loads the bytes; the load must fail with one line and leave index.json as it was. */
function rejects(bytes: Uint8Array, pattern: RegExp) {
  if (!victim) {
    victim = sandbox();
    victim.ok("load", "-i", fixture("public/test_image_1.tar"));
  }
  const before = indexOf(victim);
  const file = join(victim.dir, "bad.tar");
  writeFileSync(file, bytes);
  failsCleanly(victim.run("load", "-i", file), pattern);
  assert.is(indexOf(victim), before, "index.json changed");
}

test("crafted: a valid archive loads (the baseline the bad ones break)", () => {
  const box = sandbox();
  try {
    const file = join(box.dir, "ok.tar");
    writeFileSync(file, craft());
    box.ok("load", "-i", file);
    assert.ok(shown(box).has("crafted:1"));
  } finally {
    box.cleanup();
  }
});

test("crafted: lower-case keys, RepoTags null, ggcr names (sha256:<hex> config, <hex>.tar.gz gzip layers)", () => {
  const box = sandbox();
  try {
    const stored = gzip(plainLayer);
    const config = json({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [sha256(plainLayer)] } });
    const file = join(box.dir, "ggcr.tar");
    writeFileSync(file, makeTar([
      { name: sha256(config), body: config },
      { name: `${hex(sha256(stored))}.tar.gz`, body: stored },
      { name: "manifest.json", body: json([{ config: sha256(config), repoTags: null, layers: [`${hex(sha256(stored))}.tar.gz`] }]) },
    ]));
    box.ok("load", "-i", file);
    const rows = box.images();
    assert.is(rows.length, 1);
    assert.is(rows[0].Repository, "<none>");
    assert.is(rows[0].ID, sha256(config));
    const [details] = JSON.parse(box.ok("inspect", hex(sha256(config)).slice(0, 12)));
    assert.is(details.Layers[0].mediaType, "application/vnd.oci.image.layer.v1.tar+gzip");
    assert.is(details.Layers[0].digest, sha256(stored));
  } finally {
    box.cleanup();
  }
});

test("bad: a layer whose content does not match its diff_id", () => rejects(craft({ diffIds: [sha256("something else")] }), /diff_ids?\[0\]|diff_id/));
test("bad: a gzip layer whose content does not match its diff_id", () => rejects(craft({ stored: [gzip(plainLayer)], diffIds: [sha256("something else")] }), /diff_id/));
test("bad: more diff_ids than layers", () => rejects(craft({ diffIds: [sha256(plainLayer), sha256(plainLayer)] }), /1 layers?.*2 diff_ids|diff_ids/));
test("bad: Layers pointing at ../x", () => rejects(craft({ manifest: (entry) => [{ ...entry, Layers: ["../x"] }] }), /"\.\.\/x".*outside the archive/));
test("bad: Config pointing at ../x", () => rejects(craft({ manifest: (entry) => [{ ...entry, Config: "l0/../../x" }] }), /outside the archive/));
test("bad: Config at an absolute path", () => rejects(craft({ manifest: (entry) => [{ ...entry, Config: "/etc/passwd" }] }), /"\/etc\/passwd".*absolute/));
test("bad: Layers naming a missing member", () => rejects(craft({ manifest: (entry) => [{ ...entry, Layers: ["gone/layer.tar"] }] }), /gone\/layer\.tar.*not in the archive/));
test("bad: a layer.tar symlink leaving the archive", () =>
  rejects(craft({ extra: [{ name: "evil/layer.tar", type: "2", linkname: "../../etc/passwd" }], manifest: (entry) => [{ ...entry, Layers: ["evil/layer.tar"] }] }), /outside the archive/));
test("bad: a layer.tar symlink to an absolute path", () =>
  rejects(craft({ extra: [{ name: "evil/layer.tar", type: "2", linkname: "/etc/passwd" }], manifest: (entry) => [{ ...entry, Layers: ["evil/layer.tar"] }] }), /outside the archive/));
test("bad: a layer.tar symlink loop", () =>
  rejects(craft({
    extra: [{ name: "a/layer.tar", type: "2", linkname: "../b/layer.tar" }, { name: "b/layer.tar", type: "2", linkname: "../a/layer.tar" }],
    manifest: (entry) => [{ ...entry, Layers: ["a/layer.tar"] }],
  }), /a\/layer\.tar.*link/));
test("bad: an invalid RepoTag", () => rejects(craft({ repoTags: ["Not A Name:1"] }), /RepoTags\[0\].*"Not A Name:1"/));
test("bad: a RepoTag with a digest", () => rejects(craft({ repoTags: [`x@${sha256("x")}`] }), /RepoTags\[0\].*digest/));
test("bad: manifest.json is null (fixture)", () => rejects(readFileSync(fixture("public/null_manifest.tar")), /manifest\.json is null/));
test("bad: manifest.json is not JSON", () => rejects(craft({ manifest: () => "[{not json" }), /manifest\.json/));
test("bad: manifest.json is an object", () => rejects(craft({ manifest: () => ({}) }), /manifest\.json must be a JSON array/));
test("bad: manifest.json over the 4 MiB JSON cap", () => rejects(craft({ manifest: (entry) => `[${json(entry)}${" ".repeat(4 * 1024 * 1024)}]` }), /manifest\.json.*(limit|cap)/));
test("bad: no manifest.json (legacy archive fixture)", () => rejects(readFileSync(fixture("public/no_manifest.tar")), /unsupported legacy archive.*no manifest\.json/));
test("bad: a config that is not an image config", () => rejects(craft({ manifest: (entry) => [{ ...entry, Config: "l0/layer.tar" }] }), /config|JSON/));
test("bad: a truncated gzip-compressed archive", () => {
  const packed = gzip(readFileSync(fixture("real/podman-docker.tar")));
  rejects(packed.subarray(0, packed.length >> 1), /gzip|truncated|tar/);
});
test("bad: a corrupt gzip-compressed archive", () => {
  const packed = gzip(readFileSync(fixture("real/podman-docker.tar")));
  for (let i = 200; i < 400; i++) packed[i] ^= 0x5a;
  rejects(packed, /gzip|corrupt|tar/);
});
test("bad: a truncated zstd-compressed archive", () => {
  const packed = readFileSync(fixture("real/podman-docker.tar.zst"));
  rejects(packed.subarray(0, packed.length - 200), /zstd|truncated|tar/);
});
test("bad: a truncated plain archive (cut inside a layer)", () => {
  const whole = readFileSync(fixture("real/podman-docker.tar"));
  rejects(whole.subarray(0, 6000), /truncated|tar|archive/);
});

test("decompression bomb: a small gzip layer of 256 MiB streams (peak RSS bounded) and is checked against its diff_id", () => {
  const plain = new Uint8Array(256 * 1024 * 1024);
  const stored = gzip(plain);
  assert.ok(stored.length < 1024 * 1024);
  const good = craft({ layers: [plain], stored: [stored] });
  assert.ok(gunzipSync(stored).length === plain.length);
  rejects(craft({ layers: [plain], stored: [stored], diffIds: [sha256("not the layer")] }), /diff_id/);
  const box = sandbox();
  try {
    const file = join(box.dir, "bomb.tar");
    writeFileSync(file, good);
    if (!has("/usr/bin/time")) {
      skip("/usr/bin/time is missing: the bomb's peak RSS is not measured");
      box.ok("load", "-i", file);
      return;
    }
    const result = spawnSync("/usr/bin/time", ["-f", "%M", process.execPath, "--import", "tsx", "src/cli.ts", "--root", box.root, "load", "-i", file], {
      cwd: new URL("..", import.meta.url).pathname,
      encoding: "utf8",
    });
    assert.is(result.status, 0, result.stderr);
    const peakKb = Number(result.stderr.trim().split("\n").at(-1));
    assert.ok(peakKb < 150 * 1024, `peak RSS ${peakKb} KB`);
  } finally {
    box.cleanup();
  }
});

// ---- save --------------------------------------------------------------------------------------------

const TINY = "sha256:aaa99e2be304d792d0cf2fe932c0f36f30a2240c384c9f6c7573baf62a209e16";
const TINY_EXTRA = "sha256:dd80a144f98be86135b80f8a630b7a90d4dbc55bafaaf364b66a5d8438f0b83a";
const TINY_ARM64 = "sha256:2627be699aeb35d3b0394ae71ef34b2ee7c978dfba139079d04bcdeceda5e40e";
const HELLO_V25 = "sha256:ee301c921b8aadc002973b2e0c3da17d701dcd994b606769a7e6eaa100b81d44";
const TINY_DIFF_IDS = oracle["real/podman-docker.tar"].images![0].diffIds;

/** A store with tiny:1 + tiny:alias + tiny-extra:1 (plain layers), tiny:gz (gzip layers), the untagged hello-world and a multi-arch index. */
function stocked(): Sandbox {
  const box = sandbox();
  box.ok("load", "-i", fixture("real/podman-multi-docker.tar"));
  box.ok("load", "-i", fixture("public/hello-world-v25.tar"));
  box.ok("load", "-i", fixture("real/podman-oci.tar"), "-r", "localhost/tiny:gz=localhost/tiny:1");
  box.ok("load", "-i", fixture("real/multiarch-oci.tar"));
  return box;
}

let store: Sandbox;
test.before(() => {
  store = stocked();
});
test.after(() => store.cleanup());

test("save: a hybrid archive (OCI layout + manifest.json + repositories), every blob once", () => {
  const file = join(store.dir, "multi.tar");
  store.ok("save", "-o", file, "localhost/tiny:1", "localhost/tiny:alias", "localhost/tiny-extra:1", HELLO_V25.slice(7, 19));
  const members = tarMembers(file);
  assert.equal(members.filter((name) => !name.endsWith("/")).sort(), [
    ...new Set([...TINY_DIFF_IDS, ...oracle["real/podman-multi-docker.tar"].images![1].diffIds, HELLO_V25, TINY, TINY_EXTRA, "sha256:12660636fe55438cc3ae7424da7ac56e845cdb52493ff9cf949c47a7f57f8b43"]),
  ].map((digest) => `blobs/sha256/${hex(digest)}`).concat(manifestPaths(file)).concat(["index.json", "manifest.json", "oci-layout", "repositories"]).sort());
  assert.equal(JSON.parse(tarMember(file, "oci-layout")), { imageLayoutVersion: "1.0.0" });

  const manifest = JSON.parse(tarMember(file, "manifest.json"));
  assert.equal(manifest.map((entry: { RepoTags: string[] }) => entry.RepoTags), [["localhost/tiny:1", "localhost/tiny:alias"], ["localhost/tiny-extra:1"], []]);
  assert.equal(manifest[0].Config, `blobs/sha256/${hex(TINY)}`);
  assert.equal(manifest[0].Layers, TINY_DIFF_IDS.map((id) => `blobs/sha256/${hex(id)}`));

  const index = JSON.parse(tarMember(file, "index.json"));
  assert.is(index.mediaType, "application/vnd.oci.image.index.v1+json");
  assert.equal(index.manifests.map((entry: { annotations?: Record<string, string> }) => entry.annotations), [
    { "io.containerd.image.name": "localhost/tiny:1", "org.opencontainers.image.ref.name": "1" },
    { "io.containerd.image.name": "localhost/tiny:alias", "org.opencontainers.image.ref.name": "alias" },
    { "io.containerd.image.name": "localhost/tiny-extra:1", "org.opencontainers.image.ref.name": "1" },
    undefined,
  ]);
  assert.equal(JSON.parse(tarMember(file, "repositories")), {
    "localhost/tiny": { 1: hex(TINY_DIFF_IDS[2]), alias: hex(TINY_DIFF_IDS[2]) },
    "localhost/tiny-extra": { 1: "21b5522d750b39454538a51cf4c5c94b35e89cb965fb058586c6f6586de17857" },
  });

  // And back into bale: the same names, IDs and manifest digests.
  const box = sandbox();
  try {
    box.ok("load", "-i", file);
    assert.equal(Object.fromEntries(shown(box)), {
      "localhost/tiny:1": TINY,
      "localhost/tiny:alias": TINY,
      "localhost/tiny-extra:1": TINY_EXTRA,
      [`<none>@${HELLO_V25}`]: HELLO_V25,
    });
    const digests = (sb: Sandbox) => Object.fromEntries(sb.images().map((row) => [`${row.Repository}:${row.Tag}@${row.ID}`, row.Digest]));
    const original = digests(store);
    for (const [key, digest] of Object.entries(digests(box))) assert.is(digest, original[key], key);
  } finally {
    box.cleanup();
  }
});

function manifestPaths(file: string): string[] {
  return JSON.parse(tarMember(file, "index.json")).manifests.map((entry: { digest: string }) => `blobs/sha256/${hex(entry.digest)}`).filter((path: string, i: number, all: string[]) => all.indexOf(path) === i);
}

test("save: reproducible, byte for byte, even from another store", () => {
  const images = ["localhost/tiny:1", "localhost/tiny:gz", "localhost/tiny-extra:1", HELLO_V25.slice(7)];
  const first = join(store.dir, "one.tar");
  const second = join(store.dir, "two.tar");
  store.ok("save", "-o", first, ...images);
  store.ok("save", "-o", second, ...images);
  assert.ok(readFileSync(first).equals(readFileSync(second)), "two saves differ");
  const other = stocked();
  try {
    const third = join(other.dir, "three.tar");
    other.ok("save", "-o", third, ...images);
    assert.ok(readFileSync(first).equals(readFileSync(third)), "a save from another store differs");
  } finally {
    other.cleanup();
  }
});

test("save -r IMAGE=REPO:TAG writes that RepoTag and index.json name", () => {
  const file = join(store.dir, "renamed.tar");
  store.ok("save", "-o", file, "-r", "localhost/tiny:1=example.com:5000/team/hello:world", "localhost/tiny:1", "localhost/tiny-extra:1");
  const manifest = JSON.parse(tarMember(file, "manifest.json"));
  assert.equal(manifest.map((entry: { RepoTags: string[] }) => entry.RepoTags), [["example.com:5000/team/hello:world"], ["localhost/tiny-extra:1"]]);
  assert.equal(JSON.parse(tarMember(file, "index.json")).manifests[0].annotations, {
    "io.containerd.image.name": "example.com:5000/team/hello:world",
    "org.opencontainers.image.ref.name": "world",
  });
  const box = sandbox();
  try {
    box.ok("load", "-i", file);
    assert.is(shown(box).get("example.com:5000/team/hello:world"), TINY);
  } finally {
    box.cleanup();
  }
});

test("save -r with a REFNAME that is not name:tag fails, naming it", () => {
  const file = join(store.dir, "never.tar");
  for (const bad of ["hello", "Hello:1", `hello@${TINY}`, "hello:bad tag"]) {
    const line = failsCleanly(store.run("save", "-o", file, "-r", `localhost/tiny:1=${bad}`, "localhost/tiny:1"));
    assert.ok(line.includes(bad), line);
  }
  assert.not.ok(tarMembers(file).length, "a failed save left an archive");
});

test("save: compressed layers stay compressed; --uncompressed writes diff_ids and a new manifest", () => {
  const kept = join(store.dir, "gz.tar");
  store.ok("save", "-o", kept, "localhost/tiny:gz");
  const keptLayers = JSON.parse(tarMember(kept, "manifest.json"))[0].Layers as string[];
  assert.equal(keptLayers, ["f0da00456cec1afa076adc02977ddf75ca03d0ec42100da8cd6c0aab018d9780", "11f86e89c317276f10c4ea5c18c2ff0723514674559388eb64328a37dc44e1ee", "c13dae18517412982c7d2d2b9c90f9473ded55c5b5b7fef909ac15924a5b19e7"].map((h) => `blobs/sha256/${h}`));

  const plain = join(store.dir, "plain.tar");
  store.ok("save", "--uncompressed", "-o", plain, "localhost/tiny:gz");
  const entry = JSON.parse(tarMember(plain, "manifest.json"))[0];
  assert.equal(entry.Layers, TINY_DIFF_IDS.map((id) => `blobs/sha256/${hex(id)}`));
  const [descriptor] = JSON.parse(tarMember(plain, "index.json")).manifests;
  const manifestBytes = spawnSync("tar", ["xOf", plain, `blobs/sha256/${hex(descriptor.digest)}`]).stdout;
  assert.is(sha256(manifestBytes), descriptor.digest, "index.json points at the manifest written");
  assert.is(manifestBytes.length, descriptor.size);
  const manifest = JSON.parse(manifestBytes.toString());
  assert.equal(manifest.layers.map((layer: { digest: string }) => layer.digest), TINY_DIFF_IDS);
  assert.ok(manifest.layers.every((layer: { mediaType: string }) => layer.mediaType === "application/vnd.oci.image.layer.v1.tar"));

  const box = sandbox();
  try {
    box.ok("load", "-i", plain);
    assert.is(shown(box).get("localhost/tiny:gz"), TINY);
    assert.equal(diffIds(box, "localhost/tiny:gz"), TINY_DIFF_IDS);
  } finally {
    box.cleanup();
  }
});

test("save: a multi-platform image needs the host platform or --platform", () => {
  const file = join(store.dir, "arm.tar");
  store.ok("save", "--platform", "linux/arm64/v8", "-o", file, "localhost/tiny-multiarch:1");
  assert.is(JSON.parse(tarMember(file, "manifest.json"))[0].Config, `blobs/sha256/${hex(TINY_ARM64)}`);
  const line = failsCleanly(store.run("save", "--platform", "linux/s390x", "-o", file, "localhost/tiny-multiarch:1"));
  assert.match(line, /linux\/amd64.*linux\/arm64\/v8/);
  if (process.arch !== "x64") return skip(`host is ${process.arch}: the default-platform save is checked on amd64 only`);
  store.ok("save", "-o", file, "localhost/tiny-multiarch:1");
  assert.is(JSON.parse(tarMember(file, "manifest.json"))[0].Config, `blobs/sha256/${hex(TINY)}`);
});

// ---- interop: what bale writes, podman and skopeo read ---------------------------------------------------

const interopSaves: [label: string, args: string[]][] = [
  ["plain layers, several images", ["localhost/tiny:1", "localhost/tiny:alias", "localhost/tiny-extra:1"]],
  ["gzip layers", ["localhost/tiny:gz"]],
  ["gzip layers --uncompressed", ["--uncompressed", "localhost/tiny:gz"]],
  ["untagged by ID", [HELLO_V25.slice(7)]],
];

function expectedFor(args: string[]): Map<string, string> {
  const ids: Record<string, string> = { "localhost/tiny:1": TINY, "localhost/tiny:alias": TINY, "localhost/tiny-extra:1": TINY_EXTRA, "localhost/tiny:gz": TINY };
  const map = new Map<string, string>();
  for (const arg of args.filter((arg) => !arg.startsWith("--"))) map.set(ids[arg] ? arg : `<none>@sha256:${arg}`, ids[arg] ?? `sha256:${arg}`);
  return map;
}

test("interop: podman load reads bale's docker archives with the same IDs and names", () => {
  if (!has("podman")) return skip("podman is not installed: podman interop not tested");
  for (const [label, args] of interopSaves) {
    const file = join(store.dir, `podman-${label.replace(/\W+/g, "-")}.tar`);
    store.ok("save", "-o", file, ...args);
    // podman refuses a runroot path over 50 characters.
    const dir = mkdtempSync("/tmp/bale-podman-");
    const podman = (...rest: string[]) => spawnSync("podman", ["--root", join(dir, "root"), "--runroot", join(dir, "run"), "--storage-driver", "vfs", ...rest], { encoding: "utf8" });
    const loaded = podman("load", "-i", file);
    assert.is(loaded.status, 0, `${label}: ${loaded.stderr}`);
    const rows = JSON.parse(podman("images", "--format", "json").stdout) as { Id: string; Names?: string[] }[];
    const got = new Map<string, string>();
    for (const row of rows) {
      if (!row.Names?.length) got.set(`<none>@sha256:${row.Id}`, `sha256:${row.Id}`);
      for (const name of row.Names ?? []) got.set(name, `sha256:${row.Id}`);
    }
    assert.equal(Object.fromEntries(got), Object.fromEntries(expectedFor(args)), label);
    rmSync(dir, { recursive: true, force: true });
  }
});

test("interop: skopeo copy docker-archive:F:@N oci:DIR reads every image of bale's docker archives", () => {
  if (!has("skopeo")) return skip("skopeo is not installed: skopeo interop not tested");
  for (const [label, args] of interopSaves) {
    const file = join(store.dir, `skopeo-${label.replace(/\W+/g, "-")}.tar`);
    store.ok("save", "-o", file, ...args);
    const count = JSON.parse(tarMember(file, "manifest.json")).length;
    const configs: { id: string; diffIds: string[] }[] = [];
    for (let n = 0; n < count; n++) {
      const dir = join(store.dir, `skopeo-${label.replace(/\W+/g, "-")}-${n}`);
      const copied = spawnSync("skopeo", ["copy", "-q", `docker-archive:${file}:@${n}`, `oci:${dir}`], { encoding: "utf8" });
      assert.is(copied.status, 0, `${label} @${n}: ${copied.stderr}`);
      const blob = (digest: string) => readFileSync(join(dir, "blobs/sha256", hex(digest)), "utf8");
      const [descriptor] = JSON.parse(readFileSync(join(dir, "index.json"), "utf8")).manifests;
      const id = JSON.parse(blob(descriptor.digest)).config.digest;
      configs.push({ id, diffIds: JSON.parse(blob(id)).rootfs.diff_ids });
    }
    // skopeo re-marshals a Docker config into OCI's struct on the way to oci:, so only configs that
    // are already in that form (the buildah-made tiny ones) keep their ID; every image keeps its diff_ids.
    const expected = [...new Set(expectedFor(args).values())];
    const diffIdsOf: Record<string, string[]> = { [TINY]: TINY_DIFF_IDS, [TINY_EXTRA]: oracle["real/podman-multi-docker.tar"].images![1].diffIds, [HELLO_V25]: oracle["public/hello-world-v25.tar"].images![0].diffIds };
    assert.equal(configs.map((config) => config.diffIds).sort(), expected.map((id) => diffIdsOf[id]).sort(), label);
    const kept = expected.filter((id) => id !== HELLO_V25);
    assert.equal(configs.map((config) => config.id).filter((id) => kept.includes(id)).sort(), kept.sort(), label);
  }
});

test("interop: the manifest bale builds for a Docker archive is skopeo's (same keys, order and digest)", () => {
  if (!has("skopeo")) return skip("skopeo is not installed: manifest digest not compared");
  const box = sandbox();
  try {
    const dir = join(box.dir, "oci");
    mkdirSync(dir);
    const copied = spawnSync("skopeo", ["copy", "-q", "--dest-oci-accept-uncompressed-layers", `docker-archive:${fixture("real/podman-docker.tar")}`, `oci:${dir}:x`], { encoding: "utf8" });
    assert.is(copied.status, 0, copied.stderr);
    const [descriptor] = JSON.parse(readFileSync(join(dir, "index.json"), "utf8")).manifests;
    const text = readFileSync(join(dir, "blobs/sha256", hex(descriptor.digest)), "utf8");
    // skopeo 1.9 labels these uncompressed layers "+gzip" (a bug); bale names them by their bytes.
    const corrected = text.replaceAll("application/vnd.oci.image.layer.v1.tar+gzip", "application/vnd.oci.image.layer.v1.tar");
    box.ok("load", "-i", fixture("real/podman-docker.tar"));
    assert.is(box.images()[0].Digest, sha256(corrected));
  } finally {
    box.cleanup();
  }
});

test.run();
