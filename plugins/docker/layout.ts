// The OCI side of a hybrid archive (docker ≥25, containerd, bale): what
// index.json lists, which configs each entry holds, and under which names.
// Docker ≥25 saving by ID writes `"manifests": null`, so this side may be empty.
import type { ArchiveFiles, LoadContext } from "../../src/format.ts";
import type { Descriptor } from "../../src/oci.ts";

export interface LayoutImage {
  /** The index.json descriptor, without its naming annotations. */
  root: Descriptor;
  /** The manifests it holds (one, or an index's): how manifest.json entries find it. */
  manifests: { config: string; layers: string[] }[];
  /** Full names from the annotations. */
  names: string[];
  /** A ref.name that is only a tag ("latest"), which names no repository. */
  bareTag?: string;
  /** Every blob it reaches is in the archive (or the store), so it can be the root. */
  complete: boolean;
  /** A whole child of an incomplete index: only used to keep a manifest.json image's own manifest. */
  partial?: boolean;
}

const CONTAINERD_NAME = "io.containerd.image.name";
const REF_NAME = "org.opencontainers.image.ref.name";
const LEGACY_REF_NAME = "org.opencontainers.ref.name";

export async function readLayoutSide(files: ArchiveFiles, ctx: LoadContext): Promise<LayoutImage[]> {
  const index = ctx.parseIndex(await files.json("index.json"), "index.json", true);
  const images = new Map<string, LayoutImage>();
  for (const entry of index.manifests) {
    if (!isManifestType(entry.mediaType, ctx) && !isIndexType(entry.mediaType, ctx)) continue; // OCI: ignore unknown types
    let image = images.get(entry.digest);
    if (!image) {
      const { annotations: _, ...root } = entry;
      image = { root, ...(await reach(root, ctx)), names: [] };
      images.set(entry.digest, image);
    }
    const { name, bareTag } = entryName(entry, ctx);
    if (name && !image.names.includes(name)) image.names.push(name);
    if (bareTag && !name) image.bareTag ??= bareTag;
  }
  const all = [...images.values()];
  // A multi-platform index saved with only some platforms' blobs: its whole children can still
  // serve the manifest.json entries that name their configs.
  for (const image of all.filter((candidate) => !candidate.complete && isIndexType(candidate.root.mediaType, ctx))) {
    for (const child of await children(image.root, ctx)) {
      const reached = await reach(child, ctx);
      if (reached.complete) all.push({ root: child, ...reached, names: image.names, partial: true });
    }
  }
  return all;
}

/** Which manifests a descriptor holds, and whether all it reaches is present. */
async function reach(descriptor: Descriptor, ctx: LoadContext): Promise<Pick<LayoutImage, "manifests" | "complete">> {
  if (!(await ctx.hasBlob(descriptor.digest))) return { manifests: [], complete: false };
  const value = (await ctx.blobJson(descriptor.digest)) as { manifests?: unknown };
  if (Array.isArray(value?.manifests) || isIndexType(descriptor.mediaType, ctx)) {
    const manifests: LayoutImage["manifests"] = [];
    let complete = true;
    for (const child of await children(descriptor, ctx)) {
      const reached = await reach(child, ctx);
      manifests.push(...reached.manifests);
      complete &&= reached.complete;
    }
    return { manifests, complete };
  }
  const manifest = ctx.parseManifest(value, `index.json entry ${descriptor.digest}`);
  let complete = true;
  for (const blob of [manifest.config, ...manifest.layers]) complete &&= await ctx.hasBlob(blob.digest);
  return { manifests: [{ config: manifest.config.digest, layers: manifest.layers.map((layer) => layer.digest) }], complete };
}

async function children(descriptor: Descriptor, ctx: LoadContext): Promise<Descriptor[]> {
  const index = ctx.parseIndex(await ctx.blobJson(descriptor.digest), `index ${descriptor.digest}`);
  return index.manifests.filter((child) => isManifestType(child.mediaType, ctx) || isIndexType(child.mediaType, ctx));
}

function entryName(entry: Descriptor, ctx: LoadContext): { name?: string; bareTag?: string } {
  const annotations = entry.annotations ?? {};
  const refName = annotations[REF_NAME] ?? annotations[LEGACY_REF_NAME];
  const bareTag = refName !== undefined && ctx.reference.isBareTag(refName) ? refName : undefined;
  const name = annotations[CONTAINERD_NAME] ?? (bareTag ? undefined : refName);
  if (name === undefined) return { bareTag };
  try {
    ctx.reference.parseReference(name);
    return { name, bareTag };
  } catch (error) {
    ctx.warn(`index.json names image ${entry.digest} ${JSON.stringify(name)}, which is not an image name; ignoring that name (${(error as Error).message})`);
    return { bareTag };
  }
}

function isManifestType(mediaType: string, ctx: LoadContext): boolean {
  return mediaType === ctx.mediaTypes.ociManifest || mediaType === ctx.mediaTypes.dockerManifest;
}

function isIndexType(mediaType: string, ctx: LoadContext): boolean {
  return mediaType === ctx.mediaTypes.ociIndex || mediaType === ctx.mediaTypes.dockerManifestList;
}
