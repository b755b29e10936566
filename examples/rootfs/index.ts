// A third-party format plugin: root filesystem tars.
//   bale save -f rootfs -o fs.tar IMAGE   flattens IMAGE's layers into one tree (like docker export)
//   bale load -f rootfs -i fs.tar[.gz]    makes a one-layer image of a tree (like docker import)
// It is written only against bale's public interface: the import below is types only
// (erased at runtime), and everything else comes through `ctx`, so the plugin also
// works when loaded into the compiled binary with --plugin or BALE_PLUGINS.
import type { ArchiveFiles, Format, LayerEntry, LoadContext, LoadedImage, OutputEntry, SaveContext, SaveImage } from "../../src/index.ts";

/** The name `load -r IMAGE=rootfs` matches; without it the image is stored untagged. */
const REF_NAME = "rootfs";

export default {
  name: "rootfs",
  description: "Root filesystem tar: save flattens an image (like docker export), load makes a one-layer image (like docker import)",
  // The archive is one thing, not members to sort: load gets it as one blob, save writes entry by entry.
  wholeArchive: true,
  // Any tar could be a root filesystem, so this format is used only when chosen with -f.
  detect: () => false,
  load: loadRootfs,
  save: saveRootfs,
} satisfies Format;

// ---- load: the tar (plain, gzip or zstd) becomes the image's only layer, kept as given.

async function loadRootfs(files: ArchiveFiles, ctx: LoadContext): Promise<LoadedImage[]> {
  const input = files.get("archive");
  if (!input) throw new Error("no input archive");
  const compression = await ctx.compression(input.digest);
  const { ociLayer, ociLayerGzip, ociLayerZstd, ociConfig, ociManifest } = ctx.mediaTypes;
  const layerType = compression === null ? ociLayer : compression === "gzip" ? ociLayerGzip : compression === "zstd" ? ociLayerZstd : undefined;
  if (!layerType) throw new Error(`the root filesystem tar is ${compression}-compressed; use a plain, gzip or zstd tar`);
  // The core hashes the decompressed tar (and checks that it is one): the layer's diff_id.
  const diffId = await ctx.uncompressedDigest(input.digest);
  const platform = ctx.platform ?? hostPlatform();
  const created = new Date().toISOString();
  const config = await ctx.putJson({
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    created,
    config: {},
    rootfs: { type: "layers", diff_ids: [diffId] },
    history: [{ created, created_by: "bale load -f rootfs" }],
  }, ociConfig);
  const root = await ctx.putJson({
    schemaVersion: 2,
    mediaType: ociManifest,
    config,
    layers: [{ mediaType: layerType, digest: input.digest, size: input.size }],
  }, ociManifest);
  return [{ root, refName: REF_NAME }];
}

function hostPlatform(): { os: string; architecture: string; variant?: string } {
  const arch: Record<string, string> = { x64: "amd64", ia32: "386", arm64: "arm64", arm: "arm", ppc64: "ppc64le", s390x: "s390x" };
  return { os: process.platform === "win32" ? "windows" : process.platform, architecture: arch[process.arch] ?? process.arch };
}

// ---- save: flatten the layers, as applying them one on another would (umoci unpack, docker export).
//
// Pass 1 reads every layer's headers (bodies skipped), bottom to top, and applies them to a tree
// held in memory: whiteouts delete, opaque directories hide what lower layers put in them, a later
// entry replaces an earlier one, and hardlinks share their target's file. What survives is a plan:
// which entry, by its position in the layer stream, is written under which name. Pass 2 reads the
// layers again and streams the planned entries, bodies included, into the archive in layer order.

type Header = Omit<LayerEntry, "body">;

interface Inode {
  /** The position of the entry whose body holds the content. */
  at: number;
  header: Header;
}

interface Node {
  kind: "dir" | "file" | "symlink" | "other";
  /** Where the node's entry is written; undefined for a directory no entry names (a parent made implicitly). */
  at?: number;
  header?: Header;
  /** The last layer that put or touched this node (opaque directories hide older ones). */
  layer: number;
  children?: Map<string, Node>;
  /** Files: shared by the names hardlinked together. */
  inode?: Inode;
}

interface Planned {
  entry: OutputEntry;
  /** Write the body of the entry at this position (a file). */
  body: boolean;
  /** The source entry's name, to check that both passes see the same stream. */
  source: string;
}

const WHITEOUT = ".wh.";
const OPAQUE = ".wh..wh..opq";

async function saveRootfs(images: SaveImage[], ctx: SaveContext): Promise<void> {
  if (images.length !== 1) throw new Error(`a root filesystem holds one image; ${images.length} were given`);
  const [image] = images;
  if (image.refName !== undefined) ctx.warn("a root filesystem tar has no image names; -r is ignored");
  if (ctx.options.compress) ctx.warn("a root filesystem tar is always written uncompressed; --compress changes nothing");
  const manifestDescriptor = await ctx.singleManifest(image.root);
  const manifest = ctx.parseManifest(await ctx.blobJson(manifestDescriptor.digest), `manifest ${manifestDescriptor.digest}`);

  // Pass 1: headers only.
  const root: Node = { kind: "dir", layer: -1, children: new Map() };
  let position = 0;
  for (const [layer, descriptor] of manifest.layers.entries()) {
    for await (const entry of ctx.layerEntries(descriptor)) apply(root, entry, layer, position++);
  }
  const plan = planOutput(root, ctx);

  // Pass 2: the surviving entries, in layer order, bodies streamed.
  position = 0;
  for (const descriptor of manifest.layers) {
    for await (const entry of ctx.layerEntries(descriptor)) {
      const planned = plan.get(position++);
      if (!planned) continue;
      if (planned.source !== entry.name) throw new Error(`layer ${descriptor.digest} changed between passes (${entry.name})`);
      await ctx.writeEntry(planned.entry, planned.body ? entry.body : undefined);
    }
  }
}

