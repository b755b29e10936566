// bale load: stream the archive into the store, let the format say which
// images it holds, verify everything they reach, then name them in one
// atomic index update. A failed load leaves index.json untouched.
import * as fs from "node:fs/promises";
import { createReadStream } from "node:fs";
import { Archive, readArchiveDirectory, readArchiveStream, readWholeArchive, WHOLE_ARCHIVE } from "./archive.ts";
import { sniffCompression, type ByteStream } from "./compress.ts";
import { sha256 } from "./digest.ts";
import { BaleError } from "./errors.ts";
import type { LoadContext, LoadedImage } from "./format.ts";
import { makeHelpers } from "./helpers.ts";
import { assignNames } from "./images.ts";
import { checkedDiffId } from "./import.ts";
import { canonicalJson, isIndexType, parseIndex, platformChild, type Descriptor, type Platform } from "./oci.ts";
import { familiarName, normalizeName } from "./reference.ts";
import type { Registry } from "./registry.ts";
import { parseJson, type Store } from "./store.ts";
import { verifyGraph } from "./verify.ts";
import type { Progress } from "./progress.ts";

export interface LoadOptions {
  /** A file, a layout directory, or "-"/undefined for stdin. */
  input?: string;
  format?: string;
  /** -r IMAGE=REFNAME pairs: the archive's REFNAME is stored as IMAGE. */
  renames: [image: string, refName: string][];
  platform?: Platform;
  progress?: Progress;
  warn: (message: string) => void;
}

export interface LoadedResult {
  id: string;
  root: Descriptor;
  names: string[];
  /** Names the archive gave that bale could not use as image names (bare tags). */
  unnamedRefs: string[];
}

export async function loadArchive(store: Store, registry: Registry, options: LoadOptions): Promise<{ images: LoadedResult[]; moved: string[] }> {
  const lease = await store.lease();
  try {
    const archive = new Archive(store, lease);
    const chosen = options.format ? registry.get(options.format) : undefined;
    await readInput(options, archive, chosen?.wholeArchive === true);

    const format = chosen ?? (await detectFormat(registry, archive));
    const ctx = loadContext(store, archive, options);
    let offered: LoadedImage[];
    try {
      offered = await format.load(archive, ctx);
    } catch (error) {
      if (error instanceof BaleError) throw error;
      throw new BaleError(`${format.name} format: ${(error as Error).message}`);
    }
    if (offered.length === 0) throw new BaleError("the archive holds no images");

    const images = await nameImages(offered, options, ctx);
    for (const image of images) {
      const where = image.names[0] ? familiarName(image.names[0]) : `image ${image.root.digest}`;
      image.reached = await verifyGraph(archive, image.root, where, { verifyDiffIds: image.verifyDiffIds });
      image.id = await imageId(archive, image.root);
    }

    // Only now do the small blobs the images need go into the store.
    for (const image of images) {
      for (const digest of image.reached!) {
        const bytes = archive.memory.get(digest);
        if (bytes && (await store.blobSize(digest)) === undefined) await store.putBytes(bytes, { digest }, lease);
      }
    }
    const moved = await store.updateIndex(async (index) => {
      const lines: string[] = [];
      for (const image of images) {
        for (const digest of image.reached!) {
          if ((await store.blobSize(digest)) !== undefined) continue;
          // A prune that read the leases just before this load added its own can still
          // have removed a blob; what the archive gave in memory can be put back.
          const bytes = archive.memory.get(digest);
          if (bytes) await store.putBytes(bytes, { digest }, lease);
          else {
            throw new BaleError(`blob ${digest} vanished from the store during the load (a concurrent prune?); run the load again`);
          }
        }
        lines.push(...assignNames(index, image.root, image.names));
      }
      return lines;
    });
    return {
      images: images.map(({ id, root, names, unnamedRefs }) => ({ id: id!, root, names, unnamedRefs })),
      moved,
    };
  } finally {
    await lease.release();
  }
}

/** Reads the input into the archive: member by member, or (wholeArchive formats) as one raw blob. */
async function readInput(options: LoadOptions, archive: Archive, whole: boolean) {
  const { input, progress } = options;
  const onBytes = progress ? (count: number) => progress.advance(count) : undefined;
  const read = whole ? readWholeArchive : readArchiveStream;
  if (!input || input === "-") {
    if (process.stdin.isTTY) throw new BaleError("no archive given: use -i FILE or pipe one to stdin", 2);
    return read(process.stdin as unknown as ByteStream, archive, onBytes);
  }
  const stat = await fs.stat(input).catch(() => {
    throw new BaleError(`cannot read ${input}: no such file or directory`);
  });
  if (stat.isDirectory()) {
    if (whole) throw new BaleError(`${input} is a directory; the ${options.format} format reads one archive file`);
    return readArchiveDirectory(input, archive);
  }
  progress?.start(`Loading ${input}`, stat.size);
  await read(createReadStream(input, { highWaterMark: 1024 * 1024 }), archive, onBytes);
  progress?.done();
}

