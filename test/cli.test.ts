// End-to-end tests of the store commands (issue 2), running the real CLI in a temporary root.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { resolveImage, type StoredImage } from "../src/images.ts";
import { MediaType } from "../src/oci.ts";
import { Store } from "../src/store.ts";
import { VERSION } from "../src/version.ts";
import { bale, failsCleanly, has, repo, sandbox, skip, tempDir } from "./cli-helpers.ts";
import { fileDigest, makeRootfs } from "./support/rootfs.ts";

type Sandbox = ReturnType<typeof sandbox>;
const boxes: Sandbox[] = [];
function box(): Sandbox {
  const s = sandbox();
  boxes.push(s);
  return s;
}
test.after(() => boxes.forEach((s) => s.cleanup()));

const blobPath = (s: Sandbox, digest: string) => join(s.root, "blobs", "sha256", digest.slice("sha256:".length));
const blobJson = (s: Sandbox, digest: string) => JSON.parse(readFileSync(blobPath(s, digest), "utf8"));
const lines = (text: string) => text.trimEnd().split("\n");
const inspect = (s: Sandbox, ...images: string[]) => JSON.parse(s.ok("inspect", ...images));

/** Imports a rootfs made from `seed` under `name`; returns the image ID bale printed. */
function importImage(s: Sandbox, seed: string, name?: string, compression?: "gzip" | "zstd"): string {
  const rootfs = makeRootfs(s.dir, `${seed}-${compression ?? "plain"}`, seed, compression);
  return s.ok("import", rootfs, ...(name ? [name] : [])).trim();
}

// ── import, images, inspect ───────────────────────────────────────────────

const IMPORTS: [label: string, compression: "gzip" | "zstd" | undefined, layerType: string][] = [
  ["a plain tar", undefined, MediaType.ociLayer],
  ["a .tar.gz", "gzip", MediaType.ociLayerGzip],
  ["a .tar.zst", "zstd", MediaType.ociLayerZstd],
];

