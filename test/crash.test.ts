// Concurrency and crash safety (issues 2 and 6): many bale processes on one
// root lose no update, and a bale killed with SIGKILL leaves a store that
// verifies, lists the same images, shows no partial blob, and takes a rerun.
import { createHash } from "node:crypto";
import { createReadStream, existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { fixture, sandbox, tempDir } from "./cli-helpers.ts";
import { blobCount, ingestBytes, killAt, run, type KillPoint } from "./support/process.ts";
import { makeBigRootfs, makeRootfs } from "./support/rootfs.ts";

type Sandbox = ReturnType<typeof sandbox>;
const boxes: Sandbox[] = [];
function box(): Sandbox {
  const s = sandbox();
  boxes.push(s);
  return s;
}
const scratch = tempDir("bale-crash-");
test.after(() => {
  boxes.forEach((s) => s.cleanup());
  rmSync(scratch, { recursive: true, force: true });
});

const names = (s: Sandbox) => [...new Set(s.images().flatMap((row) => row.Names))].sort();

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk);
  return hash.digest("hex");
}

/** What a crash may never leave behind: a blob file whose bytes are not its digest's. */
async function assertNoPartialBlob(s: Sandbox) {
  const dir = join(s.root, "blobs", "sha256");
  for (const name of readdirSync(dir)) {
    assert.match(name, /^[0-9a-f]{64}$/, `stray file in blobs: ${name}`);
    assert.is(await sha256File(join(dir, name)), name, `blob ${name} holds other bytes`);
  }
}

/** After a crash: verify passes, the images are as before, no partial blob, and prune clears temp files. */
async function assertRecovered(s: Sandbox, imagesBefore: string, label: string) {
  const verify = s.run("verify");
  assert.is(verify.status, 0, `${label}: verify failed: ${verify.stderr}`);
  assert.is(JSON.stringify(s.images()), imagesBefore, `${label}: images changed`);
  await assertNoPartialBlob(s);
  s.ok("prune");
  assert.equal(existsSync(join(s.root, "ingest")) ? readdirSync(join(s.root, "ingest")) : [], [], `${label}: prune left temp files`);
  assert.is(JSON.stringify(s.images()), imagesBefore, `${label}: prune changed the images`);
}

// ── concurrency ───────────────────────────────────────────────────────────

test("8 tag and import processes at once on one root lose no name", async () => {
  const s = box();
  s.ok("import", makeRootfs(s.dir, "base", "base"), "base:1");
  const rootfs = Array.from({ length: 4 }, (_, i) => makeRootfs(s.dir, `fs${i}`, `concurrent ${i}`));
  const jobs = [
    ...Array.from({ length: 4 }, (_, i) => run(["--root", s.root, "tag", "base:1", `tagged:${i}`])),
    ...rootfs.map((path, i) => run(["--root", s.root, "import", path, `imported:${i}`])),
  ];
  const results = await Promise.all(jobs);
  for (const result of results) assert.is(result.status, 0, result.stderr);
  const expected = ["base:1", ...[0, 1, 2, 3].map((i) => `tagged:${i}`), ...[0, 1, 2, 3].map((i) => `imported:${i}`)];
  assert.equal(names(s), expected.sort());
  assert.is(s.ok("verify").trim(), `${3 + 4 * 3} blobs verified`);
});

test("8 mixed processes (loads, saves, tags, rmi, prune) on one root", async () => {
  const s = box();
  for (const name of ["keep-a", "keep-b", "gone-a", "gone-b"]) s.ok("import", makeRootfs(s.dir, name, name), `${name}:1`);
  const out = (name: string) => join(s.dir, name);
  const jobs: [string, string[]][] = [
    ["load docker20", ["load", "-i", fixture("real/docker20-save.tar")]],
    ["load skopeo-oci", ["load", "-i", fixture("real/skopeo-oci.tar"), "-r", "localhost/tiny-oci:1=1"]],
    ["save docker", ["save", "-o", out("a.tar"), "keep-a:1"]],
    ["save oci", ["save", "-f", "oci", "-o", out("b.tar"), "keep-b:1"]],
    ["tag", ["tag", "keep-a:1", "new:1"]],
    ["rmi gone-a", ["rmi", "gone-a:1"]],
    ["rmi gone-b", ["rmi", "gone-b:1"]],
    ["prune", ["prune"]],
  ];
  const results = await Promise.all(jobs.map(([, args]) => run(["--root", s.root, ...args])));
  results.forEach((result, i) => assert.is(result.status, 0, `${jobs[i][0]}: ${result.stderr}`));

  assert.equal(names(s), ["keep-a:1", "keep-b:1", "localhost/tiny-extra:1", "localhost/tiny-oci:1", "localhost/tiny:1", "new:1"]);
  s.ok("verify");
  await assertNoPartialBlob(s);

  // The saved archives are whole: they load into a fresh store.
  const other = box();
  other.ok("load", "-i", out("a.tar"));
  other.ok("load", "-i", out("b.tar"), "-r", "keep-b:1=docker.io/library/keep-b:1");
  assert.equal(names(other), ["keep-a:1", "keep-b:1"]);
  other.ok("verify");
});

