// A tiny tar writer for tests: it writes whatever it is told, including the
// member names ("../x", "/etc/x") and links that real tools refuse to write.
import { gzipSync } from "node:zlib";
import { createHash } from "node:crypto";

export interface RawMember {
  name: string;
  /** "0" file (default), "2" symlink, "1" hardlink, "5" directory, or any other flag. */
  type?: "0" | "1" | "2" | "5" | string;
  body?: string | Uint8Array;
  linkname?: string;
  /** Claimed size in the header; defaults to the body's length. */
  size?: number;
}

const encoder = new TextEncoder();

function field(header: Uint8Array, offset: number, length: number, value: string) {
  const bytes = encoder.encode(value);
  header.set(bytes.subarray(0, length), offset);
}

function octal(value: number, length: number): string {
  return value.toString(8).padStart(length - 1, "0");
}

function header(name: string, type: string, size: number, linkname = ""): Uint8Array {
  const block = new Uint8Array(512);
  field(block, 0, 100, name);
  field(block, 100, 8, octal(type === "5" ? 0o755 : 0o644, 8));
  field(block, 108, 8, octal(0, 8));
  field(block, 116, 8, octal(0, 8));
  field(block, 124, 12, octal(size, 12));
  field(block, 136, 12, octal(0, 12));
  field(block, 148, 8, "        ");
  field(block, 156, 1, type);
  field(block, 157, 100, linkname);
  field(block, 257, 6, "ustar");
  field(block, 263, 2, "00");
  let sum = 0;
  for (const byte of block) sum += byte;
  field(block, 148, 8, `${octal(sum, 7)}\0`);
  return block;
}

function pad(length: number): Uint8Array {
  return new Uint8Array((512 - (length % 512)) % 512);
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bodyLength = encoder.encode(body).length;
  let length = bodyLength;
  while (String(length).length + bodyLength !== length) length = String(length).length + bodyLength;
  return `${length}${body}`;
}

/** A tar archive of the members, in order, with an end-of-archive marker. */
export function makeTar(members: RawMember[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const member of members) {
    const type = member.type ?? "0";
    const body = typeof member.body === "string" ? encoder.encode(member.body) : member.body ?? new Uint8Array(0);
    const size = member.size ?? body.length;
    const needsPax = encoder.encode(member.name).length > 100 || /[^\x20-\x7e]/.test(member.name);
    if (needsPax) {
      const pax = encoder.encode(paxRecord("path", member.name));
      parts.push(header("PaxHeader", "x", pax.length), pax, pad(pax.length));
    }
    parts.push(header(needsPax ? member.name.slice(0, 99) : member.name, type, size, member.linkname));
    parts.push(body, pad(body.length));
  }
  parts.push(new Uint8Array(1024));
  return Buffer.concat(parts);
}

export const sha256 = (bytes: string | Uint8Array) => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
export const gzip = (bytes: Uint8Array) => new Uint8Array(gzipSync(bytes));
export const json = (value: unknown) => JSON.stringify(value);
