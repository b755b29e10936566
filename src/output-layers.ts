// Layers in the form `save --compress` asks for: converted into the store
// (the archive's tar headers need their sizes up front), and the manifest
// rewritten to name them. The stored image itself never changes.
import { compress, decompress, sniffCompression, type Compression } from "./compress.ts";
import { sha256 } from "./digest.ts";
import { canonicalJson, layerCompression, MediaType, parseManifest, type Descriptor } from "./oci.ts";
import type { Lease, Store } from "./store.ts";
import type { OutputManifest, SaveOptions } from "./format.ts";

export type LayerCompression = NonNullable<SaveOptions["compress"]>;

export async function outputManifest(store: Store, lease: Lease, source: Descriptor, want: LayerCompression | undefined, created: Set<string>): Promise<OutputManifest> {
  const raw = (await store.readJsonBlob(source.digest)) as Record<string, unknown>;
  const manifest = parseManifest(raw, `manifest ${source.digest}`);
  const descriptor = { mediaType: source.mediaType, digest: source.digest, size: source.size };
  if (!want) return { descriptor, config: manifest.config, layers: manifest.layers };
  const layers: Descriptor[] = [];
  for (const layer of manifest.layers) layers.push(await convertLayer(store, lease, layer, want, created));
  if (layers.every((layer, i) => layer.digest === manifest.layers[i].digest)) return { descriptor, config: manifest.config, layers };
  // Only the layers change; every other field (and its order) stays as stored.
  const rawLayers = raw.layers as Record<string, unknown>[];
  const bytes = canonicalJson({ ...raw, layers: layers.map(({ mediaType, digest, size }, i) => ({ ...rawLayers[i], mediaType, digest, size })) });
  return { descriptor: { ...descriptor, digest: await sha256(bytes), size: bytes.length }, bytes, config: manifest.config, layers };
}

async function convertLayer(store: Store, lease: Lease, layer: Descriptor, want: LayerCompression, created: Set<string>): Promise<Descriptor> {
  const current = await storedLayerCompression(store, layer);
  if ((current ?? "none") === want) return layer;
  if (current !== null && current !== "gzip" && current !== "zstd") return layer;
  const plain = current ? decompress(store.openBlob(layer.digest), current) : store.openBlob(layer.digest);
  const output = want === "none" ? plain : compress(plain, want);
  const blob = await store.ingest(output, { what: `layer ${layer.digest}` }, undefined, lease);
  created.add(blob.digest);
  return { mediaType: layerType(layer.mediaType, want), digest: blob.digest, size: blob.size };
}

/** The media type for a layer in the new compression, in the family (Docker or OCI) it came in where that family has one. */
function layerType(mediaType: string, want: LayerCompression): string {
  const docker = mediaType.startsWith("application/vnd.docker.");
  if (want === "none") return docker ? MediaType.dockerLayer : MediaType.ociLayer;
  if (want === "gzip") return docker ? MediaType.dockerLayerGzip : MediaType.ociLayerGzip;
  return MediaType.ociLayerZstd;
}

/** How a stored layer is compressed: as its media type says, else as its first bytes show. */
export async function storedLayerCompression(store: Store, layer: Descriptor): Promise<Compression | null> {
  return layerCompression(layer.mediaType) ?? sniffCompression(await store.head(layer.digest, 6));
}
