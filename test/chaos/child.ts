/**
 * What a child process of the harness shares: how it reports an error (one stderr line,
 * `error <name> <message>`, which processes.ts counts by name), and that it ends with the harness.
 */

/** Exits when the harness's end of stdin closes: a harness that died leaves no child running. */
export function exitWithHarness(): void {
  process.stdin.on("end", () => process.exit(1));
  process.stdin.resume();
}

export function reportToHarness(error: unknown): void {
  const { name, message } = error instanceof Error ? error : { name: "Error", message: String(error) };
  process.stderr.write(`error ${name || "Error"} ${String(message).replaceAll("\n", " ").slice(0, 300)}\n`);
}

/** The name and message of a reported line; other stderr lines are counted as "stderr". */
export function parseReported(line: string): { name: string; message: string } {
  const [, name = "stderr", message = line] = /^error (\S+) (.*)$/.exec(line) ?? [];
  return { name, message };
}
