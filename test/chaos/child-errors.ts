/**
 * How a child process reports an error to the harness: one stderr line, `error <name> <message>`
 * (processes.ts counts them by name).
 */

export function reportToHarness(error: unknown): void {
  const { name, message } = error instanceof Error ? error : { name: "Error", message: String(error) };
  process.stderr.write(`error ${name || "Error"} ${String(message).replaceAll("\n", " ").slice(0, 300)}\n`);
}

/** The name and message of a reported line; other stderr lines are counted as "stderr". */
export function parseReported(line: string): { name: string; message: string } {
  const [, name = "stderr", message = line] = /^error (\S+) (.*)$/.exec(line) ?? [];
  return { name, message };
}
