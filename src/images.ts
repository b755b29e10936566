// Images in the store: index.json entries grouped by digest, their names,
// and how a user's words (name, ID, ID prefix, name@digest) find one.
import { isDigest } from "./digest.ts";
import { BaleError } from "./errors.ts";
import { Annotation, isIndexType, parseConfig, parseIndex, parseManifest, type Descriptor, type ImageConfig, type Index, type Manifest } from "./oci.ts";
import { familiarName, normalizeName, parseReference } from "./reference.ts";
import type { Store } from "./store.ts";

export interface StoredImage {
  /** The root descriptor (manifest or index) as index.json holds it, without annotations. */
  root: Descriptor;
  /** Full names, sorted; empty for an untagged image. */
  names: string[];
}

export function entryName(entry: Descriptor): string | undefined {
  return entry.annotations?.[Annotation.refName];
}

export function listImages(index: Index): StoredImage[] {
  const byDigest = new Map<string, StoredImage>();
  for (const entry of index.manifests) {
    let image = byDigest.get(entry.digest);
    if (!image) {
      const { annotations: _, ...root } = entry;
      image = { root, names: [] };
      byDigest.set(entry.digest, image);
    }
    const name = entryName(entry);
    if (name) image.names.push(name);
  }
  for (const image of byDigest.values()) image.names.sort();
  return [...byDigest.values()];
}

/** What an image is made of, read from its blobs. */
export interface ImageDetails {
  /** The image ID: the config digest, or the index digest for a multi-platform image. */
  id: string;
  manifest?: Manifest;
  index?: Index;
  config?: ImageConfig;
}

export async function imageDetails(store: Store, root: Descriptor): Promise<ImageDetails> {
  const value = await store.readJsonBlob(root.digest);
  if (isIndexType(root.mediaType) || (value as Index)?.manifests) {
    return { id: root.digest, index: parseIndex(value, `index ${root.digest}`) };
  }
  const manifest = parseManifest(value, `manifest ${root.digest}`);
  const config = parseConfig(await store.readJsonBlob(manifest.config.digest), `config ${manifest.config.digest}`);
  return { id: manifest.config.digest, manifest, config };
}

export interface Resolved {
  image: StoredImage;
  /** The full name the user named it by; undefined when named by ID or digest. */
  name?: string;
}

/** Finds the image a user means: by name, name@digest, full ID, or unique ID prefix. */
export async function resolveImage(store: Store, images: StoredImage[], query: string): Promise<Resolved> {
  const byName = nameLookup(images, query);
  if (byName) return byName;
  const id = query.startsWith("sha256:") ? query : `sha256:${query}`;
  if (/^sha256:[a-f0-9]{4,64}$/.test(id)) {
    const matches: StoredImage[] = [];
    for (const image of images) {
      const details = await imageDetails(store, image.root).catch(() => undefined);
      const ids = [image.root.digest, details?.id];
      if (ids.some((candidate) => candidate?.startsWith(id))) matches.push(image);
    }
    if (matches.length === 1) return { image: matches[0] };
    if (matches.length > 1) throw new BaleError(`image ID prefix ${query} is ambiguous: it matches ${matches.length} images`);
  }
  throw new BaleError(`no such image: ${query}`);
}

function nameLookup(images: StoredImage[], query: string): Resolved | undefined {
  let full: string;
  try {
    full = normalizeName(query);
  } catch {
    return undefined;
  }
  const reference = parseReference(full);
  if (reference.digest) {
    const image = images.find((candidate) => candidate.root.digest === reference.digest);
    return image && { image };
  }
  const image = images.find((candidate) => candidate.names.includes(full));
  return image && { image, name: full };
}

/**
 * Points `names` at `root`. A name held by another image moves (as in docker);
 * an image left with no name stays, untagged. Returns a line per moved name.
 */
export function assignNames(index: Index, root: Descriptor, names: string[]): string[] {
  const moved: string[] = [];
  for (const name of names) {
    const holder = index.manifests.find((entry) => entryName(entry) === name);
    if (holder?.digest === root.digest) continue;
    if (holder) {
      removeName(index, name);
      moved.push(`${familiarName(name)} moved from ${holder.digest}`);
    }
    index.manifests.push(namedEntry(root, name));
  }
  const own = index.manifests.filter((entry) => entry.digest === root.digest);
  if (own.length === 0) index.manifests.push(namedEntry(root));
  else if (own.some(entryName)) {
    index.manifests = index.manifests.filter((entry) => entry.digest !== root.digest || entryName(entry));
  }
  return moved;
}

/** Removes one name; the image stays, untagged, when it was its last. */
export function removeName(index: Index, name: string): void {
  const at = index.manifests.findIndex((entry) => entryName(entry) === name);
  if (at < 0) return;
  const [entry] = index.manifests.splice(at, 1);
  if (!index.manifests.some((other) => other.digest === entry.digest)) index.manifests.push(namedEntry(entry));
}

export function removeImage(index: Index, digest: string): void {
  index.manifests = index.manifests.filter((entry) => entry.digest !== digest);
}

function namedEntry(root: Descriptor, name?: string): Descriptor {
  const { annotations: _, ...plain } = root;
  if (!name) return plain;
  return { ...plain, annotations: { [Annotation.containerdName]: name, [Annotation.refName]: name } };
}

/** Every blob the images in the index reach: what prune keeps. */
export async function reachableBlobs(store: Store, index: Index): Promise<Set<string>> {
  const reached = new Set<string>();
  const visit = async (descriptor: Descriptor): Promise<void> => {
    if (reached.has(descriptor.digest) || !isDigest(descriptor.digest)) return;
    reached.add(descriptor.digest);
    if ((await store.blobSize(descriptor.digest)) === undefined) return;
    const children = await childDescriptors(store, descriptor);
    for (const child of children) await visit(child);
  };
  for (const entry of index.manifests) await visit(entry);
  return reached;
}

/** The descriptors a manifest or index names directly; none for other blobs. */
export async function childDescriptors(store: Store, descriptor: Descriptor): Promise<Descriptor[]> {
  if (!isIndexType(descriptor.mediaType) && !isManifestLike(descriptor.mediaType)) return [];
  const value = (await store.readJsonBlob(descriptor.digest)) as Partial<Manifest & Index>;
  if (Array.isArray(value?.manifests)) return parseIndex(value, `index ${descriptor.digest}`).manifests;
  if (value?.config) {
    const manifest = parseManifest(value, `manifest ${descriptor.digest}`);
    return [manifest.config, ...manifest.layers];
  }
  return [];
}

function isManifestLike(mediaType: string): boolean {
  return mediaType.endsWith("manifest.v1+json") || mediaType.endsWith("manifest.v2+json");
}

/** Removes blobs a command stored but no longer needs, unless an image or another running bale needs them. */
export async function discardUnneeded(store: Store, digests: Iterable<string>): Promise<void> {
  const candidates = [...digests];
  if (candidates.length === 0) return;
  await store.withLock(async () => {
    const keep = await reachableBlobs(store, await store.readIndex());
    for (const digest of await store.leasedBlobs()) keep.add(digest);
    for (const digest of candidates) if (!keep.has(digest)) await store.removeBlob(digest);
  });
}
