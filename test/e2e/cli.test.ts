import { execFile, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import pg from "pg";
import { createEmptyDatabase } from "../helpers/postgres.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const run = promisify(execFile);

/** Runs the built CLI (npm test builds dist/ first) and returns its exit code and output. */
async function htdag(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run("node", ["bin/htdag.js", ...args], {
      cwd: root,
      env: { ...process.env, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("htdag's output", () => {
  it("ends quietly when its reader goes away before it writes (htdag … | head)", async () => {
    const child = spawn("node", ["bin/htdag.js", "--help"], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    // The reader is gone before htdag writes: its first write meets EPIPE.
    child.stdout.destroy();
    let stderr = "";
    child.stderr.on("data", (chunk) => (stderr += String(chunk)));
    const code = await new Promise((resolve) => child.once("exit", resolve));
    expect(stderr).toBe("");
    expect(code).toBe(0);
  });
});

describe("htdag validate", () => {
  it("accepts a valid graph and summarises it", async () => {
    const { code, stdout } = await htdag(["validate", "examples/graphs/release.yaml"]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/release\.yaml: valid, 9 tasks for goal "Release version 2\.4\.0 of the billing service"/);
  });

  it("names the cycle and exits 1", async () => {
    const { code, stderr } = await htdag(["validate", "examples/graphs/cyclic.yaml"]);
    expect(code).toBe(1);
    expect(stderr).toMatch(
      /write -> publish -> review -> write|publish -> review -> write -> publish|review -> write -> publish -> review/,
    );
  });

  it("reports three different problems in one go", async () => {
    const { code, stderr } = await htdag(["validate", "test/fixtures/three-problems.yaml"]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/3 problem\(s\)/);
    expect(stderr).toMatch(/tasks\[1\]\.id: .*draft.*\[duplicate_id\]/);
    expect(stderr).toMatch(/tasks\[2\]\.dependsOn\[0\]: .*drafts.*\[unknown_dependency\]/);
    expect(stderr).toMatch(/tasks\[2\]\.maxAttempts: .*\[invalid_field\]/);
  });

  it("prints JSON for machines", async () => {
    const { code, stdout } = await htdag(["validate", "examples/graphs/cyclic.yaml", "--json"]);
    expect(code).toBe(1);
    const report = JSON.parse(stdout);
    expect(report.valid).toBe(false);
    expect(report.issues.map((i: { code: string }) => i.code)).toContain("cycle");
  });

  it("exits 2 on bad usage and names a missing file", async () => {
    expect((await htdag(["validate"])).code).toBe(2);
    expect((await htdag(["frobnicate"])).code).toBe(2);
    const missing = await htdag(["validate", "nope.yaml"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/nope\.yaml/);
  });
});

describe("htdag migrate", () => {
  it("two processes migrating one fresh database at the same moment both exit 0; the schema is complete once", async () => {
    const database = await createEmptyDatabase();
    try {
      const [a, b] = await Promise.all([
        htdag(["migrate", "--database", database.url]),
        htdag(["migrate", "--database", database.url]),
      ]);
      expect([a.code, b.code]).toEqual([0, 0]);
      expect(`${a.stdout}${b.stdout}`).toMatch(/applied \d+ migration/);
      const status = await htdag(["migrate", "--status", "--database", database.url]);
      expect(status.code).toBe(0);
      expect(status.stdout).toMatch(/0001_baseline\s+applied/);
      expect(status.stdout).not.toMatch(/pending/);
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      const { rows } = await client.query(
        `SELECT count(*)::int AS n, count(DISTINCT version)::int AS d FROM htdag.migrations`,
      );
      await client.end();
      expect(rows[0].n).toBe(rows[0].d);
    } finally {
      await database.drop();
    }
  });

  it("names an unreachable database without its password", async () => {
    const { code, stderr } = await htdag(["migrate", "--database", "postgres://u:hunter2@127.0.0.1:1/x"]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/cannot connect to postgres:\/\/u:\*\*\*@127\.0\.0\.1:1\/x/);
    expect(stderr).not.toMatch(/hunter2/);
  });

  it("uses the embedded store when no database is given", async () => {
    const { mkdtemp } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    const dir = await mkdtemp(`${tmpdir()}/htdag-cli-`);
    const { code, stdout } = await htdag(["migrate", "--status"], { HTDAG_DATABASE_URL: `pglite:${dir}` });
    expect(code).toBe(0);
    expect(stdout).toMatch(/0001_baseline\s+pending/);
  });
});
