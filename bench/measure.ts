// Runs one command and measures its wall time and peak RSS.
// Wall time comes from our own clock (GNU time's %e has only 10 ms
// resolution); peak RSS from GNU time's %M, which covers the whole process
// tree it waited for (npx → tsx → node). Without /usr/bin/time we poll
// /proc/<pid>/status for VmHWM, which sees only the direct child.
import { spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";

const GNU_TIME = "/usr/bin/time";
export const rssSource = existsSync(GNU_TIME) ? "GNU time %M" : "/proc VmHWM polling";

export interface Step {
  argv: string[];
  env?: Record<string, string>;
  cwd?: string;
}

export interface Measured {
  seconds: number;
  rssKiB: number;
}

export class StepFailed extends Error {}

/** Runs the steps one after another; time adds up, RSS is the largest. */
export async function measure(steps: Step[], scratch: string): Promise<Measured> {
  let seconds = 0;
  let rssKiB = 0;
  for (const step of steps) {
    const one = await measureOne(step, scratch);
    seconds += one.seconds;
    rssKiB = Math.max(rssKiB, one.rssKiB);
  }
  return { seconds, rssKiB };
}

async function measureOne(step: Step, scratch: string): Promise<Measured> {
  const timeFile = join(scratch, `.time-${process.pid}`);
  const argv = existsSync(GNU_TIME) ? [GNU_TIME, "-f", "%M", "-o", timeFile, ...step.argv] : step.argv;
  const started = process.hrtime.bigint();
  const child = spawn(argv[0], argv.slice(1), {
    cwd: step.cwd,
    env: { ...process.env, ...step.env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let peakKiB = 0;
  const poll = existsSync(GNU_TIME) ? undefined : setInterval(() => (peakKiB = Math.max(peakKiB, vmHwm(child.pid))), 20);
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
  const code = await new Promise<number>((done, fail) => {
    child.on("error", fail);
    child.on("close", (c, signal) => done(c ?? (signal ? 128 : 1)));
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (poll) clearInterval(poll);
  if (code !== 0) {
    throw new StepFailed(`${step.argv.slice(0, 4).join(" ")}… exited ${code}: ${summary(stderr)}`);
  }
  if (!poll) {
    peakKiB = Number(readFileSync(timeFile, "utf8").trim().split("\n").pop());
    rmSync(timeFile, { force: true });
  }
  return { seconds, rssKiB: peakKiB };
}

function vmHwm(pid: number | undefined): number {
  try {
    const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0; // the process has already exited
  }
}

/** Runs a setup command untimed; throws with its stderr on failure. */
export async function run(step: Step): Promise<string> {
  const child = spawn(step.argv[0], step.argv.slice(1), { cwd: step.cwd, env: { ...process.env, ...step.env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (c: Buffer) => (out = (out + c.toString()).slice(-8000)));
  child.stderr.on("data", (c: Buffer) => (out = (out + c.toString()).slice(-8000)));
  const code = await new Promise<number>((done, fail) => {
    child.on("error", fail);
    child.on("close", (c) => done(c ?? 1));
  });
  if (code !== 0) throw new StepFailed(`${step.argv.slice(0, 4).join(" ")}… exited ${code}: ${summary(out)}`);
  return out;
}

/** The telling line of a failed command's output: bale's one-line error, a JS error, or the last lines. */
function summary(output: string): string {
  const lines = output.split("\n").map((l) => l.trim()).filter((l) => l && !/^Command exited with non-zero status/.test(l));
  const telling = lines.find((l) => /^(bale:|Error|\w*Error\b|error)/i.test(l));
  return telling ?? (lines.slice(-2).join(" / ") || "(no output)");
}
