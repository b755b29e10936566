// The commands that work on the store alone: images, tag, rmi, inspect, prune, verify.
import * as fs from "node:fs/promises";
import { createHasher, shortId } from "./digest.ts";
import { BaleError } from "./errors.ts";
import { assignNames, childDescriptors, imageDetails, listImages, reachableBlobs, removeImage, removeName, resolveImage, type StoredImage } from "./images.ts";
import { formatPlatform } from "./oci.ts";
import { humanBytes, type Progress } from "./progress.ts";
import { familiarName, familiarRepository, normalizeName, parseReference } from "./reference.ts";
import type { Store } from "./store.ts";

export interface ImageRow {
  Repository: string;
  Tag: string;
  ID: string;
  Digest: string;
  Created: string;
  Size: number;
  Names: string[];
}

export async function imageRows(store: Store): Promise<ImageRow[]> {
  const rows: ImageRow[] = [];
  for (const image of listImages(await store.readIndex())) {
    const details = await imageDetails(store, image.root);
    const size = await imageSize(store, image);
    const created = details.config?.created ?? "";
    const names = image.names.length ? image.names : [undefined];
    for (const name of names) {
      const reference = name ? parseReference(name) : undefined;
      rows.push({
        Repository: reference ? familiarRepository(reference) : "<none>",
        Tag: reference?.tag ?? "<none>",
        ID: details.id,
        Digest: image.root.digest,
        Created: created,
        Size: size,
        Names: image.names.map(familiarName),
      });
    }
  }
  return rows.sort((a, b) => b.Created.localeCompare(a.Created) || a.Repository.localeCompare(b.Repository) || a.Tag.localeCompare(b.Tag));
}

export function formatImageTable(rows: ImageRow[], digests: boolean): string {
  const header = ["REPOSITORY", "TAG", ...(digests ? ["DIGEST"] : []), "IMAGE ID", "CREATED", "SIZE"];
  const lines = rows.map((row) => [row.Repository, row.Tag, ...(digests ? [row.Digest] : []), shortId(row.ID), timeAgo(row.Created), humanBytes(row.Size)]);
  return table([header, ...lines]);
}

export function table(rows: string[][]): string {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] + 3))).join("").trimEnd()).join("\n");
}

function timeAgo(created: string): string {
  const time = Date.parse(created);
  if (!created || Number.isNaN(time)) return "N/A";
  const seconds = (Date.now() - time) / 1000;
  const units: [number, string][] = [[31536000, "year"], [2592000, "month"], [604800, "week"], [86400, "day"], [3600, "hour"], [60, "minute"]];
  for (const [size, unit] of units) {
    const count = Math.floor(seconds / size);
    if (count >= 1) return `${count} ${unit}${count > 1 ? "s" : ""} ago`;
  }
  return "Less than a minute ago";
}

/** Bytes of every blob the image reaches, each counted once. */
async function imageSize(store: Store, image: StoredImage): Promise<number> {
  let total = 0;
  const seen = new Set<string>();
  const visit = async (descriptor: StoredImage["root"]) => {
    if (seen.has(descriptor.digest)) return;
    seen.add(descriptor.digest);
    total += descriptor.size;
    for (const child of await childDescriptors(store, descriptor).catch(() => [])) await visit(child);
  };
  await visit(image.root);
  return total;
}

export async function tagImage(store: Store, source: string, target: string): Promise<string[]> {
  const name = normalizeName(target);
  if (parseReference(name).digest) throw new BaleError(`cannot tag with a digest: ${target}`, 2);
  return store.updateIndex(async (index) => {
    const { image } = await resolveImage(store, listImages(index), source);
    return assignNames(index, image.root, [name]);
  });
}

/** Untags names, removing an image when its last name goes; then frees blobs nothing needs. */
export async function removeImages(store: Store, queries: string[], force: boolean): Promise<string[]> {
  const lines = await store.updateIndex(async (index) => {
    const out: string[] = [];
    for (const query of queries) {
      const { image, name } = await resolveImage(store, listImages(index), query);
      const { id } = await imageDetails(store, image.root).catch(() => ({ id: image.root.digest }));
      if (name && image.names.length > 1) {
        removeName(index, name);
        out.push(`Untagged: ${familiarName(name)}`);
        continue;
      }
      if (!name && image.names.length > 1 && !force) {
        throw new BaleError(`image ${shortId(id)} has several names (${image.names.map(familiarName).join(", ")}); remove them by name or use -f`);
      }
      removeImage(index, image.root.digest);
      for (const each of image.names) out.push(`Untagged: ${familiarName(each)}`);
      out.push(`Deleted: ${id}`);
    }
    return out;
  });
  await pruneBlobs(store);
  return lines;
}

export async function inspectImages(store: Store, queries: string[]): Promise<unknown[]> {
  const images = listImages(await store.readIndex());
  const out: unknown[] = [];
  for (const query of queries) {
    const { image } = await resolveImage(store, images, query);
    const details = await imageDetails(store, image.root);
    const config = details.config;
    out.push({
      Id: details.id,
      RepoTags: image.names.map(familiarName),
      Names: image.names,
      Digest: image.root.digest,
      MediaType: image.root.mediaType,
      Platform: config ? formatPlatform({ os: config.os ?? "", architecture: config.architecture ?? "", variant: config.variant }) : undefined,
      Platforms: details.index?.manifests.map((child) => ({ digest: child.digest, platform: formatPlatform(child.platform) })),
      Created: config?.created,
      Size: await imageSize(store, image),
      Layers: details.manifest?.layers.map((layer, i) => ({
        mediaType: layer.mediaType,
        digest: layer.digest,
        size: layer.size,
        diffId: config?.rootfs.diff_ids[i],
      })),
      Config: config,
    });
  }
  return out;
}

/** Removes blobs that no image reaches and no running bale holds; returns count and bytes. */
export async function pruneBlobs(store: Store): Promise<{ count: number; bytes: number }> {
  return store.withLock(async () => {
    const keep = await reachableBlobs(store, await store.readIndex());
    for (const digest of await store.leasedBlobs()) keep.add(digest);
    let count = 0;
    let bytes = 0;
    for (const digest of await store.listBlobs()) {
      if (keep.has(digest)) continue;
      bytes += (await store.blobSize(digest)) ?? 0;
      await store.removeBlob(digest);
      count++;
    }
    for (const temp of await store.staleTempFiles()) await fs.rm(temp, { force: true });
    return { count, bytes };
  });
}

/** Re-hashes every blob and checks that every image's blobs are there. Returns one line per problem. */
export async function verifyStore(store: Store, progress: Progress): Promise<{ checked: number; problems: string[] }> {
  const problems: string[] = [];
  const blobs = await store.listBlobs();
  for (const digest of blobs) {
    let path: string;
    try {
      path = store.blobPath(digest);
    } catch {
      problems.push(`blobs/${digest.replace(":", "/")}: not a valid digest name`);
      continue;
    }
    const size = (await fs.stat(path)).size;
    progress.start(`Verifying ${shortId(digest)}`, size);
    const hasher = await createHasher();
    for await (const chunk of store.openBlob(digest)) {
      hasher.update(chunk);
      progress.advance(chunk.length);
    }
    progress.done();
    const actual = hasher.digest();
    if (actual !== digest) problems.push(`blob ${digest} is corrupt: its content hashes to ${actual}`);
  }
  const present = new Set(blobs);
  for (const digest of await reachableBlobs(store, await store.readIndex())) {
    if (!present.has(digest)) problems.push(`blob ${digest} is missing, but an image needs it`);
  }
  return { checked: blobs.length, problems };
}
