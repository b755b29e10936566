// Load: manifest.json names the images by member paths; each becomes an OCI
// manifest built from the members' digests. When the archive is also an OCI
// layout (docker ≥25, containerd, bale), images are matched by config (and layers)
// and keep the layout's own manifest, so the manifest digest survives.
import type { ArchiveFiles, LoadContext, LoadedImage } from "../../src/format.ts";
import type { Descriptor } from "../../src/oci.ts";
import { readManifestJson, type ManifestEntry } from "./manifest.ts";
import { readLayoutSide, type LayoutImage } from "./layout.ts";

export async function loadDockerArchive(files: ArchiveFiles, ctx: LoadContext): Promise<LoadedImage[]> {
  if (!files.has("manifest.json")) {
    // moby has refused these since 2025; docker 20 still loaded them as v1 images.
    throw new Error("unsupported legacy archive: no manifest.json (pre-1.10 docker save layout is not supported)");
  }
  const entries = await readManifestJson(files, ctx);
  const layout = files.has("index.json") ? await readLayoutSide(files, ctx) : [];
  const images: LoadedImage[] = [];
  const matched = new Set<LayoutImage>();
  for (const entry of entries) {
    const original = findOriginal(entry, layout);
    if (original) matched.add(original);
    const root = original?.root ?? (await buildManifest(entry, ctx));
    const names = [...entry.repoTags, ...(original?.names ?? [])];
    if (names.length === 0) images.push({ root, refName: original?.bareTag, verifyDiffIds: true });
    for (const name of names) images.push({ root, name, refName: name, verifyDiffIds: true });
  }
  // Images only the layout lists (manifest.json lists what docker loads; other tools may add more).
  const dockerConfigs = new Set(entries.map((entry) => entry.config.digest));
  for (const image of layout) {
    if (matched.has(image) || image.partial) continue;
    if (!image.complete) {
      // A multi-platform index whose platforms manifest.json covers is expected to be partial.
      if (!image.manifests.some(({ config }) => dockerConfigs.has(config))) {
        ctx.warn(`index.json lists ${image.root.digest}${image.names.length ? ` (${image.names.join(", ")})` : ""}, but the archive does not hold all of it; skipped`);
      }
      continue;
    }
    if (image.names.length === 0) images.push({ root: image.root, refName: image.bareTag });
    for (const name of image.names) images.push({ root: image.root, name, refName: name });
  }
  return images;
}

/**
 * The layout's manifest (or index) for a manifest.json entry: the one with the same config and
 * layers, else the same config (the same image ID, its layers stored another way). Two manifests
 * may share a config (gzip and zstd copies), so the layers decide first.
 */
function findOriginal(entry: ManifestEntry, layout: LayoutImage[]): LayoutImage | undefined {
  const layers = entry.layers.map((layer) => layer.digest).join();
  const usable = layout.filter((image) => image.complete);
  return usable.find((image) => image.manifests.some((manifest) => manifest.config === entry.config.digest && manifest.layers.join() === layers))
    ?? usable.find((image) => image.manifests.some((manifest) => manifest.config === entry.config.digest));
}

/** The OCI manifest `skopeo copy docker-archive:F oci:D` makes: same keys, same order, so the same digest. */
async function buildManifest(entry: ManifestEntry, ctx: LoadContext): Promise<Descriptor> {
  const { ociManifest, ociConfig } = ctx.mediaTypes;
  const layers = [];
  for (const [i, layer] of entry.layers.entries()) {
    layers.push({ mediaType: await layerType(layer.digest, ctx, `manifest.json image ${entry.number} layer ${i + 1} (${layer.name})`), digest: layer.digest, size: layer.size });
  }
  const manifest = {
    schemaVersion: 2,
    mediaType: ociManifest,
    config: { mediaType: ociConfig, digest: entry.config.digest, size: entry.config.size },
    layers,
  };
  return ctx.putJson(manifest, ociManifest);
}

async function layerType(digest: string, ctx: LoadContext, where: string): Promise<string> {
  const compression = await ctx.compression(digest);
  const { ociLayer, ociLayerGzip, ociLayerZstd } = ctx.mediaTypes;
  if (compression === null) return ociLayer;
  if (compression === "gzip") return ociLayerGzip;
  if (compression === "zstd") return ociLayerZstd;
  // OCI has no media type for these, so no other tool could read the stored image.
  throw new Error(`${where} is ${compression}-compressed; layers must be plain, gzip or zstd`);
}