for (const [label, compression, layerType] of IMPORTS) {
  test(`import of ${label}: images lists it, its ID is the config digest, the layer keeps its compression`, () => {
    if (compression && !has(compression)) return skip(`${compression} command not installed`);
    const s = box();
    const rootfs = makeRootfs(s.dir, "fs", "one", compression);
    const plain = compression ? makeRootfs(s.dir, "fs-plain", "one") : rootfs;
    const id = s.ok("import", rootfs, "busybox:1").trim();
    assert.match(id, /^sha256:[0-9a-f]{64}$/);

    const rows = s.images();
    assert.is(rows.length, 1);
    assert.is(rows[0].Repository, "busybox");
    assert.is(rows[0].Tag, "1");
    assert.is(rows[0].ID, id);
    const manifest = blobJson(s, rows[0].Digest);
    assert.is(manifest.config.digest, id, "ID = config digest");

    const table = lines(s.ok("images"));
    assert.match(table[0], /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    assert.match(table[1], new RegExp(`^busybox\\s+1\\s+${id.slice(7, 19)}\\s`));

    const [info] = inspect(s, "busybox:1");
    assert.is(info.Id, id);
    assert.equal(info.RepoTags, ["busybox:1"]);
    assert.equal(info.Names, ["docker.io/library/busybox:1"]);
    assert.is(info.Digest, rows[0].Digest);
    assert.is(info.MediaType, MediaType.ociManifest);
    assert.match(info.Platform, /^linux\//);
    assert.is(info.Layers.length, 1);
    assert.is(info.Layers[0].mediaType, layerType);
    assert.is(info.Layers[0].digest, fileDigest(rootfs), "the layer is stored as given");
    assert.is(info.Layers[0].size, readFileSync(rootfs).length);
    assert.is(info.Layers[0].diffId, fileDigest(plain), "diff_id is the uncompressed tar's digest");
    assert.equal(info.Config.rootfs, { type: "layers", diff_ids: [fileDigest(plain)] });
    assert.ok(info.Size > readFileSync(rootfs).length);
    s.ok("verify");
  });
}

test("import --platform sets the config's platform; import without a name is <none>", () => {
  const s = box();
  const rootfs = makeRootfs(s.dir, "fs", "arm");
  const id = s.ok("import", "--platform", "linux/arm64/v8", rootfs).trim();
  const [row] = s.images();
  assert.is(row.Repository, "<none>");
  assert.is(row.Tag, "<none>");
  const [info] = inspect(s, id.slice(7, 19));
  assert.is(info.Platform, "linux/arm64/v8");
  assert.is(info.Config.architecture, "arm64");
});

test("import from stdin with -", () => {
  const s = box();
  const rootfs = makeRootfs(s.dir, "fs", "stdin");
  const result = bale(["--root", s.root, "import", "-", "piped:1"], { input: readFileSync(rootfs) });
  assert.is(result.status, 0, result.stderr);
  assert.is(inspect(s, "piped:1")[0].Layers[0].digest, fileDigest(rootfs));
});

test("images -q, --digests and --format json", () => {
  const s = box();
  const a = importImage(s, "a", "alpha:1");
  const b = importImage(s, "b", "beta:1");
  s.ok("tag", "alpha:1", "alpha:2");

  const quiet = lines(s.ok("images", "-q")).sort();
  assert.equal(quiet, [a.slice(7, 19), b.slice(7, 19)].sort(), "one short ID per image");

  const rows = s.images();
  assert.is(rows.length, 3);
  const alpha = rows.filter((row) => row.Repository === "alpha").map((row) => row.Tag).sort();
  assert.equal(alpha, ["1", "2"]);
  for (const row of rows) {
    assert.ok(["Repository", "Tag", "ID", "Digest", "Created", "Size", "Names"].every((key) => key in row), JSON.stringify(row));
  }

  const digests = s.ok("images", "--digests");
  assert.match(lines(digests)[0], /^REPOSITORY\s+TAG\s+DIGEST\s+IMAGE ID\s+CREATED\s+SIZE$/);
  for (const row of rows) assert.ok(digests.includes(row.Digest));

  failsCleanly(s.run("images", "--format", "yaml"), /--format yaml/, 2);
});

test("images on a new store is an empty table and creates the layout", () => {
  const s = box();
  assert.is(s.ok("images").trim(), "REPOSITORY   TAG   IMAGE ID   CREATED   SIZE");
  assert.is(s.ok("images", "--format", "json").trim(), "[]");
  assert.ok(existsSync(join(s.root, "oci-layout")));
});

// ── tag, rmi, prune, verify ───────────────────────────────────────────────

test("tag gives an image another name with the same ID", () => {
  const s = box();
  const id = importImage(s, "t", "one:1");
  s.ok("tag", "one:1", "registry.example.com:5000/team/two:v2");
  s.ok("tag", id.slice(7, 19), "three");
  const [info] = inspect(s, "one:1");
  assert.equal(info.RepoTags.sort(), ["one:1", "registry.example.com:5000/team/two:v2", "three:latest"].sort());
  assert.is(inspect(s, "three")[0].Id, id);
  const snap = s.snapshot();
  failsCleanly(s.run("tag", "missing:1", "x:1"), /no such image: missing:1/);
  failsCleanly(s.run("tag", "one:1", "Bad:Name"), /Bad:Name|lowercase/);
  assert.is(s.snapshot(), snap);
});

test("rmi untags while names remain, deletes with the last one, and prunes", () => {
  const s = box();
  const id = importImage(s, "r", "app:1");
  s.ok("tag", "app:1", "app:2");
  assert.equal(lines(s.ok("rmi", "app:1")), ["Untagged: app:1"]);
  assert.equal(s.images().map((row) => row.Tag), ["2"]);
  assert.equal(lines(s.ok("rmi", "app:2")), ["Untagged: app:2", `Deleted: ${id}`]);
  assert.equal(s.images(), []);
  assert.equal(readdirSync(join(s.root, "blobs", "sha256")), [], "its blobs are gone");
});

test("rmi by ID with several names needs -f", () => {
  const s = box();
  const keep = importImage(s, "keep", "keep:1");
  const id = importImage(s, "many", "many:1");
  s.ok("tag", "many:1", "many:2");
  const snap = s.snapshot();
  failsCleanly(s.run("rmi", id.slice(7, 19)), /several names.*-f/);
  assert.is(s.snapshot(), snap);
  const out = lines(s.ok("rmi", "-f", id.slice(7, 19)));
  assert.equal(out, ["Untagged: many:1", "Untagged: many:2", `Deleted: ${id}`]);
  assert.equal(s.images().map((row) => row.ID), [keep]);
  s.ok("verify");
});

test("rmi of an unknown image fails and changes nothing", () => {
  const s = box();
  importImage(s, "u", "known:1");
  const snap = s.snapshot();
  failsCleanly(s.run("rmi", "unknown:1"), /no such image: unknown:1/);
  failsCleanly(s.run("rmi", "known:1", "unknown:1"), /no such image: unknown:1/);
  assert.is(s.snapshot(), snap, "a failed rmi of several images removes none");
  failsCleanly(s.run("rmi"), /at least one image/, 2);
});

test("prune removes unreferenced blobs and reports the bytes freed", () => {
  const s = box();
  importImage(s, "p", "kept:1");
  const before = readdirSync(join(s.root, "blobs", "sha256")).sort();
  const stray = "stray blob\n";
  writeFileSync(blobPath(s, `sha256:${createHash("sha256").update(stray).digest("hex")}`), stray);
  assert.is(s.ok("prune").trim(), `Deleted 1 blobs, freed ${stray.length}B`);
  assert.equal(readdirSync(join(s.root, "blobs", "sha256")).sort(), before);
  assert.is(s.ok("prune").trim(), "Deleted 0 blobs, freed 0B");
  s.ok("verify");
});

test("verify passes, then names a blob corrupted on disk and exits 1", () => {
  const s = box();
  importImage(s, "v", "checked:1");
  assert.is(s.ok("verify").trim(), "3 blobs verified");
  const [info] = inspect(s, "checked:1");
  const layer = info.Layers[0].digest;
  writeFileSync(blobPath(s, layer), "tampered");
  const result = s.run("verify");
  assert.is(result.status, 1);
  assert.match(result.stderr, new RegExp(`bale: blob ${layer} is corrupt`));
  assert.match(lines(result.stderr).at(-1)!, /^bale: verify found 1 problem\(s\) in 3 blobs$/);

  rmSync(blobPath(s, layer));
  const missing = s.run("verify");
  assert.is(missing.status, 1);
  assert.match(missing.stderr, new RegExp(`blob ${layer} is missing, but an image needs it`));
});

// ── global behaviour ──────────────────────────────────────────────────────

test("--version prints just the version", () => {
  const pkg = JSON.parse(readFileSync(join(repo, "package.json"), "utf8"));
  for (const flag of ["--version", "-v"]) {
    const result = bale([flag]);
    assert.is(result.status, 0);
    assert.is(result.stdout, `${pkg.version}\n`);
    assert.is(result.stderr, "");
  }
  assert.is(VERSION, pkg.version);
});

test("no command prints help and exits 2", () => {
  const result = bale([]);
  assert.is(result.status, 2);
  assert.match(result.stdout + result.stderr, /Usage:/);
  assert.match(result.stdout + result.stderr, /images/);
});

test("--help exits 0", () => {
  const result = bale(["images", "--help"]);
  assert.is(result.status, 0);
  assert.match(result.stdout, /--digests/);
});

test("an unknown command is one line and exit 2", () => {
  failsCleanly(bale(["frobnicate"]), /unknown command "frobnicate"/, 2);
});

test("an unknown option value is a usage error, not a stack trace", () => {
  const s = box();
  const result = s.run("images", "--format", "xml");
  failsCleanly(result, /want json or table/, 2);
  assert.not.match(result.stderr, /\n\s+at /);
});

// ── bad input: one clear line, store unchanged ────────────────────────────

interface BadImport {
  what: string;
  /** Makes the rootfs in dir; returns its path. */
  rootfs: (dir: string) => string;
  name: string;
  error: RegExp;
  status?: number;
}

const BAD_IMPORTS: BadImport[] = [
  { what: "a missing rootfs", rootfs: (dir) => join(dir, "does-not-exist.tar"), name: "x:1", error: /cannot read .*does-not-exist\.tar/ },
  { what: "a directory as rootfs", rootfs: (dir) => dir, name: "x:1", error: /cannot read/ },
  {
    what: "a rootfs that is not a tar",
    rootfs: (dir) => (writeFileSync(join(dir, "notes.txt"), "just some text, not a tarball\n".repeat(40)), join(dir, "notes.txt")),
    name: "x:1",
    error: /not a root filesystem tarball/,
  },
  {
    what: "a truncated gzip rootfs",
    rootfs: (dir) => {
      const gz = readFileSync(makeRootfs(dir, "gz", "trunc", "gzip"));
      writeFileSync(join(dir, "cut.tar.gz"), gz.subarray(0, Math.floor(gz.length / 2)));
      return join(dir, "cut.tar.gz");
    },
    name: "x:1",
    error: /cut\.tar\.gz.*(corrupt or truncated|not a root filesystem)/,
  },
  {
    what: "a truncated plain tar",
    rootfs: (dir) => {
      const tar = readFileSync(makeRootfs(dir, "t", "trunc"));
      writeFileSync(join(dir, "cut.tar"), tar.subarray(0, 700));
      return join(dir, "cut.tar");
    },
    name: "x:1",
    error: /not a root filesystem tarball/,
  },
  { what: "an empty rootfs file", rootfs: (dir) => (writeFileSync(join(dir, "empty.tar"), ""), join(dir, "empty.tar")), name: "x:1", error: /empty\.tar/ },
  { what: "an xz rootfs", rootfs: (dir) => (writeFileSync(join(dir, "a.tar.xz"), Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0, 1, 2])), join(dir, "a.tar.xz")), name: "x:1", error: /xz layers are not supported/ },
  { what: "an invalid name (Busybox)", rootfs: (dir) => makeRootfs(dir, "ok", "ok"), name: "Busybox", error: /"Busybox".*lowercase/ },
  { what: "an invalid tag", rootfs: (dir) => makeRootfs(dir, "ok2", "ok"), name: "busybox:-bad", error: /busybox:-bad/ },
];

