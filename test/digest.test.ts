import { test } from "uvu";
import * as assert from "uvu/assert";
import { checkDigest, createHasher, hasherEngine, isDigest, sha256, shortId, type HasherEngine } from "../src/digest.ts";
import { BaleError } from "../src/errors.ts";

/** 3 MiB of deterministic, non-repeating-looking bytes; its sha256 was computed with sha256sum. */
function payload(): Uint8Array {
  const bytes = new Uint8Array(3 * 1024 * 1024);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + (i >>> 11)) & 255;
  return bytes;
}
const PAYLOAD_DIGEST = "sha256:839e68bc6ae1e579fdc0f853660e26361d8afe72057cd640b1eb6e34b5f82202";
const ENGINES: HasherEngine[] = ["native", "wasm"];

for (const engine of ENGINES) {
  test(`${engine}: hashes 3 MiB in odd chunk sizes to the known digest`, async () => {
    const bytes = payload();
    for (const step of [1, 7, 4095, 65537, 1_000_003, bytes.length]) {
      // 1-byte chunks over 3 MiB are slow; hash the first 64 KiB that way, the rest in one go.
      const hasher = await createHasher(engine);
      let offset = 0;
      const limit = step === 1 ? 65536 : bytes.length;
      while (offset < limit) {
        const end = Math.min(offset + step, limit);
        hasher.update(bytes.subarray(offset, end));
        offset = end;
      }
      if (offset < bytes.length) hasher.update(bytes.subarray(offset));
      assert.is(hasher.digest(), PAYLOAD_DIGEST, `chunk size ${step}`);
    }
  });

  test(`${engine}: known small values`, async () => {
    assert.is(await sha256(new TextEncoder().encode("abc"), engine), "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert.is(await sha256(new Uint8Array(0), engine), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  });
}

test("both engines agree on the same odd-chunked stream", async () => {
  const bytes = payload();
  const digests: string[] = [];
  for (const engine of ENGINES) {
    const hasher = await createHasher(engine);
    // Chunk boundaries that move: 1, 2, 3 … bytes then big ones.
    let offset = 0;
    for (let size = 1; offset < bytes.length; size = size < 300 ? size + 1 : size * 3 + 1) {
      hasher.update(bytes.subarray(offset, offset + size));
      offset += size;
    }
    digests.push(hasher.digest());
  }
  assert.equal(digests, [PAYLOAD_DIGEST, PAYLOAD_DIGEST]);
});

const SHA256 = `sha256:${"a".repeat(64)}`;
const SHA512 = `sha512:${"0123456789abcdef".repeat(8)}`;

test("checkDigest accepts the sha256 and sha512 forms", () => {
  assert.is(checkDigest(SHA256, "here"), SHA256);
  assert.is(checkDigest(SHA512, "here"), SHA512);
  assert.ok(isDigest(PAYLOAD_DIGEST));
});

const BAD: [string, unknown][] = [
  ["path traversal", "sha256:../../etc/passwd"],
  ["uppercase hex", `sha256:${"A".repeat(64)}`],
  ["short hex", "sha256:abc123"],
  ["long hex", `sha256:${"a".repeat(65)}`],
  ["sha512 with sha256 length", `sha512:${"a".repeat(64)}`],
  ["unknown algorithm", `md5:${"a".repeat(64)}`],
  ["no algorithm", "a".repeat(64)],
  ["trailing newline", `${SHA256}\n`],
  ["slash inside", `sha256:${"a".repeat(32)}/${"a".repeat(31)}`],
  ["empty", ""],
  ["not a string", 42],
  ["null", null],
];

for (const [what, value] of BAD) {
  test(`checkDigest rejects ${what}`, () => {
    assert.not.ok(isDigest(value));
    assert.throws(() => checkDigest(value, "index.json"), (error: Error) => error instanceof BaleError && /index\.json: .*not a valid digest/.test(error.message));
  });
}

test("checkDigest shows at most 100 characters of a long bad value", () => {
  try {
    checkDigest(`sha256:${"x".repeat(10_000)}`, "m");
    assert.unreachable();
  } catch (error) {
    assert.ok((error as Error).message.length < 200);
  }
});

test("shortId is the first 12 hex digits", () => {
  assert.is(shortId(PAYLOAD_DIGEST), "839e68bc6ae1");
});

function withHasher<T>(value: string | undefined, run: () => T): T {
  const saved = process.env.BALE_HASHER;
  if (value === undefined) delete process.env.BALE_HASHER;
  else process.env.BALE_HASHER = value;
  try {
    return run();
  } finally {
    if (saved === undefined) delete process.env.BALE_HASHER;
    else process.env.BALE_HASHER = saved;
  }
}

test("BALE_HASHER picks the engine; native by default", () => {
  assert.is(withHasher(undefined, hasherEngine), "native");
  assert.is(withHasher("", hasherEngine), "native");
  assert.is(withHasher("wasm", hasherEngine), "wasm");
  assert.is(withHasher("native", hasherEngine), "native");
});

test("BALE_HASHER invalid is a usage error", async () => {
  for (const value of ["sha1", "WASM", "js"]) {
    assert.throws(() => withHasher(value, hasherEngine), (error: Error) => error instanceof BaleError && error.exitCode === 2 && error.message.includes(`BALE_HASHER=${value}`));
  }
  const saved = process.env.BALE_HASHER;
  process.env.BALE_HASHER = "bogus";
  try {
    await createHasher().then(() => assert.unreachable("createHasher should refuse"), (error) => assert.instance(error, BaleError));
  } finally {
    if (saved === undefined) delete process.env.BALE_HASHER;
    else process.env.BALE_HASHER = saved;
  }
});

test.run();
