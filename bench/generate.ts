// Generates the benchmark's test image from a seed: 3–5 layers mixing random
// (incompressible) and repetitive-text (compressible) files plus a few
// thousand small files, written as a Docker archive and as OCI archives with
// plain, gzip and zstd layers. Outputs are cached per seed and size, so reruns
// of the benchmark reuse them.
//
//   npx tsx bench/generate.ts [--size 500M] [--seed 1] [--cache bench/.cache] [--force]
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, createReadStream, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Random } from "./random.ts";
import { TarWriter } from "./tar-writer.ts";

// Bump when the output changes, so stale caches are not reused.
const VERSION = 1;
const MiB = 1 << 20;
const CREATED = "2024-01-01T00:00:00Z";
export const DOCKER_TAG = "bench/image:1";
export const FULL_NAME = "docker.io/bench/image:1";
export const DEFAULT_CACHE = join(fileURLToPath(new URL(".", import.meta.url)), ".cache");

export type Variant = "docker" | "oci" | "oci-gzip" | "oci-zstd";

export interface Blob {
  digest: string;
  size: number;
}

export interface Meta {
  version: number;
  seed: number;
  size: number;
  /** Per layer: the uncompressed tar (diff_id) and its gzip and zstd forms. */
  layers: { tar: Blob; gzip: Blob; zstd: Blob; files: number }[];
  config: Blob;
  /** Archive paths, absolute. */
  archives: Record<Variant, string>;
  /** Sum of the blob sizes inside each archive (config, manifest, layers). */
  blobBytes: Record<Variant, number>;
}

export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(text.trim());
  if (!m) throw new Error(`bad size ${JSON.stringify(text)} (want e.g. 500M, 5G)`);
  const unit = { "": 1, k: 1 << 10, m: MiB, g: 1 << 30, t: 2 ** 40 }[m[2].toLowerCase() as "" | "k" | "m" | "g" | "t"];
  return Math.round(Number(m[1]) * unit);
}

