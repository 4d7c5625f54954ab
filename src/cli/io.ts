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

/**
 * Ends the process quietly when the reader of stdout goes away (`htdag runs | head`): the exit a
 * Unix tool makes on SIGPIPE, without Node's stack of an unhandled EPIPE. A run the command was
 * executing stays as it was, resumable (`htdag resume`). Any other error writing stdout is reported
 * on stderr and ends the process with exit code 1.
 */
export function endWhenStdoutCloses(): void {
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") {
      process.exit(process.exitCode ?? EXIT.ok);
    }
    process.stderr.write(`htdag: cannot write to stdout: ${error.message}\n`);
    process.exit(EXIT.failure);
  });
}

/** Aborts on the first SIGINT or SIGTERM. */
export function signalStop(): AbortSignal {
  const controller = new AbortController();
  const abort = () => controller.abort();
  process.once("SIGINT", abort);
  process.once("SIGTERM", abort);
  return controller.signal;
}
