/**
 * htdag's W7 and W8 (htdag-system.ts opens the session): many single-task runs submitted at once to
 * one worker in this process, and one run of sleeping tasks drained by worker processes
 * (scale-out-child.ts), through the public API only.
 */
import { validateGraph } from "../graph/validate.js";
import type { Orchestrator } from "../orchestrator/orchestrator.js";
import { drainWithProcesses } from "./processes.js";
import { scaleOutFigures } from "./sizes.js";
import type { ScaleOutPlan, WorkloadResult } from "./types.js";
import type { Watcher } from "./watcher.js";

const LIMITS = { limits: { maxTasks: 100_000 } };

/** How many submits W7 keeps in flight: "at once", without a pool of 2,000 connections. */
const SUBMITS_IN_FLIGHT = 50;
const NOT_FINAL = "('pending', 'running', 'paused')";

/**
 * W7: `runs` single-task runs, submitted 50 at a time, run by one worker; first submit → every run
 * final. The watcher (not counted) waits for the runs' final status, as it waits for the peers' commits.
 */
export async function manyRuns(
  orch: Orchestrator,
  watcher: Watcher,
  runs: number,
  concurrency: number,
): Promise<WorkloadResult> {
  const worker = await orch.startWorker({ workflows: { "bench-runs": { noop: async () => null } }, concurrency });
  try {
    const graph = validateGraph({ goal: "bench run", tasks: [{ id: "only", step: "noop" }] });
    const runIds: string[] = [];
    const startedAt = performance.now();
    for (let first = 0; first < runs; first += SUBMITS_IN_FLIGHT) {
      const chunk = Array.from({ length: Math.min(SUBMITS_IN_FLIGHT, runs - first) }, () =>
        orch.submit(graph, { workflow: "bench-runs" }),
      );
      runIds.push(...(await Promise.all(chunk)).map((r) => r.runId));
    }
    const runsTable = `${orch.options.schema}.runs`;
    await watcher.waitUntilZero(
      `SELECT count(*)::int AS n FROM ${runsTable} WHERE id = ANY($1::uuid[]) AND status IN ${NOT_FINAL}`,
      [runIds],
    );
    const wallMs = performance.now() - startedAt;
    const failed = await orch.listRuns({ workflow: "bench-runs", status: "failed", limit: 1 });
    if (failed.length > 0) {
      throw new Error(`htdag run ${failed[0]?.runId} of W7 failed`);
    }
    return { tasks: runs, metrics: { "runs per s": (runs / wallMs) * 1000 } };
  } finally {
    await worker.stop();
  }
}

/** W8: for each count of worker processes, one run of `plan.tasks` sleeping steps, drained by them. */
export async function scaleOut(orch: Orchestrator, url: string, plan: ScaleOutPlan): Promise<WorkloadResult> {
  const graph = validateGraph(
    { goal: "bench scale-out", tasks: Array.from({ length: plan.tasks }, (_, i) => ({ id: `s${i}`, step: "nap" })) },
    LIMITS,
  );
  const script = new URL(`./scale-out-child${import.meta.url.endsWith(".ts") ? ".ts" : ".js"}`, import.meta.url);
  const args = [url, String(plan.concurrency), String(plan.stepMs)];
  const drains = [];
  for (const processes of plan.processes) {
    drains.push(
      await drainWithProcesses(script, args, processes, async () => {
        const startedAt = performance.now();
        const { runId } = await orch.submit(graph, {
          workflow: "bench-scale",
          maxParallel: plan.concurrency * processes,
        });
        const result = await orch.waitForRun(runId, { timeoutMs: 600_000 });
        if (result.status !== "completed") {
          throw new Error(`htdag scale-out run ${runId} ended ${result.status}`);
        }
        return performance.now() - startedAt;
      }),
    );
  }
  return { tasks: plan.tasks * plan.processes.length, metrics: scaleOutFigures(plan, drains), inChildProcesses: true };
}
