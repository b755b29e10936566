// Hostile input (issue 6, DESIGN §7): archives crafted to escape, lie, loop or
// explode. Each must fail with exit 1 and one clear line, leave index.json as
// it was (and the blob set too, once prune has dropped unreferenced blobs),
// create no file outside the store, and stay within a memory bound.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createGzip } from "node:zlib";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { baleCommand, failsCleanly, fixture, has, repo, sandbox, skip, tempDir, type Result } from "./cli-helpers.ts";
import { gzip, makeTar, sha256, type RawMember } from "./support/craft.ts";
import { blob, dockerMembers, makeImage, ociMembers } from "./support/images.ts";
import { makeRootfs } from "./support/rootfs.ts";

/** Peak RSS allowed for a bale process, whatever it is fed (a memory bound, not a timing). */
const RSS_LIMIT_KB = 300 * 1024;
const token = `bale-escape-${process.pid}-${Date.now()}`;
const scratch = tempDir("bale-hostile-");
const s = sandbox();
test.after(() => {
  s.cleanup();
  rmSync(scratch, { recursive: true, force: true });
});

const useTime = existsSync("/usr/bin/time");

/** Runs bale on the sandbox under /usr/bin/time, returning its result and peak RSS in kB. */
function measured(...args: string[]): Result & { rssKb?: number } {
  const [command, ...rest] = baleCommand;
  const argv = [...rest, "--root", s.root, ...args];
  const result = useTime
    ? spawnSync("/usr/bin/time", ["-f", "bale-test-maxrss-kb=%M", command, ...argv], { cwd: repo, maxBuffer: 64 * 1024 * 1024 })
    : spawnSync(command, argv, { cwd: repo, maxBuffer: 64 * 1024 * 1024 });
  let stderr = result.stderr.toString();
  let rssKb: number | undefined;
  const match = /bale-test-maxrss-kb=(\d+)\n?$/.exec(stderr);
  if (match) {
    rssKb = Number(match[1]);
    stderr = stderr.slice(0, match.index);
  }
  stderr = stderr.replace(/^Command (exited with non-zero status|terminated by signal) .*\n/m, "");
  return { status: result.status ?? -1, stdout: result.stdout.toString(), stderr, rssKb };
}

/** Every path under dir, except the store itself. */
function listing(dir: string): string[] {
  const out: string[] = [];
  const walk = (path: string) => {
    for (const name of readdirSync(path)) {
      const full = join(path, name);
      if (full === s.root) continue;
      out.push(full);
      if (statSync(full).isDirectory()) walk(full);
    }
  };
  walk(dir);
  return out.sort();
}

const blobSet = () => readdirSync(join(s.root, "blobs", "sha256")).sort();
const indexText = () => readFileSync(join(s.root, "index.json"), "utf8");

function write(name: string, bytes: Uint8Array): string {
  const path = join(scratch, name);
  writeFileSync(path, bytes);
  return path;
}

// ── archives ──────────────────────────────────────────────────────────────

const image = makeImage();
const oci = (change: (members: RawMember[]) => RawMember[] = (m) => m, layout = {}) => makeTar(change(ociMembers(image, layout)));
const docker = (change: (members: RawMember[]) => RawMember[] = (m) => m) => makeTar(change(dockerMembers(image)));
const replace = (name: string, member: Partial<RawMember>) => (members: RawMember[]) =>
  members.map((each) => (each.name === name ? { ...each, ...member } : each));
const layerPath = `${"a".repeat(64)}/layer.tar`;
const index = (manifests: unknown[]) => JSON.stringify({ schemaVersion: 2, manifests });

/** A gzip stream of 1 GiB of zeros (about 1 MB), made once. */
let bomb: Promise<string> | undefined;
function gzipBomb(): Promise<string> {
  bomb ??= new Promise((resolve, reject) => {
    const path = join(scratch, "zeros.gz");
    const gz = createGzip({ level: 9, chunkSize: 1 << 20 });
    const out = createWriteStream(path);
    gz.pipe(out);
    const zero = Buffer.alloc(1 << 20);
    let written = 0;
    const pump = () => {
      while (written < 1024) {
        written++;
        if (!gz.write(zero)) return void gz.once("drain", pump);
      }
      gz.end();
    };
    pump();
    out.on("close", () => resolve(path));
    out.on("error", reject);
  });
  return bomb;
}

