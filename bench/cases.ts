// The benchmark cases: for each, the tools that do the same job (bale in each
// form found, and the peers installed) and which pairs to compare.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { FULL_NAME, DOCKER_TAG, type Meta, type Variant } from "./generate.ts";
import { run, type Step } from "./measure.ts";

export interface Tool {
  name: string;
  /** Why it cannot run (e.g. "not installed"); it is still listed. */
  missing?: string;
  /** Untimed, once per case, into `prep` (e.g. load the image a save case saves). */
  prepare?: (prep: string) => Promise<void>;
  /** The timed commands of one run, writing under `work` (fresh each run). */
  steps: (prep: string, work: string) => Step[];
  /** What to weigh on disk after a run: the store after a load, the archive after a save. */
  output?: (prep: string, work: string) => string;
}

export interface Case {
  name: string;
  about: string;
  /** The archive whose blobs the disk use is compared with. */
  input?: Variant;
  tools: Tool[];
  /** [subject, reference] tool names: the table shows subject/reference. */
  pairs: [string, string][];
}

/** One way of running bale: from source under tsx, the bundle, or the executable. */
export interface BaleForm {
  name: string;
  argv: string[];
}

export function baleForms(repo: string, wanted?: string[]): BaleForm[] {
  const forms: BaleForm[] = [];
  // `node --import tsx` rather than `npx tsx`: npx adds an npm start-up and a
  // second node process (see the startup case, which times both).
  if (existsSync(join(repo, "src/cli.ts"))) forms.push({ name: "src", argv: ["node", "--import", "tsx", join(repo, "src/cli.ts")] });
  if (existsSync(join(repo, "dist/bale.mjs"))) forms.push({ name: "mjs", argv: ["node", join(repo, "dist/bale.mjs")] });
  if (existsSync(join(repo, "dist/bale"))) forms.push({ name: "exe", argv: [join(repo, "dist/bale")] });
  return wanted ? forms.filter((f) => wanted.includes(f.name)) : forms;
}

export function installed(command: string): boolean {
  return (process.env.PATH ?? "").split(":").some((dir) => dir && existsSync(join(dir, command)));
}

/** Short podman run roots made so far; run.ts removes them at the end. */
export const podmanRunRoots = new Map<string, string>();

function podman(root: string): string[] {
  // Podman refuses a runroot longer than 50 characters, so the runroot gets a
  // short name of its own in /tmp, one per storage root.
  let runroot = podmanRunRoots.get(root);
  if (!runroot) podmanRunRoots.set(root, (runroot = `/tmp/bbr-${process.pid}-${podmanRunRoots.size}`));
  // vfs needs no kernel overlay support or fuse; its own storage keeps runs independent.
  return ["podman", "--root", join(root, "storage"), "--runroot", runroot, "--storage-driver", "vfs", "--events-backend", "file", "--cgroup-manager", "cgroupfs"];
}

// The policy file only matters for signatures, which these local copies never have.
const SKOPEO = ["skopeo", "--insecure-policy", "copy", "-q"];
// skopeo gzips uncompressed layers on the way into an OCI layout by default,
// and podman does on `save --format oci-archive`. bale keeps blobs as they
// are, so each peer is also timed with the flag that does the same.
const SKOPEO_KEEP = "--dest-oci-accept-uncompressed-layers";
const KEPT = "(uncompressed kept)";

