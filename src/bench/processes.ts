/**
 * Worker processes for W8 (scale-out), for every system alike. The parent spawns `count` children
 * of one script and waits until each prints "ready"; `stop()` sends SIGTERM and collects what each
 * child prints as its last line: the statements it sent (node-postgres counter, counters.ts).
 * A child calls `serveUntilTerminated` once its worker runs.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { installRoundTripCounter, roundTripsTo } from "./counters.js";

/** Worker processes started by `startWorkerProcesses`. */
export interface WorkerProcesses {
  /** Stops every child gracefully; resolves with the statements they sent to the database, summed. */
  stop(): Promise<{ roundTrips: number }>;
}

/** A child that has not printed "ready" within this time is stuck (a start takes about a second). */
const READY_TIMEOUT_MS = 60_000;

/**
 * Spawns `count` children running `script` (a file URL; TypeScript runs through tsx) with `args`,
 * and resolves once all of them are ready.
 */
export async function startWorkerProcesses(script: URL, args: string[], count: number): Promise<WorkerProcesses> {
  const path = fileURLToPath(script);
  const nodeArgs = path.endsWith(".ts") ? ["--import", "tsx", path, ...args] : [path, ...args];
  const started = await Promise.allSettled(Array.from({ length: count }, () => startChild(nodeArgs)));
  const children = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (failed) {
    await Promise.all(children.map((c) => c.stop()));
    throw failed.reason;
  }
  return {
    async stop() {
      const counts = await Promise.all(children.map((c) => c.stop()));
      return { roundTrips: counts.reduce((sum, n) => sum + n, 0) };
    },
  };
}

/** One drain of W8: `drain` (timed by the caller, returning ms) runs while `count` children serve. */
export async function drainWithProcesses(
  script: URL,
  args: string[],
  count: number,
  drain: () => Promise<number>,
): Promise<{ processes: number; wallMs: number; roundTrips: number }> {
  const workers = await startWorkerProcesses(script, args, count);
  let wallMs: number;
  try {
    wallMs = await drain();
  } catch (error) {
    // The drain's error is the one to report; the children are stopped on the way out.
    await workers.stop().catch((stopError: unknown) => console.error("bench: worker processes:", stopError));
    throw error;
  }
  const { roundTrips } = await workers.stop();
  return { processes: count, wallMs, roundTrips };
}

interface Child {
  stop(): Promise<number>;
}

function startChild(nodeArgs: string[]): Promise<Child> {
  const child = spawn(process.execPath, nodeArgs, { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return new Promise<Child>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`a worker process (${nodeArgs.join(" ")}) was not ready after ${READY_TIMEOUT_MS / 1000} s`));
    }, READY_TIMEOUT_MS);
    child.stdout?.on("data", (chunk) => {
      out += String(chunk);
      if (out.includes("ready\n")) {
        clearTimeout(timer);
        resolve({ stop: () => stopChild(child, exited, () => out) });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`a worker process (${nodeArgs.join(" ")}) exited with ${code} before it was ready`));
    });
  });
}

async function stopChild(child: ChildProcess, exited: Promise<number | null>, out: () => string): Promise<number> {
  child.kill("SIGTERM");
  const code = await exited;
  const line = out()
    .split("\n")
    .find((l) => l.startsWith("{"));
  if (code !== 0 || !line) {
    throw new Error(`a worker process exited with ${code} without reporting its round trips`);
  }
  return (JSON.parse(line) as { roundTrips: number }).roundTrips;
}

/**
 * The child's side, called once its worker runs (after `countRoundTrips`, which must precede every
 * connection): prints "ready"; on SIGTERM calls `stop` (stop the worker, close connections), prints
 * `{"roundTrips":n}`, the statements it sent to `url`'s database, and exits.
 */
export function serveUntilTerminated(url: string, stop: () => Promise<void>): void {
  const database = new URL(url).pathname.slice(1);
  process.stdout.write("ready\n");
  process.once("SIGTERM", () => {
    stop().then(
      () => {
        process.stdout.write(`${JSON.stringify({ roundTrips: roundTripsTo(database) })}\n`);
        process.exit(0);
      },
      (error: unknown) => {
        process.stderr.write(`worker process: could not stop: ${(error as Error).message}\n`);
        process.exit(1);
      },
    );
  });
}

/** Starts counting statements in a child (before its system opens a connection). */
export function countRoundTrips(): void {
  installRoundTripCounter();
}
