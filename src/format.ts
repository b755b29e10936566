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
  /**
   * sha256 of a blob after decompression: a layer's diff_id, for configs a format makes itself
   * (wholeArchive formats). The blob must be a tar, maybe compressed; anything else is an error.
   */
  uncompressedDigest(digest: string): Promise<string>;
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
  /** save --compress (--uncompressed is "none"): the form layers are written in; undefined keeps them as stored. */
  compress?: "gzip" | "zstd" | "none";
}

/** A manifest as it is to be written (see SaveContext.outputManifest). */
export interface OutputManifest {
  /** The stored manifest, or a rewritten one when --compress changed its layers; then `bytes` holds it. */
  descriptor: Descriptor;
  bytes?: Uint8Array;
  config: Descriptor;
  /** The layers to write, in the form --compress asks for. */
  layers: Descriptor[];
}

/** One member of a stored layer, decompressed and parsed by the core's tar reader (see SaveContext.layerEntries). */
export interface LayerEntry {
  /** Normalized like archive members: no leading "./" or "/"; a member with ".." is an error. The layer's root ("./") is left out. */
  name: string;
  /** "other": devices and fifos, which writeEntry cannot write. */
  type: "file" | "directory" | "symlink" | "hardlink" | "other";
  size: number;
  /** Permission bits, with setuid, setgid and sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  mtime: Date;
  /** A symlink's target as written; a hardlink's target as a normalized member name. */
  linkname?: string;
  /** A file's bytes: read it to the end, or leave it alone (it is skipped). Readable only until the next entry is asked for. */
  body: AsyncIterable<Uint8Array>;
}

/** An entry for SaveContext.writeEntry: a LayerEntry's header (a LayerEntry itself will do), with defaults 0644/0755, uid 0, mtime 0. */
export interface OutputEntry {
  name: string;
  type: "file" | "directory" | "symlink" | "hardlink";
  /** A file's size in bytes; ignored for other types. */
  size: number;
  mode?: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  mtime?: Date;
  /** A symlink's target (written as given), or a hardlink's: a member written earlier. */
  linkname?: string;
}

export interface SaveContext extends Helpers {
  options: SaveOptions;
  /** Adds an archive member: a stored blob, by descriptor, or bytes the format made. Paths are deduplicated. Not for wholeArchive formats. */
  write(path: string, content: Descriptor | Uint8Array | string): void;
  /** The members of a stored layer, in layer order, decompressed and parsed. */
  layerEntries(layer: Descriptor): AsyncIterable<LayerEntry>;
  /**
   * wholeArchive formats only: writes one tar entry, in the order of the calls (no sorting), with the
   * metadata given; a file's body is streamed through. Await each call before the next.
   */
  writeEntry(entry: OutputEntry, body?: AsyncIterable<Uint8Array> | Uint8Array): Promise<void>;
  /** A stored blob, parsed as JSON. */
  blobJson(digest: string): Promise<unknown>;
  /** The manifest to write for an image: its own, or the --platform (else host) one of an index. */
  singleManifest(root: Descriptor): Promise<Descriptor>;
  /** A manifest with its layers in the form --compress asks for (converted on demand); as stored when not asked. */
  outputManifest(manifest: Descriptor): Promise<OutputManifest>;
}

export interface Format {
  name: string;
  description: string;
  /**
   * The archive is not a set of members to sort out but one whole thing (e.g. a root filesystem tar).
   * Such a format is used only when chosen with -f (detect is not asked). On load, the raw input,
   * still compressed, is stored as one blob that `files` offers as the single member "archive";
   * on save, the format writes entries with ctx.writeEntry instead of ctx.write.
   */
  wholeArchive?: boolean;
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
