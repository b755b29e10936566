// A minimal streaming ustar writer for the benchmark's generator. It writes
// straight to a file descriptor through one fixed buffer, so memory stays flat
// however large the layer, and can hash what it writes on the way (a layer's
// diff_id is the sha256 of exactly these bytes).
import { closeSync, openSync, readSync, writeSync } from "node:fs";
import { createHash, type Hash } from "node:crypto";

const BLOCK = 512;
const BUFFER = 4 << 20;

export type EntryType = "file" | "dir" | "symlink";

export class TarWriter {
  private fd: number;
  private buf = Buffer.alloc(BUFFER);
  private pos = 0;
  private hash: Hash | undefined;
  bytes = 0;

  constructor(path: string, hashed = false) {
    this.fd = openSync(path, "w");
    if (hashed) this.hash = createHash("sha256");
  }

  /** Header for one entry; the caller then supplies exactly `size` bytes and calls pad(). */
  header(name: string, type: EntryType, size = 0, linkname = ""): void {
    // Generated names stay short, so the ustar prefix field is never needed.
    if (Buffer.byteLength(name) > 100 || Buffer.byteLength(linkname) > 100) throw new Error(`tar name too long: ${name}`);
    if (size > 0o77777777777) throw new Error(`tar entry too large for ustar: ${name}`);
    const h = Buffer.alloc(BLOCK);
    h.write(name, 0);
    octal(h, 100, 8, type === "dir" ? 0o755 : type === "symlink" ? 0o777 : 0o644);
    octal(h, 108, 8, 0); // uid
    octal(h, 116, 8, 0); // gid
    octal(h, 124, 12, size);
    octal(h, 136, 12, 0); // mtime: fixed, so output is reproducible
    h.write("        ", 148); // checksum is computed with this field as spaces
    h.write(type === "dir" ? "5" : type === "symlink" ? "2" : "0", 156);
    h.write(linkname, 157);
    h.write("ustar\u000000", 257);
    let sum = 0;
    for (const byte of h) sum += byte;
    h.write(sum.toString(8).padStart(6, "0") + "\u0000 ", 148);
    this.write(h);
  }

  write(bytes: Uint8Array): void {
    let off = 0;
    while (off < bytes.length) {
      const n = Math.min(bytes.length - off, BUFFER - this.pos);
      this.buf.set(bytes.subarray(off, off + n), this.pos);
      this.pos += n;
      off += n;
      if (this.pos === BUFFER) this.flush();
    }
  }

  /**
   * Lets `fill` write up to `want` bytes directly into the buffer (no copy);
   * fill returns how many it wrote. Used for large generated content.
   */
  produce(want: number, fill: (target: Buffer) => number): void {
    while (want > 0) {
      if (this.pos === BUFFER) this.flush();
      const room = this.buf.subarray(this.pos, this.pos + Math.min(want, BUFFER - this.pos));
      const n = fill(room);
      this.pos += n;
      want -= n;
    }
  }

  /** Zero padding after an entry's data, up to the next 512-byte block. */
  pad(size: number): void {
    const rest = size % BLOCK;
    if (rest) this.write(Buffer.alloc(BLOCK - rest));
  }

  file(name: string, data: Uint8Array): void {
    this.header(name, "file", data.length);
    this.write(data);
    this.pad(data.length);
  }

  /** Copies a file from disk into the archive in fixed-size chunks. */
  fileFrom(name: string, path: string, size: number): void {
    this.header(name, "file", size);
    const fd = openSync(path, "r");
    try {
      let done = 0;
      while (done < size) {
        if (this.pos === BUFFER) this.flush();
        const n = readSync(fd, this.buf, this.pos, Math.min(size - done, BUFFER - this.pos), done);
        if (n === 0) throw new Error(`${path}: shorter than ${size} bytes`);
        this.pos += n;
        done += n;
      }
    } finally {
      closeSync(fd);
    }
    this.pad(size);
  }

  /** Writes the two zero end blocks and closes; returns the sha256 hex if hashed. */
  close(): string | undefined {
    this.write(Buffer.alloc(2 * BLOCK));
    this.flush();
    closeSync(this.fd);
    return this.hash?.digest("hex");
  }

  private flush(): void {
    const chunk = this.buf.subarray(0, this.pos);
    this.hash?.update(chunk);
    let off = 0;
    while (off < chunk.length) off += writeSync(this.fd, chunk, off, chunk.length - off);
    this.bytes += chunk.length;
    this.pos = 0;
  }
}

function octal(h: Buffer, offset: number, width: number, value: number): void {
  h.write(value.toString(8).padStart(width - 1, "0") + "\u0000", offset);
}
