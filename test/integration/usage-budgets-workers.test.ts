/**
 * A budget holds across processes (design.md §14): two worker processes run one submitted run's
 * tasks and report usage; the spend lives in the run's row, so once it reaches the budget neither
 * process starts another task.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createOrchestrator } from "../../src/create-orchestrator.js";
import type { Orchestrator } from "../../src/orchestrator/orchestrator.js";
import { validateGraph } from "../../src/graph/validate.js";
import { createTestDatabase } from "../helpers/postgres.js";
import { waitFor } from "../helpers/wait.js";

const root = fileURLToPath(new URL("../..", import.meta.url));

function startWorkerProcess(url: string, log: string): ChildProcess {
  const child = spawn("node", ["node_modules/.bin/tsx", "test/fixtures/budget-worker.ts", url, log], {
    cwd: root,
    stdio: ["ignore", "ignore", "inherit"],
  });
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

describe("a budget held across two worker processes (postgres)", () => {
  let database: { url: string; drop: () => Promise<void> };
  let orch: Orchestrator;
  beforeAll(async () => {
    database = await createTestDatabase();
    orch = await createOrchestrator({ database: database.url });
  });
  afterAll(async () => {
    await orch?.close();
    await database?.drop();
  });

  it("no task starts in either process once the run's spend reaches its budget", async () => {
    const log = join(tmpdir(), `htdag-budget-${process.pid}-${Date.now()}.log`);
    writeFileSync(log, "");
    // Four independent chains of five: both processes run tasks at once. 150 tokens a task; the
    // budget of 1,000 is reached by the 7th report.
    const graph = validateGraph({
      goal: "budget across processes",
      tasks: Array.from({ length: 20 }, (_, i) => ({
        id: `t${String(i).padStart(2, "0")}`,
        step: "call",
        ...(i >= 4 ? { dependsOn: [`t${String(i - 4).padStart(2, "0")}`] } : {}),
      })),
    });
    const workers = [startWorkerProcess(database.url, log), startWorkerProcess(database.url, log)];
    try {
      await waitFor(
        async () => (readFileSync(log, "utf8").match(/^ready /gm) ?? []).length === 2,
        20_000,
        "both worker processes started",
      );
      const { runId } = await orch.submit(graph, { workflow: "budgeted", budget: { tokens: 1000 } });
      const result = await orch.waitForRun(runId, { timeoutMs: 25_000 });
      expect(result.status).toBe("failed");
      expect(result.error?.message).toMatch(/reached its budget \(tokens \d+ of 1000\)/);
      const lines = readFileSync(log, "utf8")
        .split("\n")
        .filter((line) => line.startsWith("t"));
      const pids = new Set(lines.map((line) => line.split(" ")[1]));
      expect(pids.size).toBe(2);
      // Every started task reported (or was rejected at checkBudget): at most the 7th report
      // reached the limit, and the ones running then (one per free slot, 4 at most) were aborted.
      expect(result.usage.inputTokens + result.usage.outputTokens).toBeGreaterThanOrEqual(1000);
      expect(lines.length).toBeLessThanOrEqual(7 + 3);
      // Nothing started after the run failed. Compared by the order the events were written (ids),
      // not by timestamps: now() is a transaction's start, so a claim that committed just before the
      // failing report (which waited for the run's lock) can carry a later started_at than the run's
      // finished_at (a CI run saw that).
      const { rows } = await orch.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM htdag.events s, htdag.events b
          WHERE s.run_id = $1 AND s.type = 'task:started' AND b.run_id = $1 AND b.type = 'budget:exceeded'
            AND s.id > b.id`,
        [runId],
      );
      expect(rows[0]!.n).toBe(0);
      const events = await orch.notifications.getRecentEvents({ runId, types: ["budget:exceeded"] });
      expect(events).toHaveLength(1);
    } finally {
      await Promise.all(workers.map(stopProcess));
    }
  });
});
