// The local image store: an OCI image layout that other OCI tools can read.
// Blobs land through a temporary file and are renamed into place only once
// their digest is known; index.json is replaced atomically under a lock.
import { createReadStream } from "node:fs";
import * as fs from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import type { ByteStream } from "./compress.ts";
import { checkDigest, createHasher, digestHex } from "./digest.ts";
import { BaleError } from "./errors.ts";
import { MediaType, parseIndex, type Index } from "./oci.ts";

/** JSON documents (manifests, configs, index.json) larger than this are refused. */
export const JSON_CAP = 4 * 1024 * 1024;
const LAYOUT = '{"imageLayoutVersion":"1.0.0"}';
const READ_SIZE = 1024 * 1024;
const LOCK_TIMEOUT_MS = 60_000;
/** Directories bale makes in a store, which may appear before index.json while another bale creates it. */
const OWN_DIRECTORIES = new Set(["blobs", "leases", "ingest"]);
const EMPTY_LOCK_GRACE_MS = 5_000;

export function defaultRoot(): string {
  if (process.env.BALE_ROOT) return process.env.BALE_ROOT;
  const data = process.env.XDG_DATA_HOME || join(homedir(), ".local", "share");
  return join(data, "bale");
}

export interface BlobInfo {
  digest: string;
  size: number;
}

export interface Lease {
  add(digest: string): Promise<void>;
  release(): Promise<void>;
}

export interface Expected {
  digest?: string;
  size?: number;
  /** Names the blob in errors, e.g. "layer 2 of busybox". */
  what?: string;
}

export class Store {
  private constructor(readonly root: string) {}

  /** Opens the store at `root`, creating it when the directory is missing or empty. */
  static async open(root: string): Promise<Store> {
    const store = new Store(root);
    const entries: string[] = await fs.readdir(root).catch((error) => {
      if (error.code === "ENOENT") return [];
      if (error.code === "ENOTDIR") throw new BaleError(`store ${root} is not a directory`);
      throw error;
    });
    const complete = entries.includes("oci-layout") && entries.includes("index.json");
    // Empty, or only what create() makes: another bale is creating the store right now (or was killed doing so).
    const creating = entries.every((name) => OWN_DIRECTORIES.has(name) || name.startsWith("index.json") || name.startsWith("oci-layout"));
    if (!complete && creating) await store.create();
    else if (!complete) {
      throw new BaleError(`store ${root} is not an OCI image layout (no oci-layout or index.json); choose another --root`);
    }
    return store;
  }

