/**
 * Re-planning is durable (issue 20, design.md §13): a worker process killed (kill -9) while it asks
 * the decomposer for a revision — after the failure for good, before the revision's commit — leaves
 * nothing applied; a second worker reaps its lease, claims the task again, asks for the revision
 * again, applies it once, and the run completes with the completed outputs untouched.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createOrchestrator } from "../../src/create-orchestrator.js";
import type { Orchestrator } from "../../src/orchestrator/orchestrator.js";
import { validateGraph } from "../../src/graph/validate.js";
import { historyViolations, stateViolations } from "../helpers/invariants.js";
import { createTestDatabase } from "../helpers/postgres.js";
import { waitFor } from "../helpers/wait.js";
import { CRASH_GOAL, crashDecomposer, crashRunOptions, crashSteps } from "./replan-crash-workload.js";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** Starts replan-worker-child.ts as its own process; resolves once its worker runs. */
async function startChild(url: string, log: string, mode: "block" | "answer"): Promise<ChildProcess> {
  const child = spawn("node", ["--import", "tsx", "test/e2e/replan-worker-child.ts", url, log, mode], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (chunk) => (output += String(chunk)));
  child.stderr?.on("data", () => undefined);
  await waitFor(() => output.includes("ready"), 30_000, "the worker process to start");
  return child;
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return;
  }
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  await exited;
}

/** The log's lines, each `[kind, what, pid]`. */
const logLines = (path: string) =>
  readFileSync(path, "utf8")
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((line) => line.split(" ") as [string, string, string]);

const plan = validateGraph({
  goal: "parse the rows",
  tasks: [
    { id: "fetch", step: "fetch" },
    { id: "parse_v1", step: "parse_v1", dependsOn: ["fetch"] },
    { id: "report", step: "report", dependsOn: ["parse_v1"] },
  ],
});

describe("a run with replan survives a crash between the failure and the revision's commit", () => {
  let database: { url: string; drop: () => Promise<void> };
  let orch: Orchestrator;
  beforeAll(async () => {
    database = await createTestDatabase();
    orch = await createOrchestrator({ database: database.url, migrate: false });
  });
  afterAll(async () => {
    await orch.close();
    await database.drop();
  });

  it("kill -9 mid-revision: a second worker asks again, applies the revision once, and the run completes", async () => {
    const log = `${tmpdir()}/htdag-replan-crash-${process.pid}-${Date.now()}.log`;
    writeFileSync(log, "");
    const first = await startChild(database.url, log, "block");
    const { runId } = await orch.submit(plan, { workflow: "replan_crash", replan: { maxRevisions: 2 } });
    await waitFor(() => logLines(log).some(([kind]) => kind === "revise"), 30_000, "the revision to be asked");

    // Asked, not applied: the failed task holds its revision attempt, the plan is unrevised.
    const before = await orch.getRun(runId);
    expect(before.revisions).toEqual([]);
    expect(before.tasks.find((t) => t.id === "parse_v1")?.status).toBe("running");
    first.kill("SIGKILL");
    await new Promise((resolve) => first.once("exit", resolve));
    const afterKill = await orch.getRun(runId);
    expect(afterKill.revisions).toEqual([]);
    expect(afterKill.tasks.find((t) => t.id === "fetch")?.status).toBe("completed");
    expect(await stateViolations(orch, runId)).toEqual([]);

    const second = await startChild(database.url, log, "answer");
    try {
      const result = await orch.waitForRun(runId, { timeoutMs: 60_000 });
      expect(result.status).toBe("completed");
      const lines = logLines(log);
      // Asked twice (once by each process), applied once.
      expect(lines.filter(([kind]) => kind === "revise")).toEqual([
        ["revise", "1", String(first.pid)],
        ["revise", "1", String(second.pid)],
      ]);
      const run = await orch.getRun(runId);
      const stored = await orch.db.query<{ revision: number }>(`SELECT revision FROM htdag.runs WHERE id = $1`, [
        runId,
      ]);
      expect(stored.rows[0]?.revision).toBe(1);
      expect(run.revisions).toEqual([
        expect.objectContaining({ revision: 1, taskId: "parse_v1", added: ["parse_v2"], removed: ["parse_v1"] }),
      ]);
      const revised = await orch.notifications.getRecentEvents({ runId, types: ["plan:revised"] });
      expect(revised).toHaveLength(1);
      // The completed output is the first process's, untouched; no kept task ran twice.
      expect(result.outputs.fetch).toEqual({ rows: [1, 2, 3], pid: first.pid });
      const runs = lines.filter(([kind]) => kind === "run").map(([, task, pid]) => `${task}@${pid}`);
      expect(runs).toEqual([
        `fetch@${first.pid}`,
        `parse_v1@${first.pid}`,
        `parse_v2@${second.pid}`,
        `report@${second.pid}`,
      ]);
      expect(result.outputs.report).toEqual({ inputs: ["parse_v2"] });
      expect(Object.fromEntries(run.tasks.map((t) => [t.id, t.status]))).toEqual({
        fetch: "completed",
        parse_v1: "superseded",
        report: "completed",
        parse_v2: "completed",
      });
      // The killed process's revision attempt was lost (not charged), the second one revised.
      const attempts = await orch.db.query<{ attempt: number; status: string }>(
        `SELECT attempt, status FROM htdag.attempts WHERE run_id = $1 AND task_id = 'parse_v1' ORDER BY attempt`,
        [runId],
      );
      expect(attempts.rows.map((a) => a.status)).toEqual(["failed", "lost", "revised"]);
      expect(await stateViolations(orch, runId)).toEqual([]);
      expect(await historyViolations(orch, runId)).toEqual([]);
    } finally {
      await stopProcess(second);
    }
  });
});

