// Progress on stderr, only when it is a terminal and not silenced with -q.
export interface Progress {
  start(label: string, total?: number): void;
  advance(count: number): void;
  done(): void;
}

const quietProgress: Progress = { start() {}, advance() {}, done() {} };

export function createProgress(quiet: boolean): Progress {
  if (quiet || !process.stderr.isTTY) return quietProgress;
  let label = "";
  let total: number | undefined;
  let bytes = 0;
  let began = 0;
  let drawn = 0;
  const draw = () => {
    const seconds = Math.max((Date.now() - began) / 1000, 0.001);
    const of = total ? ` / ${humanBytes(total)}` : "";
    const bar = total ? `${renderBar(bytes / total)} ` : "";
    process.stderr.write(`\r\x1b[2K${label} ${bar}${humanBytes(bytes)}${of}  ${humanBytes(bytes / seconds)}/s`);
  };
  return {
    start(newLabel, newTotal) {
      label = newLabel;
      total = newTotal;
      bytes = 0;
      began = Date.now();
    },
    advance(count) {
      bytes += count;
      if (Date.now() - drawn > 100) {
        drawn = Date.now();
        draw();
      }
    },
    done() {
      if (began) {
        draw();
        process.stderr.write("\n");
      }
      began = 0;
    },
  };
}

function renderBar(fraction: number, width = 24): string {
  const filled = Math.round(Math.min(Math.max(fraction, 0), 1) * width);
  return `[${"=".repeat(filled)}${" ".repeat(width - filled)}]`;
}

/** Sizes as docker prints them: decimal units, three significant digits. */
export function humanBytes(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? Math.round(value) : Number(value.toPrecision(3))}${units[unit]}`;
}