/** Applies one layer entry to the tree. */
function apply(root: Node, entry: LayerEntry, layer: number, at: number): void {
  const parts = entry.name.split("/");
  const base = parts.pop()!;
  if (base.startsWith(WHITEOUT)) {
    // Whiteouts apply to lower layers only, never to what this layer itself put there.
    const dir = makeDirs(root, parts, layer);
    if (base === OPAQUE) hideLower(dir, layer);
    else if (!base.startsWith(`${WHITEOUT}${WHITEOUT}`)) {
      const name = base.slice(WHITEOUT.length);
      if ((dir.children!.get(name)?.layer ?? layer) < layer) dir.children!.delete(name);
    }
    // Other ".wh..wh." names are aufs bookkeeping: never part of the tree.
    return;
  }
  const parent = makeDirs(root, parts, layer);
  const existing = parent.children!.get(base);
  const { body: _, ...header } = entry;
  let node: Node;
  switch (entry.type) {
    case "directory":
      if (existing?.kind === "dir") {
        // The same directory again: the upper layer's metadata wins; it keeps its first position.
        existing.header = header;
        existing.at ??= at;
        existing.layer = layer;
        return;
      }
      node = { kind: "dir", at, header, layer, children: new Map() };
      break;
    case "file":
      node = { kind: "file", at, header, layer, inode: { at, header } };
      break;
    case "hardlink": {
      const target = find(root, entry.linkname!);
      if (!target || target.kind === "dir" || !target.header) {
        throw new Error(`hardlink ${entry.name} points to ${entry.linkname}, which ${target ? "is a directory" : "no lower entry holds"}`);
      }
      node = target.inode
        ? { kind: "file", at, header, layer, inode: target.inode }
        : { kind: target.kind, at, header: { ...target.header, name: entry.name }, layer };
      break;
    }
    default:
      node = { kind: entry.type === "symlink" ? "symlink" : "other", at, header, layer };
  }
  parent.children!.set(base, node);
}

/** The directory at `parts`, made (implicitly) where missing or where a non-directory was; each is touched by `layer`. */
function makeDirs(root: Node, parts: string[], layer: number): Node {
  let dir = root;
  for (const part of parts) {
    let next = dir.children!.get(part);
    if (next?.kind !== "dir") {
      next = { kind: "dir", layer, children: new Map() };
      dir.children!.set(part, next);
    }
    next.layer = Math.max(next.layer, layer);
    dir = next;
  }
  return dir;
}

/** An opaque directory: what lower layers put in it goes; what this layer put stays. */
function hideLower(dir: Node, layer: number): void {
  for (const [name, child] of dir.children!) {
    if (child.layer < layer) dir.children!.delete(name);
    else if (child.kind === "dir") hideLower(child, layer);
  }
}

function find(root: Node, path: string): Node | undefined {
  let node: Node | undefined = root;
  for (const part of path.split("/")) node = node?.children?.get(part);
  return node;
}

/** What to write at which position of the layer stream. */
function planOutput(root: Node, ctx: SaveContext): Map<number, Planned> {
  const plan = new Map<number, Planned>();
  const names = new Map<Inode, { name: string; at: number; source: string }[]>();
  const skipped: string[] = [];
  const walk = (dir: Node, prefix: string) => {
    for (const [base, node] of dir.children!) {
      const name = prefix + base;
      if (node.kind === "dir") {
        if (node.at !== undefined) plan.set(node.at, { entry: { ...node.header!, type: "directory", name }, body: false, source: node.header!.name });
        walk(node, `${name}/`);
      } else if (node.kind === "file") {
        const list = names.get(node.inode!) ?? [];
        list.push({ name, at: node.at!, source: node.header!.name });
        names.set(node.inode!, list);
      } else if (node.kind === "symlink") {
        plan.set(node.at!, { entry: { ...node.header!, type: "symlink", name }, body: false, source: node.header!.name });
      } else skipped.push(name);
    }
  };
  walk(root, "");
  for (const [inode, list] of names) {
    // The file's content goes out where its body is, under its first name still there; the other names link to it.
    const carrier = list.find((item) => item.at === inode.at) ?? list.reduce((first, item) => (item.at < first.at ? item : first));
    plan.set(inode.at, { entry: { ...inode.header, type: "file", name: carrier.name, linkname: undefined }, body: true, source: inode.header.name });
    for (const item of list) {
      if (item === carrier) continue;
      const { size: _, ...meta } = inode.header;
      plan.set(item.at, { entry: { ...meta, type: "hardlink", size: 0, name: item.name, linkname: carrier.name }, body: false, source: item.source });
    }
  }
  if (skipped.length) ctx.warn(`${skipped.length} device or fifo entries cannot be written and are left out (${skipped.slice(0, 3).join(", ")}${skipped.length > 3 ? ", …" : ""})`);
  return plan;
}
