/** `htdag dashboard` as a process (the built CLI: `npm run build` first): refuses an exposed host without a token or a bad --max-streams, serves, stops on SIGINT. */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { describe, expect, it } from "vitest";
import { htdag, root } from "../e2e/htdag-process.js";

describe("htdag dashboard", () => {
  it("refuses a host other machines can reach without a token, naming the fix", { timeout: 60_000 }, async () => {
    const { code, stderr } = await htdag(["dashboard", "--host", "0.0.0.0", "--database", "memory://"], {
      env: { HTDAG_DASHBOARD_TOKEN: "" },
    });
    expect(code).toBe(1);
    expect(stderr).toMatch(/without a token: pass one .*--token.*HTDAG_DASHBOARD_TOKEN/);
    const short = await htdag(["dashboard", "--token", "short", "--database", "memory://"]);
    expect(short.code).toBe(1);
    expect(short.stderr).toMatch(/token.*at least 16 characters/);
    const streams = await htdag(["dashboard", "--max-streams", "0", "--database", "memory://"]);
    expect(streams.code).toBe(1);
    expect(streams.stderr).toMatch(/--max-streams.*a whole number of at least 1, received/);
  });

  it("serves the API with the token from HTDAG_DASHBOARD_TOKEN and stops on SIGINT", async () => {
    const token = "cli-token-0123456789abcdef";
    const child = spawn(
      "node",
      [join(root, "bin", "htdag.js"), "dashboard", "--port", "0", "--database", "memory://"],
      { cwd: root, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, HTDAG_DASHBOARD_TOKEN: token } },
    );
    let stderr = "";
    child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    const url = await new Promise<string>((resolve, reject) => {
      child.on("exit", (code) => reject(new Error(`htdag dashboard exited with ${code}: ${stderr}`)));
      createInterface({ input: child.stdout! }).on("line", (line) => {
        const match = /^htdag dashboard on (http:\S+)$/.exec(line);
        if (match) {
          resolve(match[1]!);
        }
      });
    });
    try {
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      expect((await fetch(new URL("api/runs", url))).status).toBe(401);
      const response = await fetch(new URL("api/runs", url), { headers: { Authorization: `Bearer ${token}` } });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ runs: [], workflows: [] });
    } finally {
      child.kill("SIGINT");
    }
    expect(await exited).toBe(0);
  }, 120_000); // starting a process with embedded PGlite and its migrations takes long on a loaded 2-core box
});
