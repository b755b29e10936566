import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { Writable } from "node:stream";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { concat, type ByteStream } from "../src/compress.ts";
import { BaleError } from "../src/errors.ts";
import { linkTarget, memberName, readTar, writeTar, type TarOutEntry } from "../src/tar.ts";
import { fixture } from "./cli-helpers.ts";
import { makeTar } from "./support/craft.ts";

interface Read {
  name: string;
  type: string;
  size: number;
  linkname?: string;
  text?: string;
}

async function readAll(input: ByteStream, keepBodies = false): Promise<Read[]> {
  const out: Read[] = [];
  for await (const member of readTar(input)) {
    const item: Read = { name: member.name, type: member.type, size: member.size };
    if (member.linkname) item.linkname = member.linkname;
    if (keepBodies && member.type === "file") {
      const chunks: Uint8Array[] = [];
      for await (const chunk of member.body) chunks.push(chunk);
      item.text = new TextDecoder().decode(concat(chunks));
    }
    out.push(item);
  }
  return out;
}

/** Member names as GNU tar lists them, normalized the way memberName does. */
function tarList(path: string): string[] {
  const result = spawnSync("tar", ["tf", path], { encoding: "utf8" });
  return result.stdout.split("\n").filter(Boolean).map((name) => name.replace(/\/$/, ""));
}

const realTars = readdirSync(fixture("real")).filter((name) => name.endsWith(".tar"));

for (const name of realTars) {
  test(`readTar lists the members of real/${name} as tar(1) does`, async () => {
    const members = await readAll([readFileSync(fixture(`real/${name}`))]);
    assert.equal(members.map((member) => member.name), tarList(fixture(`real/${name}`)));
  });
}

test("readTar reads a real layer: PAX long and unicode names, links, empty file", async () => {
  // podman's docker archive holds layer 2 (the edge cases) as <diff_id>.tar.
  let layer: Uint8Array | undefined;
  for await (const member of readTar([readFileSync(fixture("real/podman-docker.tar"))])) {
    if (member.name.startsWith("0f92faf8") && member.type === "file") {
      const chunks: Uint8Array[] = [];
      for await (const chunk of member.body) chunks.push(chunk);
      layer = concat(chunks);
    }
  }
  assert.ok(layer, "layer 2 found");
  const members = await readAll([layer!]);
  const byName = new Map(members.map((member) => [member.name, member]));
  assert.ok(members.some((member) => member.name.length >= 150), "150-character path");
  assert.ok(byName.has("data/ünïcødé-名前 ✓.txt"), "unicode name");
  assert.is(byName.get("data/hardlink.txt")?.type, "hardlink");
  assert.is(byName.get("data/hardlink.txt")?.linkname, "data/hardlink-target.txt");
  assert.is(byName.get("data/rel-link")?.type, "symlink");
  assert.is(byName.get("data/rel-link")?.linkname, "../etc/os-release");
  assert.is(byName.get("data/abs-link")?.linkname, "/etc/os-release");
  assert.is(byName.get("data/empty-file")?.size, 0);
  assert.is(byName.get("data/empty-dir")?.type, "directory");
});

test("readTar skips bodies the consumer does not read", async () => {
  const tar = makeTar([
    { name: "a", body: "x".repeat(5000) },
    { name: "b", body: "second" },
  ]);
  const names: string[] = [];
  let text = "";
  for await (const member of readTar([tar])) {
    names.push(member.name);
    if (member.name === "b") for await (const chunk of member.body) text += new TextDecoder().decode(chunk);
  }
  assert.equal(names, ["a", "b"]);
  assert.is(text, "second");
});

test("readTar reads a tar split into 1-byte and odd chunks", async () => {
  const tar = makeTar([{ name: "dir/file", body: "hello" }, { name: "link", type: "2", linkname: "dir/file" }]);
  for (const step of [1, 3, 511, 513]) {
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < tar.length; i += step) chunks.push(tar.subarray(i, i + step));
    const members = await readAll(chunks, true);
    assert.equal(members, [
      { name: "dir/file", type: "file", size: 5, text: "hello" },
      { name: "link", type: "symlink", size: 0, linkname: "dir/file" },
    ], `step ${step}`);
  }
});

const BAD_NAMES: [string, RegExp][] = [
  ["../x", /escapes the archive/],
  ["/abs", /absolute name/],
  ["/etc/passwd", /absolute name/],
  ["a/../../b", /escapes the archive/],
  ["a/../b", /escapes the archive/],
  ["..", /escapes the archive/],
  ["blobs/sha256/../../x", /escapes the archive/],
];

for (const [raw, pattern] of BAD_NAMES) {
  test(`memberName refuses ${JSON.stringify(raw)}`, () => {
    assert.throws(() => memberName(raw), (error: Error) => error instanceof BaleError && pattern.test(error.message));
  });
}

const GOOD_NAMES: [string, string][] = [
  ["./a//b", "a/b"],
  ["a/b/", "a/b"],
  ["./manifest.json", "manifest.json"],
  ["a/./b/.", "a/b"],
  ["blobs/sha256/abc", "blobs/sha256/abc"],
  ["..foo/x..", "..foo/x.."],
];

for (const [raw, normal] of GOOD_NAMES) {
  test(`memberName normalizes ${JSON.stringify(raw)} to ${JSON.stringify(normal)}`, () => {
    assert.is(memberName(raw), normal);
  });
}

test("readTar refuses traversing member names with a BaleError", async () => {
  for (const name of ["../x", "/etc/x", "blobs/sha256/../../x"]) {
    const tar = makeTar([{ name: "ok", body: "1" }, { name, body: "2" }]);
    try {
      await readAll([tar]);
      assert.unreachable(`${name} was accepted`);
    } catch (error) {
      assert.instance(error, BaleError);
    }
  }
});

