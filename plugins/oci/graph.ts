// Walks an image graph (index → manifests → config + layers) through ctx, so
// that save knows which blobs to write and load can name a missing blob's ref.
import type { Helpers } from "../../src/format.ts";
import type { Descriptor } from "../../src/oci.ts";

type GraphContext = Pick<Helpers, "mediaTypes" | "parseIndex" | "parseManifest"> & {
  blobJson(digest: string): Promise<unknown>;
};

/** Whether a descriptor points at something bale treats as an image (OCI: ignore unknown types). */
export function isImageType(mediaType: string, ctx: Pick<Helpers, "mediaTypes">): boolean {
  const { ociManifest, ociIndex, dockerManifest, dockerManifestList } = ctx.mediaTypes;
  return [ociManifest, ociIndex, dockerManifest, dockerManifestList].includes(mediaType as never);
}

/** Where a blob sits in an OCI layout; digests were checked by the parsers before they get here. */
export function blobPath(digest: string): string {
  const [algorithm, hex] = digest.split(":");
  return `blobs/${algorithm}/${hex}`;
}

/**
 * Calls `visit` on the root and on every descriptor it reaches, each digest once,
 * before reading it, so a visitor can refuse a missing blob before it is opened.
 */
export async function walkImage(
  root: Descriptor,
  ctx: GraphContext,
  visit: (descriptor: Descriptor, what: string) => void | Promise<void>,
  seen = new Set<string>(),
): Promise<void> {
  const step = async (descriptor: Descriptor, what: string, image: boolean): Promise<void> => {
    if (seen.has(descriptor.digest)) return;
    seen.add(descriptor.digest);
    await visit(descriptor, what);
    if (!image) return;
    const value = await ctx.blobJson(descriptor.digest);
    const where = `${what} ${descriptor.digest}`;
    // Decided by content: index.json descriptors may misstate the type (ggcr's test_index does).
    if (Array.isArray((value as { manifests?: unknown })?.manifests)) {
      for (const child of ctx.parseIndex(value, where).manifests) {
        if (isImageType(child.mediaType, ctx)) await step(child, kindOf(child, ctx), true);
      }
      return;
    }
    const manifest = ctx.parseManifest(value, where);
    await step(manifest.config, "config", false);
    for (const [i, layer] of manifest.layers.entries()) await step(layer, `layer ${i + 1}`, false);
  };
  await step(root, kindOf(root, ctx), true);
}

function kindOf(descriptor: Descriptor, ctx: Pick<Helpers, "mediaTypes">): string {
  const { ociIndex, dockerManifestList } = ctx.mediaTypes;
  return descriptor.mediaType === ociIndex || descriptor.mediaType === dockerManifestList ? "index" : "manifest";
}