for (const bad of BAD_IMPORTS) {
  test(`import of ${bad.what}: one line, store unchanged`, () => {
    const s = box();
    importImage(s, "base", "base:1");
    const snap = s.snapshot();
    const path = bad.rootfs(s.dir);
    failsCleanly(s.run("import", path, bad.name), bad.error, bad.status ?? 1);
    assert.is(s.snapshot(), snap);
    assert.equal(readdirSync(join(s.root, "ingest")), [], "no temporary file left");
    s.ok("verify");
  });
}

test("import under a name that exists moves the name and says so", () => {
  const s = box();
  const first = importImage(s, "first", "busybox:1");
  const second = importImage(s, "second", "other:1");
  const result = s.run("import", makeRootfs(s.dir, "third", "third"), "busybox:1");
  assert.is(result.status, 0, result.stderr);
  const third = result.stdout.trim();
  assert.match(result.stderr, new RegExp(`^bale: warning: the name busybox:1 moved from sha256:[0-9a-f]{64}\\n$`));
  const rows = s.images();
  assert.is(rows.find((row) => row.Repository === "busybox")?.ID, third);
  assert.is(rows.find((row) => row.ID === first)?.Repository, "<none>", "the old image stays, untagged");
  assert.is(rows.find((row) => row.ID === second)?.Repository, "other");

  // tag moves names the same way
  const tagged = s.run("tag", "other:1", "busybox:1");
  assert.is(tagged.status, 0, tagged.stderr);
  assert.match(tagged.stderr, /the name busybox:1 moved/);
  assert.is(inspect(s, "busybox:1")[0].Id, second);
});

