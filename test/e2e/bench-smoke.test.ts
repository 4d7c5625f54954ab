/**
 * The benchmark script starts, runs one tiny workload on htdag and the raw-SQL floor, and tiny W7
 * and W8 (worker processes) on htdag, prints its table and writes its JSON. It asserts that figures
 * were produced, never how fast they are (CI does not run the benchmark itself; see docs/performance.md).
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_URL } from "../helpers/postgres.js";

const root = fileURLToPath(new URL("../..", import.meta.url));

interface Row {
  system: string;
  workload: string;
  metric: string;
  median: number;
}

/** Runs the built CLI (npm test builds dist/ first). */
function htdag(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["bin/htdag.js", ...args],
      { cwd: root, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) =>
        resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Database names like the test databases, so the test run's teardown drops anything a crash leaves behind. */
const prefix = () => `htdag_t_${process.env.HTDAG_TEST_RUN ?? "adhoc"}_b${randomBytes(3).toString("hex")}`;

function runBench(env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "bench/run.ts"],
      { cwd: root, env: { ...process.env, ...env }, timeout: 60_000 },
      (error, stdout, stderr) =>
        resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe("npm run bench (smoke)", () => {
  let folder = "";
  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), "htdag-bench-"));
  });
  afterAll(async () => {
    if (folder) {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it("runs a tiny chain on htdag and the floor, prints the table and writes the JSON", async () => {
    const out = join(folder, "latest.json");
    const { code, stdout, stderr } = await runBench({
      BENCH_SIZE: "tiny",
      BENCH_SYSTEMS: "htdag,floor",
      BENCH_WORKLOADS: "chain",
      BENCH_WARMUP: "0",
      BENCH_REPEATS: "1",
      BENCH_OUT: out,
      BENCH_DOCS: "0",
      BENCH_DATABASE_URL: ADMIN_URL,
      BENCH_DATABASE_PREFIX: prefix(),
    });
    expect(stderr).not.toMatch(/FAILED|Error/);
    expect(code).toBe(0);
    expect(stdout).toMatch(/W2 chain\s+ms per step/);
    const report = JSON.parse(await readFile(out, "utf8")) as {
      results: Row[];
      failures: unknown[];
      meta: { size: string };
    };
    expect(report.failures).toEqual([]);
    expect(report.meta.size).toBe("tiny");
    const figure = (system: string, metric: string) =>
      report.results.find((r) => r.system === system && r.workload === "chain" && r.metric === metric);
    // 20 steps ran on each system: a time per step and a count of round trips were measured.
    expect(figure("htdag", "ms per step")?.median).toBeGreaterThan(0);
    expect(figure("htdag", "round trips per task")?.median).toBeGreaterThan(0);
    expect(figure("floor", "round trips per task")?.median).toBe(1);
  }, 60_000);

  it("runs tiny W7 (many runs) and W8 (scale-out over 1, 2 and 4 worker processes) on htdag", async () => {
    const out = join(folder, "w7w8.json");
    const { code, stdout, stderr } = await runBench({
      BENCH_SIZE: "tiny",
      BENCH_SYSTEMS: "htdag",
      BENCH_WORKLOADS: "many-runs,scale-out",
      BENCH_WARMUP: "0",
      BENCH_REPEATS: "1",
      BENCH_OUT: out,
      BENCH_DOCS: "0",
      BENCH_DATABASE_URL: ADMIN_URL,
      BENCH_DATABASE_PREFIX: prefix(),
    });
    expect(stderr).not.toMatch(/FAILED|Error/);
    expect(code).toBe(0);
    expect(stdout).toMatch(/W7 many runs\s+runs per s/);
    expect(stdout).toMatch(/W8 scale-out\s+speed-up 4 ÷ 1/);
    const report = JSON.parse(await readFile(out, "utf8")) as { results: Row[]; failures: unknown[] };
    expect(report.failures).toEqual([]);
    const figure = (workload: string, metric: string) =>
      report.results.find((r) => r.system === "htdag" && r.workload === workload && r.metric === metric)?.median;
    // 20 runs of one task each: a rate and the statements per run were measured.
    expect(figure("many-runs", "runs per s")).toBeGreaterThan(0);
    expect(figure("many-runs", "round trips per task")).toBeGreaterThan(0);
    // 40 sleeping tasks drained by 1, 2 and 4 worker processes, which counted their own statements.
    for (const processes of ["1 process", "2 processes", "4 processes"]) {
      expect(figure("scale-out", `tasks per s, ${processes}`)).toBeGreaterThan(0);
    }
    expect(figure("scale-out", "speed-up 4 ÷ 1")).toBeGreaterThan(0);
    expect(figure("scale-out", "round trips per task")).toBeGreaterThan(0);
  }, 60_000);

  it("BENCH_BACKGROUND=1 measures W2 again under a synthetic load, reports it, and drops its database", async () => {
    const out = join(folder, "background.json");
    const databasePrefix = prefix();
    const { code, stdout, stderr } = await runBench({
      BENCH_SIZE: "tiny",
      BENCH_SYSTEMS: "htdag",
      BENCH_WORKLOADS: "chain",
      BENCH_WARMUP: "0",
      BENCH_REPEATS: "1",
      BENCH_BACKGROUND: "1",
      BENCH_OUT: out,
      BENCH_DOCS: "0",
      BENCH_DATABASE_URL: ADMIN_URL,
      BENCH_DATABASE_PREFIX: databasePrefix,
    });
    expect(stderr).not.toMatch(/FAILED|Error/);
    expect(code).toBe(0);
    expect(stdout).toMatch(/background load: 2 client\(s\) × 200 transactions\/s asked .*achieved/);
    expect(stdout).toMatch(/W2 chain\s+ms per step/);
    expect(stdout).toMatch(/W2 chain \(background\)\s+ms per step/);
    const report = JSON.parse(await readFile(out, "utf8")) as {
      results: (Row & { background?: boolean })[];
      failures: unknown[];
      meta: { background?: { clients: number; tps: number; transactions: number; achievedTps: number } };
    };
    expect(report.failures).toEqual([]);
    expect(report.meta.background).toMatchObject({ clients: 2, tps: 200 });
    expect(report.meta.background?.transactions).toBeGreaterThan(0);
    expect(report.meta.background?.achievedTps).toBeGreaterThan(0);
    const loaded = report.results.find((r) => r.workload === "chain" && r.metric === "ms per step" && r.background);
    expect(loaded?.median).toBeGreaterThan(0);
    // The background database is dropped at the end, and no connection to it is left.
    const admin = new pg.Client({ connectionString: ADMIN_URL });
    await admin.connect();
    try {
      const { rows } = await admin.query<{ n: number }>(
        "SELECT (SELECT count(*) FROM pg_database WHERE datname = $1)::int + " +
          "(SELECT count(*) FROM pg_stat_activity WHERE datname = $1)::int AS n",
        [`${databasePrefix}_background`.toLowerCase()],
      );
      expect(rows[0]?.n).toBe(0);
    } finally {
      await admin.end();
    }
  }, 60_000);

  it("htdag bench --tiny --json measures the same on a given server", async () => {
    const { code, stdout } = await htdag([
      "--database",
      ADMIN_URL,
      "bench",
      "--tiny",
      "--systems",
      "htdag,floor",
      "--workloads",
      "chain",
      "--prefix",
      prefix(),
      "--json",
    ]);
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as { results: Row[]; failures: unknown[] };
    expect(report.failures).toEqual([]);
    expect(
      report.results
        .filter((r) => r.metric === "ms per step")
        .map((r) => r.system)
        .sort(),
    ).toEqual(["floor", "htdag"]);
  }, 60_000);

  it("htdag bench names the problem when --database is not a Postgres server", async () => {
    const { code, stderr } = await htdag(["--database", "memory://", "bench", "--tiny"]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/--database.*postgres:\/\/ URL/);
  });
});