describe("on the embedded store (PGlite), a composing process killed mid-revision", () => {
  it("kill -9 mid-revision: the same compose, reopened on the data dir, asks again, applies once, and completes", async () => {
    const dataDir = mkdtempSync(`${tmpdir()}/htdag-replan-pglite-`);
    const log = `${dataDir}.log`;
    writeFileSync(log, "");
    const child = spawn("node", ["--import", "tsx", "test/e2e/replan-pglite-child.ts", dataDir, log], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout?.on("data", () => undefined);
    child.stderr?.on("data", () => undefined);
    try {
      await waitFor(() => logLines(log).some(([kind]) => kind === "revise"), 60_000, "the revision to be asked");
    } finally {
      child.kill("SIGKILL");
      await new Promise((resolve) => child.once("exit", resolve));
    }

    const orch = await createOrchestrator({ database: `pglite:${dataDir}`, leaseMs: 1_000 });
    try {
      // The same compose (same idempotency key) resumes the run the killed process left.
      const result = await orch.composeFromGoal(
        CRASH_GOAL,
        crashDecomposer(log, "answer"),
        crashSteps(log),
        crashRunOptions,
      );
      expect(result.tasks.find((t) => t.id === "parse_v1")?.status).toBe("superseded");
      expect(result.status).toBe("completed");
      const lines = logLines(log);
      expect(lines.filter(([kind]) => kind === "revise")).toEqual([
        ["revise", "1", String(child.pid)],
        ["revise", "1", String(process.pid)],
      ]);
      const run = await orch.getRun(result.runId);
      expect(run.revisions).toHaveLength(1);
      expect(await orch.notifications.getRecentEvents({ runId: result.runId, types: ["plan:revised"] })).toHaveLength(
        1,
      );
      expect(result.outputs.fetch).toEqual({ rows: [1, 2, 3], pid: child.pid });
      expect(lines.filter(([kind]) => kind === "run").map(([, task, pid]) => `${task}@${pid}`)).toEqual([
        `fetch@${child.pid}`,
        `parse_v1@${child.pid}`,
        `parse_v2@${process.pid}`,
        `report@${process.pid}`,
      ]);
      expect(await stateViolations(orch, result.runId)).toEqual([]);
      expect(await historyViolations(orch, result.runId)).toEqual([]);
    } finally {
      await orch.close();
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(log, { force: true });
    }
  }, 90_000);
});