  private async create() {
    await fs.mkdir(join(this.root, "blobs", "sha256"), { recursive: true });
    const empty: Index = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] };
    for (const [name, text] of [["index.json", JSON.stringify(empty)], ["oci-layout", LAYOUT]]) {
      await createWhole(join(this.root, name), text);
    }
  }

  blobPath(digest: string): string {
    checkDigest(digest, "blob");
    return join(this.root, "blobs", digest.slice(0, digest.indexOf(":")), digestHex(digest));
  }

  /** The blob's size, or undefined when the store does not hold it. */
  async blobSize(digest: string): Promise<number | undefined> {
    const stat = await fs.stat(this.blobPath(digest)).catch(() => undefined);
    return stat?.isFile() ? stat.size : undefined;
  }

  /**
   * Streams `source` into the store, hashing on the way. The blob becomes
   * visible only when complete (and equal to `expected`, when given).
   */
  async ingest(source: ByteStream, expected: Expected = {}, onBytes?: (count: number) => void, lease?: Lease): Promise<BlobInfo> {
    const temp = await this.tempFile();
    const file = await fs.open(temp, "w");
    let size = 0;
    try {
      const hasher = await createHasher();
      for await (const chunk of source) {
        // The write runs on the thread pool while this thread hashes the same chunk.
        const writing = file.write(chunk);
        hasher.update(chunk);
        size += chunk.length;
        await writing;
        onBytes?.(chunk.length);
        if (expected.size !== undefined && size > expected.size) break;
      }
      const digest = hasher.digest();
      checkExpected({ digest, size }, expected);
      await file.sync();
      await file.close();
      // Leased before it becomes visible, so that a concurrent prune keeps it.
      await lease?.add(digest);
      await fs.rename(temp, this.blobPath(digest));
      return { digest, size };
    } catch (error) {
      await file.close().catch(() => {});
      await fs.rm(temp, { force: true });
      throw error;
    }
  }

  async putBytes(bytes: Uint8Array, expected?: Expected, lease?: Lease): Promise<BlobInfo> {
    return this.ingest([bytes], expected, undefined, lease);
  }

  /**
   * A lease names blobs a running command has written or is reading but not
   * yet named in index.json; prune keeps them while the process lives.
   */
  async lease(): Promise<Lease> {
    const dir = join(this.root, "leases");
    await fs.mkdir(dir, { recursive: true });
    const path = join(dir, `${process.pid}-${Math.random().toString(36).slice(2)}`);
    await fs.writeFile(path, "");
    return {
      add: (digest) => fs.appendFile(path, `${digest}\n`),
      release: () => fs.rm(path, { force: true }),
    };
  }

  /** Blobs held by leases of live processes; leases of dead ones are removed. */
  async leasedBlobs(): Promise<Set<string>> {
    const dir = join(this.root, "leases");
    const held = new Set<string>();
    for (const name of await fs.readdir(dir).catch(() => [])) {
      const path = join(dir, name);
      if (!processAlive(Number(name.split("-")[0]))) {
        await fs.rm(path, { force: true });
        continue;
      }
      const text = await fs.readFile(path, "utf8").catch(() => "");
      for (const digest of text.split("\n")) if (digest) held.add(digest);
    }
    return held;
  }

  openBlob(digest: string): AsyncIterable<Uint8Array> {
    const stream = createReadStream(this.blobPath(digest), { highWaterMark: READ_SIZE });
    return collectingGarbage(stream);
  }

  /** The first `count` bytes of a blob (fewer when it is shorter): enough to sniff its compression. */
  async head(digest: string, count: number): Promise<Uint8Array> {
    const file = await fs.open(this.blobPath(digest));
    try {
      const buffer = new Uint8Array(count);
      const { bytesRead } = await file.read(buffer, 0, count, 0);
      return buffer.subarray(0, bytesRead);
    } finally {
      await file.close();
    }
  }

  /** Reads a small blob whole; larger than `cap` is an error. */
  async readBlob(digest: string, cap = JSON_CAP): Promise<Uint8Array> {
    const size = await this.blobSize(digest);
    if (size === undefined) throw new BaleError(`blob ${digest} is missing from the store`);
    if (size > cap) throw new BaleError(`blob ${digest} is ${size} bytes, over the ${cap}-byte limit for JSON`);
    return new Uint8Array(await fs.readFile(this.blobPath(digest)));
  }

  async readJsonBlob(digest: string): Promise<unknown> {
    return parseJson(await this.readBlob(digest), `blob ${digest}`);
  }

  async readIndex(): Promise<Index> {
    const path = join(this.root, "index.json");
    const bytes = await fs.readFile(path).catch((error) => {
      throw new BaleError(`cannot read ${path}: ${error.code ?? error.message}`);
    });
    if (bytes.length > JSON_CAP) throw new BaleError(`${path} is over the ${JSON_CAP}-byte limit`);
    // A damaged index is reported, never silently replaced: it holds every name.
    return parseIndex(parseJson(bytes, path), path);
  }

  /** Runs `change` on the current index under the store's lock and writes the result atomically. */
  async updateIndex<T>(change: (index: Index) => T | Promise<T>): Promise<T> {
    return this.withLock(async () => {
      const index = await this.readIndex();
      const result = await change(index);
      const text = JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: index.manifests });
      await writeAtomically(join(this.root, "index.json"), text);
      return result;
    });
  }

  async withLock<T>(work: () => Promise<T>): Promise<T> {
    const lock = join(this.root, "index.json.lock");
    const started = Date.now();
    for (let attempt = 0; ; attempt++) {
      try {
        await fs.writeFile(lock, String(process.pid), { flag: "wx" });
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
        const holder = Number(await fs.readFile(lock, "utf8").catch(() => ""));
        // The holder died (e.g. kill -9), or died between creating the lock and writing its pid:
        // its lock protects nothing any more.
        if (holder ? !processAlive(holder) : await emptyAndOld(lock)) {
          await fs.rm(lock, { force: true });
          continue;
        }
        if (Date.now() - started > LOCK_TIMEOUT_MS) {
          throw new BaleError(`store ${this.root} is locked by process ${holder || "unknown"} (${lock})`);
        }
        await sleep(Math.min(5 * 2 ** attempt, 50) + Math.random() * 10);
      }
    }
    try {
      return await work();
    } finally {
      await fs.rm(lock, { force: true });
    }
  }

  async listBlobs(): Promise<string[]> {
    const digests: string[] = [];
    for (const algorithm of await fs.readdir(join(this.root, "blobs")).catch(() => [])) {
      for (const hex of await fs.readdir(join(this.root, "blobs", algorithm)).catch(() => [])) {
        digests.push(`${algorithm}:${hex}`);
      }
    }
    return digests.sort();
  }

  async removeBlob(digest: string): Promise<void> {
    await fs.rm(this.blobPath(digest), { force: true });
  }

  /** Temporary files left by writers that died (e.g. under kill -9). */
  async staleTempFiles(): Promise<string[]> {
    const dir = join(this.root, "ingest");
    const names = await fs.readdir(dir).catch(() => []);
    return names.filter((name) => !processAlive(Number(name.split("-")[0]))).map((name) => join(dir, name));
  }

  private async tempFile(): Promise<string> {
    const dir = join(this.root, "ingest");
    await fs.mkdir(dir, { recursive: true });
    return join(dir, `${process.pid}-${Math.random().toString(36).slice(2)}.tmp`);
  }
}

