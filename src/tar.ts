// Streaming tar: read members one at a time with bounded memory, and write
// reproducible archives. Member names are keys, never paths on disk.
import { Readable, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createTarDecoder, createTarPacker } from "modern-tar";
import type { ByteStream } from "./compress.ts";
import { BaleError } from "./errors.ts";

export type MemberType = "file" | "directory" | "symlink" | "hardlink" | "other";

export interface TarMember {
  name: string;
  type: MemberType;
  size: number;
  linkname?: string;
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
        body: entry.body,
      };
      // Skip whatever the consumer left unread; a body already read is closed and released.
      await entry.body.cancel().catch(() => {});
    }
  } catch (error) {
    if (error instanceof BaleError) throw error;
    throw new BaleError(`not a valid tar archive: ${(error as Error).message}`);
  }
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
  const { readable, controller } = createTarPacker();
  const piping = pipeline(Readable.fromWeb(readable as import("node:stream/web").ReadableStream), sink);
  piping.catch(() => {});
  for (const entry of entries) {
    const directory = entry.type === "directory";
    const body = controller.add({
      name: directory ? `${entry.name}/` : entry.name,
      type: directory ? "directory" : "file",
      size: directory ? 0 : entry.size,
      mode: directory ? 0o755 : 0o644,
      mtime: new Date(0),
      uid: 0,
      gid: 0,
      uname: "",
      gname: "",
    });
    const writer = body.getWriter();
    let written = 0;
    const content = entry.open?.();
    for await (const chunk of content instanceof Uint8Array ? [content] : content ?? []) {
      written += chunk.length;
      await writer.write(chunk);
    }
    if (!directory && written !== entry.size) {
      throw new BaleError(`${entry.name}: wrote ${written} bytes where ${entry.size} were expected`);
    }
    await writer.close();
  }
  controller.finalize();
  await piping;
}
