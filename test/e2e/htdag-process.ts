/** Runs the built CLI (`npm run build` first) as a child process, for e2e tests. */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

export const root = fileURLToPath(new URL("../..", import.meta.url));
const bin = join(root, "bin", "htdag.js");

/** The path of a file or folder under test/fixtures. */
export function fixture(name: string): string {
  return join(root, "test", "fixtures", name);
}

/** Runs `htdag args…` to its end; resolves to its exit code and output (never rejects on a non-zero exit). */
export function htdag(
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      "node",
      [bin, ...args],
      { cwd: options.cwd ?? root, env: { ...process.env, ...options.env }, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) =>
        resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Starts `htdag args…` without waiting; the caller reads its streams and waits for `exit`. */
export function startHtdag(args: string[], options: { cwd?: string } = {}): ChildProcess {
  return spawn("node", [bin, ...args], { cwd: options.cwd ?? root, stdio: ["ignore", "pipe", "pipe"] });
}