async function detectFormat(registry: Registry, archive: Archive) {
  for (const { format } of registry.formats) {
    // A wholeArchive format is used only when chosen with -f: it would see members it does not read.
    if (format.wholeArchive) continue;
    if (await format.detect(archive)) return format;
  }
  throw new BaleError(`not an image archive: no format recognises it (no index.json/oci-layout or manifest.json; formats: ${registry.names().join(", ")})`);
}

function loadContext(store: Store, archive: Archive, options: LoadOptions): LoadContext {
  return {
    ...makeHelpers(options.warn),
    platform: options.platform,
    blobJson: async (digest) => {
      if ((await archive.size(digest)) === undefined) throw new BaleError(`blob ${digest} is missing from the archive`);
      return parseJson(await archive.bytes(digest), `blob ${digest}`);
    },
    hasBlob: async (digest) => (await archive.size(digest)) !== undefined,
    putJson: async (value, mediaType) => {
      const bytes = canonicalJson(value);
      const digest = await sha256(bytes);
      archive.remember(digest, bytes);
      return { mediaType, digest, size: bytes.length };
    },
    compression: async (digest) => sniffCompression(await archive.head(digest, 6)),
    uncompressedDigest: async (digest) => {
      if ((await archive.size(digest)) === undefined) throw new BaleError(`blob ${digest} is missing from the archive`);
      const input = !options.input || options.input === "-" ? "stdin" : options.input;
      const what = archive.get(WHOLE_ARCHIVE)?.digest === digest ? input : `blob ${digest}`;
      const blob = (async function* () {
        yield* archive.open(digest);
      })();
      return checkedDiffId(blob, sniffCompression(await archive.head(digest, 6)), what);
    },
  };
}

interface Pending {
  root: Descriptor;
  names: string[];
  unnamedRefs: string[];
  verifyDiffIds: boolean;
  reached?: Set<string>;
  id?: string;
}

/** Applies -r and the archive's names; groups the offered names by image. */
async function nameImages(offered: LoadedImage[], options: LoadOptions, ctx: LoadContext): Promise<Pending[]> {
  const unused = new Set(options.renames.map(([, refName]) => refName));
  const byDigest = new Map<string, Pending>();
  for (const item of offered) {
    const root = await selectPlatform(item.root, options.platform, ctx);
    let pending = byDigest.get(root.digest);
    if (!pending) {
      pending = { root, names: [], unnamedRefs: [], verifyDiffIds: false };
      byDigest.set(root.digest, pending);
    }
    pending.verifyDiffIds ||= item.verifyDiffIds === true;
    const rename = options.renames.find(([, refName]) => sameName(refName, item.refName ?? item.name));
    let name = rename?.[0] ?? item.name;
    if (rename) unused.delete(rename[1]);
    if (name) {
      try {
        name = normalizeName(name);
      } catch (error) {
        throw new BaleError(`the archive names an image ${JSON.stringify(name)}, which is not a valid image name: ${(error as Error).message}`);
      }
      if (!pending.names.includes(name)) pending.names.push(name);
    } else if (item.refName) pending.unnamedRefs.push(item.refName);
  }
  if (unused.size > 0) {
    const known = offered.map((item) => item.refName ?? item.name).filter(Boolean);
    throw new BaleError(`no image named ${[...unused].join(", ")} in the archive (it has: ${known.join(", ") || "only untagged images"}); nothing was loaded`);
  }
  return [...byDigest.values()];
}

/** The archive's name matches REFNAME literally, or both mean the same reference. */
function sameName(refName: string, archiveName: string | undefined): boolean {
  if (!archiveName) return false;
  if (refName === archiveName) return true;
  try {
    return normalizeName(refName) === normalizeName(archiveName);
  } catch {
    return false;
  }
}

async function selectPlatform(root: Descriptor, platform: Platform | undefined, ctx: LoadContext): Promise<Descriptor> {
  if (!platform || !isIndexType(root.mediaType)) return root;
  return platformChild(parseIndex(await ctx.blobJson(root.digest), `index ${root.digest}`), root.digest, platform);
}

async function imageId(archive: Archive, root: Descriptor): Promise<string> {
  const value = JSON.parse(new TextDecoder().decode(await archive.bytes(root.digest)));
  return Array.isArray(value.manifests) ? root.digest : value.config.digest;
}