interface Case {
  what: string;
  /** The archive: bytes, or a path to an existing file. */
  archive: () => Uint8Array | string | Promise<Uint8Array | string>;
  error: RegExp;
  args?: string[];
}

const CASES: Case[] = [
  // Names that would escape if they were ever used as paths.
  { what: "a ../ member name", archive: () => oci((m) => [...m, { name: `../${token}`, body: "x" }]), error: /escapes the archive/ },
  { what: "an absolute member name", archive: () => oci((m) => [...m, { name: join(tmpdir(), token), body: "x" }]), error: /absolute name/ },
  { what: "a blobs/sha256/../../x member", archive: () => oci((m) => [...m, { name: `blobs/sha256/../../${token}`, body: "x" }]), error: /escapes the archive/ },
  { what: "a docker layer named ../x", archive: () => makeTar(dockerMembers(image, { layerPath: `../${token}/layer.tar` })), error: /escapes the archive/ },

  // Digests that are not OCI digests.
  ...[
    ["a path", "sha256:../../etc/passwd"],
    ["uppercase hex", `sha256:${image.manifestDigest.slice(7).toUpperCase()}`],
    ["short hex", "sha256:abcdef"],
    ["an unknown algorithm", `md5:${image.manifestDigest.slice(7)}`],
    ["a number", 42],
  ].map(([label, digest]): Case => ({
    what: `an index.json digest that is ${label}`,
    archive: () => oci((m) => m, { descriptor: (d: Record<string, unknown>) => ({ ...d, digest }) }),
    error: /not a valid digest|digest/,
  })),
  {
    what: "a manifest layer digest that is a path",
    archive: () => {
      const bad = makeImage({ layerDescriptor: (d) => ({ ...d, digest: "sha256:../../../../etc/passwd" }) });
      return makeTar(ociMembers(bad));
    },
    error: /not a valid digest/,
  },
  {
    what: "a docker Config path that climbs out",
    archive: () => docker((m) => m.map((each) => (each.name === "manifest.json" ? { ...each, body: JSON.stringify([{ Config: "../../etc/passwd", RepoTags: ["hostile:1"], Layers: [layerPath] }]) } : each))),
    error: /passwd|escapes|no |missing|not/,
  },

  // Sizes and contents that lie.
  { what: "a negative descriptor size", archive: () => oci((m) => m, { descriptor: (d: Record<string, unknown>) => ({ ...d, size: -1 }) }), error: /size/ },
  { what: "a wrong descriptor size in index.json", archive: () => oci((m) => m, { descriptor: (d: Record<string, unknown>) => ({ ...d, size: (d.size as number) + 1 }) }), error: /bytes|size/ },
  {
    what: "a wrong layer size in the manifest",
    archive: () => makeTar(ociMembers(makeImage({ layerDescriptor: (d) => ({ ...d, size: (d.size as number) - 1 }) }))),
    error: /bytes|size/,
  },
  {
    what: "a negative layer size in the manifest",
    archive: () => makeTar(ociMembers(makeImage({ layerDescriptor: (d) => ({ ...d, size: -5 }) }))),
    error: /size/,
  },
  {
    what: "a blob that does not match its digest",
    archive: () => oci(replace(blob(image.layerDigest), { body: makeTar([{ name: "evil.txt", body: "not the layer\n" }]) })),
    error: /holds sha256:[0-9a-f]{64}, not sha256:[0-9a-f]{64}|digest/,
  },
  {
    what: "a docker layer that does not match the config's diff_ids",
    archive: () => makeTar(dockerMembers(makeImage({ diffId: sha256("something else") }))),
    error: /diff_ids|unpacks to/,
  },

  // Links that point out of the archive, or nowhere.
  { what: "a symlinked layer.tar pointing outside", archive: () => docker(replace(layerPath, { type: "2", body: "", linkname: `../../../../../../tmp/${token}` })), error: /links outside/ },
  { what: "a symlinked layer.tar pointing to an absolute path", archive: () => docker(replace(layerPath, { type: "2", body: "", linkname: "/etc/passwd" })), error: /links outside/ },
  { what: "a hardlinked layer.tar pointing outside", archive: () => docker(replace(layerPath, { type: "1", body: "", linkname: `../${token}` })), error: /links outside/ },
  {
    what: "a symlink loop",
    archive: () =>
      docker((m) => [
        ...m.filter((each) => each.name !== layerPath),
        { name: layerPath, type: "2", linkname: "../b/layer.tar" },
        { name: "b/layer.tar", type: "2", linkname: `../${"a".repeat(64)}/layer.tar` },
      ]),
    error: /link/,
  },
  { what: "a self-referencing symlink", archive: () => docker(replace(layerPath, { type: "2", body: "", linkname: "layer.tar" })), error: /link/ },
  { what: "an OCI blob that is a symlink out", archive: () => oci(replace(blob(image.layerDigest), { type: "2", body: "", linkname: "../../../etc/passwd" })), error: /links outside/ },

  // Members that say two things.
  {
    what: "duplicate index.json members with different content",
    archive: () => oci((m) => [...m, { name: "index.json", body: index([]) }]),
    error: /two different members named index\.json/,
  },
  {
    what: "duplicate manifest.json members with different content",
    archive: () => docker((m) => [...m, { name: "manifest.json", body: "[]" }]),
    error: /two different members named manifest\.json/,
  },
  {
    what: "duplicate ./index.json and index.json",
    archive: () => oci((m) => [...m, { name: "./index.json", body: index([]) }]),
    error: /two different members named index\.json/,
  },

  // Too big, too compressed.
  {
    what: "a 50 MB manifest.json",
    archive: () => {
      const huge = JSON.stringify([{ Config: "x.json", RepoTags: ["hostile:1"], Layers: [], Padding: "x".repeat(50 * 1024 * 1024) }]);
      return docker((m) => [...m.filter((each) => each.name !== "manifest.json"), { name: "manifest.json", body: huge }]);
    },
    error: /over the \d+-byte limit/,
  },
  {
    what: "a 50 MB index.json",
    archive: () => oci(replace("index.json", { body: `{"schemaVersion":2,"manifests":[],"x":"${"y".repeat(50 * 1024 * 1024)}"}` })),
    error: /over the \d+-byte limit/,
  },
  {
    what: "a gzip bomb (1 GiB of zeros) as a docker layer",
    archive: async () => {
      const layer = new Uint8Array(readFileSync(await gzipBomb()));
      return makeTar(dockerMembers(makeImage({ layer, diffId: sha256("not the zeros") })));
    },
    error: /diff_ids|unpacks to/,
  },
  { what: "a gzip bomb (1 GiB of zeros) as the whole archive", archive: () => gzipBomb(), error: /no files|not an image archive|not a valid tar|empty/ },

  // Not archives at all.
  { what: "random bytes", archive: () => new Uint8Array(randomBytes(256 * 1024)), error: /not a valid tar|not an image archive/ },
  { what: "gzip magic then garbage", archive: () => new Uint8Array([0x1f, 0x8b, 8, 0, ...randomBytes(4096)]), error: /gzip/ },
  { what: "zstd magic then garbage", archive: () => new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, ...randomBytes(4096)]), error: /zstd/ },
  { what: "an empty file", archive: () => new Uint8Array(0), error: /empty/ },
  { what: "a tar with only a directory", archive: () => makeTar([{ name: "dir/", type: "5" }]), error: /not an image archive|no files|no format/ },
  { what: "a tar of unrelated files", archive: () => makeTar([{ name: "README", body: "hello" }]), error: /not an image archive|no format/ },
  {
    what: "a missing archive file",
    archive: () => join(scratch, "no-such-file.tar"),
    error: /cannot read/,
  },
];

