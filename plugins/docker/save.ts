// Save: a hybrid archive, as docker ≥25 and containerd write it. The OCI
// layout (oci-layout, index.json, blobs/sha256/) serves OCI tools and docker
// ≥25; manifest.json and repositories serve docker ≤24, podman and skopeo.
// Both sides point at the same blobs, so each is written once.
import type { SaveContext, SaveImage } from "../../src/format.ts";
import type { Descriptor } from "../../src/oci.ts";

const CONTAINERD_NAME = "io.containerd.image.name";
const REF_NAME = "org.opencontainers.image.ref.name";

/** One image (one manifest) and every name it is saved under. */
interface Saved {
  manifest: Descriptor;
  config: Descriptor;
  layers: Descriptor[];
  /** Full names (docker.io/library/busybox:latest). */
  names: string[];
}

export async function saveDockerArchive(images: SaveImage[], ctx: SaveContext): Promise<void> {
  // Keyed by the manifest written: two stored manifests may become one when their layers are recompressed.
  const saved = new Map<string, Saved>();
  const written = new Map<string, Omit<Saved, "names">>();
  for (const image of images) {
    // Checked first, so that a bad -r fails before any layer is decompressed.
    const name = fullName(image, ctx);
    const source = await ctx.singleManifest(image.root);
    let blobs = written.get(source.digest);
    if (!blobs) {
      blobs = await writeImage(source, ctx);
      written.set(source.digest, blobs);
    }
    let entry = saved.get(blobs.manifest.digest);
    if (!entry) {
      entry = { ...blobs, names: [] };
      saved.set(blobs.manifest.digest, entry);
    }
    if (name && !entry.names.includes(name)) entry.names.push(name);
  }
  const all = [...saved.values()];
  ctx.write("oci-layout", ctx.canonicalJson({ imageLayoutVersion: "1.0.0" }));
  ctx.write("index.json", ctx.canonicalJson({ schemaVersion: 2, mediaType: ctx.mediaTypes.ociIndex, manifests: all.flatMap((entry) => indexEntries(entry, ctx)) }));
  ctx.write("manifest.json", ctx.canonicalJson(all.map((entry) => ({
    Config: blobPath(entry.config),
    RepoTags: entry.names.map((name) => ctx.reference.familiarName(name)),
    Layers: entry.layers.map(blobPath),
  }))));
  const repositories = await legacyRepositories(all, ctx);
  if (Object.keys(repositories).length > 0) ctx.write("repositories", ctx.canonicalJson(repositories));
}

/** Writes an image's blobs; returns the manifest as written (rewritten when --compress changes its layers). */
async function writeImage(source: Descriptor, ctx: SaveContext): Promise<Omit<Saved, "names">> {
  const { descriptor, bytes, config, layers } = await ctx.outputManifest(source);
  ctx.write(blobPath(descriptor), bytes ?? descriptor);
  ctx.write(blobPath(config), config);
  for (const layer of layers) ctx.write(blobPath(layer), layer);
  return { manifest: descriptor, config, layers };
}

/** The name to save under: -r REFNAME (which must be name:tag here), else the stored name; none when saved by ID. */
function fullName(image: SaveImage, ctx: SaveContext): string | undefined {
  if (image.refName !== undefined) {
    const { refName } = image;
    const notNameTag = (why: string) => new Error(`-r ${refName}: a docker archive names images by name:tag, and ${JSON.stringify(refName)} is not one (${why})`);
    let reference;
    try {
      reference = ctx.reference.parseReference(refName);
    } catch (error) {
      throw notNameTag((error as Error).message);
    }
    if (reference.digest) throw notNameTag("it has a digest");
    // parseReference supplies "latest"; a RepoTag written by hand must say its tag.
    if (!refName.slice(refName.lastIndexOf("/") + 1).includes(":")) throw notNameTag("it has no tag");
    return ctx.reference.normalizeName(refName);
  }
  if (!image.name) return undefined;
  const reference = ctx.reference.parseReference(image.name);
  return reference.tag !== undefined && reference.digest === undefined ? ctx.reference.normalizeName(image.name) : undefined;
}

/** As docker ≥25: one descriptor per name, with the full name and the tag; an unnamed image is listed bare. */
function indexEntries(entry: Saved, ctx: SaveContext): Descriptor[] {
  const { mediaType, digest, size } = entry.manifest;
  if (entry.names.length === 0) return [{ mediaType, digest, size }];
  return entry.names.map((name) => ({
    mediaType,
    digest,
    size,
    annotations: { [CONTAINERD_NAME]: name, [REF_NAME]: ctx.reference.parseReference(name).tag! },
  }));
}

/** docker ≤24's `repositories`: familiar repository → tag → the top layer's ID (here its diff_id, as there are no v1 layer dirs). */
async function legacyRepositories(all: Saved[], ctx: SaveContext): Promise<Record<string, Record<string, string>>> {
  const repositories: Record<string, Record<string, string>> = {};
  for (const entry of all) {
    if (entry.names.length === 0) continue;
    const config = ctx.parseConfig(await ctx.blobJson(entry.config.digest), `config ${entry.config.digest}`);
    const top = config.rootfs.diff_ids.at(-1);
    if (!top) continue;
    for (const name of entry.names) {
      const familiar = ctx.reference.familiarName(name);
      const colon = familiar.lastIndexOf(":");
      (repositories[familiar.slice(0, colon)] ??= {})[familiar.slice(colon + 1)] = hex(top);
    }
  }
  return repositories;
}

function blobPath(descriptor: Descriptor): string {
  const [algorithm, encoded] = descriptor.digest.split(":");
  return `blobs/${algorithm}/${encoded}`;
}

function hex(digest: string): string {
  return digest.slice(digest.indexOf(":") + 1);
}
