// Streaming tar: read members one at a time with bounded memory, and write
// reproducible archives. Member names are keys, never paths on disk.
import { Readable, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createTarDecoder, createTarPacker } from "modern-tar";
import type { ByteStream } from "./compress.ts";
import { BaleError } from "./errors.ts";
import type { OutputEntry } from "./format.ts";

export type MemberType = "file" | "directory" | "symlink" | "hardlink" | "other";

export interface TarMember {
  name: string;
  type: MemberType;
  size: number;
  linkname?: string;
  /** The header's metadata, when read from a tar (not from a directory). */
  mode?: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  mtime?: Date;
  /** Must be read to the end or left alone; what is left unread is skipped. */
  body: ByteStream;
}

const TYPES: Record<string, MemberType> = { file: "file", directory: "directory", symlink: "symlink", link: "hardlink" };

export async function* readTar(input: ByteStream): AsyncGenerator<TarMember> {
  const source = (ReadableStream as unknown as { from(input: ByteStream): ReadableStream<Uint8Array> }).from(input);
  const entries = source.pipeThrough(createTarDecoder({ strict: true }));
  try {
    for await (const entry of entries) {
      const { header } = entry;
      const type = TYPES[header.type ?? "file"] ?? "other";
      yield {
        name: memberName(header.name),
        type,
        size: header.size,
        linkname: header.linkname || undefined,
        mode: header.mode,
        uid: header.uid,
        gid: header.gid,
        uname: header.uname,
        gname: header.gname,
        mtime: header.mtime,
        body: guarded(entry.body),
      };
      // Skip whatever the consumer left unread; a body already read is closed and released.
      await entry.body.cancel().catch(() => {});
    }
  } catch (error) {
    throw tarError(error);
  }
}

/** A member's body, whose errors (e.g. a truncated archive) are reported like the headers' ones. */
async function* guarded(body: ByteStream): AsyncGenerator<Uint8Array> {
  try {
    yield* body;
  } catch (error) {
    throw tarError(error);
  }
}

function tarError(error: unknown): BaleError {
  if (error instanceof BaleError) return error;
  return new BaleError(`not a valid tar archive: ${(error as Error).message}`);
}

/** Normalizes a member name; `..` and absolute names are refused, never resolved. */
export function memberName(raw: string): string {
  if (raw.startsWith("/")) throw new BaleError(`archive member ${JSON.stringify(raw)} has an absolute name`);
  const parts = raw.split("/").filter((part) => part !== "" && part !== ".");
  if (parts.includes("..")) throw new BaleError(`archive member ${JSON.stringify(raw)} escapes the archive with ".."`);
  return parts.join("/");
}

/** Where a link member points, as another member's name; links may not leave the archive. */
export function linkTarget(member: string, type: "symlink" | "hardlink", target: string): string {
  const escape = () => new BaleError(`archive member ${JSON.stringify(member)} links outside the archive (${JSON.stringify(target)})`);
  if (target.startsWith("/")) throw escape();
  const base = type === "symlink" ? member.split("/").slice(0, -1) : [];
  const parts = [...base];
  for (const part of target.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (parts.length === 0) throw escape();
      parts.pop();
    } else parts.push(part);
  }
  return parts.join("/");
}

export interface TarOutEntry {
  name: string;
  type?: "file" | "directory";
  size: number;
  /** Opened only when the entry is written, so that at most one blob is open at a time. */
  open?: () => ByteStream | Uint8Array;
}

/** Writes entries in the order given, with fixed metadata so that output is reproducible. */
export async function writeTar(entries: TarOutEntry[], sink: Writable): Promise<void> {
  const tar = createTarWriter(sink);
  for (const entry of entries) {
    const directory = entry.type === "directory";
    const header = { name: entry.name, size: directory ? 0 : entry.size, mtime: new Date(0), uid: 0, gid: 0, uname: "", gname: "" };
    await tar.add(directory ? { ...header, type: "directory", mode: 0o755 } : { ...header, type: "file", mode: 0o644 }, entry.open?.());
  }
  await tar.finish();
}

/** A tar entry with its own metadata: what writeTar fixes, and what whole-archive formats write (SaveContext.writeEntry). */
export type TarRawEntry = OutputEntry;

export interface TarWriter {
  /** Writes one entry, streaming its body; resolves when the body is written. One at a time. */
  add(entry: TarRawEntry, body?: ByteStream | Uint8Array): Promise<void>;
  /** Writes the end-of-archive marker and waits for the sink. */
  finish(): Promise<void>;
}

/**
 * The raw-entry writer under writeTar: entries in the order given, metadata as given, bodies
 * streamed (never buffered whole) and checked against their size. Non-ASCII names and link
 * targets get PAX records, as Go's archive/tar writes them.
 */
export function createTarWriter(sink: Writable): TarWriter {
  const { readable, controller } = createTarPacker();
  const piping = pipeline(Readable.fromWeb(readable as import("node:stream/web").ReadableStream), sink);
  piping.catch(() => {});
  return {
    async add(entry, content) {
      const directory = entry.type === "directory";
      const bodyless = entry.type !== "file";
      const pax: Record<string, string> = {};
      if (NON_ASCII.test(entry.name)) pax.path = entry.name;
      if (entry.linkname && NON_ASCII.test(entry.linkname)) pax.linkpath = entry.linkname;
      const body = controller.add({
        name: directory ? `${entry.name}/` : entry.name,
        type: entry.type === "hardlink" ? "link" : entry.type,
        size: bodyless ? 0 : entry.size,
        mode: entry.mode,
        mtime: entry.mtime,
        uid: entry.uid,
        gid: entry.gid,
        uname: entry.uname,
        gname: entry.gname,
        linkname: entry.linkname,
        ...(Object.keys(pax).length ? { pax: directory && pax.path ? { ...pax, path: `${pax.path}/` } : pax } : {}),
      });
      const writer = body.getWriter();
      let written = 0;
      // Only files have content; a directory's or a link's (empty) body is not read.
      for await (const chunk of bodyless ? [] : content instanceof Uint8Array ? [content] : content ?? []) {
        written += chunk.length;
        await writer.write(chunk);
      }
      if (!bodyless && written !== entry.size) {
        throw new BaleError(`${entry.name}: wrote ${written} bytes where ${entry.size} were expected`);
      }
      await writer.close();
    },
    async finish() {
      controller.finalize();
      await piping;
    },
  };
}

const NON_ASCII = /[^\x00-\x7f]/;