// Truncation at several cut points, of a crafted archive, of real fixtures and of a compressed one.
function truncations(label: string, bytes: () => Uint8Array, cuts: number[]): Case[] {
  return cuts.map((fraction) => ({
    what: `${label} cut at ${Math.round(fraction * 100)}%`,
    archive: () => {
      const all = bytes();
      // Cut inside the members, never in the trailing end-of-archive blocks.
      return all.subarray(0, Math.floor(fraction * (all.length - 1536)));
    },
    error: /truncated|not a valid tar|missing|no |empty|corrupt/,
  }));
}
CASES.push(
  ...truncations("a crafted OCI archive", () => oci(), [0.02, 0.3, 0.6, 0.95]),
  ...truncations("real/docker20-save.tar", () => readFileSync(fixture("real/docker20-save.tar")), [0.1, 0.5, 0.9]),
  ...truncations("real/skopeo-oci.tar", () => readFileSync(fixture("real/skopeo-oci.tar")), [0.25, 0.75]),
  ...truncations("real/docker20-save.tar.gz", () => readFileSync(fixture("real/docker20-save.tar.gz")), [0.2, 0.6, 0.99]),
);

// ── the tests ─────────────────────────────────────────────────────────────

test("setup: the crafted archives are valid before they are made hostile", () => {
  const control = sandbox();
  try {
    control.ok("load", "-i", write("control-oci.tar", oci()));
    control.ok("load", "-i", write("control-docker.tar", docker()), "-r", "control:docker=hostile:1");
    control.ok("load", "-i", write("control-docker-gz.tar.gz", gzip(docker())), "-r", "control:gz=hostile:1");
    const names = control.images().map((row) => `${row.Repository}:${row.Tag}`).sort();
    assert.equal(names, ["control:docker", "control:gz", "hostile:1"]);
    control.ok("verify");
  } finally {
    control.cleanup();
  }
  // The store the hostile archives are thrown at already holds an image.
  s.ok("import", makeRootfs(s.dir, "existing", "existing"), "existing:1");
});

