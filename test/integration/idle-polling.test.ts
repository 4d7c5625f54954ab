/**
 * Issue 17, case 12: an in-process run that is paused, or whose queue is saturated by another run,
 * waits at the idle rate (about one status check a second), not in a busy loop of queries.
 */
import { describe, expect, it } from "vitest";
import { validateGraph, type Steps } from "../../src/index.js";
import { STORES, useOrchestrator } from "../helpers/stores.js";
import { gate, waitFor } from "../helpers/wait.js";

/** Statements the orchestrator's database receives during `ms` of waiting. */
async function queriesDuring(orch: ReturnType<ReturnType<typeof useOrchestrator>>, ms: number): Promise<number> {
  const before = orch.db.stats.roundTrips;
  await new Promise((resolve) => setTimeout(resolve, ms));
  return orch.db.stats.roundTrips - before;
}

describe.each(STORES)("waiting runs on %s", (kind) => {
  const orch = useOrchestrator(kind);

  it("a paused run with ready tasks waits at the idle rate, and resumes", async () => {
    const first = gate();
    const started = gate();
    const steps: Steps = {
      first: async () => {
        started.open();
        await first.promise;
        return 1;
      },
      second: async () => 2,
      third: async () => 3,
    };
    const graph = validateGraph({
      goal: "pause while ready",
      tasks: [{ id: "first" }, { id: "second", dependsOn: ["first"] }, { id: "third", dependsOn: ["first"] }],
    });
    const pending = orch().composeFromTaskGraph(graph, steps, { workflow: "idle_paused" });
    await started.promise;
    const [run] = await orch().listRuns({ workflow: "idle_paused", limit: 1 });
    await orch().pauseRun(run!.runId, "hold on");
    first.open();
    // Settling `first` makes `second` and `third` ready; the run is paused, so nothing is claimed.
    await waitFor(async () => {
      const { rows } = await orch().db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM htdag.tasks WHERE run_id = $1 AND status = 'ready'`,
        [run!.runId],
      );
      return rows[0]!.n === 2;
    });
    // Before the fix: about 1,000 statements a second (2,249 in 2 s were measured).
    expect(await queriesDuring(orch(), 2_000)).toBeLessThanOrEqual(12);
    await orch().resumeRun(run!.runId);
    const result = await pending;
    expect(result.status).toBe("completed");
    expect(result.outputs).toEqual({ first: 1, second: 2, third: 3 });
  });

  it("a run whose queue another run fills waits at the idle rate, then runs", async () => {
    const holder = gate();
    const holding = gate();
    const limited: Steps = {
      hold: async () => {
        holding.open();
        await holder.promise;
        return "held";
      },
      wait: async () => "ran",
    };
    const queue = { queue: "single", queues: { single: 1 } };
    const first = orch().composeFromTaskGraph(
      validateGraph({ goal: "holds the queue", tasks: [{ id: "hold", queue: "single" }] }),
      limited,
      { workflow: "idle_holder", ...queue },
    );
    await holding.promise;
    const second = orch().composeFromTaskGraph(
      validateGraph({ goal: "waits for the queue", tasks: [{ id: "wait", queue: "single" }] }),
      limited,
      { workflow: "idle_waiter", ...queue },
    );
    await waitFor(async () => (await orch().listRuns({ workflow: "idle_waiter", status: "running" })).length === 1);
    expect(await queriesDuring(orch(), 2_000)).toBeLessThanOrEqual(12);
    holder.open();
    expect((await first).status).toBe("completed");
    expect((await second).outputs).toEqual({ wait: "ran" });
  });
});