const LINKS: [member: string, type: "symlink" | "hardlink", target: string, expected: string | RegExp][] = [
  ["dir/layer.tar", "symlink", "../blobs/sha256/abc", "blobs/sha256/abc"],
  ["dir/layer.tar", "symlink", "other.tar", "dir/other.tar"],
  ["dir/layer.tar", "symlink", "./x/../y", "dir/y"],
  ["a/b/c", "symlink", "../../d", "d"],
  ["dir/layer.tar", "hardlink", "blobs/sha256/abc", "blobs/sha256/abc"],
  ["dir/layer.tar", "hardlink", "./a//b", "a/b"],
  ["dir/layer.tar", "symlink", "/etc/passwd", /links outside/],
  ["dir/layer.tar", "symlink", "../../etc/passwd", /links outside/],
  ["layer.tar", "symlink", "../x", /links outside/],
  ["dir/layer.tar", "hardlink", "../x", /links outside/],
  ["dir/layer.tar", "hardlink", "/x", /links outside/],
];

for (const [member, type, target, expected] of LINKS) {
  test(`linkTarget: ${type} ${member} -> ${target}`, () => {
    if (typeof expected === "string") assert.is(linkTarget(member, type, target), expected);
    else assert.throws(() => linkTarget(member, type, target), (error: Error) => error instanceof BaleError && expected.test(error.message));
  });
}

class Collect extends Writable {
  chunks: Buffer[] = [];
  _write(chunk: Buffer, _: string, done: () => void) {
    this.chunks.push(chunk);
    done();
  }
  get bytes() {
    return Buffer.concat(this.chunks);
  }
}

const longName = `blobs/${"d".repeat(70)}/${"f".repeat(73)}`;
const unicodeName = "data/ünïcødé-名前 ✓.txt";

function sampleEntries(): TarOutEntry[] {
  const big = new Uint8Array(300_000).map((_, i) => (i * 31) & 255);
  return [
    { name: "blobs", type: "directory", size: 0 },
    { name: "blobs/sha256", type: "directory", size: 0 },
    { name: "blobs/sha256/big", size: big.length, open: () => (async function* () {
      for (let i = 0; i < big.length; i += 65_000) yield big.subarray(i, i + 65_000);
    })() },
    { name: "index.json", size: 2, open: () => new TextEncoder().encode("{}") },
    { name: "empty", size: 0, open: () => new Uint8Array(0) },
    { name: longName, size: 4, open: () => new TextEncoder().encode("long") },
    { name: unicodeName, size: 3, open: () => new TextEncoder().encode("uni") },
  ];
}

async function written(entries: TarOutEntry[]): Promise<Buffer> {
  const sink = new Collect();
  await writeTar(entries, sink);
  return sink.bytes;
}

test("writeTar output is byte-identical across runs", async () => {
  const first = await written(sampleEntries());
  const second = await written(sampleEntries());
  assert.ok(first.length > 300_000);
  assert.is(first.length % 512, 0);
  assert.ok(first.equals(second), "identical bytes");
});

test("writeTar output reads back, with long and unicode names via PAX", async () => {
  const members = await readAll([await written(sampleEntries())], true);
  assert.equal(members.map((member) => [member.name, member.type, member.size]), [
    ["blobs", "directory", 0],
    ["blobs/sha256", "directory", 0],
    ["blobs/sha256/big", "file", 300_000],
    ["index.json", "file", 2],
    ["empty", "file", 0],
    [longName, "file", 4],
    [unicodeName, "file", 3],
  ]);
  assert.is(longName.length, 150);
  assert.is(members[5].text, "long");
  assert.is(members[6].text, "uni");
});

test("writeTar output is readable by tar(1) with fixed metadata", async () => {
  const bytes = await written(sampleEntries());
  const result = spawnSync("tar", ["tvf", "-", "--numeric-owner", "--full-time"], { input: bytes, encoding: "utf8" });
  assert.is(result.status, 0, result.stderr);
  const lines = result.stdout.trim().split("\n");
  assert.is(lines.length, 7);
  for (const line of lines) assert.match(line, / 0\/0 .* 1970-01-01 00:00:00 /);
  assert.ok(result.stdout.includes(longName));
  assert.ok(result.stdout.includes(unicodeName));
});

test("writeTar refuses content whose size differs from the entry's", async () => {
  try {
    await written([{ name: "short", size: 10, open: () => new Uint8Array(3) }]);
    assert.unreachable();
  } catch (error) {
    assert.ok(error instanceof BaleError || error instanceof Error);
    assert.match((error as Error).message, /short|size|bytes/);
  }
});

test("a truncated tar is a BaleError at every cut point", async () => {
  const tar = makeTar([
    { name: "a", body: "x".repeat(700) },
    { name: "b", body: "y".repeat(100) },
  ]);
  // Cuts inside the first header, inside a body, at a header boundary before the end marker.
  for (const cut of [100, 512 + 300, 512 + 1024 + 256, 512 + 1024 + 512 + 50]) {
    try {
      await readAll([tar.subarray(0, cut)], true);
      assert.unreachable(`cut at ${cut} was accepted`);
    } catch (error) {
      assert.instance(error, BaleError, `cut at ${cut}: ${(error as Error).message}`);
    }
  }
});

test("garbage is a BaleError, not a crash", async () => {
  const garbage = new Uint8Array(4096).map((_, i) => (i * 131 + 7) & 255);
  try {
    await readAll([garbage]);
    assert.unreachable();
  } catch (error) {
    assert.instance(error, BaleError);
  }
});

test.run();
