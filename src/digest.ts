// SHA-256 behind one small streaming interface, with two engines: the
// runtime's native node:crypto (fast, present in Node, Bun and Deno) and
// hash-wasm (portable). BALE_HASHER=native|wasm picks one.
import { createHash } from "node:crypto";
import { createSHA256 } from "hash-wasm";
import { BaleError } from "./errors.ts";

export interface Hasher {
  update(chunk: Uint8Array): void;
  /** The digest string, e.g. "sha256:ab12…". */
  digest(): string;
}

export type HasherEngine = "native" | "wasm";

const DIGEST = /^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

export function isDigest(value: unknown): value is string {
  return typeof value === "string" && DIGEST.test(value);
}

/** Returns the digest, or throws: a digest must pass this before it names a file. */
export function checkDigest(value: unknown, where: string): string {
  if (isDigest(value)) return value;
  const shown = typeof value === "string" ? JSON.stringify(value.slice(0, 100)) : String(value);
  throw new BaleError(`${where}: ${shown} is not a valid digest (want sha256:<64 lowercase hex>)`);
}

export function digestHex(digest: string): string {
  return digest.slice(digest.indexOf(":") + 1);
}

export function shortId(digest: string): string {
  return digestHex(digest).slice(0, 12);
}

export function hasherEngine(): HasherEngine {
  const wanted = process.env.BALE_HASHER || "native";
  if (wanted === "native" || wanted === "wasm") return wanted;
  throw new BaleError(`BALE_HASHER=${wanted}: want "native" or "wasm"`, 2);
}

export async function createHasher(engine: HasherEngine = hasherEngine()): Promise<Hasher> {
  if (engine === "native") {
    const hash = createHash("sha256");
    return {
      update: (chunk) => void hash.update(chunk),
      digest: () => `sha256:${hash.digest("hex")}`,
    };
  }
  const hash = await createSHA256();
  hash.init();
  return {
    update: (chunk) => void hash.update(chunk),
    digest: () => `sha256:${hash.digest("hex")}`,
  };
}

export async function sha256(bytes: Uint8Array, engine?: HasherEngine): Promise<string> {
  const hasher = await createHasher(engine);
  hasher.update(bytes);
  return hasher.digest();
}
