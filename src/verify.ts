// Checks an image graph against the blobs that hold it: every descriptor's
// blob present with its size and digest, configs whose diff_ids match the layers.
import { decompress, sniffCompression, type ByteStream } from "./compress.ts";
import { createHasher } from "./digest.ts";
import { BaleError } from "./errors.ts";
import { isIndexType, isManifestType, parseConfig, parseIndex, parseManifest, type Descriptor } from "./oci.ts";
import { parseJson } from "./store.ts";

export interface BlobReader {
  size(digest: string): Promise<number | undefined>;
  bytes(digest: string): Promise<Uint8Array>;
  head(digest: string, count: number): Promise<Uint8Array>;
  open(digest: string): ByteStream;
}

export interface GraphOptions {
  /** Also decompress compressed layers to check them against diff_ids. */
  verifyDiffIds?: boolean;
}

/** Returns every digest the root reaches; throws on the first problem, naming it. */
export async function verifyGraph(blobs: BlobReader, root: Descriptor, where: string, options: GraphOptions = {}): Promise<Set<string>> {
  const reached = new Set<string>();

  const present = async (descriptor: Descriptor, what: string) => {
    const size = await blobs.size(descriptor.digest);
    if (size === undefined) throw new BaleError(`${what} ${descriptor.digest} is missing from the archive`);
    if (size !== descriptor.size) {
      throw new BaleError(`${what} ${descriptor.digest} is ${size} bytes, but its descriptor says ${descriptor.size}`);
    }
    reached.add(descriptor.digest);
  };

  const visit = async (descriptor: Descriptor, what: string): Promise<void> => {
    await present(descriptor, what);
    const value = parseJson(await blobs.bytes(descriptor.digest), `${what} ${descriptor.digest}`) as Record<string, unknown>;
    if (Array.isArray(value?.manifests) || isIndexType(descriptor.mediaType)) {
      const index = parseIndex(value, `${what} ${descriptor.digest}`);
      for (const child of index.manifests) {
        // OCI: unknown media types must be ignored, not fail the load.
        if (isIndexType(child.mediaType) || isManifestType(child.mediaType)) {
          await visit(child, `${where} (${child.platform?.architecture ?? "manifest"})`);
        }
      }
      return;
    }
    const manifest = parseManifest(value, `${what} ${descriptor.digest}`);
    await present(manifest.config, `${where}: config`);
    const config = parseConfig(parseJson(await blobs.bytes(manifest.config.digest), `${where}: config`), `${where}: config`);
    const diffIds = config.rootfs.diff_ids;
    if (diffIds.length !== manifest.layers.length) {
      throw new BaleError(`${where}: the manifest has ${manifest.layers.length} layers, but the config lists ${diffIds.length} diff_ids`);
    }
    for (const [i, layer] of manifest.layers.entries()) {
      await present(layer, `${where}: layer ${i + 1}`);
      const compression = sniffCompression(await blobs.head(layer.digest, 6));
      if (!compression || options.verifyDiffIds) {
        const diffId = compression ? await digestOf(decompress(blobs.open(layer.digest), compression)) : layer.digest;
        if (diffId !== diffIds[i]) {
          throw new BaleError(`${where}: layer ${i + 1} unpacks to ${diffId}, but the config's diff_ids[${i}] is ${diffIds[i]}`);
        }
      }
    }
  };

  await visit(root, where);
  return reached;
}

async function digestOf(stream: ByteStream): Promise<string> {
  const hasher = await createHasher();
  for await (const chunk of stream) hasher.update(chunk);
  return hasher.digest();
}