test("an ambiguous ID prefix is an error naming it", async () => {
  const s = box();
  const id = importImage(s, "amb", "amb:1");
  const [info] = inspect(s, "amb:1");
  // Two more manifests of the same image whose digests share their first 4 hex digits,
  // found by varying an annotation (a birthday search over 16 bits: a few hundred tries).
  const manifest = blobJson(s, info.Digest);
  const seen = new Map<string, { digest: string; text: string }>();
  let pair: { digest: string; text: string }[] | undefined;
  for (let n = 0; !pair; n++) {
    const text = JSON.stringify({ ...manifest, annotations: { "test.nonce": String(n) } });
    const digest = `sha256:${createHash("sha256").update(text).digest("hex")}`;
    const prefix = digest.slice(7, 11);
    if (id.startsWith(`sha256:${prefix}`) || info.Digest.startsWith(`sha256:${prefix}`)) continue;
    const other = seen.get(prefix);
    if (other) pair = [other, { digest, text }];
    else seen.set(prefix, { digest, text });
  }
  const index = JSON.parse(readFileSync(join(s.root, "index.json"), "utf8"));
  for (const [i, { digest, text }] of pair.entries()) {
    writeFileSync(blobPath(s, digest), text);
    const name = `docker.io/library/amb:v${i}`;
    index.manifests.push({ mediaType: MediaType.ociManifest, digest, size: text.length, annotations: { "io.containerd.image.name": name, "org.opencontainers.image.ref.name": name } });
  }
  writeFileSync(join(s.root, "index.json"), JSON.stringify(index));
  s.ok("verify");
  const prefix = pair[0].digest.slice(7, 11);
  const snap = s.snapshot();
  failsCleanly(s.run("inspect", prefix), new RegExp(`image ID prefix ${prefix} is ambiguous: it matches 2 images`));
  failsCleanly(s.run("rmi", prefix), /ambiguous/);
  assert.is(s.snapshot(), snap);
  // A longer prefix tells them apart.
  assert.is(inspect(s, pair[0].digest.slice(7, 19))[0].Digest, pair[0].digest);
  // The config digest (the ID) is shared by all three, so it is ambiguous too.
  failsCleanly(s.run("inspect", id.slice(7, 19)), /ambiguous: it matches 3 images/);
});

