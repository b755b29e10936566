#!/usr/bin/env node
// Commands → core calls: parsing, output and exit codes. Errors are thrown as
// BaleError anywhere and printed here, once, as one line.
import { cac } from "cac";
import { inspectImages, formatImageTable, imageRows, pruneBlobs, removeImages, table, tagImage, verifyStore } from "./commands.ts";
import { shortId } from "./digest.ts";
import { BaleError } from "./errors.ts";
import { importRootfs } from "./import.ts";
import { loadArchive } from "./load.ts";
import { parsePlatform } from "./oci.ts";
import { createProgress, humanBytes } from "./progress.ts";
import { familiarName } from "./reference.ts";
import { Registry } from "./registry.ts";
import { saveImages } from "./save.ts";
import { defaultRoot, Store } from "./store.ts";
import { VERSION } from "./version.ts";

interface GlobalOptions {
  root?: string;
  plugin?: string[];
  quiet?: boolean;
  [key: string]: unknown;
}

const out = (text: string) => process.stdout.write(`${text}\n`);
const warn = (text: string) => process.stderr.write(`bale: warning: ${text}\n`);

/** "-r IMAGE=REFNAME" → [IMAGE, REFNAME]; the split is at the last "=" so IMAGE may hold none. */
function renames(values: unknown): [string, string][] {
  return list(values).map((value) => {
    const at = value.lastIndexOf("=");
    if (at <= 0 || at === value.length - 1) throw new BaleError(`-r ${value}: want IMAGE=REFNAME`, 2);
    return [value.slice(0, at), value.slice(at + 1)];
  });
}

// cac reads a lone "-" as an option and takes the next word as its value; "-" is a
// file name here (stdin/stdout), so it goes through the parser disguised.
const DASH = "\u0000-";
const undash = (value: string) => (value === DASH ? "-" : value);

function list(value: unknown): string[] {
  if (value === undefined || value === false) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}

function layerCompression(options: GlobalOptions): "gzip" | "zstd" | "none" | undefined {
  if (options.uncompressed) return "none";
  if (options.compress === undefined) return undefined;
  const kind = String(options.compress);
  if (kind === "gzip" || kind === "zstd" || kind === "none") return kind;
  throw new BaleError(`--compress ${kind}: want gzip, zstd or none`, 2);
}

function openStore(options: GlobalOptions): Promise<Store> {
  // Given twice, the last --root wins, as with most CLIs.
  const root = Array.isArray(options.root) ? options.root.at(-1) : options.root;
  return Store.open(root === undefined ? defaultRoot() : String(root));
}

function listingFormat(options: GlobalOptions): "json" | "table" {
  const format = options.format;
  if (format === undefined || format === "table") return "table";
  if (format === "json") return "json";
  throw new BaleError(`--format ${String(format)}: want json or table`, 2);
}

