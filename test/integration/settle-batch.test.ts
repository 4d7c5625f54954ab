/**
 * The batched settle (settle_tasks) at the store level: a batch mixing completions, a final
 * failure, a retry and a rejected settlement is applied settlement by settlement, with each guard,
 * in one round trip; the set-based claim returns the run's next tasks with their dependencies' outputs.
 */
import { describe, expect, it } from "vitest";
import { validateGraph } from "../../src/graph/validate.js";
import { createTaskQueries } from "../../src/store/tasks.js";
import { STORES, useOrchestrator } from "../helpers/stores.js";

describe.each(STORES)("batched settle on %s", (kind) => {
  const orch = useOrchestrator(kind);
  const worker = "test-worker";

  async function started(
    tasks: { id: string; dependsOn?: string[]; runIf?: "allSucceeded" | "allDone" }[],
    maxParallel = 10,
  ) {
    const graph = validateGraph({ goal: "batch", tasks: tasks.map((t) => ({ step: "noop", ...t })) });
    const { runId } = await orch().submit(graph, { workflow: `batch-${kind}`, maxParallel, failFast: false });
    const queries = createTaskQueries(orch().db, orch().options.schema);
    const { claimed } = await queries.claim(runId, null, worker, 10, 30_000, null);
    return { runId, queries, claimed };
  }

  const statuses = async (runId: string) =>
    Object.fromEntries(
      (
        await orch().db.query<{ id: string; status: string }>(
          `SELECT id, status FROM htdag.tasks WHERE run_id = $1 ORDER BY id`,
          [runId],
        )
      ).rows.map((r) => [r.id, r.status]),
    );

  it("applies completions, a final failure, a retry and a rejected settle in one call", async () => {
    const { runId, queries, claimed } = await started([
      { id: "a" },
      { id: "b" },
      { id: "c" },
      { id: "r" },
      { id: "ab", dependsOn: ["a", "b"] },
      { id: "cleanup", dependsOn: ["c"], runIf: "allDone" },
      { id: "needs-c", dependsOn: ["c"] },
    ]);
    expect(claimed.map((t) => t.taskId).sort()).toEqual(["a", "b", "c", "r"]);
    const result = await queries.settleMany(
      runId,
      [
        { runId, taskId: "a", attempt: 1, outcome: "completed", output: { n: 1 } },
        { runId, taskId: "b", attempt: 1, outcome: "completed", output: null },
        {
          runId,
          taskId: "c",
          attempt: 1,
          outcome: "failed",
          error: { name: "Error", message: "boom" },
          errorClass: "Error",
          retryDelayMs: null,
        },
        {
          runId,
          taskId: "r",
          attempt: 1,
          outcome: "failed",
          error: { name: "Error", message: "flaky" },
          errorClass: "Error",
          retryDelayMs: 60_000,
        },
        { runId, taskId: "b", attempt: 7, outcome: "completed", output: "late" },
      ],
      worker,
      10,
      30_000,
      null,
    );
    expect(result.results).toEqual(
      expect.arrayContaining([
        { taskId: "a", attempt: 1, settled: true, status: "completed" },
        { taskId: "b", attempt: 1, settled: true, status: "completed" },
        { taskId: "c", attempt: 1, settled: true, status: "failed" },
        { taskId: "r", attempt: 1, settled: true, status: "ready" },
        { taskId: "b", attempt: 7, settled: false, status: null },
      ]),
    );
    expect(result.results).toHaveLength(5);
    // ab's dependencies both completed: claimed with their outputs; cleanup runs whatever c did.
    const next = Object.fromEntries(result.claimed.map((t) => [t.taskId, t.deps]));
    expect(next).toEqual({ ab: { a: { n: 1 }, b: null }, cleanup: {} });
    expect(await statuses(runId)).toEqual({
      a: "completed",
      ab: "running",
      b: "completed",
      c: "failed",
      cleanup: "running",
      "needs-c": "cancelled",
      r: "ready",
    });
    const rejected = await orch().db.query(
      `SELECT task_id, attempt FROM htdag.rejected_completions WHERE run_id = $1`,
      [runId],
    );
    expect(rejected.rows).toEqual([{ task_id: "b", attempt: 7 }]);
    const attempts = await orch().db.query<{ task_id: string; status: string }>(
      `SELECT task_id, status FROM htdag.attempts WHERE run_id = $1 AND task_id IN ('a', 'b', 'c', 'r') ORDER BY task_id`,
      [runId],
    );
    expect(attempts.rows).toEqual([
      { task_id: "a", status: "completed" },
      { task_id: "b", status: "completed" },
      { task_id: "c", status: "failed" },
      { task_id: "r", status: "failed" },
    ]);
    const events = await orch().db.query<{ type: string; task_id: string }>(
      `SELECT type, task_id FROM htdag.events WHERE run_id = $1 AND type IN ('task:completed', 'task:failed', 'task:retried', 'task:cancelled') ORDER BY id`,
      [runId],
    );
    expect(events.rows.map((e) => `${e.type} ${e.task_id}`).sort()).toEqual([
      "task:cancelled needs-c",
      "task:completed a",
      "task:completed b",
      "task:failed c",
      "task:retried r",
    ]);
  });

  it("finishes the run when a batch settles its last tasks, and claims nothing after", async () => {
    const { runId, queries, claimed } = await started([{ id: "x" }, { id: "y" }, { id: "z" }]);
    const result = await queries.settleMany(
      runId,
      claimed.map((t) => ({
        runId,
        taskId: t.taskId,
        attempt: t.attempt,
        outcome: "completed" as const,
        output: t.taskId,
      })),
      worker,
      10,
      30_000,
      null,
    );
    expect(result.runStatus).toBe("completed");
    expect(result.claimed).toEqual([]);
    const run = await orch().db.query<{ status: string; remaining_tasks: number }>(
      `SELECT status, remaining_tasks FROM htdag.runs WHERE id = $1`,
      [runId],
    );
    expect(run.rows).toEqual([{ status: "completed", remaining_tasks: 0 }]);
  });

  it("claims no more than maxParallel across settles, and a settle held by another worker is rejected", async () => {
    const { runId, queries, claimed } = await started(
      Array.from({ length: 6 }, (_, i) => ({ id: `t${i}` })),
      2,
    );
    expect(claimed).toHaveLength(2);
    const foreign = await queries.settleMany(
      runId,
      [{ runId, taskId: claimed[0]!.taskId, attempt: 1, outcome: "completed", output: 1 }],
      "someone-else",
      10,
      30_000,
      null,
    );
    expect(foreign.results).toEqual([{ taskId: claimed[0]!.taskId, attempt: 1, settled: false, status: null }]);
    expect(foreign.claimed).toEqual([]);
    const mine = await queries.settleMany(
      runId,
      claimed.map((t) => ({ runId, taskId: t.taskId, attempt: 1, outcome: "completed" as const, output: 1 })),
      worker,
      10,
      30_000,
      null,
    );
    expect(mine.claimed).toHaveLength(2);
  });
});