test("resolveImage: prefixes shorter than 4 hex are names, not IDs; a prefix shared by two images is ambiguous", async () => {
  const dir = tempDir();
  try {
    const store = await Store.open(join(dir, "root"));
    const image = (hex: string): StoredImage => ({ root: { mediaType: MediaType.ociManifest, digest: `sha256:${hex.padEnd(64, "0")}`, size: 1 }, names: [] });
    const images = [image("abcd1"), image("abcd2"), image("ef01")];
    await assert.not.throws(async () => await resolveImage(store, images, "abcd1"));
    assert.is((await resolveImage(store, images, "abcd2")).image, images[1]);
    assert.is((await resolveImage(store, images, "ef01")).image, images[2]);
    assert.is((await resolveImage(store, images, `sha256:ef01`)).image, images[2]);
    await resolveImage(store, images, "abcd").then(
      () => assert.unreachable(),
      (error) => assert.match(error.message, /ambiguous: it matches 2 images/),
    );
    await resolveImage(store, images, "abc").then(
      () => assert.unreachable(),
      (error) => assert.match(error.message, /no such image: abc/),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a store directory that is not a layout is refused and left alone", () => {
  const dir = tempDir();
  try {
    writeFileSync(join(dir, "thesis.tex"), "precious");
    for (const args of [["images"], ["import", makeRootfs(tempDir(), "x", "x"), "x:1"], ["prune"]]) {
      failsCleanly(bale(["--root", dir, ...args]), /is not an OCI image layout/);
    }
    assert.equal(readdirSync(dir), ["thesis.tex"]);
    const file = join(dir, "thesis.tex");
    failsCleanly(bale(["--root", file, "images"]), /not a directory/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("BALE_ROOT picks the store when --root is absent", () => {
  const dir = tempDir();
  try {
    const result = bale(["images", "-q"], { env: { BALE_ROOT: join(dir, "env-root") } });
    assert.is(result.status, 0, result.stderr);
    assert.ok(existsSync(join(dir, "env-root", "oci-layout")));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const CORRUPT_INDEX: [string, string, RegExp][] = [
  ["cut short", '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","dig', /index\.json is not valid JSON/],
  ["emptied", "", /index\.json is not valid JSON/],
  ["with a bad digest", JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MediaType.ociManifest, digest: "sha256:../../etc/passwd", size: 2 }] }), /index\.json.*not a valid digest/],
  ["not an index", '["a", "list"]', /index\.json/],
];

for (const [what, text, pattern] of CORRUPT_INDEX) {
  test(`index.json ${what} by hand: a clear error, never silently emptied`, () => {
    const s = box();
    importImage(s, "c", "corrupt:1");
    writeFileSync(join(s.root, "index.json"), text);
    const snap = s.snapshot();
    for (const args of [["images"], ["inspect", "corrupt:1"], ["tag", "corrupt:1", "y:1"], ["rmi", "corrupt:1"], ["prune"], ["import", makeRootfs(s.dir, "again", "again"), "z:1"]]) {
      failsCleanly(s.run(...args), pattern);
      assert.is(s.snapshot(), snap, `after ${args[0]}`);
    }
    assert.is(readFileSync(join(s.root, "index.json"), "utf8"), text);
    mkdirSync(join(s.root, "blobs", "sha256"), { recursive: true });
  });
}

test.run();
