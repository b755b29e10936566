// OCI and Docker media types, the image model's types, and their validation.
// Everything read from an archive passes through these parsers first.
import { checkDigest } from "./digest.ts";
import { BaleError } from "./errors.ts";

export const MediaType = {
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociLayer: "application/vnd.oci.image.layer.v1.tar",
  ociLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  ociLayerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  dockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  dockerLayer: "application/vnd.docker.image.rootfs.diff.tar",
  dockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
} as const;

export const Annotation = {
  refName: "org.opencontainers.image.ref.name",
  /** The pre-1.0 key that hyperd and image-spec rc releases wrote. */
  legacyRefName: "org.opencontainers.ref.name",
  containerdName: "io.containerd.image.name",
  created: "org.opencontainers.image.created",
} as const;

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  "os.version"?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: Platform;
  urls?: string[];
  [key: string]: unknown;
}

export interface Manifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface Index {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageConfig {
  architecture?: string;
  os?: string;
  variant?: string;
  created?: string;
  config?: Record<string, unknown>;
  rootfs: { type: string; diff_ids: string[] };
  history?: unknown[];
  [key: string]: unknown;
}

export function isIndexType(mediaType: string | undefined): boolean {
  return mediaType === MediaType.ociIndex || mediaType === MediaType.dockerManifestList;
}

export function isManifestType(mediaType: string | undefined): boolean {
  return mediaType === MediaType.ociManifest || mediaType === MediaType.dockerManifest;
}

/** The compression a layer media type declares, by its suffix. */
export function layerCompression(mediaType: string): "gzip" | "zstd" | null {
  if (/[.+]gzip$/.test(mediaType)) return "gzip";
  if (/[.+]zstd$/.test(mediaType)) return "zstd";
  return null;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function stringMap(value: unknown, where: string): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isObject(value) || Object.values(value).some((v) => typeof v !== "string")) {
    throw new BaleError(`${where}: annotations must map strings to strings`);
  }
  return value as Record<string, string>;
}

export function parseDescriptor(value: unknown, where: string): Descriptor {
  if (!isObject(value)) throw new BaleError(`${where}: a descriptor must be an object`);
  const digest = checkDigest(value.digest, where);
  const { size, mediaType } = value;
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
    throw new BaleError(`${where}: descriptor ${digest} has an invalid size ${JSON.stringify(size)}`);
  }
  if (typeof mediaType !== "string" || mediaType === "") {
    throw new BaleError(`${where}: descriptor ${digest} has no mediaType`);
  }
  const platform = value.platform === undefined ? undefined : parsePlatformObject(value.platform, where);
  return { ...value, mediaType, digest, size, annotations: stringMap(value.annotations, where), platform } as Descriptor;
}

function parsePlatformObject(value: unknown, where: string): Platform {
  if (!isObject(value) || typeof value.os !== "string" || typeof value.architecture !== "string") {
    throw new BaleError(`${where}: platform needs "os" and "architecture"`);
  }
  return value as unknown as Platform;
}

function checkSchemaVersion(value: Record<string, unknown>, where: string) {
  if (value.schemaVersion !== 2) {
    throw new BaleError(`${where}: schemaVersion ${JSON.stringify(value.schemaVersion)} is not supported (want 2)`);
  }
}

export function parseManifest(value: unknown, where: string): Manifest {
  if (!isObject(value)) throw new BaleError(`${where}: a manifest must be a JSON object`);
  checkSchemaVersion(value, where);
  if (!Array.isArray(value.layers)) throw new BaleError(`${where}: manifest has no "layers" list`);
  return {
    ...value,
    schemaVersion: 2,
    config: parseDescriptor(value.config, `${where} config`),
    layers: value.layers.map((layer, i) => parseDescriptor(layer, `${where} layer ${i}`)),
  } as Manifest;
}

/** `nullManifests` accepts `"manifests": null`, which docker ≥25 writes when it saves by ID. */
export function parseIndex(value: unknown, where: string, nullManifests = false): Index {
  if (!isObject(value)) throw new BaleError(`${where}: an index must be a JSON object`);
  checkSchemaVersion(value, where);
  const manifests = value.manifests === null && nullManifests ? [] : value.manifests;
  if (!Array.isArray(manifests)) throw new BaleError(`${where}: index has no "manifests" list`);
  return {
    ...value,
    schemaVersion: 2,
    manifests: manifests.map((entry, i) => parseDescriptor(entry, `${where} entry ${i}`)),
  } as Index;
}

export function parseConfig(value: unknown, where: string): ImageConfig {
  if (!isObject(value)) throw new BaleError(`${where}: an image config must be a JSON object`);
  const rootfs = value.rootfs;
  if (!isObject(rootfs) || !Array.isArray(rootfs.diff_ids)) {
    throw new BaleError(`${where}: image config has no rootfs.diff_ids`);
  }
  rootfs.diff_ids.forEach((id, i) => checkDigest(id, `${where} rootfs.diff_ids[${i}]`));
  return value as ImageConfig;
}

export function formatPlatform(platform: Platform | undefined): string {
  if (!platform) return "";
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join("/");
}

/** Parses "os/arch[/variant]". */
export function parsePlatform(text: string): Platform {
  const [os, architecture, variant, extra] = text.split("/");
  if (!os || !architecture || extra !== undefined) {
    throw new BaleError(`invalid platform ${JSON.stringify(text)}: want os/arch[/variant]`, 2);
  }
  return variant ? { os, architecture, variant } : { os, architecture };
}

export function platformMatches(want: Platform, have: Platform | undefined): boolean {
  if (!have) return false;
  if (want.os !== have.os || want.architecture !== have.architecture) return false;
  return !want.variant || want.variant === have.variant;
}

/** The child of a multi-platform index for `platform`; the error lists what the index has. */
export function platformChild(index: Index, indexDigest: string, platform: Platform, hint = ""): Descriptor {
  const match = index.manifests.find((child) => platformMatches(platform, child.platform));
  if (match) return match;
  const have = index.manifests.map((child) => formatPlatform(child.platform)).filter(Boolean).join(", ");
  throw new BaleError(`image ${indexDigest} has no ${formatPlatform(platform)} manifest (it has: ${have})${hint}`);
}

/** The platform of this machine, in OCI's names. */
export function hostPlatform(): Platform {
  const arch: Record<string, string> = { x64: "amd64", ia32: "386", arm64: "arm64", arm: "arm", ppc64: "ppc64le", s390x: "s390x" };
  const os = process.platform === "win32" ? "windows" : process.platform;
  return { os, architecture: arch[process.arch] ?? process.arch };
}

/** Serializes JSON the way Go's encoding/json does by default, so digests match other tools. */
export function canonicalJson(value: unknown): Uint8Array {
  const text = JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  return new TextEncoder().encode(text);
}
