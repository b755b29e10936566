// The third-party rootfs plugin (examples/rootfs), through the real CLI: flattening an image's
// layers (checked against umoci unpack and against tar applied layer by layer), loading a root
// filesystem tar as a one-layer image, and how plugins that are broken are reported.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { bale, failsCleanly, fixture, has, repo, sandbox, skip, tempDir } from "./cli-helpers.ts";
import { makeTar, sha256, type RawMember } from "./support/craft.ts";
import { readTar } from "../src/tar.ts";

const PLUGIN = join(repo, "examples/rootfs/index.ts");
const TINY = "localhost/tiny:1";
const asRoot = process.getuid?.() === 0;

function run(command: string, args: string[]): string {
  const result = spawnSync(command, args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} failed: ${result.stderr}`);
  return result.stdout;
}

/**
 * A directory tree as comparable lines: name, type, mode, owner (as root), mtime (files),
 * size and content hash, link target; names hardlinked together share the first one's name.
 */
function listing(root: string): string[] {
  const lines: string[] = [];
  const inodes = new Map<number, string>();
  const walk = (dir: string, prefix: string) => {
    for (const base of readdirSync(dir).sort()) {
      const path = join(dir, base);
      const name = prefix + base;
      const stat = lstatSync(path);
      const owner = asRoot ? ` ${stat.uid}:${stat.gid}` : "";
      const mode = (stat.mode & 0o7777).toString(8);
      if (stat.isDirectory()) {
        lines.push(`${name}/ dir ${mode}${owner}`);
        walk(path, `${name}/`);
      } else if (stat.isSymbolicLink()) {
        lines.push(`${name} symlink -> ${readlinkSync(path)}${owner}`);
      } else {
        const hash = createHash("sha256").update(readFileSync(path)).digest("hex").slice(0, 16);
        const first = stat.nlink > 1 ? inodes.get(stat.ino) : undefined;
        if (stat.nlink > 1 && !first) inodes.set(stat.ino, name);
        lines.push(`${name} file ${mode}${owner} ${stat.mtimeMs / 1000} ${stat.size} ${hash}${first ? ` linked-to ${first}` : ""}`);
      }
    }
  };
  walk(root, "");
  return lines;
}

/** Extracts a tar as root would (modes, owners, links kept). */
function extract(tar: string, dir: string) {
  mkdirSync(dir, { recursive: true });
  run("tar", ["-xpf", tar, "-C", dir, "--numeric-owner"]);
}

/** The reference flattening: each layer's whiteouts applied to the tree so far, then the layer extracted without them. */
function applyLayers(layers: string[], dir: string) {
  mkdirSync(dir, { recursive: true });
  for (const layer of layers) {
    const names = run("tar", ["-tf", layer, "--quoting-style=literal"]).split("\n").filter(Boolean);
    for (const raw of names) {
      const parts = raw.split("/").filter((part) => part && part !== ".");
      const base = parts.pop();
      if (!base?.startsWith(".wh.")) continue;
      const parent = join(dir, ...parts);
      if (base === ".wh..wh..opq") {
        if (existsSync(parent)) for (const child of readdirSync(parent)) rmSync(join(parent, child), { recursive: true, force: true });
      } else rmSync(join(parent, base.slice(4)), { recursive: true, force: true });
    }
    run("tar", ["-xpf", layer, "-C", dir, "--numeric-owner", "--exclude=.wh.*"]);
  }
}

/** The layers of podman-docker.tar, in order, as files. */
function fixtureLayers(dir: string): string[] {
  const unpacked = join(dir, "fixture");
  extract(fixture("real/podman-docker.tar"), unpacked);
  const [entry] = JSON.parse(readFileSync(join(unpacked, "manifest.json"), "utf8"));
  return entry.Layers.map((layer: string) => join(unpacked, layer));
}

/** The flattened image through umoci unpack, or undefined (reported) when umoci is missing. */
function umociRootfs(s: ReturnType<typeof sandbox>, image: string): string | undefined {
  if (!has("umoci")) {
    skip("umoci is not installed: the rootfs plugin is compared with tar applied layer by layer only");
    return undefined;
  }
  const layout = join(s.dir, "layout");
  s.ok("save", "-f", "oci", "-r", `${image}=flat`, "-o", `${layout}/`, image);
  const bundle = join(s.dir, "bundle");
  run("umoci", ["unpack", ...(asRoot ? [] : ["--rootless"]), "--image", `${layout}:flat`, bundle]);
  return join(bundle, "rootfs");
}

async function tarMembers(path: string) {
  const members = [];
  for await (const member of readTar([readFileSync(path)])) members.push(member);
  return members;
}

test("save -f rootfs flattens podman-docker.tar's layers as umoci unpack and tar layer by layer do", async () => {
  const s = sandbox();
  try {
    s.ok("load", "-i", fixture("real/podman-docker.tar"));
    const out = join(s.dir, "flat.tar");
    s.ok("--plugin", PLUGIN, "save", "-f", "rootfs", "-o", out, TINY);
    const ours = listing((extract(out, join(s.dir, "ours")), join(s.dir, "ours")));

    const reference = join(s.dir, "reference");
    applyLayers(fixtureLayers(s.dir), reference);
    assert.equal(ours, listing(reference), "tar applied layer by layer");

    const umoci = umociRootfs(s, TINY);
    if (umoci) assert.equal(ours, listing(umoci), "umoci unpack");

    // What the layers' edge cases became, member by member.
    const members = await tarMembers(out);
    const byName = new Map(members.map((member) => [member.name, member]));
    assert.not.ok(members.some((member) => member.name.split("/").some((part) => part.startsWith(".wh."))), "no whiteout files");
    assert.not.ok(byName.has("data/remove-me.txt"), "a whited-out file is gone");
    assert.not.ok([...byName.keys()].some((name) => name.startsWith("data/remove-dir")), "a whited-out directory is gone");
    assert.ok(byName.has("data/added-in-l3.txt"));
    assert.is(byName.get("data/hardlink.txt")?.type, "hardlink");
    assert.is(byName.get("data/hardlink.txt")?.linkname, "data/hardlink-target.txt");
    assert.is(byName.get("data/abs-link")?.linkname, "/etc/os-release");
    assert.is(byName.get("data/rel-link")?.linkname, "../etc/os-release");
    assert.is(byName.get("data/setuid-file")?.mode, 0o4755);
    assert.is(byName.get("data/owned-by-1000")?.uid, 1000);
    assert.is(byName.get("data/owned-by-1000")?.gid, 1000);
    assert.is(byName.get("bin/hello")?.mode, 0o755);
    assert.is(byName.get("data/empty-dir")?.type, "directory");
    assert.ok(byName.has("data/ünïcødé-名前 ✓.txt"), "unicode name");
    assert.ok(members.some((member) => member.name.length >= 150), "150-character name");
    // Every name once, each parent directory before what it holds.
    assert.is(new Set(members.map((member) => member.name)).size, members.length);
    const raw = readFileSync(out).toString("latin1");
    assert.ok(raw.includes("path=data/"), "non-ASCII and long names are written as PAX records");
  } finally {
    s.cleanup();
  }
});

/** An OCI layout tar holding one image of the given layers, named localhost/crafted:1. */
function craftedImage(dir: string, layers: RawMember[][]): string {
  const blobs = layers.map((members) => makeTar(members));
  const config = JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: blobs.map((blob) => sha256(blob)) } });
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256(config), size: config.length },
    layers: blobs.map((blob) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: sha256(blob), size: blob.length })),
  });
  const index = JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", digest: sha256(manifest), size: manifest.length, annotations: { "org.opencontainers.image.ref.name": "localhost/crafted:1" } }],
  });
  const blob = (bytes: string | Uint8Array) => ({ name: `blobs/sha256/${sha256(bytes).slice(7)}`, body: bytes });
  const path = join(dir, "crafted.tar");
  writeFileSync(path, makeTar([{ name: "oci-layout", body: '{"imageLayoutVersion":"1.0.0"}' }, { name: "index.json", body: index }, blob(config), blob(manifest), ...blobs.map(blob)]));
  return path;
}

test("save -f rootfs: opaque directories, replaced paths and hardlinks whose target goes", async () => {
  const s = sandbox();
  try {
    const dir = (name: string): RawMember => ({ name: `${name}/`, type: "5" });
    const layers: RawMember[][] = [
      [
        dir("a"), { name: "a/x", body: "x1" }, dir("a/sub"), { name: "a/sub/y", body: "y1" },
        { name: "t", body: "target content" }, { name: "l", type: "1", linkname: "t" }, { name: "l2", type: "1", linkname: "t" },
        { name: "r", body: "a file that becomes a directory" },
        dir("d"), { name: "d/keep", body: "kept" }, { name: "f", body: "a file that becomes a link" },
        { name: "u", body: "replaced later" }, { name: "u-link", type: "1", linkname: "u" },
      ],
      [
        { name: "a/.wh..wh..opq" }, { name: "a/new", body: "new in an opaque dir" },
        { name: ".wh.t" },
        dir("r"), { name: "r/inside", body: "inside" },
        { name: "f", type: "2", linkname: "d/keep" },
        { name: "u", body: "the new u" },
        { name: "d/more", body: "more" },
      ],
      [{ name: "d/.wh.keep" }, { name: "added", body: "top" }],
    ];
    s.ok("load", "-i", craftedImage(s.dir, layers));
    const out = join(s.dir, "flat.tar");
    s.ok("--plugin", PLUGIN, "save", "-f", "rootfs", "-o", out, "localhost/crafted:1");
    const ours = listing((extract(out, join(s.dir, "ours")), join(s.dir, "ours")));

    const layerFiles = layers.map((members, i) => {
      const path = join(s.dir, `layer-${i}.tar`);
      writeFileSync(path, makeTar(members));
      return path;
    });
    const reference = join(s.dir, "reference");
    applyLayers(layerFiles, reference);
    assert.equal(ours, listing(reference), "tar applied layer by layer");
    const umoci = umociRootfs(s, "localhost/crafted:1");
    if (umoci) assert.equal(ours, listing(umoci), "umoci unpack");

    const names = ours.map((line) => line.split(" ")[0]);
    assert.equal(names.filter((name) => name.startsWith("a/")), ["a/", "a/new"], "the opaque dir hides what lower layers put in it");
    // t went, so its content travels under the first surviving name; the other name links to it.
    assert.ok(ours.some((line) => line.startsWith("l file") && !line.includes("linked-to")));
    assert.ok(ours.some((line) => line.startsWith("l2 file") && line.endsWith("linked-to l")));
    assert.ok(ours.some((line) => line.startsWith("u-link file") && !line.includes("linked-to")), "u-link keeps the old u");
  } finally {
    s.cleanup();
  }
});

test("save -f rootfs refuses a layer member that escapes with '..', naming the layer", () => {
  const s = sandbox();
  try {
    s.ok("load", "-i", craftedImage(s.dir, [[{ name: "ok", body: "fine" }, { name: "../escape", body: "bad" }]]));
    const out = join(s.dir, "flat.tar");
    failsCleanly(s.run("--plugin", PLUGIN, "save", "-f", "rootfs", "-o", out, "localhost/crafted:1"), /layer sha256:[0-9a-f]{64}: .*"\.\.\/escape" escapes the archive with "\.\."/);
    assert.not.ok(existsSync(out));
  } finally {
    s.cleanup();
  }
});

test("load -f rootfs makes a one-layer untagged image; -r IMAGE=rootfs names it; it flattens back to the same tree", async () => {
  const s = sandbox();
  try {
    s.ok("load", "-i", fixture("real/podman-docker.tar"));
    const flat = join(s.dir, "flat.tar");
    s.ok("--plugin", PLUGIN, "save", "-f", "rootfs", "-o", flat, TINY);
    const flatBytes = readFileSync(flat);
    const before = s.images().length;

    const loaded = s.ok("load", "-f", "rootfs", "-i", flat, "--plugin", PLUGIN);
    assert.match(loaded, /^Loaded image ID: sha256:[0-9a-f]{64}\n$/);
    const id = loaded.trim().split(" ").pop()!;
    const untagged = s.images().filter((image) => image.ID === id);
    assert.is(untagged.length, 1);
    assert.is(untagged[0].Repository, "<none>");
    assert.is(s.images().length, before + 1);
    const [plain] = JSON.parse(s.ok("inspect", id));
    assert.is(plain.Layers.length, 1);
    assert.is(plain.Layers[0].digest, sha256(flatBytes), "the layer is the tar as given");
    assert.is(plain.Layers[0].diffId, sha256(flatBytes));
    assert.is(plain.Layers[0].mediaType, "application/vnd.oci.image.layer.v1.tar");

    // Compressed, and named with -r; the layer stays compressed, its diff_id is the plain tar's.
    const gz = join(s.dir, "flat.tar.gz");
    writeFileSync(gz, gzipSync(flatBytes));
    assert.is(s.ok("--plugin", PLUGIN, "load", "-f", "rootfs", "-i", gz, "-r", "my/img:1=rootfs"), "Loaded image: my/img:1\n");
    const [named] = JSON.parse(s.ok("inspect", "my/img:1"));
    assert.equal(named.RepoTags, ["my/img:1"]);
    assert.is(named.Layers[0].mediaType, "application/vnd.oci.image.layer.v1.tar+gzip");
    assert.is(named.Layers[0].digest, sha256(readFileSync(gz)));
    assert.is(named.Layers[0].diffId, sha256(flatBytes));
    s.ok("verify");

    // Flattening the one-layer image gives the same tree again.
    const again = join(s.dir, "again.tar");
    s.ok("--plugin", PLUGIN, "save", "-f", "rootfs", "-o", again, "my/img:1");
    extract(flat, join(s.dir, "first"));
    extract(again, join(s.dir, "second"));
    assert.equal(listing(join(s.dir, "second")), listing(join(s.dir, "first")));

    // Without -f the rootfs format is never guessed (here the absolute symlink is what gives it away).
    failsCleanly(s.run("--plugin", PLUGIN, "load", "-i", flat), /not an image archive|links outside the archive/);
    // Not a tar at all: refused, and the store's names stay as they were.
    const index = s.snapshot();
    const junk = join(s.dir, "junk.tar");
    writeFileSync(junk, "this is not a tar archive, not even close".repeat(20));
    failsCleanly(s.run("--plugin", PLUGIN, "load", "-f", "rootfs", "-i", junk), /junk\.tar is not a root filesystem tarball/);
    assert.is(JSON.parse(s.snapshot()).index, JSON.parse(index).index);
  } finally {
    s.cleanup();
  }
});

test("save -f rootfs writes one file: stdout works, a directory does not, a failure leaves nothing", async () => {
  const s = sandbox();
  try {
    s.ok("load", "-i", fixture("real/podman-docker.tar"));
    const piped = s.run("--plugin", PLUGIN, "save", "-f", "rootfs", TINY);
    assert.is(piped.status, 0, piped.stderr);
    assert.ok(piped.stdout.includes("bin/hello") && piped.stdout.includes("data/added-in-l3.txt"), "the tar went to stdout");
    failsCleanly(s.run("--plugin", PLUGIN, "save", "-f", "rootfs", "-o", `${s.dir}/outdir/`, TINY), /writes one tar file/, 2);
    failsCleanly(s.run("--plugin", PLUGIN, "save", "-f", "rootfs", "-o", join(s.dir, "two.tar"), TINY, TINY), /one image/);
    assert.not.ok(existsSync(join(s.dir, "two.tar")));
    assert.equal(readdirSync(s.dir).filter((name) => name.includes("bale-tmp")), []);
  } finally {
    s.cleanup();
  }
});

/** Writes a tiny plugin module into dir and returns its path. */
function plugin(dir: string, name: string, source: string): string {
  const path = join(dir, name);
  writeFileSync(path, source);
  return path;
}

const format = (fields: string) => `export default { name: "tiny", description: "a test format", detect: () => false, load: async () => [], save: async () => {}, ${fields} };\n`;

test("broken plugins: each fails with exit 1 and one line naming the plugin", () => {
  const s = sandbox();
  const dir = tempDir("bale-plugins-");
  try {
    const missing = join(dir, "missing.mjs");
    failsCleanly(s.run("--plugin", missing, "formats"), new RegExp(`plugin ${missing}: file not found`));
    const noDefault = plugin(dir, "no-default.mjs", "export const format = {};\n");
    failsCleanly(s.run("--plugin", noDefault, "formats"), /plugin .*no-default\.mjs: has no default export/);
    const noSave = plugin(dir, "no-save.mjs", format("save: undefined"));
    failsCleanly(s.run("--plugin", noSave, "formats"), /plugin .*no-save\.mjs: .*no save\(\)/);
    const clash = plugin(dir, "clash.mjs", format('name: "oci"'));
    failsCleanly(s.run("--plugin", clash, "formats"), /plugin .*clash\.mjs: format name "oci" is taken/);
    const broken = plugin(dir, "broken.mjs", "export default {;\n");
    failsCleanly(s.run("--plugin", broken, "formats"), /plugin .*broken\.mjs: cannot import it/);
    // The same from BALE_PLUGINS.
    failsCleanly(bale(["--root", s.root, "formats"], { env: { BALE_PLUGINS: clash } }), /plugin .*clash\.mjs: format name "oci" is taken/);
  } finally {
    s.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("bale formats lists rootfs with its path, from --plugin and from BALE_PLUGINS", () => {
  const s = sandbox();
  try {
    const lines = s.ok("--plugin", PLUGIN, "formats").split("\n");
    const line = lines.find((each) => each.startsWith("rootfs "));
    assert.ok(line, "rootfs is listed");
    assert.ok(line!.endsWith(PLUGIN), line);
    assert.ok(lines.some((each) => /^docker .* built-in$/.test(each)));
    const result = bale(["--root", s.root, "formats", "--format", "json"], { env: { BALE_PLUGINS: PLUGIN } });
    assert.is(result.status, 0, result.stderr);
    assert.equal(JSON.parse(result.stdout).find((each: { Name: string }) => each.Name === "rootfs")?.Origin, PLUGIN);
  } finally {
    s.cleanup();
  }
});

test("a plugin that throws during load or save leaves the store and the output as they were", () => {
  const s = sandbox();
  const dir = tempDir("bale-plugins-");
  try {
    s.ok("load", "-i", fixture("real/podman-docker.tar"));
    const before = s.snapshot();
    const throwing = plugin(dir, "throws.mjs", format(`name: "boom", load: async (files, ctx) => { await ctx.putJson({ a: 1 }, "application/json"); throw new Error("kaboom"); }, save: async (images, ctx) => { ctx.write("x", "y"); throw new Error("kaboom on save"); }`));
    failsCleanly(s.run("--plugin", throwing, "load", "-f", "boom", "-i", fixture("real/podman-oci.tar")), /boom format: kaboom/);
    assert.is(s.snapshot(), before);
    const out = join(s.dir, "boom.tar");
    failsCleanly(s.run("--plugin", throwing, "save", "-f", "boom", "-o", out, TINY), /boom format: kaboom on save/);
    assert.not.ok(existsSync(out));

    // A wholeArchive plugin: the raw input is stored, but index.json does not change.
    const whole = plugin(dir, "whole.mjs", format(`name: "whole", wholeArchive: true, load: async (files) => { throw new Error("no thanks: " + files.names.join()); }`));
    failsCleanly(s.run("--plugin", whole, "load", "-f", "whole", "-i", fixture("real/podman-docker.tar")), /whole format: no thanks: archive$/);
    assert.is(JSON.parse(s.snapshot()).index, JSON.parse(before).index);
    s.ok("verify");
  } finally {
    s.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("writeEntry keeps the core's rules: no '..', hardlinks only to entries already written, wholeArchive formats only", () => {
  const s = sandbox();
  const dir = tempDir("bale-plugins-");
  try {
    s.ok("load", "-i", fixture("real/podman-docker.tar"));
    const writer = (name: string, body: string, whole = true) =>
      plugin(dir, `${name}.mjs`, format(`name: "${name}", ${whole ? "wholeArchive: true, " : ""}save: async (images, ctx) => { ${body} }`));
    const out = join(s.dir, "out.tar");
    const cases: [string, string, RegExp, boolean?][] = [
      ["escape", `await ctx.writeEntry({ name: "../evil", type: "file", size: 1 }, new Uint8Array(1));`, /escapes the archive with "\.\."/],
      ["dangling", `await ctx.writeEntry({ name: "l", type: "hardlink", size: 0, linkname: "nowhere" });`, /hardlink l points to "nowhere", which was not written before it/],
      ["short", `await ctx.writeEntry({ name: "f", type: "file", size: 10 }, new Uint8Array(3));`, /f: wrote 3 bytes where 10 were expected/],
      ["mixed", `ctx.write("x", "y");`, /writes its archive with ctx\.writeEntry/],
      ["plain", `await ctx.writeEntry({ name: "f", type: "file", size: 0 });`, /ctx\.writeEntry is for formats with wholeArchive/, false],
    ];
    for (const [name, body, pattern, whole] of cases) {
      failsCleanly(s.run("--plugin", writer(name, body, whole), "save", "-f", name, "-o", out, TINY), pattern);
      assert.not.ok(existsSync(out), name);
    }
    // Entries go out in the order written, metadata as given.
    const ordered = writer("ordered", `
      await ctx.writeEntry({ name: "z", type: "file", size: 2, mode: 0o600, uid: 7, gid: 8, mtime: new Date(86400000) }, new TextEncoder().encode("zz"));
      await ctx.writeEntry({ name: "a/", type: "directory", size: 0, mode: 0o700 });
      await ctx.writeEntry({ name: "./a/link", type: "hardlink", size: 0, linkname: "z" });
      await ctx.writeEntry({ name: "a/sym", type: "symlink", size: 0, linkname: "/z" });`);
    s.ok("--plugin", ordered, "save", "-f", "ordered", "-o", out, TINY);
    const listed = run("tar", ["-tvf", out, "--numeric-owner", "--full-time"]).trim().split("\n");
    assert.is(listed.length, 4);
    assert.match(listed[0], /^-rw------- 7\/8 +2 1970-01-02 00:00:00 z$/);
    assert.match(listed[1], /^drwx------ 0\/0 .* a\/$/);
    assert.match(listed[2], /^h.* a\/link link to z$/);
    assert.match(listed[3], /^l.* a\/sym -> \/z$/);
  } finally {
    s.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
