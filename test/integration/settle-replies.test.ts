/**
 * Issue 17: a settle whose reply was lost is sent again (retryTransient does, through a lost
 * connection). The repeat must be reported as applied, change nothing and record no rejection;
 * a settle by a process that does not hold the attempt is rejected and recorded.
 */
import { describe, expect, it } from "vitest";
import { validateGraph } from "../../src/index.js";
import { createTaskQueries } from "../../src/store/tasks.js";
import { STORES, useOrchestrator } from "../helpers/stores.js";

describe.each(STORES)("settles sent again on %s", (kind) => {
  const orch = useOrchestrator(kind);

  it("a repeated settle is reported as applied and changes nothing; a stranger's is rejected", async () => {
    const graph = validateGraph({ goal: "lost replies", tasks: [{ id: "a" }, { id: "b", dependsOn: ["a"] }] });
    const { runId } = await orch().submit(graph, { workflow: "lost_replies" });
    const tasks = createTaskQueries(orch().db, "htdag");
    const {
      claimed: [claimed],
    } = await tasks.claim(runId, null, "w1", 1, 60_000, null);
    const settlement = { runId, taskId: "a", attempt: claimed!.attempt, outcome: "completed" as const, output: 1 };
    const first = await tasks.settleMany(runId, [settlement], "w1", 0, 60_000, null);
    const again = await tasks.settleMany(runId, [settlement], "w1", 0, 60_000, null);
    const stranger = await tasks.settleMany(runId, [{ ...settlement, output: 2 }], "w2", 0, 60_000, null);
    expect(first.results).toEqual([{ taskId: "a", attempt: 1, settled: true, status: "completed" }]);
    expect(again.results).toEqual([{ taskId: "a", attempt: 1, settled: true, status: "completed" }]);
    expect(stranger.results).toEqual([{ taskId: "a", attempt: 1, settled: false, status: null }]);
    const { rows: events } = await orch().db.query<{ type: string }>(
      `SELECT type FROM htdag.events WHERE run_id = $1 AND task_id = 'a' AND type = 'task:completed'`,
      [runId],
    );
    expect(events).toHaveLength(1);
    const { rows: rejected } = await orch().db.query<{ worker_id: string; reason: string }>(
      `SELECT worker_id, reason FROM htdag.rejected_completions WHERE run_id = $1`,
      [runId],
    );
    expect(rejected).toEqual([{ worker_id: "w2", reason: "task is completed at attempt 1" }]);
    const run = await orch().getRun(runId);
    expect(Object.fromEntries(run.tasks.map((t) => [t.id, t.status]))).toEqual({ a: "completed", b: "ready" });
    expect(run.outputs.a).toBe(1);
  });
});
