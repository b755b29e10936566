// Docker image references: parse, normalize, familiarize.
// Follows the grammar of github.com/distribution/reference with Docker's
// normalization, so names mean here what they mean to `docker pull`.
import { BaleError } from "./errors.ts";

export interface Reference { domain: string; path: string; tag?: string; digest?: string }

const DEFAULT_DOMAIN = "docker.io";
const LEGACY_DOMAIN = "index.docker.io";
const OFFICIAL_PREFIX = "library/";
const DEFAULT_TAG = "latest";
const MAX_NAME_LENGTH = 255;

// Path components are lowercase; separators are ".", "_", "__" or a run of "-".
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
// A host (DNS name, IPv4, or bracketed IPv6) with an optional port; case is kept as given.
const DOMAIN = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$/;
const TAG = /^\w[\w.-]{0,127}$/;
// Only the algorithms registries actually use; anything else cannot be verified.
const DIGEST = /^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;
// A bare 64-hex string is an image ID; Docker refuses it as a name to avoid the ambiguity.
const IMAGE_ID = /^[a-f0-9]{64}$/;
// OCI image-spec grammar for org.opencontainers.image.ref.name (looser than Docker's).
const REF_NAME_COMPONENT = "[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*";
const REF_NAME = new RegExp(`^${REF_NAME_COMPONENT}(?:/${REF_NAME_COMPONENT})*$`);

function invalid(input: string, reason: string): BaleError {
  // JSON quoting keeps the message on one line whatever the input holds.
  return new BaleError(`invalid reference ${JSON.stringify(input)}: ${reason}`);
}

/** Parse and normalize a reference; an untagged, undigested name gets tag "latest". */
export function parseReference(input: string): Reference {
  if (input === "") throw invalid(input, "reference is empty");
  if (IMAGE_ID.test(input)) throw invalid(input, "repository name must not be a 64-byte hex string (that is an image ID)");

  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw invalid(input, `invalid digest ${JSON.stringify(digest)} (want sha256:<64 hex> or sha512:<128 hex>)`);
  }

  // A ":" after the last "/" starts the tag; earlier ones belong to a domain's port.
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!isValidTag(tag)) throw invalid(input, `invalid tag ${JSON.stringify(tag)} (up to 128 of [A-Za-z0-9_.-], not starting with "." or "-")`);
  }
  if (rest === "") throw invalid(input, "repository name is missing");

  // Docker's rule: the first component is a registry only if it looks like a host.
  let domain = DEFAULT_DOMAIN;
  let path = rest;
  const slash = rest.indexOf("/");
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes(".") || first.includes(":") || first === "localhost" || first !== first.toLowerCase()) {
      domain = first;
      path = rest.slice(slash + 1);
      if (!DOMAIN.test(domain)) throw invalid(input, `invalid registry domain ${JSON.stringify(domain)}`);
    }
  }
  if (domain === LEGACY_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !path.includes("/")) path = OFFICIAL_PREFIX + path;

  if (path !== path.toLowerCase()) throw invalid(input, "repository name must be lowercase");
  if (!path.split("/").every((c) => PATH_COMPONENT.test(c))) {
    throw invalid(input, "repository name has invalid characters or an empty component");
  }
  // Docker counts the full name, registry included.
  if (domain.length + 1 + path.length > MAX_NAME_LENGTH) {
    throw invalid(input, `repository name must not be more than ${MAX_NAME_LENGTH} characters`);
  }

  if (tag === undefined && digest === undefined) tag = DEFAULT_TAG;
  const ref: Reference = { domain, path };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

function suffix(ref: Reference): string {
  return (ref.tag !== undefined ? `:${ref.tag}` : "") + (ref.digest !== undefined ? `@${ref.digest}` : "");
}

/** The full form, e.g. docker.io/library/busybox:latest. */
export function formatReference(ref: Reference): string {
  return `${ref.domain}/${ref.path}${suffix(ref)}`;
}

export function normalizeName(input: string): string {
  return formatReference(parseReference(input));
}

/** The repository as users type it: docker.io and a lone library/ are implied. */
export function familiarRepository(ref: Reference): string {
  if (ref.domain !== DEFAULT_DOMAIN) return `${ref.domain}/${ref.path}`;
  // Only strip library/ when one component follows, or the name would change meaning.
  const rest = ref.path.slice(OFFICIAL_PREFIX.length);
  if (ref.path.startsWith(OFFICIAL_PREFIX) && !rest.includes("/")) return rest;
  return ref.path;
}

/** The short form shown to users, e.g. busybox:latest. */
export function familiarName(full: string): string {
  const ref = parseReference(full);
  return familiarRepository(ref) + suffix(ref);
}

export function isValidTag(tag: string): boolean {
  return TAG.test(tag);
}

export function isValidRefName(name: string): boolean {
  return REF_NAME.test(name);
}

/** OCI layouts often name an image by tag alone ("1", "latest"): that is no repository. */
export function isBareTag(refName: string): boolean {
  return refName !== "" && !refName.includes("/") && !refName.includes(":");
}
