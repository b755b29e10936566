import { test } from "uvu";
import * as assert from "uvu/assert";
import { BaleError } from "../src/errors.ts";
import {
  familiarName, familiarRepository, formatReference, isBareTag, isValidRefName, isValidTag,
  normalizeName, parseReference,
} from "../src/reference.ts";

const H = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const H512 = "ab".repeat(64);

// [input, full form, familiar form, familiar repository]
const valid: [string, string, string, string][] = [
  ["busybox", "docker.io/library/busybox:latest", "busybox:latest", "busybox"],
  ["library/busybox", "docker.io/library/busybox:latest", "busybox:latest", "busybox"],
  ["docker.io/library/busybox:latest", "docker.io/library/busybox:latest", "busybox:latest", "busybox"],
  ["index.docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest", "busybox"],
  ["docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest", "busybox"],
  ["foo/bar:1", "docker.io/foo/bar:1", "foo/bar:1", "foo/bar"],
  ["docker.io/library/a/b", "docker.io/library/a/b:latest", "library/a/b:latest", "library/a/b"],
  ["localhost/tiny:1", "localhost/tiny:1", "localhost/tiny:1", "localhost/tiny"],
  ["localhost:5000/x", "localhost:5000/x:latest", "localhost:5000/x:latest", "localhost:5000/x"],
  ["quay.io/a/b/c:v1.2", "quay.io/a/b/c:v1.2", "quay.io/a/b/c:v1.2", "quay.io/a/b/c"],
  [`busybox@sha256:${H}`, `docker.io/library/busybox@sha256:${H}`, `busybox@sha256:${H}`, "busybox"],
  [`busybox:1@sha256:${H}`, `docker.io/library/busybox:1@sha256:${H}`, `busybox:1@sha256:${H}`, "busybox"],
  [`x@sha512:${H512}`, `docker.io/library/x@sha512:${H512}`, `x@sha512:${H512}`, "x"],
  ["127.0.0.1:5000/x:y", "127.0.0.1:5000/x:y", "127.0.0.1:5000/x:y", "127.0.0.1:5000/x"],
  ["[::1]:5000/x", "[::1]:5000/x:latest", "[::1]:5000/x:latest", "[::1]:5000/x"],
  // An uppercase first component is taken as a registry host, as docker does.
  ["Foo/bar", "Foo/bar:latest", "Foo/bar:latest", "Foo/bar"],
  ["UPPER/x", "UPPER/x:latest", "UPPER/x:latest", "UPPER/x"],
  // Without a "/", "localhost:5000" is the image localhost tagged 5000.
  ["localhost:5000", "docker.io/library/localhost:5000", "localhost:5000", "localhost"],
  ["a.b_c__d-e---f:Tag_1.x-y", "docker.io/library/a.b_c__d-e---f:Tag_1.x-y", "a.b_c__d-e---f:Tag_1.x-y", "a.b_c__d-e---f"],
  [`${H}:1`, `docker.io/library/${H}:1`, `${H}:1`, H],
  ["x:" + "t".repeat(128), "docker.io/library/x:" + "t".repeat(128), "x:" + "t".repeat(128), "x"],
];

for (const [input, full, familiar, repository] of valid) {
  test(`valid ${input}`, () => {
    const ref = parseReference(input);
    assert.is(formatReference(ref), full);
    assert.is(normalizeName(input), full);
    assert.is(familiarName(full), familiar);
    assert.is(familiarName(input), familiar);
    assert.is(familiarRepository(ref), repository);
    assert.is(normalizeName(familiar), full, "familiar form round-trips");
  });
}

test("parts of a parsed reference", () => {
  assert.equal(parseReference("busybox"), { domain: "docker.io", path: "library/busybox", tag: "latest" });
  assert.equal(parseReference("localhost:5000/x"), { domain: "localhost:5000", path: "x", tag: "latest" });
  assert.equal(parseReference(`busybox@sha256:${H}`), { domain: "docker.io", path: "library/busybox", digest: `sha256:${H}` });
  assert.equal(parseReference(`a/b:2@sha256:${H}`), { domain: "docker.io", path: "a/b", tag: "2", digest: `sha256:${H}` });
});

// [input, expected substring of the error message]
const invalid: [string, string][] = [
  ["", "empty"],
  ["Busybox", "must be lowercase"],
  ["foo/Bar", "must be lowercase"],
  ["a:-x", "invalid tag"],
  ["a:.x", "invalid tag"],
  ["a:", "invalid tag"],
  ["a:" + "t".repeat(129), "invalid tag"],
  [":tag", "repository name is missing"],
  ["a//b", "invalid characters"],
  ["a/", "invalid characters"],
  ["a_-b", "invalid characters"],
  ["a___b", "invalid characters"],
  ["-a", "invalid characters"],
  ["a b", "invalid characters"],
  [H, "must not be a 64-byte hex"],
  ["a".repeat(300), "more than 255 characters"],
  ["docker.io/" + "a".repeat(240), "more than 255 characters"],
  ["a@sha256:short", "invalid digest"],
  [`a@sha256:${H.toUpperCase()}`, "invalid digest"],
  [`a@md5:${H}`, "invalid digest"],
  [`a@sha512:${H}`, "invalid digest"],
  ["a@", "invalid digest"],
  ["-bad.io/x", "invalid registry domain"],
  ["host.io:port/x", "invalid registry domain"],
];

for (const [input, reason] of invalid) {
  test(`invalid ${JSON.stringify(input.slice(0, 40))}`, () => {
    try {
      parseReference(input);
      assert.unreachable("should have thrown");
    } catch (err) {
      assert.instance(err, BaleError);
      const message = (err as Error).message;
      assert.ok(message.includes(reason), `${message} should mention ${reason}`);
      assert.ok(message.includes(JSON.stringify(input)), "names the input");
      assert.not.ok(message.includes("\n"), "one line");
    }
  });
}

test("isValidTag", () => {
  for (const t of ["latest", "1", "v1.2.3", "_x", "A-b.c_D", "t".repeat(128)]) assert.ok(isValidTag(t), t);
  for (const t of ["", "-x", ".x", "a:b", "a/b", "a b", "t".repeat(129)]) assert.not.ok(isValidTag(t), t);
});

test("isValidRefName", () => {
  const good = [
    "hello", "7", "v1.0", "latest", "docker.io/library/busybox:latest", "Foo/Bar",
    "a--b", "a+b", `busybox@sha256:${H}`, "1.0-rc.1",
  ];
  const bad = ["", "/a", "a/", "a//b", "-a", "a-", "a---b", "a b", ".a", "a:", "a..b"];
  for (const n of good) assert.ok(isValidRefName(n), n);
  for (const n of bad) assert.not.ok(isValidRefName(n), n);
});

test("isBareTag", () => {
  for (const n of ["1", "latest", "hello", "v1.0"]) assert.ok(isBareTag(n), n);
  for (const n of ["", "busybox:latest", "foo/bar", "docker.io/library/busybox:latest", `a@sha256:${H}`]) {
    assert.not.ok(isBareTag(n), n);
  }
});

test.run();
