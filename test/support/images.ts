// A small valid image, as the members of an OCI layout or a Docker archive,
// so that hostile tests can change one thing at a time.
import { makeTar, sha256, type RawMember } from "./craft.ts";

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

export interface Image {
  layer: Uint8Array;
  layerDigest: string;
  config: string;
  configDigest: string;
  manifest: string;
  manifestDigest: string;
}

export interface ImageOptions {
  /** Layer bytes (default: a tiny tar). */
  layer?: Uint8Array;
  layerMediaType?: string;
  /** diff_ids[0] (default: the layer's digest, right for an uncompressed layer). */
  diffId?: string;
  /** Changes the manifest's layer descriptor. */
  layerDescriptor?: (descriptor: Record<string, unknown>) => Record<string, unknown>;
  seed?: string;
}

export function makeImage(options: ImageOptions = {}): Image {
  const layer = options.layer ?? makeTar([{ name: "hello.txt", body: `hello ${options.seed ?? "hostile"}\n` }]);
  const layerDigest = sha256(layer);
  const config = JSON.stringify({
    architecture: "amd64",
    os: "linux",
    config: {},
    rootfs: { type: "layers", diff_ids: [options.diffId ?? layerDigest] },
  });
  const configDigest = sha256(config);
  let layerDescriptor: Record<string, unknown> = { mediaType: options.layerMediaType ?? "application/vnd.oci.image.layer.v1.tar", digest: layerDigest, size: layer.length };
  if (options.layerDescriptor) layerDescriptor = options.layerDescriptor(layerDescriptor);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: configDigest, size: config.length },
    layers: [layerDescriptor],
  });
  return { layer, layerDigest, config, configDigest, manifest, manifestDigest: sha256(manifest) };
}

const blob = (digest: string) => `blobs/sha256/${digest.slice("sha256:".length)}`;

export interface LayoutOptions {
  /** Changes the index.json descriptor of the image. */
  descriptor?: (descriptor: Record<string, unknown>) => Record<string, unknown>;
  name?: string;
}

/** An OCI image layout, as tar members. */
export function ociMembers(image: Image, options: LayoutOptions = {}): RawMember[] {
  let descriptor: Record<string, unknown> = {
    mediaType: OCI_MANIFEST,
    digest: image.manifestDigest,
    size: image.manifest.length,
    annotations: { "org.opencontainers.image.ref.name": options.name ?? "docker.io/library/hostile:1" },
  };
  if (options.descriptor) descriptor = options.descriptor(descriptor);
  return [
    { name: "oci-layout", body: '{"imageLayoutVersion":"1.0.0"}' },
    { name: "index.json", body: JSON.stringify({ schemaVersion: 2, manifests: [descriptor] }) },
    { name: blob(image.manifestDigest), body: image.manifest },
    { name: blob(image.configDigest), body: image.config },
    { name: blob(image.layerDigest), body: image.layer },
  ];
}

/** A Docker archive in the docker ≤24 shape: <id>.json, <dir>/layer.tar, manifest.json. */
export function dockerMembers(image: Image, options: { layerPath?: string; repoTags?: string[] } = {}): RawMember[] {
  const configPath = `${image.configDigest.slice(7)}.json`;
  const layerPath = options.layerPath ?? `${"a".repeat(64)}/layer.tar`;
  return [
    { name: configPath, body: image.config },
    { name: layerPath, body: image.layer },
    { name: "manifest.json", body: JSON.stringify([{ Config: configPath, RepoTags: options.repoTags ?? ["hostile:1"], Layers: [layerPath] }]) },
  ];
}

export { blob };
