// The tar a wholeArchive format writes entry by entry (SaveContext.writeEntry),
// in the order given, to a file (aside, renamed when done) or stdout.
import { createWriteStream } from "node:fs";
import * as fs from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Writable } from "node:stream";
import { finished } from "node:stream/promises";
import { BaleError } from "./errors.ts";
import type { SaveContext } from "./format.ts";
import { createTarWriter, memberName, type TarWriter } from "./tar.ts";

/** The tar a wholeArchive format writes, entry by entry, to a file (aside, renamed when done) or stdout. */
export interface WholeOutput {
  writeEntry: SaveContext["writeEntry"];
  finish(): Promise<void>;
  abort(): Promise<void>;
}

export async function openWholeOutput(output: string | undefined, formatName: string): Promise<WholeOutput> {
  let sink: Writable;
  let temp: string | undefined;
  if (!output || output === "-") {
    if (process.stdout.isTTY) throw new BaleError("refusing to write an archive to a terminal: use -o FILE or redirect stdout", 2);
    sink = process.stdout;
  } else {
    const stat = await fs.stat(output).catch(() => undefined);
    if (output.endsWith("/") || stat?.isDirectory()) throw new BaleError(`the ${formatName} format writes one tar file, and ${output} is a directory`, 2);
    temp = join(dirname(output), `.${Date.now()}-${process.pid}.bale-tmp`);
    sink = createWriteStream(temp);
  }
  const tar: TarWriter = createTarWriter(sink);
  /** Names written so far that a hardlink may point to. */
  const linkable = new Set<string>();
  let busy = false;
  const failed = async (error: unknown): Promise<never> => {
    if (temp) await fs.rm(temp, { force: true });
    if ((error as NodeJS.ErrnoException).code) throw new BaleError(`cannot write ${output}: ${(error as Error).message}`);
    throw error;
  };
  return {
    async writeEntry(entry, body) {
      if (busy) throw new BaleError("ctx.writeEntry was called before the previous call finished (await each call)");
      if (!["file", "directory", "symlink", "hardlink"].includes(entry.type)) throw new BaleError(`cannot write ${entry.name}: a ${entry.type} entry (only files, directories, symlinks and hardlinks)`);
      const name = memberName(entry.name);
      if (!name) throw new BaleError("ctx.writeEntry: an entry needs a name");
      let linkname = entry.linkname;
      if (entry.type === "hardlink") {
        linkname = memberName(linkname ?? "");
        if (!linkable.has(linkname)) throw new BaleError(`hardlink ${name} points to ${JSON.stringify(linkname)}, which was not written before it`);
      } else if (entry.type === "symlink" && !linkname) throw new BaleError(`symlink ${name} has no target`);
      const { type, size, mode, uid, gid, uname, gname, mtime } = entry;
      busy = true;
      try {
        await tar.add({ name, type, size: type === "file" ? size : 0, mode, uid, gid, uname, gname, mtime: mtime ?? new Date(0), linkname }, body);
      } finally {
        busy = false;
      }
      if (type !== "directory") linkable.add(name);
    },
    async finish() {
      try {
        await tar.finish();
        if (temp) await fs.rename(temp, output!);
      } catch (error) {
        await failed(error);
      }
    },
    async abort() {
      if (!temp) return;
      // The file stream opens its file lazily: removing it before the stream has closed could
      // race the open and leave the temp file behind.
      sink.destroy();
      await finished(sink).catch(() => {});
      await fs.rm(temp, { force: true });
    },
  };
}
