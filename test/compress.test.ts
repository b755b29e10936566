import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { concat, decompress, maybeDecompress, peek, sniffCompression, type ByteStream, type Compression } from "../src/compress.ts";
import { BaleError } from "../src/errors.ts";
import { memberName, readTar } from "../src/tar.ts";
import { fixture, has, skip } from "./cli-helpers.ts";

/** ~1.2 MB, partly compressible, so that compressed streams span several chunks. */
const PAYLOAD = Buffer.concat([
  Buffer.from("hello bale\n".repeat(50_000)),
  Buffer.from(new Uint8Array(600_000).map((_, i) => (i * 2654435761) >>> 24)),
]);

async function collect(stream: ByteStream): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.from(concat(chunks));
}

/** Compresses with the system's tool, as a user's archive would be. */
function compressWith(kind: Compression, input: Uint8Array): Buffer {
  const command = { gzip: "gzip", zstd: "zstd", xz: "xz", bzip2: "bzip2" }[kind];
  const result = spawnSync(command, ["-c"], { input, maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`${command} failed: ${result.stderr}`);
  return result.stdout;
}

function chunked(bytes: Uint8Array, size: number): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
  return chunks;
}

const MAGIC: [Compression | null, number[]][] = [
  ["gzip", [0x1f, 0x8b, 0x08, 0, 0, 0]],
  ["zstd", [0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x00]],
  ["xz", [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ["bzip2", [0x42, 0x5a, 0x68, 0x39, 0x31, 0x41]],
  [null, [0x62, 0x6c, 0x6f, 0x62, 0x73, 0x2f]], // "blobs/": a plain tar
  [null, [0x1f]], // too short to tell
  [null, []],
  [null, [0xfd, 0x37, 0x7a, 0x58, 0x5a]], // xz magic cut short
];

for (const [kind, bytes] of MAGIC) {
  test(`sniffCompression(${bytes.map((b) => b.toString(16)).join(" ") || "empty"}) is ${kind}`, () => {
    assert.is(sniffCompression(new Uint8Array(bytes)), kind);
  });
}

const KINDS: Compression[] = ["gzip", "zstd", "xz", "bzip2"];

for (const kind of KINDS) {
  test(`decompresses ${kind} made by the ${kind} command, in odd chunks`, async () => {
    if (!has(kind)) return skip(`${kind} command not installed`);
    const compressed = compressWith(kind, PAYLOAD);
    assert.is(sniffCompression(compressed), kind);
    for (const size of [1 << 20, 4099]) {
      const out = await collect(decompress(chunked(compressed, size), kind));
      assert.ok(out.equals(PAYLOAD), `chunk size ${size}`);
    }
  });

  test(`maybeDecompress detects ${kind}`, async () => {
    if (!has(kind)) return skip(`${kind} command not installed`);
    const { kind: found, stream } = await maybeDecompress(chunked(compressWith(kind, PAYLOAD), 3));
    assert.is(found, kind);
    assert.ok((await collect(stream)).equals(PAYLOAD));
  });
}

test("maybeDecompress passes plain data through untouched", async () => {
  const { kind, stream } = await maybeDecompress(chunked(PAYLOAD, 2));
  assert.is(kind, null);
  assert.ok((await collect(stream)).equals(PAYLOAD));
});

test("peek hands back every byte, however the stream is chunked", async () => {
  for (const size of [1, 5, 512, 100_000]) {
    const { head, stream } = await peek(chunked(PAYLOAD, size), 512);
    assert.ok(Buffer.from(head).equals(PAYLOAD.subarray(0, 512)));
    assert.ok((await collect(stream)).equals(PAYLOAD), `chunk size ${size}`);
  }
  const short = await peek([new Uint8Array([1, 2])], 512);
  assert.equal([...short.head], [1, 2]);
  assert.equal([...(await collect(short.stream))], [1, 2]);
});

for (const kind of KINDS) {
  test(`truncated ${kind} is a BaleError`, async () => {
    if (!has(kind)) return skip(`${kind} command not installed`);
    const compressed = compressWith(kind, PAYLOAD);
    for (const cut of [10, Math.floor(compressed.length / 2), compressed.length - 4]) {
      try {
        await collect(decompress([compressed.subarray(0, cut)], kind));
        assert.unreachable(`${kind} cut at ${cut} was accepted`);
      } catch (error) {
        assert.instance(error, BaleError, `${kind} cut at ${cut}: ${(error as Error).message}`);
        assert.match((error as Error).message, /corrupt or truncated/);
      }
    }
  });
}

test("corrupt gzip is a BaleError", async () => {
  const compressed = Buffer.from(compressWith("gzip", PAYLOAD));
  compressed.fill(0x55, 100, 200);
  try {
    await collect(decompress([compressed], "gzip"));
    assert.unreachable();
  } catch (error) {
    assert.instance(error, BaleError);
  }
});

test("public/content.tar.zst decompresses to a tar", async () => {
  const bytes = readFileSync(fixture("public/content.tar.zst"));
  const { kind, stream } = await maybeDecompress([bytes]);
  assert.is(kind, "zstd");
  const names: string[] = [];
  for await (const member of readTar(stream)) names.push(member.name);
  assert.ok(names.length > 0, "has members");
  const listed = spawnSync("tar", ["--zstd", "-tf", fixture("public/content.tar.zst")], { encoding: "utf8" });
  if (listed.status === 0) assert.equal(names, listed.stdout.split("\n").filter(Boolean).map(memberName));
});

test.run();
