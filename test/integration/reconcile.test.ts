/**
 * Issue 17: a reconciler sweeps, in every worker and every process executing runs, so that no run
 * stays stuck for want of a process to own it: a run left pending by a process that died before
 * starting it is started, a run that cannot move (no task ready or running) has its counters
 * derived again from its tasks' statuses, and a run left open although all its tasks are final is
 * finished.
 */
import { describe, expect, it } from "vitest";
import { validateGraph, type Steps } from "../../src/index.js";
import { STORES, useOrchestrator } from "../helpers/stores.js";

const steps: Steps = { one: async () => 1, two: async (ctx) => (ctx.deps.one as number) + 1 };
const graph = validateGraph({ goal: "reconcile me", tasks: [{ id: "one" }, { id: "two", dependsOn: ["one"] }] });

describe.each(STORES)("the reconciler on %s", (kind) => {
  const orch = useOrchestrator(kind, { leaseMs: 1000 });

  async function reconciled(runId: string): Promise<unknown[]> {
    const { rows } = await orch().db.query<{ payload: unknown }>(
      `SELECT payload FROM htdag.events WHERE run_id = $1 AND type = 'execution:reconciled' ORDER BY id`,
      [runId],
    );
    return rows.map((row) => row.payload);
  }

  it("starts a run its submitter recorded but never started, and a worker runs it", async () => {
    const { runId } = await orch().submit(graph, { workflow: "orphaned" });
    // What a process that died between recording the run and starting it leaves behind.
    await orch().db.query(
      `UPDATE htdag.runs SET status = 'pending', started_at = NULL,
              run_at = now() - interval '1 minute', created_at = now() - interval '1 minute' WHERE id = $1`,
      [runId],
    );
    await orch().db.query(`UPDATE htdag.tasks SET status = 'pending', ready_at = NULL WHERE run_id = $1`, [runId]);
    const worker = await orch().startWorker({ workflows: { orphaned: steps }, reapIntervalMs: 100 });
    try {
      const result = await orch().waitForRun(runId, { timeoutMs: 15_000 });
      expect(result.status).toBe("completed");
      expect(result.outputs).toEqual({ one: 1, two: 2 });
      expect(await reconciled(runId)).toEqual([{ repair: "started", reason: expect.stringMatching(/still pending/) }]);
    } finally {
      await worker.stop();
    }
  });

  it("repairs the counters of a run that cannot move, and a worker finishes it", async () => {
    const { runId } = await orch().submit(graph, { workflow: "miscounted" });
    // `one` completed, but `two` still counts it as a dependency to wait for: nothing is ready or
    // running, and no settle will ever count `two` down.
    await orch().db.query(
      `UPDATE htdag.tasks SET status = 'completed', output = '1', finished_at = now() WHERE run_id = $1 AND id = 'one'`,
      [runId],
    );
    await orch().db.query(`UPDATE htdag.runs SET remaining_tasks = 2 WHERE id = $1`, [runId]);
    const worker = await orch().startWorker({ workflows: { miscounted: steps }, reapIntervalMs: 100 });
    try {
      const result = await orch().waitForRun(runId, { timeoutMs: 15_000 });
      expect(result.status).toBe("completed");
      expect(result.outputs).toEqual({ one: 1, two: 2 });
      expect(await reconciled(runId)).toEqual([
        { repair: "counters", tasksRepaired: 1, reason: expect.stringMatching(/remaining_tasks 2, derived 1/) },
      ]);
    } finally {
      await worker.stop();
    }
  });

  it("finishes a run whose tasks are all final but which was left running, with its counters repaired", async () => {
    const done = await orch().composeFromTaskGraph(graph, steps, { workflow: "left_open" });
    await orch().db.query(
      `UPDATE htdag.runs SET status = 'running', finished_at = NULL, remaining_tasks = 1 WHERE id = $1`,
      [done.runId],
    );
    // Any process executing runs sweeps once per lease; this one runs a run of its own meanwhile.
    const other = validateGraph({ goal: "keeps the heartbeat going", tasks: [{ id: "wait" }] });
    const running = orch().composeFromTaskGraph(
      other,
      {
        wait: async () => {
          for (let i = 0; i < 400 && (await orch().getRun(done.runId)).status === "running"; i++) {
            await new Promise((resolve) => setTimeout(resolve, 25));
          }
          return null;
        },
      },
      { workflow: "heartbeat" },
    );
    const result = await orch().waitForRun(done.runId, { timeoutMs: 15_000 });
    expect(result.status).toBe("completed");
    expect(await reconciled(done.runId)).toEqual([
      { repair: "finished", status: "completed", reason: expect.stringMatching(/remaining_tasks 1/) },
    ]);
    const { rows } = await orch().db.query<{ remaining: number }>(
      `SELECT remaining_tasks AS remaining FROM htdag.runs WHERE id = $1`,
      [done.runId],
    );
    expect(rows[0]!.remaining).toBe(0);
    expect((await running).status).toBe("completed");
  });
});
