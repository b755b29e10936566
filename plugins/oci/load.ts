// Reading an OCI image layout: index.json's descriptors become images, named
// by their annotations. Blobs are found by digest (the core hashed every
// member), never by member name; paths only improve the error messages.
import type { ArchiveFiles, LoadContext, LoadedImage } from "../../src/format.ts";
import type { Descriptor } from "../../src/oci.ts";
import { blobPath, isImageType, walkImage } from "./graph.ts";

export const Annotation = {
  refName: "org.opencontainers.image.ref.name",
  /** The pre-1.0 key (image-spec rc releases) that hyperd wrote. */
  legacyRefName: "org.opencontainers.ref.name",
  containerdName: "io.containerd.image.name",
} as const;

export async function loadLayout(files: ArchiveFiles, ctx: LoadContext): Promise<LoadedImage[]> {
  await checkLayoutFile(files);
  const index = ctx.parseIndex(await files.json("index.json"), "index.json");
  const images: LoadedImage[] = [];
  const ignored = new Set<string>();
  const checked = new Set<string>();
  for (const entry of index.manifests) {
    if (!isImageType(entry.mediaType, ctx)) {
      ignored.add(entry.mediaType);
      continue;
    }
    const image = loadedImage(entry, ctx);
    await checkBlobs(entry, image.refName ?? image.name, files, ctx, checked);
    images.push(image);
  }
  if (images.length === 0) {
    const only = ignored.size ? ` (only ${[...ignored].join(", ")}, which bale does not load)` : "";
    throw new Error(`index.json lists no image manifests or indexes${only}`);
  }
  return images;
}

async function checkLayoutFile(files: ArchiveFiles): Promise<void> {
  if (!files.has("oci-layout")) throw new Error("not an OCI image layout: the archive has no oci-layout file");
  const layout = (await files.json("oci-layout")) as { imageLayoutVersion?: unknown } | null;
  const version = layout?.imageLayoutVersion;
  if (typeof version !== "string") throw new Error("oci-layout has no imageLayoutVersion");
  // Minor versions only add; a new major version could change where things are.
  if (!/^1\./.test(version)) throw new Error(`oci-layout: imageLayoutVersion ${JSON.stringify(version)} is not supported (want 1.x)`);
}

/** The descriptor as a root (annotations are names, kept apart), with the name the core stores it under. */
function loadedImage(entry: Descriptor, ctx: LoadContext): LoadedImage {
  const { annotations = {}, ...root } = entry;
  const refName = annotations[Annotation.refName] ?? annotations[Annotation.legacyRefName];
  const name = imageName(annotations[Annotation.containerdName], ctx) ?? imageName(refName, ctx);
  const image: LoadedImage = { root };
  if (name !== undefined) image.name = name;
  if (refName !== undefined) image.refName = refName;
  return image;
}

/** A ref name is a usable image name unless it is a bare tag ("1", "latest", "hello") or no reference at all. */
function imageName(value: string | undefined, ctx: LoadContext): string | undefined {
  if (!value || ctx.reference.isBareTag(value)) return undefined;
  try {
    ctx.reference.normalizeName(value);
    return value;
  } catch (error) {
    // OCI ref names are looser than image names ("Foo/Bar", "a+b"): load untagged rather than fail.
    ctx.warn(`index.json names an image ${JSON.stringify(value)}, which is not a valid image name (${(error as Error).message}); it is loaded untagged unless -r names it`);
    return undefined;
  }
}

/** Fails on the first blob the image needs that the archive lacks, naming the ref and what its path holds instead. */
async function checkBlobs(root: Descriptor, label: string | undefined, files: ArchiveFiles, ctx: LoadContext, checked: Set<string>) {
  const where = label === undefined ? `image ${root.digest}` : JSON.stringify(label);
  await walkImage(root, ctx, async (descriptor, what) => {
    if (await ctx.hasBlob(descriptor.digest)) return;
    const path = blobPath(descriptor.digest);
    const member = files.get(path);
    if (member && descriptor.digest.startsWith("sha256:")) {
      throw new Error(`${where}: ${path} holds ${member.digest}, not ${descriptor.digest} (the blob is damaged or was altered)`);
    }
    throw new Error(`${where}: ${what} ${descriptor.digest} is missing from the archive (no ${path})`);
  }, checked);
}