export async function main(argv: string[]): Promise<number> {
  const args = argv.slice(2);
  if (args.includes("--version") || args.includes("-v")) {
    out(VERSION);
    return 0;
  }
  const registry = new Registry();
  const cli = cac("bale");
  cli.option("--root <dir>", "Store directory (default: $BALE_ROOT or $XDG_DATA_HOME/bale)");
  cli.option("--plugin <path>", "Load a format plugin (repeatable; also $BALE_PLUGINS)", { type: [] });
  cli.option("-q, --quiet", "Less output: IDs only for listings, no progress");
  cli.help();

  cli.command("images", "List images")
    .option("--digests", "Show manifest digests")
    .option("--format <format>", "json or table")
    .action(async (options: GlobalOptions) => {
      const rows = await imageRows(await openStore(options));
      if (options.quiet) [...new Set(rows.map((row) => shortId(row.ID)))].forEach((id) => out(id));
      else if (listingFormat(options) === "json") out(JSON.stringify(rows, null, 2));
      else out(formatImageTable(rows, Boolean(options.digests)));
    });

  cli.command("save [...images]", "Save images to an archive (stdout when no -o and stdout is not a terminal)")
    .option("-o, --output <path>", "Archive file, or a directory (existing, or ending in /) for an unpacked layout")
    .option("-f, --format <format>", "Archive format (see `bale formats`)", { default: "docker" })
    .option("-r, --ref <IMAGE=REFNAME>", "Write IMAGE under REFNAME (repeatable)", { type: [] })
    .option("--platform <os/arch[/variant]>", "Save only this platform of a multi-platform image")
    .option("--compress <gzip|zstd|none>", "Recompress layers (default: as stored); gzip uses every core")
    .option("--uncompressed", "Write layers uncompressed (--compress none)")
    .action(async (images: string[], options: GlobalOptions) => {
      const store = await openStore(options);
      await saveImages(store, registry, images, {
        format: String(options.format),
        output: options.output === undefined ? undefined : undash(String(options.output)),
        renames: renames(options.ref),
        platform: options.platform ? parsePlatform(String(options.platform)) : undefined,
        compress: layerCompression(options),
        progress: createProgress(Boolean(options.quiet)),
        warn,
      });
    });

  cli.command("load", "Load images from an archive (stdin when no -i)")
    .option("-i, --input <path>", "Archive file, or an OCI layout directory")
    .option("-f, --format <format>", "Force the archive format instead of detecting it")
    .option("-r, --ref <IMAGE=REFNAME>", "Store the archive's image REFNAME as IMAGE (repeatable)", { type: [] })
    .option("--platform <os/arch[/variant]>", "Keep only this platform of a multi-platform image")
    .action(async (options: GlobalOptions) => {
      const store = await openStore(options);
      const result = await loadArchive(store, registry, {
        input: options.input === undefined ? undefined : undash(String(options.input)),
        format: options.format === undefined ? undefined : String(options.format),
        renames: renames(options.ref),
        platform: options.platform ? parsePlatform(String(options.platform)) : undefined,
        progress: createProgress(Boolean(options.quiet)),
        warn,
      });
      for (const line of result.moved) warn(`the name ${line}`);
      for (const image of result.images) {
        for (const name of image.names) out(`Loaded image: ${familiarName(name)}`);
        if (image.names.length > 0) continue;
        out(`Loaded image ID: ${image.id}`);
        for (const refName of image.unnamedRefs) {
          warn(`the archive calls image ${shortId(image.id)} "${refName}", which is a tag, not a name; name it with: bale load -r NAME:TAG=${refName}`);
        }
      }
    });

  cli.command("tag <source> <target>", "Give an image another name").action(async (source: string, target: string, options: GlobalOptions) => {
    for (const line of await tagImage(await openStore(options), source, target)) warn(`the name ${line}`);
  });

  cli.command("rmi [...images]", "Remove image names; an image goes with its last name")
    .option("-f, --force", "Remove an image by ID even when it has several names")
    .action(async (images: string[], options: GlobalOptions) => {
      if (images.length === 0) throw new BaleError("rmi needs at least one image", 2);
      for (const line of await removeImages(await openStore(options), images, Boolean(options.force))) out(line);
    });

  cli.command("inspect [...images]", "Show images as JSON").action(async (images: string[], options: GlobalOptions) => {
    if (images.length === 0) throw new BaleError("inspect needs at least one image", 2);
    out(JSON.stringify(await inspectImages(await openStore(options), images), null, 2));
  });

  cli.command("import <rootfs> [name]", "Make a one-layer image from a root filesystem tarball (- for stdin)")
    .option("--platform <os/arch[/variant]>", "The image's platform (default: this machine's)")
    .action(async (rootfs: string, name: string | undefined, options: GlobalOptions) => {
      const store = await openStore(options);
      const result = await importRootfs(store, undash(rootfs), name, {
        platform: options.platform ? parsePlatform(String(options.platform)) : undefined,
        progress: createProgress(Boolean(options.quiet)),
      });
      for (const line of result.moved) warn(`the name ${line}`);
      out(result.id);
    });

  cli.command("prune", "Remove blobs that no image needs").action(async (options: GlobalOptions) => {
    const { count, bytes } = await pruneBlobs(await openStore(options));
    out(`Deleted ${count} blobs, freed ${humanBytes(bytes)}`);
  });

  cli.command("verify", "Re-hash every blob in the store").action(async (options: GlobalOptions) => {
    const { checked, problems } = await verifyStore(await openStore(options), createProgress(Boolean(options.quiet)));
    for (const problem of problems) process.stderr.write(`bale: ${problem}\n`);
    if (problems.length > 0) throw new BaleError(`verify found ${problems.length} problem(s) in ${checked} blobs`);
    if (!options.quiet) out(`${checked} blobs verified`);
  });

  cli.command("formats", "List the archive formats")
    .option("--format <format>", "json or table")
    .action((options: GlobalOptions) => {
      const formats = registry.formats.map(({ format, origin }) => ({ Name: format.name, Description: format.description, Origin: origin }));
      if (options.quiet) formats.forEach((format) => out(format.Name));
      else if (listingFormat(options) === "json") out(JSON.stringify(formats, null, 2));
      else out(table([["NAME", "DESCRIPTION", "ORIGIN"], ...formats.map((f) => [f.Name, f.Description, f.Origin])]));
    });

  const parsed = cli.parse(argv.map((arg) => (arg === "-" ? DASH : arg)), { run: false });
  if (parsed.options.help) return 0;
  if (!cli.matchedCommand) {
    if (parsed.args.length === 0) {
      cli.outputHelp();
      return 2;
    }
    throw new BaleError(`unknown command ${JSON.stringify(parsed.args[0])}; see bale --help`, 2);
  }
  await registry.loadPlugins(list(parsed.options.plugin));
  await cli.runMatchedCommand();
  return 0;
}

function report(error: unknown): number {
  if (process.env.BALE_DEBUG === "1") console.error(error);
  const err = error as Error & { exitCode?: number };
  if (error instanceof BaleError) {
    process.stderr.write(`bale: ${oneLine(err.message)}\n`);
    return err.exitCode ?? 1;
  }
  if (err?.name === "CACError") {
    process.stderr.write(`bale: ${oneLine(err.message)}\n`);
    return 2;
  }
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === "ENOSPC") {
    // Blobs land by rename and names by one atomic update, so a full disk changes nothing visible.
    process.stderr.write("bale: no space left on the device; no image or name was changed\n");
    return 1;
  }
  process.stderr.write(`bale: ${oneLine(err?.message ?? String(error))}\n`);
  return 1;
}

const oneLine = (text: string) => text.replace(/\s*\n\s*/g, " ").trim();

main(process.argv).then(
  (code) => process.exit(code),
  (error) => process.exit(report(error)),
);
