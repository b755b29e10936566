// The Format contract: what a format plugin is given and must give back.
// A format translates between an archive's layout and images; the core owns
// bytes, hashing, verification and the store, and hands a format all it
// needs through `files` and `ctx`, so plugins never import bale itself.
import type * as reference from "./reference.ts";
import type { Descriptor, ImageConfig, Index, Manifest, MediaType, Platform } from "./oci.ts";

/** A regular file in the archive, hashed while it streamed past. */
export interface ArchiveEntry {
  /** Normalized member name: no leading "./" or "/", never containing "..". */
  name: string;
  size: number;
  /** sha256 of the member's bytes, as read. */
  digest: string;
}

/** The archive's members after the streaming pass. Links resolve to other members, never to disk. */
export interface ArchiveFiles {
  /** Names of all regular files and of links that resolve to one, in archive order. */
  readonly names: readonly string[];
  has(name: string): boolean;
  /** The regular file a name refers to, following one link inside the archive; undefined if none. */
  get(name: string): ArchiveEntry | undefined;
  /** The member parsed as JSON (capped at 4 MiB); errors name the member. */
  json(name: string): Promise<unknown>;
}

/** Helpers the core lends to every format, so plugins need not import bale. */
export interface Helpers {
  mediaTypes: typeof MediaType;
  reference: Pick<typeof reference, "parseReference" | "normalizeName" | "familiarName" | "isValidRefName" | "isBareTag" | "isValidTag">;
  /** Validates a manifest, index or config read from JSON; errors say where. */
  parseManifest(value: unknown, where: string): Manifest;
  parseIndex(value: unknown, where: string, nullManifests?: boolean): Index;
  parseConfig(value: unknown, where: string): ImageConfig;
  parseDescriptor(value: unknown, where: string): Descriptor;
  /** Go's encoding/json bytes for a value, so digests match other tools. */
  canonicalJson(value: unknown): Uint8Array;
  warn(message: string): void;
}

export interface LoadContext extends Helpers {
  /** --platform, when the user gave one. */
  platform?: Platform;
  /** A blob that the archive holds (or that the store already has), parsed as JSON. */
  blobJson(digest: string): Promise<unknown>;
  /** True when the archive holds this blob or the store already has it. */
  hasBlob(digest: string): Promise<boolean>;
  /** Adds a JSON document the format made (e.g. a manifest for a Docker archive); returns its descriptor. */
  putJson(value: unknown, mediaType: string): Promise<Descriptor>;
  /** How a blob is compressed, sniffed from its first bytes. */
  compression(digest: string): Promise<"gzip" | "zstd" | "xz" | "bzip2" | null>;
}

/** One name under which the archive offers an image. */
export interface LoadedImage {
  /** The image's manifest or index, as a descriptor. The core checks everything it reaches. */
  root: Descriptor;
  /** The name to store the image under (a reference, normalized by the core); none: untagged. */
  name?: string;
  /** The name as the archive writes it, which `load -r IMAGE=REFNAME` matches. */
  refName?: string;
  /** Check compressed layers against the config's diff_ids too (Docker archives promise them). */
  verifyDiffIds?: boolean;
}

/** One image to save, under one name. */
export interface SaveImage {
  /** The stored image's manifest or index. */
  root: Descriptor;
  /** Its full name in the store (docker.io/library/busybox:latest), when it was asked for by name. */
  name?: string;
  /** The name `save -r IMAGE=REFNAME` asked for; the format checks it fits its naming rules. */
  refName?: string;
}

export interface SaveOptions {
  platform?: Platform;
  /** Write layers uncompressed (Docker archives describe layers by their diff_ids). */
  uncompressed?: boolean;
}

export interface SaveContext extends Helpers {
  options: SaveOptions;
  /** Adds an archive member: a stored blob, by descriptor, or bytes the format made. Paths are deduplicated. */
  write(path: string, content: Descriptor | Uint8Array | string): void;
  /** A stored blob, parsed as JSON. */
  blobJson(digest: string): Promise<unknown>;
  /** The manifest to write for an image: its own, or the --platform (else host) one of an index. */
  singleManifest(root: Descriptor): Promise<Descriptor>;
  /** The descriptor of a layer's uncompressed form, made and stored on demand. */
  uncompressedLayer(layer: Descriptor): Promise<Descriptor>;
}

export interface Format {
  name: string;
  description: string;
  /** Whether this archive is in this format, by its member names (and small JSON members). */
  detect(files: ArchiveFiles): boolean | Promise<boolean>;
  /** The images in the archive. Blobs are already hashed; the core verifies what the roots reach. */
  load(files: ArchiveFiles, ctx: LoadContext): Promise<LoadedImage[]>;
  /** Writes the images through ctx.write. */
  save(images: SaveImage[], ctx: SaveContext): Promise<void>;
}

/** Identity function that gives plugin authors type checking. */
export function defineFormat(format: Format): Format {
  return format;
}
