// Writing an OCI image layout: oci-layout, index.json with one descriptor per
// name, and every blob the images reach under blobs/<alg>/<hex>, each once.
import type { SaveContext, SaveImage } from "../../src/format.ts";
import type { Descriptor } from "../../src/oci.ts";
import { blobPath, walkImage } from "./graph.ts";
import { Annotation } from "./load.ts";

export async function saveLayout(images: SaveImage[], ctx: SaveContext): Promise<void> {
  const entries: Descriptor[] = [];
  const owners = new Map<string, SaveImage>();
  const written = new Set<string>();
  for (const original of images) {
    const image = ctx.options.compress ? { ...original, root: await writeRecompressed(original.root, ctx, written) } : original;
    const entry = indexEntry(image, ctx);
    const refName = entry.annotations?.[Annotation.refName];
    if (refName !== undefined) {
      const owner = owners.get(refName);
      if (owner && owner.root.digest !== image.root.digest) {
        throw new Error(`two images would be saved under the ref name ${JSON.stringify(refName)}: ${describe(owner, ctx)} and ${describe(image, ctx)}; give one another name with -r IMAGE=REFNAME`);
      }
      if (owner) continue;
      owners.set(refName, image);
    }
    entries.push(entry);
    if (!ctx.options.compress) await walkImage(image.root, ctx, (descriptor) => ctx.write(blobPath(descriptor.digest), descriptor), written);
  }
  // An image saved both by name and by ID needs no extra, nameless descriptor.
  const named = new Set(entries.filter((entry) => entry.annotations).map((entry) => entry.digest));
  const manifests = entries.filter((entry, i) => entry.annotations || (!named.has(entry.digest) && entries.findIndex((other) => other.digest === entry.digest) === i));
  ctx.write("oci-layout", '{"imageLayoutVersion":"1.0.0"}');
  ctx.write("index.json", ctx.canonicalJson({ schemaVersion: 2, mediaType: ctx.mediaTypes.ociIndex, manifests }));
}

/** Writes a manifest with its layers in the form --compress asks for; returns the manifest descriptor to list. */
async function writeRecompressed(root: Descriptor, ctx: SaveContext, written: Set<string>): Promise<Descriptor> {
  if (isImageIndex(root, ctx)) throw new Error("--compress cannot rewrite a multi-platform image's index; choose one platform with --platform");
  const { descriptor, bytes, config, layers } = await ctx.outputManifest(root);
  for (const blob of [descriptor, config, ...layers]) {
    if (written.has(blob.digest)) continue;
    written.add(blob.digest);
    ctx.write(blobPath(blob.digest), blob === descriptor && bytes ? bytes : blob);
  }
  return { ...root, ...descriptor };
}

function isImageIndex(root: Descriptor, ctx: SaveContext): boolean {
  return root.mediaType === ctx.mediaTypes.ociIndex || root.mediaType === ctx.mediaTypes.dockerManifestList;
}

/** The index.json descriptor: -r's REFNAME, else the full name (also for containerd), else no name (saved by ID). */
function indexEntry(image: SaveImage, ctx: SaveContext): Descriptor {
  const { annotations: _, ...root } = image.root;
  const annotations: Record<string, string> = {};
  if (image.refName !== undefined) {
    if (!ctx.reference.isValidRefName(image.refName)) {
      throw new Error(`-r ${image.refName}: not a valid OCI ref name (letters, digits and separators such as "hello", "v1.0", "example.com/app:1")`);
    }
    // A REFNAME that is a full reference is also a name containerd can import.
    if (isFullName(image.refName, ctx)) annotations[Annotation.containerdName] = image.refName;
    annotations[Annotation.refName] = image.refName;
  } else if (image.name !== undefined) {
    // Keys in Go's sorted-map order, so the bytes match what Go tools would write.
    annotations[Annotation.containerdName] = image.name;
    annotations[Annotation.refName] = image.name;
  }
  return Object.keys(annotations).length ? { ...root, annotations } : root;
}

function isFullName(refName: string, ctx: SaveContext): boolean {
  try {
    return ctx.reference.normalizeName(refName) === refName;
  } catch {
    return false;
  }
}

function describe(image: SaveImage, ctx: SaveContext): string {
  return image.name ? ctx.reference.familiarName(image.name) : `image ${image.root.digest}`;
}
