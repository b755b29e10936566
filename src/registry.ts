// The formats bale knows: the built-in ones, then plugins from --plugin and
// BALE_PLUGINS, in the order given.
import { delimiter, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { existsSync } from "node:fs";
import dockerFormat from "../plugins/docker/index.ts";
import ociFormat from "../plugins/oci/index.ts";
import { BaleError } from "./errors.ts";
import type { Format } from "./format.ts";

export interface RegisteredFormat {
  format: Format;
  /** "built-in", or the plugin's path. */
  origin: string;
}

export class Registry {
  readonly formats: RegisteredFormat[] = [
    { format: dockerFormat, origin: "built-in" },
    { format: ociFormat, origin: "built-in" },
  ];

  get(name: string): Format {
    const found = this.formats.find(({ format }) => format.name === name);
    if (!found) throw new BaleError(`unknown format ${JSON.stringify(name)} (known: ${this.names().join(", ")})`, 2);
    return found.format;
  }

  names(): string[] {
    return this.formats.map(({ format }) => format.name);
  }

  async loadPlugin(path: string): Promise<void> {
    const full = resolve(path);
    const fail = (why: string) => new BaleError(`plugin ${path}: ${why}`);
    if (!existsSync(full)) throw fail("file not found");
    let module: { default?: unknown };
    try {
      module = await import(pathToFileURL(full).href);
    } catch (error) {
      const message = (error as Error).message?.split("\n")[0] ?? String(error);
      const hint = /\.ts$/.test(full) && /Unknown file extension/.test(message) ? " (this runtime cannot import .ts; use a .mjs/.js plugin, or run under tsx, Bun or Deno)" : "";
      throw fail(`cannot import it: ${message}${hint}`);
    }
    const format = module.default as Partial<Format> | undefined;
    if (!format || typeof format !== "object") throw fail("has no default export (export default defineFormat({...}))");
    for (const key of ["name", "description"] as const) {
      if (typeof format[key] !== "string" || !format[key]) throw fail(`its format has no ${key}`);
    }
    for (const key of ["detect", "load", "save"] as const) {
      if (typeof format[key] !== "function") throw fail(`its format ${format.name} has no ${key}() function`);
    }
    const clash = this.formats.find((entry) => entry.format.name === format.name);
    if (clash) throw fail(`format name ${JSON.stringify(format.name)} is taken by ${clash.origin === "built-in" ? "a built-in format" : clash.origin}`);
    this.formats.push({ format: format as Format, origin: full });
  }

  /** Loads plugins named by --plugin, then those in BALE_PLUGINS. */
  async loadPlugins(paths: string[]): Promise<void> {
    const fromEnv = (process.env.BALE_PLUGINS ?? "").split(delimiter).filter(Boolean);
    for (const path of [...paths, ...fromEnv]) await this.loadPlugin(path);
  }
}
