// bale save: resolve the images, let the format lay out its archive through
// ctx.write, then stream the members, sorted, into a tar (or a directory).
// A wholeArchive format instead writes its tar entry by entry (ctx.writeEntry).
import { createWriteStream } from "node:fs";
import * as fs from "node:fs/promises";
import { dirname, join } from "node:path";
import { decompress } from "./compress.ts";
import { BaleError } from "./errors.ts";
import type { LayerEntry, SaveContext, SaveImage, SaveOptions } from "./format.ts";
import { makeHelpers } from "./helpers.ts";
import { discardUnneeded, listImages, resolveImage } from "./images.ts";
import { outputManifest, storedLayerCompression } from "./output-layers.ts";
import { hostPlatform, isIndexType, parseIndex, platformChild, type Descriptor, type Platform } from "./oci.ts";
import type { Progress } from "./progress.ts";
import type { Registry } from "./registry.ts";
import type { Lease, Store } from "./store.ts";
import { memberName, readTar, writeTar, type TarOutEntry } from "./tar.ts";
import { openWholeOutput, type WholeOutput } from "./whole-output.ts";

export interface SaveRequestOptions extends SaveOptions {
  format: string;
  /** A file, a directory (existing, or ending in "/"), or "-"/undefined for stdout. */
  output?: string;
  /** -r IMAGE=REFNAME pairs: IMAGE is written under REFNAME. */
  renames: [image: string, refName: string][];
  progress?: Progress;
  warn: (message: string) => void;
}

type Member = Descriptor | Uint8Array;

export async function saveImages(store: Store, registry: Registry, queries: string[], options: SaveRequestOptions): Promise<void> {
  if (queries.length === 0) throw new BaleError("save needs at least one image", 2);
  const format = registry.get(options.format);
  const lease = await store.lease();
  // Layers --compress converted: stored only while this save needs them.
  const converted = new Set<string>();
  try {
    const images = await resolveRequests(store, queries, options);
    const members = new Map<string, Member>();
    const whole = format.wholeArchive ? await openWholeOutput(options.output, format.name) : undefined;
    const ctx = saveContext(store, lease, members, options, converted, whole);
    try {
      await format.save(images, ctx);
    } catch (error) {
      await whole?.abort();
      if (error instanceof BaleError) throw error;
      throw new BaleError(`${format.name} format: ${(error as Error).message}`);
    }
    if (whole) return await whole.finish();
    const entries = await tarEntries(store, lease, members);
    await writeOutput(entries, options.output);
  } finally {
    await lease.release();
    await discardUnneeded(store, converted);
  }
}

async function resolveRequests(store: Store, queries: string[], options: SaveRequestOptions): Promise<SaveImage[]> {
  const images = listImages(await store.readIndex());
  const requests: (SaveImage & { query: string })[] = [];
  for (const query of queries) {
    const { image, name } = await resolveImage(store, images, query);
    const root = options.platform ? await platformManifest(store, image.root, options.platform, true) : image.root;
    requests.push({ query, root, name });
  }
  for (const [image, refName] of options.renames) {
    const target = await resolveImage(store, images, image).catch(() => undefined);
    const request = requests.find((candidate) => candidate.query === image)
      ?? requests.find((candidate) => target && candidate.name === target.name && candidate.root.digest === target.image.root.digest);
    if (!request) throw new BaleError(`-r ${image}=${refName}: ${image} is not one of the images being saved`, 2);
    request.refName = refName;
  }
  return requests.map(({ query: _, ...request }) => request);
}

/** The child of an index for `platform`; anything else is returned as it is. */
async function platformManifest(store: Store, root: Descriptor, platform: Platform, chosen: boolean): Promise<Descriptor> {
  if (!isIndexType(root.mediaType)) return root;
  const index = parseIndex(await store.readJsonBlob(root.digest), `index ${root.digest}`);
  return platformChild(index, root.digest, platform, chosen ? "" : "; choose one with --platform");
}

function saveContext(store: Store, lease: Lease, members: Map<string, Member>, options: SaveRequestOptions, created: Set<string>, whole?: WholeOutput): SaveContext {
  return {
    ...makeHelpers(options.warn),
    options: { platform: options.platform, compress: options.compress },
    write(path, content) {
      if (whole) throw new BaleError(`the ${options.format} format writes its archive with ctx.writeEntry (it is a wholeArchive format), not ctx.write`);
      const name = memberName(path);
      const member = typeof content === "string" ? new TextEncoder().encode(content) : content;
      const earlier = members.get(name);
      if (earlier && !sameMember(earlier, member)) throw new BaleError(`two different members would be written as ${name}`);
      members.set(name, member);
    },
    blobJson: (digest) => store.readJsonBlob(digest),
    singleManifest: (root) => platformManifest(store, root, options.platform ?? hostPlatform(), Boolean(options.platform)),
    outputManifest: (manifest) => outputManifest(store, lease, manifest, options.compress, created),
    layerEntries: (layer) => layerEntries(store, lease, layer),
    async writeEntry(entry, body) {
      if (!whole) throw new BaleError(`ctx.writeEntry is for formats with wholeArchive: true; the ${options.format} format writes members with ctx.write`);
      await whole.writeEntry(entry, body);
    },
  };
}

