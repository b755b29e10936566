// Sniffing and streaming decompression of whole archives and of layers.
import { spawn } from "node:child_process";
import { availableParallelism } from "node:os";
import { Readable, pipeline, type Duplex } from "node:stream";
import * as zlib from "node:zlib";
import { Decompress as ZstdDecompress } from "fzstd";
import { BaleError } from "./errors.ts";

export type Compression = "gzip" | "zstd" | "xz" | "bzip2";
/** Bytes in chunks: a Node stream, a web stream, a generator or an array of chunks. */
export type ByteStream = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

const MAGIC: [Compression, number[]][] = [
  ["gzip", [0x1f, 0x8b]],
  ["zstd", [0x28, 0xb5, 0x2f, 0xfd]],
  ["xz", [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ["bzip2", [0x42, 0x5a, 0x68]],
];

export function sniffCompression(head: Uint8Array): Compression | null {
  for (const [kind, magic] of MAGIC) {
    if (head.length >= magic.length && magic.every((byte, i) => head[i] === byte)) return kind;
  }
  return null;
}

/** Reads the first `count` bytes of a stream and hands back a stream that still yields them. */
export async function peek(input: ByteStream, count = 512): Promise<{ head: Uint8Array; stream: ByteStream }> {
  const iterator = (async function* () {
    yield* input;
  })();
  const taken: Uint8Array[] = [];
  let length = 0;
  let done = false;
  while (length < count) {
    const next = await iterator.next();
    if (next.done) {
      done = true;
      break;
    }
    taken.push(next.value);
    length += next.value.length;
  }
  const head = concat(taken).subarray(0, count);
  async function* rest() {
    yield* taken;
    if (!done) yield* iterator;
  }
  return { head, stream: rest() };
}

/** Decompresses the stream when it starts with a known magic number; else passes it through. */
export async function maybeDecompress(input: ByteStream): Promise<{ kind: Compression | null; stream: ByteStream }> {
  const { head, stream } = await peek(input, 6);
  const kind = sniffCompression(head);
  return { kind, stream: kind ? decompress(stream, kind) : stream };
}

export function decompress(input: ByteStream, kind: Compression): AsyncIterable<Uint8Array> {
  switch (kind) {
    case "gzip":
      return through(input, zlib.createGunzip({ chunkSize: 256 * 1024 }), kind);
    case "zstd": {
      // node:zlib has zstd from Node 22.15 (and in Bun); fzstd covers older runtimes, and Deno,
      // whose node:zlib accepts a truncated zstd stream without an error.
      const native = (zlib as { createZstdDecompress?: () => Duplex }).createZstdDecompress;
      const isDeno = "Deno" in globalThis;
      return native && !isDeno ? through(input, native(), kind) : zstdInJs(input);
    }
    case "xz":
      return throughCommand(input, "xz", ["-d", "-c", "-q"]);
    case "bzip2":
      return throughCommand(input, "bzip2", ["-d", "-c", "-q"]);
  }
}

async function* through(input: ByteStream, transform: Duplex, kind: string): AsyncGenerator<Uint8Array> {
  pipeline(Readable.from(input), transform, () => {});
  try {
    yield* transform;
  } catch (error) {
    if (error instanceof BaleError) throw error;
    throw new BaleError(`${kind} data is corrupt or truncated (${(error as Error).message})`);
  }
}

async function* zstdInJs(input: ByteStream): AsyncGenerator<Uint8Array> {
  const out: Uint8Array[] = [];
  const decoder = new ZstdDecompress((chunk) => void out.push(chunk.slice()));
  try {
    for await (const chunk of input) {
      decoder.push(chunk);
      yield* out.splice(0);
    }
    decoder.push(new Uint8Array(0), true);
  } catch (error) {
    if (error instanceof BaleError) throw error;
    throw new BaleError(`zstd data is corrupt or truncated (${(error as Error).message})`);
  }
  yield* out.splice(0);
}

// xz and bzip2 go through the system's tools, as docker does for xz.
async function* throughCommand(input: ByteStream, command: string, args: string[]): AsyncGenerator<Uint8Array> {
  const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"] });
  const failed = new Promise<never>((_, reject) => {
    child.on("error", () => reject(new BaleError(`${command}-compressed input needs the \`${command}\` command, which is not installed`)));
  });
  failed.catch(() => {});
  let stderr = "";
  child.stderr.on("data", (chunk) => (stderr += chunk));
  const exited = new Promise<number>((resolve) => child.on("close", (code) => resolve(code ?? 1)));
  pipeline(Readable.from(input), child.stdin, () => {});
  let finished = false;
  try {
    for await (const chunk of child.stdout) yield chunk as Uint8Array;
    finished = true;
  } finally {
    // Only a reader that stopped early leaves the tool running; one that read to the end waits for its exit code.
    if (!finished) child.kill();
  }
  const code = await Promise.race([exited, failed]);
  if (code !== 0) throw new BaleError(`${command} data is corrupt or truncated (${stderr.trim().split("\n")[0]})`);
}

export function concat(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const total = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/** Bytes per gzip member: each is compressed on its own, so the blocks spread over every core. */
const GZIP_BLOCK = 1024 * 1024;

/** Compresses a stream. gzip runs blocks in parallel on the thread pool (a multi-member gzip stream, as pigz writes). */
export function compress(input: ByteStream, kind: "gzip" | "zstd"): AsyncIterable<Uint8Array> {
  if (kind === "gzip") return gzipInParallel(input);
  // node:zlib has zstd from Node 22.15, and in Bun and Deno.
  const native = (zlib as { createZstdCompress?: () => Duplex }).createZstdCompress;
  if (!native) throw new BaleError(`zstd compression needs a runtime with zstd in node:zlib (Node 22.15+, Bun or Deno); this is Node ${process.versions.node}`);
  return through(input, native(), kind);
}

async function* gzipInParallel(input: ByteStream): AsyncGenerator<Uint8Array> {
  const width = Math.max(availableParallelism(), 2);
  const pending: Promise<Uint8Array>[] = [];
  for await (const block of blocks(input, GZIP_BLOCK)) {
    pending.push(new Promise((resolve, reject) => zlib.gzip(block, { level: 6 }, (error, out) => (error ? reject(error) : resolve(out)))));
    if (pending.length > width) yield await pending.shift()!;
  }
  while (pending.length > 0) yield await pending.shift()!;
}

/** Regroups a stream into blocks of `size` bytes (the last one shorter). */
async function* blocks(input: ByteStream, size: number): AsyncGenerator<Uint8Array> {
  let parts: Uint8Array[] = [];
  let length = 0;
  for await (let chunk of input) {
    while (length + chunk.length >= size) {
      const take = size - length;
      parts.push(chunk.subarray(0, take));
      yield concat(parts).slice();
      chunk = chunk.subarray(take);
      parts = [];
      length = 0;
    }
    if (chunk.length > 0) {
      parts.push(chunk.slice());
      length += chunk.length;
    }
  }
  if (length > 0) yield concat(parts);
}