for (const item of CASES) {
  test(`hostile: ${item.what}`, async () => {
    const index = indexText();
    const blobs = blobSet();
    const outside = listing(dirname(s.root));
    const repoFiles = readdirSync(repo).sort();

    const archive = await item.archive();
    const path = typeof archive === "string" ? archive : write("hostile.tar", archive);
    const result = measured("load", "-i", path, ...(item.args ?? []));

    const line = failsCleanly(result, item.error);
    if (process.env.BALE_TEST_SHOW) process.stderr.write(`${item.what}: ${line} (${Math.round((result.rssKb ?? 0) / 1024)} MB)\n`);
    assert.not.match(result.stderr, /\n\s+at /, "no stack trace");
    assert.is(indexText(), index, "index.json unchanged");
    if (result.rssKb !== undefined) assert.ok(result.rssKb < RSS_LIMIT_KB, `peak RSS ${Math.round(result.rssKb / 1024)} MB`);

    const prune = measured("prune");
    assert.is(prune.status, 0, prune.stderr);
    assert.equal(blobSet(), blobs, "blob set unchanged after prune");
    assert.equal(listing(dirname(s.root)), outside, "no file created next to the store");
    assert.equal(readdirSync(repo).sort(), repoFiles, "no file created in the working directory");
    for (const place of [tmpdir(), join(tmpdir(), ".."), join(s.root, ".."), join(repo, "..")]) {
      assert.not.ok(existsSync(join(place, token)), `${join(place, token)} was created`);
    }
    if (typeof archive !== "string") rmSync(path, { force: true });
  });
}

test("hostile: a gzip bomb on stdin stays within the memory bound", async () => {
  if (!useTime) return skip("/usr/bin/time is missing: memory not measured");
  const index = indexText();
  const [command, ...rest] = baleCommand;
  const result = spawnSync("sh", ["-c", `/usr/bin/time -f bale-test-maxrss-kb=%M "$@" < "${await gzipBomb()}"`, "sh", command, ...rest, "--root", s.root, "load"], { cwd: repo });
  const stderr = result.stderr.toString();
  const rss = Number(/bale-test-maxrss-kb=(\d+)/.exec(stderr)?.[1]);
  assert.is(result.status, 1, stderr);
  assert.ok(rss > 0 && rss < RSS_LIMIT_KB, `peak RSS ${Math.round(rss / 1024)} MB`);
  assert.is(indexText(), index);
});

test("finally: the store the hostile archives were thrown at still verifies", () => {
  assert.is(s.ok("verify").trim(), "3 blobs verified");
  assert.equal(s.images().map((row) => `${row.Repository}:${row.Tag}`), ["existing:1"]);
  if (!has("tar")) skip("tar missing");
});

test.run();
