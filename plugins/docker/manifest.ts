// Reading manifest.json, the list of images a Docker archive holds, in every
// spelling writers have used (Docker's capitalised keys, lower-case keys,
// RepoTags null), with errors that say which entry and which member.
// Plain Errors: plugins cannot import BaleError, and the core turns them into
// one line, "format docker failed to read the archive: <message>".
import type { ArchiveEntry, ArchiveFiles, Helpers } from "../../src/format.ts";

export interface ManifestEntry {
  /** 1-based position, for messages. */
  number: number;
  config: ArchiveEntry;
  layers: ArchiveEntry[];
  repoTags: string[];
}

export async function readManifestJson(files: ArchiveFiles, ctx: Helpers): Promise<ManifestEntry[]> {
  const value = await files.json("manifest.json");
  // moby: "cannot be null (but can be [])"; podman and docker 20 accept it silently.
  if (value === null) throw new Error("manifest.json is null");
  if (!Array.isArray(value)) throw new Error(`manifest.json must be a JSON array of images, not ${kind(value)}`);
  return value.map((raw, i) => readEntry(raw, i + 1, files, ctx));
}

function readEntry(raw: unknown, number: number, files: ArchiveFiles, ctx: Helpers): ManifestEntry {
  const where = `manifest.json image ${number}`;
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new Error(`${where} must be a JSON object, not ${kind(raw)}`);
  const entry = raw as Record<string, unknown>;
  const configPath = entry.Config ?? entry.config;
  if (typeof configPath !== "string") throw new Error(`${where} has no "Config" path`);
  const layerPaths = entry.Layers ?? entry.layers ?? [];
  if (!Array.isArray(layerPaths)) throw new Error(`${where}: "Layers" must be a list of paths`);
  const repoTags = entry.RepoTags ?? entry.repoTags ?? [];
  if (!Array.isArray(repoTags)) throw new Error(`${where}: "RepoTags" must be a list of names`);
  return {
    number,
    config: member(files, configPath, `${where} Config`),
    layers: layerPaths.map((path, i) => {
      if (typeof path !== "string") throw new Error(`${where} layer ${i + 1} is not a path`);
      return member(files, path, `${where} layer ${i + 1}`);
    }),
    repoTags: repoTags.map((tag, i) => checkRepoTag(tag, `${where} RepoTags[${i}]`, ctx)),
  };
}

/** The archive member a manifest.json path names; never a path on disk, never outside the archive. */
function member(files: ArchiveFiles, path: string, where: string): ArchiveEntry {
  if (path.startsWith("/")) throw new Error(`${where} ${JSON.stringify(path)} is an absolute path, not a member of the archive`);
  const parts = path.split("/").filter((part) => part !== "" && part !== ".");
  if (parts.includes("..")) throw new Error(`${where} ${JSON.stringify(path)} points outside the archive`);
  // files.get follows one link inside the archive and throws, naming it, on a loop or a dangling link.
  const entry = files.get(parts.join("/"));
  if (!entry) throw new Error(`${where} ${JSON.stringify(path)} is not in the archive`);
  return entry;
}

/**
 * A RepoTag is a name with an optional tag (docker: a bare name means
 * :latest, and `repositories` agrees); a digest has no place there.
 */
function checkRepoTag(tag: unknown, where: string, ctx: Helpers): string {
  if (typeof tag !== "string") throw new Error(`${where} is not a string`);
  let reference;
  try {
    reference = ctx.reference.parseReference(tag);
  } catch (error) {
    throw new Error(`${where} ${JSON.stringify(tag)} is not a valid name:tag (${(error as Error).message})`);
  }
  if (reference.digest) throw new Error(`${where} ${JSON.stringify(tag)} is not a valid name:tag (it has a digest)`);
  return tag;
}

function kind(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}
