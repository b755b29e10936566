import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { BaleError } from "../src/errors.ts";
import { MediaType, type Descriptor } from "../src/oci.ts";
import { Store, writeAtomically } from "../src/store.ts";
import { tempDir } from "./cli-helpers.ts";
import { sha256 } from "./support/craft.ts";

const dirs: string[] = [];
function fresh(): string {
  const dir = tempDir("bale-store-");
  dirs.push(dir);
  return join(dir, "root");
}
test.after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

const bytes = (text: string) => new TextEncoder().encode(text);
const leftovers = (root: string) => (existsSync(join(root, "ingest")) ? readdirSync(join(root, "ingest")) : []);

async function rejects(promise: Promise<unknown>, pattern: RegExp) {
  try {
    await promise;
  } catch (error) {
    assert.instance(error, BaleError, (error as Error).message);
    assert.match((error as Error).message, pattern);
    return;
  }
  assert.unreachable(`expected an error matching ${pattern}`);
}

test("open creates an OCI layout in a missing directory", async () => {
  const root = fresh();
  await Store.open(root);
  assert.equal(JSON.parse(readFileSync(join(root, "oci-layout"), "utf8")), { imageLayoutVersion: "1.0.0" });
  assert.equal(JSON.parse(readFileSync(join(root, "index.json"), "utf8")), { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] });
  assert.ok(existsSync(join(root, "blobs", "sha256")));
});

test("open creates a layout in an empty directory and reopens an existing one", async () => {
  const root = fresh();
  mkdirSync(root);
  const store = await Store.open(root);
  await store.putBytes(bytes("kept"));
  const again = await Store.open(root);
  assert.equal(await again.listBlobs(), [sha256("kept")]);
});

test("many opens of a new store at once all see a whole layout", async () => {
  const root = fresh();
  const stores = await Promise.all(Array.from({ length: 12 }, () => Store.open(root)));
  for (const store of await Promise.all(stores.map((store) => store.readIndex()))) assert.equal(store.manifests, []);
  assert.equal(readdirSync(root).sort(), ["blobs", "index.json", "oci-layout"]);
});

test("a store whose creation was cut short (only blobs/) is completed", async () => {
  const root = fresh();
  mkdirSync(join(root, "blobs", "sha256"), { recursive: true });
  const store = await Store.open(root);
  assert.equal((await store.readIndex()).manifests, []);
  assert.ok(existsSync(join(root, "oci-layout")));
});

test("open refuses a non-empty directory that is not a layout, and leaves it alone", async () => {
  const root = fresh();
  mkdirSync(root);
  writeFileSync(join(root, "notes.txt"), "mine");
  await rejects(Store.open(root), /not an OCI image layout/);
  assert.equal(readdirSync(root), ["notes.txt"]);
});

test("open refuses a file as root", async () => {
  const root = fresh();
  mkdirSync(join(root, ".."), { recursive: true });
  writeFileSync(root, "a file");
  await rejects(Store.open(root), /not a directory/);
});

test("ingest stores a blob under its digest", async () => {
  const store = await Store.open(fresh());
  const chunks = [bytes("hello "), bytes("world")];
  const info = await store.ingest(chunks);
  assert.equal(info, { digest: sha256("hello world"), size: 11 });
  assert.is(readFileSync(store.blobPath(info.digest), "utf8"), "hello world");
  assert.is(await store.blobSize(info.digest), 11);
  assert.equal(leftovers(store.root), []);
});

test("ingest with a wrong expected digest fails, leaving no blob and no temp file", async () => {
  const root = fresh();
  const store = await Store.open(root);
  const wrong = sha256("something else");
  await rejects(store.ingest([bytes("payload")], { digest: wrong, what: "layer 1" }), /layer 1: content has digest sha256:[0-9a-f]{64}, but sha256:[0-9a-f]{64} was expected/);
  assert.equal(await store.listBlobs(), []);
  assert.equal(leftovers(root), []);
});

test("ingest with a wrong expected size fails, leaving nothing", async () => {
  const root = fresh();
  const store = await Store.open(root);
  await rejects(store.ingest([bytes("payload")], { size: 3 }), /more than 3/);
  await rejects(store.ingest([bytes("payload")], { size: 30 }), /has 7 bytes, but its descriptor says 30/);
  assert.equal(await store.listBlobs(), []);
  assert.equal(leftovers(root), []);
});

test("ingest of a failing stream leaves nothing", async () => {
  const root = fresh();
  const store = await Store.open(root);
  async function* broken() {
    yield bytes("partial");
    throw new BaleError("source broke");
  }
  await rejects(store.ingest(broken()), /source broke/);
  assert.equal(await store.listBlobs(), []);
  assert.equal(leftovers(root), []);
});

test("blobPath refuses names that are not digests", async () => {
  const store = await Store.open(fresh());
  for (const digest of ["sha256:../../etc/passwd", "sha256:ABC", "../x"]) {
    assert.throws(() => store.blobPath(digest), /not a valid digest/);
  }
});

test("readBlob caps JSON size and reports a missing blob", async () => {
  const store = await Store.open(fresh());
  const info = await store.putBytes(bytes("x".repeat(100)));
  await rejects(store.readBlob(info.digest, 10), /over the 10-byte limit/);
  await rejects(store.readBlob(sha256("absent")), /missing from the store/);
});

