/** Where the CLI writes, and its exit codes. */

/** Exit codes of `htdag`. */
export const EXIT = {
  /** Success. */
  ok: 0,
  /** The command ran and found a problem: an invalid graph, a failed run, an unreachable database. */
  failure: 1,
  /** Bad usage: an unknown command or flag, a missing argument. */
  usage: 2,
  /** `htdag run` was interrupted by Ctrl-C (128 + SIGINT, as shells expect); the run was cancelled first. */
  interrupted: 130,
  /** A bug in htdag: an error it did not expect. */
  internal: 70,
} as const;

/** Output channels of the CLI; `exitCode` lets a command report failure without throwing. */
export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  exitCode?: number;
}

export const processIo: CliIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

/** Aborts on the first SIGINT or SIGTERM. */
export function signalStop(): AbortSignal {
  const controller = new AbortController();
  const abort = () => controller.abort();
  process.once("SIGINT", abort);
  process.once("SIGTERM", abort);
  return controller.signal;
}
