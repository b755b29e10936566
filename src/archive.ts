// One streaming pass over an archive (a tar, maybe compressed, or a layout
// directory): every regular file is hashed as it streams; small files stay in
// memory, larger ones go straight into the store as blobs. Member names are
// only keys in a map.
import { createReadStream } from "node:fs";
import * as fs from "node:fs/promises";
import { join, relative } from "node:path";
import { concat, decompress, peek, sniffCompression, type ByteStream } from "./compress.ts";
import { sha256 } from "./digest.ts";
import { BaleError } from "./errors.ts";
import type { ArchiveEntry, ArchiveFiles } from "./format.ts";
import { JSON_CAP, parseJson, type Lease, type Store } from "./store.ts";
import type { BlobReader } from "./verify.ts";
import { linkTarget, memberName, readTar, type TarMember } from "./tar.ts";

/** Files up to this size are kept in memory (configs, manifests, small layers)... */
const SMALL_FILE = 1024 * 1024;
/** ...until they add up to this much; later ones go to the store like big ones. */
const MEMORY_BUDGET = 64 * 1024 * 1024;

export class Archive implements ArchiveFiles, BlobReader {
  private readonly entries = new Map<string, ArchiveEntry>();
  private readonly links = new Map<string, { type: "symlink" | "hardlink"; target: string }>();
  /** Bytes of small files by digest; written to the store only if an image needs them. */
  readonly memory = new Map<string, Uint8Array>();
  /** Digests this pass wrote into the store. */
  readonly stored = new Set<string>();
  private memoryUsed = 0;

  constructor(private readonly store: Store, private readonly lease: Lease) {}

  get names(): string[] {
    return [...this.entries.keys(), ...[...this.links.keys()].filter((name) => this.resolves(name))];
  }

  has(name: string): boolean {
    return this.entries.has(name) || this.links.has(name);
  }

  get(name: string): ArchiveEntry | undefined {
    const entry = this.entries.get(name);
    if (entry) return entry;
    const link = this.links.get(name);
    if (!link) return undefined;
    // One hop only: a link to a link (or a loop) is refused, as docker's loader does.
    const target = this.entries.get(link.target);
    if (!target) {
      const why = this.links.has(link.target) ? "another link" : "no regular file";
      throw new BaleError(`archive member ${name} links to ${link.target}, which is ${why} in the archive`);
    }
    return { ...target, name };
  }

  private resolves(name: string): boolean {
    const link = this.links.get(name);
    return link !== undefined && this.entries.has(link.target);
  }

  async json(name: string): Promise<unknown> {
    const entry = this.get(name);
    if (!entry) throw new BaleError(`archive has no ${name}`);
    if (entry.size > JSON_CAP) throw new BaleError(`${name} is ${entry.size} bytes, over the ${JSON_CAP}-byte limit for JSON`);
    return parseJson(await this.bytes(entry.digest), name);
  }

  /** A blob's bytes, from memory or the store. */
  async bytes(digest: string): Promise<Uint8Array> {
    return this.memory.get(digest) ?? this.store.readBlob(digest);
  }

  /** Keeps bytes the format made (e.g. a manifest) alongside the archive's own. */
  remember(digest: string, bytes: Uint8Array) {
    this.memory.set(digest, bytes);
  }

  open(digest: string): ByteStream {
    const bytes = this.memory.get(digest);
    return bytes ? [bytes] : this.store.openBlob(digest);
  }

  async size(digest: string): Promise<number | undefined> {
    const bytes = this.memory.get(digest);
    if (bytes) return bytes.length;
    // A blob the store already holds is leased before it is relied on, so a concurrent prune keeps it.
    await this.lease.add(digest);
    return this.store.blobSize(digest);
  }

  async head(digest: string, count: number): Promise<Uint8Array> {
    return this.memory.get(digest)?.subarray(0, count) ?? this.store.head(digest, count);
  }

  /** The whole input as one blob, in the store, named WHOLE_ARCHIVE (see readWholeArchive). */
  async addWhole(input: ByteStream, onBytes?: (count: number) => void): Promise<void> {
    const blob = await this.store.ingest(input, { what: "the archive" }, onBytes, this.lease);
    if (blob.size === 0) throw new BaleError("the archive is empty");
    this.stored.add(blob.digest);
    this.entries.set(WHOLE_ARCHIVE, { name: WHOLE_ARCHIVE, ...blob });
  }

  async add(member: TarMember, onBytes?: (count: number) => void): Promise<void> {
    if (member.type === "symlink" || member.type === "hardlink") {
      this.links.set(member.name, { type: member.type, target: linkTarget(member.name, member.type, member.linkname ?? "") });
      return;
    }
    if (member.type !== "file") return;
    let entry: ArchiveEntry;
    if (member.size <= SMALL_FILE && this.memoryUsed + member.size <= MEMORY_BUDGET) {
      const chunks: Uint8Array[] = [];
      for await (const chunk of member.body) chunks.push(chunk);
      const bytes = concat(chunks).slice();
      entry = { name: member.name, size: bytes.length, digest: await sha256(bytes) };
      this.memory.set(entry.digest, bytes);
      this.memoryUsed += bytes.length;
      onBytes?.(bytes.length);
    } else {
      const blob = await this.store.ingest(member.body, { size: member.size, what: member.name }, onBytes, this.lease);
      entry = { name: member.name, ...blob };
      this.stored.add(blob.digest);
    }
    const earlier = this.entries.get(member.name);
    if (earlier && earlier.digest !== entry.digest) {
      throw new BaleError(`archive has two different members named ${member.name}`);
    }
    this.entries.set(member.name, entry);
  }
}

/** Reads a tar stream (plain, gzip, zstd, xz or bzip2) into an Archive. */
export async function readArchiveStream(input: ByteStream, archive: Archive, onBytes?: (count: number) => void): Promise<void> {
  const { head, stream } = await peek(input, 6);
  if (head.length === 0) throw new BaleError("the archive is empty");
  const kind = sniffCompression(head);
  const tar = kind ? decompress(stream, kind) : stream;
  let members = 0;
  for await (const member of readTar(tar)) {
    await archive.add(member, onBytes);
    members++;
  }
  if (members === 0) throw new BaleError("not an image archive: it holds no files");
}

/** The one member a wholeArchive format sees: its input, as given. */
export const WHOLE_ARCHIVE = "archive";

/** For wholeArchive formats: stores the raw input (no decompression) as one blob, offered as the member "archive". */
export async function readWholeArchive(input: ByteStream, archive: Archive, onBytes?: (count: number) => void): Promise<void> {
  await archive.addWhole(input, onBytes);
}

/** Reads a layout directory (e.g. skopeo's oci:DIR) into an Archive, never following links out of it. */
export async function readArchiveDirectory(root: string, archive: Archive): Promise<void> {
  const walk = async (dir: string): Promise<void> => {
    for (const dirent of await fs.readdir(dir, { withFileTypes: true })) {
      const path = join(dir, dirent.name);
      const name = memberName(relative(root, path).split("\\").join("/"));
      if (dirent.isDirectory()) await walk(path);
      else if (dirent.isSymbolicLink()) {
        await archive.add({ name, type: "symlink", size: 0, linkname: await fs.readlink(path), body: [] });
      } else if (dirent.isFile()) {
        const { size } = await fs.stat(path);
        await archive.add({ name, type: "file", size, body: createReadStream(path, { highWaterMark: SMALL_FILE }) });
      }
    }
  };
  await walk(root);
}
