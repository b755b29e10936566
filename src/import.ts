// bale import: a one-layer image from a root filesystem tarball, as docker import.
import { createReadStream } from "node:fs";
import * as fs from "node:fs/promises";
import { peek, sniffCompression, decompress, type ByteStream } from "./compress.ts";
import { createHasher } from "./digest.ts";
import { BaleError } from "./errors.ts";
import { assignNames, discardUnneeded } from "./images.ts";
import { canonicalJson, hostPlatform, MediaType, type Platform } from "./oci.ts";
import type { Progress } from "./progress.ts";
import { normalizeName } from "./reference.ts";
import type { Store } from "./store.ts";
import { readTar } from "./tar.ts";

const LAYER_TYPES = { gzip: MediaType.ociLayerGzip, zstd: MediaType.ociLayerZstd } as Record<string, string>;

export async function importRootfs(store: Store, source: string, name: string | undefined, options: { platform?: Platform; progress: Progress }) {
  const fullName = name ? normalizeName(name) : undefined;
  // A damaged index.json fails the import before anything is written.
  await store.readIndex();
  const lease = await store.lease();
  try {
    let input: ByteStream;
    if (source === "-") input = process.stdin as unknown as ByteStream;
    else {
      const stat = await fs.stat(source).catch(() => undefined);
      if (!stat?.isFile()) throw new BaleError(`cannot read ${source}: no such file`);
      options.progress.start(`Importing ${source}`, stat.size);
      input = createReadStream(source, { highWaterMark: 1024 * 1024 });
    }
    const { head, stream } = await peek(input, 6);
    const compression = sniffCompression(head);
    if (compression && !LAYER_TYPES[compression]) throw new BaleError(`${source}: ${compression} layers are not supported; use gzip, zstd or none`);
    // The layer is kept as given; its diff_id comes from a second, checking pass over the stored blob.
    const layer = await store.ingest(stream, { what: source }, (count) => options.progress.advance(count), lease);
    options.progress.done();
    const diffId = await checkedDiffId(store.openBlob(layer.digest), compression, source).catch(async (error) => {
      await lease.release();
      await discardUnneeded(store, [layer.digest]).catch(() => {});
      throw error;
    });

    const platform = options.platform ?? hostPlatform();
    const created = new Date().toISOString();
    const config = {
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      created,
      config: {},
      rootfs: { type: "layers", diff_ids: [diffId] },
      history: [{ created, created_by: `bale import ${source === "-" ? "-" : "rootfs"}` }],
    };
    const configBytes = canonicalJson(config);
    const configBlob = await store.putBytes(configBytes, {}, lease);
    const manifest = {
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, ...configBlob },
      layers: [{ mediaType: compression ? LAYER_TYPES[compression] : MediaType.ociLayer, ...layer }],
    };
    const manifestBlob = await store.putBytes(canonicalJson(manifest), {}, lease);
    const root = { mediaType: MediaType.ociManifest, ...manifestBlob };
    const moved = await store.updateIndex((index) => assignNames(index, root, fullName ? [fullName] : []));
    return { id: configBlob.digest, moved };
  } finally {
    await lease.release();
  }
}

/** Hashes the uncompressed layer while checking that it is a tar archive. */
export async function checkedDiffId(blob: AsyncIterable<Uint8Array>, compression: string | null, source: string): Promise<string> {
  const hasher = await createHasher();
  const plain = (compression ? decompress(blob, compression as "gzip") : blob)[Symbol.asyncIterator]();
  const next = async () => {
    const result = await plain.next();
    if (!result.done) hasher.update(result.value);
    return result;
  };
  // The tar reader may stop at the end-of-archive marker; `return` is not passed on,
  // so that the padding after it is still hashed below.
  const feed: ByteStream = { [Symbol.asyncIterator]: () => ({ next, return: async () => ({ done: true, value: undefined }) }) };
  try {
    for await (const _ of readTar(feed)) {
      // Reading the headers is the check; bodies are skipped.
    }
  } catch (error) {
    throw new BaleError(`${source} is not a root filesystem tarball: ${(error as Error).message}`);
  }
  while (!(await next()).done);
  return hasher.digest();
}