test("a prune racing loads of the same blobs keeps every blob the loaded images need", async () => {
  const s = box();
  for (let round = 0; round < 2; round++) {
    const results = await Promise.all([
      run(["--root", s.root, "load", "-i", fixture("real/podman-docker.tar")]),
      run(["--root", s.root, "prune"]),
      run(["--root", s.root, "load", "-i", fixture("real/docker20-save.tar")]),
      run(["--root", s.root, "prune"]),
      run(["--root", s.root, "rmi", "localhost/tiny:1"]),
    ]);
    // rmi may run before or after the loads: it succeeds or finds no such image.
    results.slice(0, 4).forEach((result) => assert.is(result.status, 0, result.stderr));
    const verify = s.run("verify");
    assert.is(verify.status, 0, verify.stderr);
  }
});

// ── SIGKILL mid-work ──────────────────────────────────────────────────────

const BIG_MB = 200;
let bigRootfs: string | undefined;
const big = () => (bigRootfs ??= makeBigRootfs(scratch, BIG_MB));

/** Kill points: a few delays, and states of the store seen mid-stream. */
const KILL_POINTS: KillPoint[] = [
  { label: "100 ms", after: 100 },
  { label: "300 ms", after: 300 },
  { label: "700 ms", after: 700 },
  { label: "first bytes written", when: (root) => ingestBytes(root) > 0 },
  { label: "halfway through the first blob", when: (root) => ingestBytes(root) > (BIG_MB / 2) * 1024 * 1024 },
];

/** Runs `args` (which make big:1) and kills it at each point; returns how many kills landed mid-work. */
async function killAtEachPoint(s: Sandbox, args: string[], afterKill: (label: string) => Promise<void>): Promise<number> {
  let killed = 0;
  for (const point of KILL_POINTS) {
    const result = await killAt(["--root", s.root, ...args], s.root, point);
    if (!result.killed) {
      // It finished first; then it must have succeeded. Undo it for the next round.
      assert.is(result.status, 0, `${point.label}: ${result.stderr}`);
      s.ok("rmi", "big:1");
      continue;
    }
    killed++;
    await afterKill(point.label);
  }
  return killed;
}

test("SIGKILL of an import at several points leaves a sound store; a rerun succeeds", async () => {
  const s = box();
  s.ok("import", makeRootfs(s.dir, "small", "small"), "small:1");
  const before = JSON.stringify(s.images());
  const blobsBefore = blobCount(s.root);
  const killedMidStream = await killAtEachPoint(s, ["import", big(), "big:1"], async (label) => {
    await assertRecovered(s, before, label);
    assert.ok(blobCount(s.root) === blobsBefore, `${label}: prune left blobs of the killed import`);
  });
  assert.ok(killedMidStream > 0, "at least one kill landed mid-import");
  const id = s.ok("import", big(), "big:1").trim();
  assert.is(s.images().find((row) => row.Repository === "big")?.ID, id);
  s.ok("verify");
});

test("SIGKILL of a load of a big docker archive at several points; a rerun succeeds", async () => {
  const maker = box();
  maker.ok("import", big(), "big:1");
  const archive = join(scratch, "big-docker.tar");
  maker.ok("save", "-o", archive, "big:1");
  maker.cleanup();

  const s = box();
  s.ok("import", makeRootfs(s.dir, "small", "small"), "small:1");
  const before = JSON.stringify(s.images());
  const killedMidStream = await killAtEachPoint(s, ["load", "-i", archive], (label) => assertRecovered(s, before, label));
  assert.ok(killedMidStream > 0, "at least one kill landed mid-load");
  const loaded = s.ok("load", "-i", archive);
  assert.match(loaded, /Loaded image: big:1/);
  s.ok("verify");
  assert.equal(names(s), ["big:1", "small:1"]);
});

test("a stale lock from a killed process does not block the next command", async () => {
  const s = box();
  s.ok("import", makeRootfs(s.dir, "lock", "lock"), "lock:1");
  // Kill imports until one dies holding the lock, or give up after a few tries: either way the next command must work.
  for (let i = 0; i < 5 && !existsSync(join(s.root, "index.json.lock")); i++) {
    await killAt(["--root", s.root, "tag", "lock:1", `t:${i}`], s.root, { label: "lock taken", when: (root) => existsSync(join(root, "index.json.lock")) });
  }
  const result = s.run("tag", "lock:1", "after:1");
  assert.is(result.status, 0, result.stderr);
  assert.ok(names(s).includes("after:1"));
  assert.not.ok(existsSync(join(s.root, "index.json.lock")));
  s.ok("verify");
});

test.run();