export function buildCases(meta: Meta, repo: string, forms: BaleForm[]): Case[] {
  const a = meta.archives;
  const cwd = repo;
  const peer = (name: string, command: string, tool: Omit<Tool, "name">): Tool =>
    installed(command) ? { name, ...tool } : { name, missing: "not installed", steps: () => [] };
  const bale = (form: BaleForm, args: string[], env?: Record<string, string>): Step => ({ argv: [...form.argv, ...args], env, cwd });
  // The peer as it is and, given the flag that keeps uncompressed layers, once more with it.
  const peerKept = (name: string, keepFlag: string | undefined, make: (keep: string[]) => Omit<Tool, "name">): Tool[] =>
    [[], ...(keepFlag ? [[keepFlag]] : [])].map((keep) => peer(keep.length ? `${name} ${KEPT}` : name, name, make(keep)));
  const pairsOf = (tools: Tool[]) => {
    const subjects = tools.filter((t) => t.name.startsWith("bale"));
    return subjects.flatMap((s) => tools.filter((t) => !t.name.startsWith("bale")).map((p) => [s.name, p.name] as [string, string]));
  };

  const load = (name: string, variant: Variant, skopeoSource: (file: string) => string): Case => {
    const tools: Tool[] = [
      ...forms.map((f) => ({
        name: `bale ${f.name}`,
        steps: (_: string, work: string) => [bale(f, ["load", "-i", a[variant], "--root", join(work, "store")])],
        output: (_: string, work: string) => join(work, "store"),
      })),
      // Compressed layers stay as they are in skopeo anyway.
      ...peerKept("skopeo", variant === "docker" || variant === "oci" ? SKOPEO_KEEP : undefined, (keep) => ({
        steps: (_, work) => [{ argv: [...SKOPEO, ...keep, skopeoSource(a[variant]), `oci:${join(work, "oci")}:bench`] }],
        output: (_, work) => join(work, "oci"),
      })),
      peer("podman", "podman", {
        steps: (_, work) => [{ argv: [...podman(work), "load", "-q", "-i", a[variant]] }],
        output: (_, work) => join(work, "storage"),
      }),
    ];
    return { name, about: `load ${variant}.tar into an empty store`, input: variant, tools, pairs: pairsOf(tools) };
  };
  const ociSource = (file: string) => `oci-archive:${file}:${FULL_NAME}`;

  // Save cases start from a store holding the image, loaded (untimed) from the Docker archive.
  const save = (name: string, format: "docker" | "oci"): Case => {
    const tools: Tool[] = [
      ...forms.map((f) => ({
        name: `bale ${f.name}`,
        prepare: async (prep: string) => void (await run(bale(f, ["load", "-i", a.docker, "--root", join(prep, "store")]))),
        steps: (prep: string, work: string) => [bale(f, ["save", ...(format === "oci" ? ["-f", "oci"] : []), "-o", join(work, "out.tar"), "--root", join(prep, "store"), DOCKER_TAG])],
        output: (_: string, work: string) => join(work, "out.tar"),
      })),
      // A Docker archive holds uncompressed layers whatever the flags.
      ...peerKept("podman", format === "oci" ? "--uncompressed" : undefined, (keep) => ({
        prepare: async (prep) => void (await run({ argv: [...podman(prep), "load", "-q", "-i", a.docker] })),
        steps: (prep, work) => [{ argv: [...podman(prep), "save", "-q", ...keep, ...(format === "oci" ? ["--format", "oci-archive"] : []), "-o", join(work, "out.tar"), DOCKER_TAG] }],
        output: (_, work) => join(work, "out.tar"),
      })),
      ...peerKept("skopeo", format === "oci" ? SKOPEO_KEEP : undefined, (keep) => ({
        // Start from the same uncompressed blobs as bale's store holds.
        prepare: async (prep) => void (await run({ argv: [...SKOPEO, SKOPEO_KEEP, `docker-archive:${a.docker}`, `oci:${join(prep, "oci")}:bench`] })),
        steps: (prep, work) => [{
          argv: [...SKOPEO, ...keep, `oci:${join(prep, "oci")}:bench`, format === "oci" ? `oci-archive:${join(work, "out.tar")}:${FULL_NAME}` : `docker-archive:${join(work, "out.tar")}:${DOCKER_TAG}`],
        }],
        output: (_, work) => join(work, "out.tar"),
      })),
    ];
    return { name, about: `save the loaded image as ${format}`, input: format === "oci" ? "oci" : "docker", tools, pairs: pairsOf(tools) };
  };

  const convertTools: Tool[] = [
    ...forms.map((f) => ({
      name: `bale ${f.name}`,
      steps: (_: string, work: string) => [
        bale(f, ["load", "-i", a.docker, "--root", join(work, "store")]),
        bale(f, ["save", "-f", "oci", "-o", join(work, "out.tar"), "--root", join(work, "store"), DOCKER_TAG]),
      ],
      output: (_: string, work: string) => join(work, "out.tar"),
    })),
    ...peerKept("skopeo", SKOPEO_KEEP, (keep) => ({
      steps: (_, work) => [{ argv: [...SKOPEO, ...keep, `docker-archive:${a.docker}`, `oci-archive:${join(work, "out.tar")}:${FULL_NAME}`] }],
      output: (_, work) => join(work, "out.tar"),
    })),
    ...peerKept("podman", "--uncompressed", (keep) => ({
      steps: (_, work) => [
        { argv: [...podman(work), "load", "-q", "-i", a.docker] },
        { argv: [...podman(work), "save", "-q", ...keep, "--format", "oci-archive", "-o", join(work, "out.tar"), DOCKER_TAG] },
      ],
      output: (_, work) => join(work, "out.tar"),
    })),
  ];

  // The engines compared on the same load, with the preferred form of bale.
  const main = forms[forms.length - 1];
  const hasherTools: Tool[] = main
    ? (["wasm", "native"] as const).map((engine) => ({
        name: `bale ${main.name} ${engine}`,
        steps: (_: string, work: string) => [bale(main, ["load", "-i", a.docker, "--root", join(work, "store")], { BALE_HASHER: engine })],
        output: (_: string, work: string) => join(work, "store"),
      }))
    : [];

  // The engines alone on the Docker archive's bytes, with coreutils as a yardstick.
  const hashTools: Tool[] = [
    ...(["wasm", "native"] as const).map((engine) => ({
      name: `digest.ts ${engine}`,
      steps: () => [{ argv: ["node", "--import", "tsx", join(repo, "bench/hash.ts"), engine, a.docker], cwd }],
    })),
    peer("sha256sum", "sha256sum", { steps: () => [{ argv: ["sha256sum", a.docker] }] }),
  ];

  const npx = { name: "npx-tsx", argv: ["npx", "tsx", join(repo, "src/cli.ts")] };
  const startupForms = forms.some((f) => f.name === "src") ? [...forms, npx] : forms;
  const startupTools: Tool[] = [
    ...startupForms.map((f) => ({
      name: `bale ${f.name}`,
      steps: (_: string, work: string) => [bale(f, ["images", "--root", join(work, "store")])],
    })),
    peer("podman", "podman", { steps: (_, work) => [{ argv: [...podman(work), "images"] }] }),
  ];

  return [
    { name: "startup", about: "`images` on an empty store", tools: startupTools, pairs: pairsOf(startupTools) },
    load("load-docker", "docker", (f) => `docker-archive:${f}`),
    load("load-oci", "oci", ociSource),
    load("load-oci-gzip", "oci-gzip", ociSource),
    load("load-oci-zstd", "oci-zstd", ociSource),
    save("save-docker", "docker"),
    save("save-oci", "oci"),
    { name: "convert", about: "Docker archive to OCI archive", input: "docker", tools: convertTools, pairs: pairsOf(convertTools) },
    { name: "hasher", about: "load-docker with BALE_HASHER=wasm vs native", input: "docker", tools: hasherTools, pairs: hasherTools.length ? [[hasherTools[0].name, hasherTools[1].name]] : [] },
    { name: "sha256", about: "hash docker.tar: bale's engines vs sha256sum", tools: hashTools, pairs: [["digest.ts wasm", "digest.ts native"], ["digest.ts native", "sha256sum"]] },
  ];
}