const descriptor = (n: number): Descriptor => ({
  mediaType: MediaType.ociManifest,
  digest: sha256(`image ${n}`),
  size: n,
  annotations: { "org.opencontainers.image.ref.name": `docker.io/library/image:${n}` },
});

test("updateIndex writes atomically and leaves no temp files", async () => {
  const root = fresh();
  const store = await Store.open(root);
  const result = await store.updateIndex((index) => {
    index.manifests.push(descriptor(1));
    return "done";
  });
  assert.is(result, "done");
  assert.equal(JSON.parse(readFileSync(join(root, "index.json"), "utf8")).manifests, [descriptor(1)]);
  assert.equal(readdirSync(root).sort(), ["blobs", "index.json", "leases", "oci-layout"].filter((name) => existsSync(join(root, name))).sort());
  assert.not.ok(existsSync(join(root, "index.json.lock")), "lock released");
});

test("updateIndex that throws changes nothing and releases the lock", async () => {
  const root = fresh();
  const store = await Store.open(root);
  await store.updateIndex((index) => void index.manifests.push(descriptor(1)));
  const before = readFileSync(join(root, "index.json"), "utf8");
  await rejects(
    store.updateIndex((index) => {
      index.manifests = [];
      throw new BaleError("changed my mind");
    }),
    /changed my mind/,
  );
  assert.is(readFileSync(join(root, "index.json"), "utf8"), before);
  assert.not.ok(existsSync(join(root, "index.json.lock")));
});

test("20 concurrent updateIndex calls lose no entry", async () => {
  const store = await Store.open(fresh());
  await Promise.all(
    Array.from({ length: 20 }, (_, n) =>
      store.updateIndex(async (index) => {
        // Yield between read and write, so that an unlocked update would lose entries.
        await new Promise((resolve) => setTimeout(resolve, 1));
        index.manifests.push(descriptor(n));
      }),
    ),
  );
  const digests = (await store.readIndex()).manifests.map((entry) => entry.digest).sort();
  assert.equal(digests, Array.from({ length: 20 }, (_, n) => descriptor(n).digest).sort());
});

test("a lock left by a dead process is taken over", async () => {
  const root = fresh();
  const store = await Store.open(root);
  // PIDs this large do not exist on Linux (pid_max ≤ 4194304).
  writeFileSync(join(root, "index.json.lock"), "99999999");
  await store.updateIndex((index) => void index.manifests.push(descriptor(1)));
  assert.is((await store.readIndex()).manifests.length, 1);
});

test("an empty lock left by a writer killed before writing its pid is taken over once old", async () => {
  const root = fresh();
  const store = await Store.open(root);
  const lock = join(root, "index.json.lock");
  writeFileSync(lock, "");
  const old = new Date(Date.now() - 60_000);
  utimesSync(lock, old, old);
  await store.updateIndex((index) => void index.manifests.push(descriptor(1)));
  assert.is((await store.readIndex()).manifests.length, 1);
  assert.not.ok(existsSync(lock));
});

const CORRUPT: [string, string][] = [
  ["truncated JSON", '{"schemaVersion":2,"manifests":[{"mediaType":'],
  ["empty file", ""],
  ["not an index", '{"hello":"world"}'],
  ["a bad digest", JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MediaType.ociManifest, digest: "sha256:../../etc/passwd", size: 1 }] })],
];

for (const [what, text] of CORRUPT) {
  test(`index.json with ${what}: a clear error, and the file is left untouched`, async () => {
    const root = fresh();
    const store = await Store.open(root);
    writeFileSync(join(root, "index.json"), text);
    await rejects(store.readIndex(), /index\.json/);
    await rejects(store.updateIndex((index) => void index.manifests.push(descriptor(1))), /index\.json/);
    assert.is(readFileSync(join(root, "index.json"), "utf8"), text);
    assert.not.ok(existsSync(join(root, "index.json.lock")));
  });
}

test("writeAtomically replaces a file whole", async () => {
  const root = fresh();
  mkdirSync(root);
  const path = join(root, "f.json");
  writeFileSync(path, "old");
  await writeAtomically(path, "new content");
  assert.is(readFileSync(path, "utf8"), "new content");
  assert.equal(readdirSync(root), ["f.json"]);
});

test("leases hold blobs for live processes only", async () => {
  const root = fresh();
  const store = await Store.open(root);
  const lease = await store.lease();
  await lease.add(sha256("a"));
  assert.ok((await store.leasedBlobs()).has(sha256("a")));
  writeFileSync(join(root, "leases", "99999999-dead"), `${sha256("b")}\n`);
  const held = await store.leasedBlobs();
  assert.not.ok(held.has(sha256("b")));
  assert.not.ok(existsSync(join(root, "leases", "99999999-dead")), "dead lease removed");
  await lease.release();
  assert.not.ok((await store.leasedBlobs()).has(sha256("a")));
});

test("staleTempFiles names only files of dead writers", async () => {
  const root = fresh();
  const store = await Store.open(root);
  mkdirSync(join(root, "ingest"), { recursive: true });
  writeFileSync(join(root, "ingest", "99999999-x.tmp"), "dead");
  writeFileSync(join(root, "ingest", `${process.pid}-y.tmp`), "alive");
  assert.equal(await store.staleTempFiles(), [join(root, "ingest", "99999999-x.tmp")]);
});

test.run();