/** Returns the cached image for seed+size, generating it first if needed. */
export async function generate(opts: { seed: number; size: number; cacheDir?: string; force?: boolean; log?: (s: string) => void }): Promise<Meta> {
  const log = opts.log ?? ((s: string) => process.stderr.write(s + "\n"));
  const cacheDir = resolve(opts.cacheDir ?? DEFAULT_CACHE);
  const dir = join(cacheDir, `v${VERSION}-seed${opts.seed}-${opts.size}`);
  const metaPath = join(dir, "meta.json");
  if (!opts.force && existsSync(metaPath)) {
    const meta = JSON.parse(readFileSync(metaPath, "utf8")) as Meta;
    if (Object.values(meta.archives).every((p) => existsSync(p))) return meta;
  }
  // Build in a temporary directory and rename at the end: a half-written
  // cache entry (Ctrl-C, full disk) is never mistaken for a complete one.
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const started = Date.now();

  const rng = new Random(opts.seed);
  const plan = planLayers(rng, opts.size);
  const text = textPool(rng);
  const layers: Meta["layers"] = [];
  for (let i = 0; i < plan.length; i++) {
    const path = join(tmp, `layer${i}.tar`);
    const w = new TarWriter(path, true);
    const files = writeLayer(w, rng, text, i, plan[i], plan.length);
    const hex = w.close()!;
    const tar = { digest: `sha256:${hex}`, size: statSync(path).size };
    log(`layer ${i}: ${mb(tar.size)} MB, ${files} entries; compressing`);
    // gzip is single-threaded, so running it beside zstd uses both cores.
    const [gzip, zstd] = await Promise.all([
      compress(["gzip", "-n", "-6", "-c"], path, `${path}.gz`),
      compress(["zstd", "-3", "-T0", "-q", "-c"], path, `${path}.zst`),
    ]);
    layers.push({ tar, gzip, zstd, files });
  }

  const configBytes = Buffer.from(JSON.stringify(imageConfig(opts, layers)));
  const config = blobOf(configBytes);
  const archives = {} as Record<Variant, string>;
  const blobBytes = {} as Record<Variant, number>;
  const layerPath = (i: number, kind: "tar" | "gzip" | "zstd") => join(tmp, `layer${i}.tar${{ tar: "", gzip: ".gz", zstd: ".zst" }[kind]}`);

  archives.docker = join(dir, "docker.tar");
  blobBytes.docker = writeDockerArchive(join(tmp, "docker.tar"), configBytes, config, layers, (i) => layerPath(i, "tar"));
  for (const [variant, kind] of [["oci", "tar"], ["oci-gzip", "gzip"], ["oci-zstd", "zstd"]] as const) {
    archives[variant] = join(dir, `${variant}.tar`);
    blobBytes[variant] = writeOciArchive(join(tmp, `${variant}.tar`), configBytes, config, layers, kind, (i) => layerPath(i, kind));
  }
  // The loose layers served only to build the archives; drop them to halve the disk used.
  for (let i = 0; i < layers.length; i++) for (const k of ["tar", "gzip", "zstd"] as const) rmSync(layerPath(i, k));

  const meta: Meta = { version: VERSION, seed: opts.seed, size: opts.size, layers, config, archives, blobBytes };
  writeFileSync(join(tmp, "meta.json"), JSON.stringify(meta, null, 2) + "\n");
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  log(`generated ${dir} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return meta;
}

interface LayerPlan {
  budget: number; // bytes of file content
  smallFiles: number;
}

function planLayers(rng: Random, size: number): LayerPlan[] {
  const count = 3 + rng.int(3);
  // The first layer is the big "base", like an OS layer.
  const weights = Array.from({ length: count }, (_, i) => (i === 0 ? 2 : 0.5) + rng.float());
  const total = weights.reduce((a, b) => a + b, 0);
  // A few thousand small files at the default size; fewer for tiny test images
  // so that small files do not swamp the size asked for.
  const small = Math.max(50, Math.round((2000 + rng.int(2000)) * Math.min(1, size / (256 * MiB))));
  return weights.map((w) => ({ budget: Math.floor((size * w) / total), smallFiles: Math.round((small * w) / total) }));
}

/** 1 MiB of text lines from a small vocabulary: compresses like logs or source. */
function textPool(rng: Random): Buffer {
  const letters = "abcdefghijklmnopqrstuvwxyz";
  const words = Array.from({ length: 400 }, () => Array.from({ length: 2 + rng.int(8) }, () => letters[rng.int(26)]).join(""));
  const lines: string[] = [];
  let length = 0;
  while (length < MiB) {
    const line = Array.from({ length: 4 + rng.int(12) }, () => words[rng.int(words.length)]).join(" ") + "\n";
    lines.push(line);
    length += line.length;
  }
  return Buffer.from(lines.join("")).subarray(0, MiB);
}

/** Text content: slices of the pool at random offsets, so it repeats at long range. */
function fillText(rng: Random, pool: Buffer, target: Buffer): number {
  let off = 0;
  while (off < target.length) {
    const n = Math.min(target.length - off, 256 + rng.int(16 << 10));
    const from = rng.int(pool.length - n);
    pool.copy(target, off, from, from + n);
    off += n;
  }
  return target.length;
}

function writeLayer(w: TarWriter, rng: Random, pool: Buffer, index: number, plan: LayerPlan, layerCount: number): number {
  let entries = 0;
  const dir = (name: string) => (w.header(name, "dir"), entries++);
  const content = (name: string, size: number, text: boolean) => {
    w.header(name, "file", size);
    w.produce(size, (target) => (text ? fillText(rng, pool, target) : rng.fill(target)));
    w.pad(size);
    entries++;
    return size;
  };
  for (const d of ["etc/", "opt/", "opt/app/", "usr/", "usr/share/"]) dir(d);

  // Small files, ~50 to a directory, half text (.txt) and half binary (.so).
  const base = `usr/share/l${index}/`;
  dir(base);
  let used = 0;
  for (let f = 0; f < plan.smallFiles; f++) {
    if (f % 50 === 0) dir(`${base}d${pad(f / 50, 3)}/`);
    const size = Math.floor(2 ** (rng.float() * 15)) - 1; // log-uniform, 0 B to 32 KiB
    // The first file of layer 0 is always text, so the last layer can white it out by a known name.
    const text = f === 0 || rng.int(2) === 0;
    used += content(`${base}d${pad(f / 50, 3)}/f${pad(f, 4)}.${text ? "txt" : "so"}`, size, text);
  }
  w.header(`${base}libbench.so`, "symlink", 0, "d000/f0000.txt");
  w.file(`etc/bench-layer${index}.conf`, Buffer.from(`layer=${index}\n`));
  entries += 2;

  // Large files of 1–64 MiB fill the rest of the budget, random or text.
  const big = `opt/app/l${index}/`;
  dir(big);
  for (let n = 0; used < plan.budget; n++) {
    const left = plan.budget - used;
    let size = Math.min(left, MiB + rng.int(63 * MiB));
    if (left - size < MiB) size = left;
    const text = rng.int(2) === 0;
    used += content(`${big}${text ? "data" : "blob"}${pad(n, 3)}.${text ? "log" : "bin"}`, size, text);
  }

  if (index === layerCount - 1) {
    // A whiteout, as real images have: deletes a file of the base layer.
    dir("usr/share/l0/");
    dir("usr/share/l0/d000/");
    w.file("usr/share/l0/d000/.wh.f0000.txt", new Uint8Array(0));
    entries++;
  }
  return entries;
}

function imageConfig(opts: { seed: number; size: number }, layers: Meta["layers"]) {
  return {
    architecture: "amd64",
    os: "linux",
    created: CREATED,
    config: {
      Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
      Cmd: ["/bin/sh"],
      Labels: { "bench.seed": String(opts.seed), "bench.size": String(opts.size) },
    },
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.tar.digest) },
    history: layers.map((_, i) => ({ created: CREATED, created_by: `bench generate layer ${i}` })),
  };
}

/** Classic docker save layout: <config>.json, <id>/layer.tar, manifest.json, repositories. */
function writeDockerArchive(path: string, configBytes: Buffer, config: Blob, layers: Meta["layers"], layerPath: (i: number) => string): number {
  const hex = (b: Blob) => b.digest.slice(7);
  const manifest = [{ Config: `${hex(config)}.json`, RepoTags: [DOCKER_TAG], Layers: layers.map((l) => `${hex(l.tar)}/layer.tar`) }];
  const [repo, tag] = DOCKER_TAG.split(":");
  const repositories = { [repo]: { [tag]: hex(layers[layers.length - 1].tar) } };
  const w = new TarWriter(path);
  w.file(`${hex(config)}.json`, configBytes);
  // Entries in name order, as `tar --sort=name` would give.
  const order = layers.map((l, i) => ({ l, i })).sort((a, b) => (hex(a.l.tar) < hex(b.l.tar) ? -1 : 1));
  for (const { l, i } of order) {
    w.header(`${hex(l.tar)}/`, "dir");
    w.fileFrom(`${hex(l.tar)}/layer.tar`, layerPath(i), l.tar.size);
  }
  w.file("manifest.json", Buffer.from(JSON.stringify(manifest)));
  w.file("repositories", Buffer.from(JSON.stringify(repositories)));
  w.close();
  return config.size + layers.reduce((s, l) => s + l.tar.size, 0);
}

const LAYER_TYPES = {
  tar: "application/vnd.oci.image.layer.v1.tar",
  gzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  zstd: "application/vnd.oci.image.layer.v1.tar+zstd",
};

/** OCI image layout as a tar: oci-layout, index.json, blobs/sha256/<hex>. */
function writeOciArchive(path: string, configBytes: Buffer, config: Blob, layers: Meta["layers"], kind: keyof typeof LAYER_TYPES, layerPath: (i: number) => string): number {
  const manifestBytes = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
    layers: layers.map((l) => ({ mediaType: LAYER_TYPES[kind], ...l[kind] })),
  }));
  const manifest = blobOf(manifestBytes);
  const index = {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [{
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      ...manifest,
      annotations: { "io.containerd.image.name": FULL_NAME, "org.opencontainers.image.ref.name": FULL_NAME },
    }],
  };
  const blobs: { hex: string; size: number; write: (name: string) => void }[] = [
    { hex: config.digest.slice(7), size: config.size, write: (n) => w.file(n, configBytes) },
    { hex: manifest.digest.slice(7), size: manifest.size, write: (n) => w.file(n, manifestBytes) },
    ...layers.map((l, i) => ({ hex: l[kind].digest.slice(7), size: l[kind].size, write: (n: string) => w.fileFrom(n, layerPath(i), l[kind].size) })),
  ];
  blobs.sort((a, b) => (a.hex < b.hex ? -1 : 1));
  const w = new TarWriter(path);
  w.header("blobs/", "dir");
  w.header("blobs/sha256/", "dir");
  for (const b of blobs) b.write(`blobs/sha256/${b.hex}`);
  w.file("index.json", Buffer.from(JSON.stringify(index)));
  w.file("oci-layout", Buffer.from(JSON.stringify({ imageLayoutVersion: "1.0.0" })));
  w.close();
  return blobs.reduce((s, b) => s + b.size, 0);
}

/** Runs a compressor from `input` into `output` (its stdout is the file), then hashes the result. */
async function compress(argv: string[], input: string, output: string): Promise<Blob> {
  const fd = openSync(output, "w");
  try {
    await new Promise<void>((done, fail) => {
      const child = spawn(argv[0], [...argv.slice(1), input], { stdio: ["ignore", fd, "inherit"] });
      child.on("error", fail);
      child.on("close", (code) => (code === 0 ? done() : fail(new Error(`${argv[0]} exited with ${code}`))));
    });
  } finally {
    closeSync(fd);
  }
  return { digest: await sha256File(output), size: statSync(output).size };
}

function blobOf(bytes: Uint8Array): Blob {
  return { digest: `sha256:${createHash("sha256").update(bytes).digest("hex")}`, size: bytes.length };
}

const pad = (n: number, width: number) => String(Math.floor(n)).padStart(width, "0");
const mb = (n: number) => (n / MiB).toFixed(1);

/** Streams a file through sha256. */
export function sha256File(path: string): Promise<string> {
  return new Promise((done, fail) => {
    const hash = createHash("sha256");
    createReadStream(path).on("data", (c) => hash.update(c)).on("error", fail).on("end", () => done(`sha256:${hash.digest("hex")}`));
  });
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const flag = (name: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const meta = await generate({
    seed: Number(flag("seed") ?? 1),
    size: parseSize(flag("size") ?? "500M"),
    cacheDir: flag("cache"),
    force: args.includes("--force"),
  });
  console.log(JSON.stringify({ archives: meta.archives, blobBytes: meta.blobBytes, config: meta.config.digest }, null, 2));
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((e) => {
    console.error(`generate: ${e instanceof Error ? e.message : e}`);
    process.exit(1);
  });
}