export function checkExpected(actual: BlobInfo, expected: Expected) {
  const what = expected.what ? `${expected.what}: ` : "";
  if (expected.digest && actual.digest !== expected.digest) {
    throw new BaleError(`${what}content has digest ${actual.digest}, but ${expected.digest} was expected`);
  }
  if (expected.size !== undefined && actual.size !== expected.size) {
    const got = actual.size > expected.size ? `more than ${expected.size}` : String(actual.size);
    throw new BaleError(`${what}${expected.digest ?? actual.digest} has ${got} bytes, but its descriptor says ${expected.size}`);
  }
}

export function parseJson(bytes: Uint8Array, where: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    throw new BaleError(`${where} is not valid JSON: ${(error as Error).message.split("\n")[0]}`);
  }
}

export async function writeAtomically(path: string, text: string | Uint8Array): Promise<void> {
  const temp = `${path}.${process.pid}-${Math.random().toString(36).slice(2)}.tmp`;
  const file = await fs.open(temp, "w");
  try {
    await file.writeFile(text);
    await file.sync();
  } finally {
    await file.close();
  }
  await fs.rename(temp, path);
}

/**
 * Creates a file with its content in one step, unless it exists: two processes creating
 * the store at once must neither clobber each other nor read a file still being written.
 */
async function createWhole(path: string, text: string): Promise<void> {
  const temp = `${path}.${process.pid}-${Math.random().toString(36).slice(2)}.tmp`;
  await fs.writeFile(temp, text);
  try {
    await fs.link(temp, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  } finally {
    await fs.rm(temp, { force: true });
  }
}

/** A lock file still without a pid long after it was made: its maker was killed before writing one. */
async function emptyAndOld(lock: string): Promise<boolean> {
  const stat = await fs.stat(lock).catch(() => undefined);
  return stat !== undefined && stat.size === 0 && Date.now() - stat.mtimeMs > EMPTY_LOCK_GRACE_MS;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const bun = (globalThis as { Bun?: { gc(force: boolean): void } }).Bun;
/** Bun frees large buffers lazily, so memory grows with the bytes streamed; a full GC every 64 MiB keeps it flat. */
async function* collectingGarbage(stream: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  if (!bun) return yield* stream;
  let sinceCollected = 0;
  for await (const chunk of stream) {
    yield chunk;
    sinceCollected += chunk.length;
    if (sinceCollected >= 64 * 1024 * 1024) {
      bun.gc(true);
      sinceCollected = 0;
    }
  }
}