/** A stored layer's members, decompressed and parsed with the core's tar reader and name rules. */
async function* layerEntries(store: Store, lease: Lease, layer: Descriptor): AsyncGenerator<LayerEntry> {
  await lease.add(layer.digest);
  if ((await store.blobSize(layer.digest)) === undefined) throw new BaleError(`layer ${layer.digest} is missing from the store; run bale verify`);
  const compression = await storedLayerCompression(store, layer);
  const blob = store.openBlob(layer.digest);
  try {
    for await (const member of readTar(compression ? decompress(blob, compression) : blob)) {
      if (member.name === "") continue; // the layer's root, "./"
      const { name, type, size, body } = member;
      const linkname = type === "hardlink" ? memberName(member.linkname ?? "") : member.linkname;
      const { mode = 0, uid = 0, gid = 0, uname = "", gname = "", mtime = new Date(0) } = member;
      // Permission bits only: some writers (Go's archive/tar) add the file type's bits too.
      yield { name, type, size, mode: mode & 0o7777, uid, gid, uname, gname, mtime, linkname, body: body as AsyncIterable<Uint8Array> };
    }
  } catch (error) {
    if (error instanceof BaleError) throw new BaleError(`layer ${layer.digest}: ${error.message}`);
    throw error;
  }
}

function sameMember(a: Member, b: Member): boolean {
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return a instanceof Uint8Array && b instanceof Uint8Array && a.length === b.length && a.every((byte, i) => byte === b[i]);
  }
  return a.digest === b.digest;
}

/** Sorted members with their parent directories, each blob checked against its descriptor. */
async function tarEntries(store: Store, lease: Lease, members: Map<string, Member>): Promise<TarOutEntry[]> {
  const entries: TarOutEntry[] = [];
  const directories = new Set<string>();
  for (const name of members.keys()) {
    const parts = name.split("/");
    for (let i = 1; i < parts.length; i++) directories.add(parts.slice(0, i).join("/"));
  }
  for (const name of directories) entries.push({ name, type: "directory", size: 0 });
  for (const [name, member] of members) {
    if (member instanceof Uint8Array) {
      entries.push({ name, size: member.length, open: () => member });
      continue;
    }
    await lease.add(member.digest);
    const size = await store.blobSize(member.digest);
    if (size === undefined) throw new BaleError(`blob ${member.digest} (for ${name}) is missing from the store; run bale verify`);
    if (size !== member.size) throw new BaleError(`blob ${member.digest} is ${size} bytes in the store, but its descriptor says ${member.size}`);
    entries.push({ name, size, open: () => store.openBlob(member.digest) });
  }
  return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

async function writeOutput(entries: TarOutEntry[], output: string | undefined): Promise<void> {
  if (!output || output === "-") {
    if (process.stdout.isTTY) throw new BaleError("refusing to write an archive to a terminal: use -o FILE or redirect stdout", 2);
    return writeTar(entries, process.stdout);
  }
  const stat = await fs.stat(output).catch(() => undefined);
  if (output.endsWith("/") || stat?.isDirectory()) return writeDirectory(entries, output);
  // Written aside and renamed, so that a failed save leaves no half archive.
  const temp = join(dirname(output), `.${Date.now()}-${process.pid}.bale-tmp`);
  try {
    await writeTar(entries, createWriteStream(temp));
    await fs.rename(temp, output);
  } catch (error) {
    await fs.rm(temp, { force: true });
    if ((error as NodeJS.ErrnoException).code) throw new BaleError(`cannot write ${output}: ${(error as Error).message}`);
    throw error;
  }
}

/** An unpacked layout, as skopeo's oci:DIR writes it. */
async function writeDirectory(entries: TarOutEntry[], dir: string): Promise<void> {
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.type === "directory") {
      await fs.mkdir(path, { recursive: true });
      continue;
    }
    await fs.mkdir(dirname(path), { recursive: true });
    const content = entry.open!();
    await fs.writeFile(path, content instanceof Uint8Array ? content : (content as AsyncIterable<Uint8Array>));
  }
}
