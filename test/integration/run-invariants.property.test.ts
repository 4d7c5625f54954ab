/**
 * Model-based test of the executor: random graphs (with hierarchy) whose steps follow random
 * scripts (succeed, fail and retry, fail for good), run with random pauses, on both stores. After
 * each run, and at each pause, the stored state must satisfy the invariants; after each run, every
 * task's final status and attempt count must equal what a reference model (written here, from the
 * docs' semantics) predicts.
 *
 * Invariants:
 * - the run's counters equal the values derived from its tasks' statuses, and each pending task's
 *   dependency counters equal those derived from its dependencies' statuses;
 * - no task completes twice (one completed attempt, one `task:completed` event at most);
 * - a run is final exactly when all its tasks are;
 * - no task is `running` without a running attempt of the same number, and no attempt runs for a
 *   task that is not running.
 *
 * The interleavings of issue 17 that break today's executor (cancel, retryRun, worker stop, lease
 * expiry, lost replies) join the model with the executor's redesign.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  IllegalTransitionError,
  NonRetryableError,
  validateGraph,
  type Orchestrator,
  type Steps,
  type TaskSpec,
} from "../../src/index.js";
import { historyViolations, stateViolations } from "../helpers/invariants.js";
import { STORES, useOrchestrator } from "../helpers/stores.js";
import { waitFor } from "../helpers/wait.js";
import { randomGraphArbitrary, referenceRuntimeEdges, type RandomGraph } from "../unit/random-graph.js";

type Outcome = "ok" | "fail" | "fatal";
const FINAL = new Set(["completed", "failed", "timed_out", "cancelled", "skipped"]);
const FAILED_FOR_DEPENDANTS = new Set(["failed", "timed_out", "cancelled"]);

interface Scenario {
  graph: RandomGraph;
  /** Per task, the outcome of each attempt (the last one repeats). */
  scripts: Outcome[][];
  maxAttempts: number[];
  /** Pause the run after this many task completions (then resume it), or never. */
  pauseAfter: number | null;
}

const scenarioArbitrary: fc.Arbitrary<Scenario> = randomGraphArbitrary(10).chain((graph) =>
  fc.record({
    graph: fc.constant(graph),
    scripts: fc.array(fc.array(fc.constantFrom<Outcome>("ok", "ok", "fail", "fatal"), { minLength: 1, maxLength: 3 }), {
      minLength: graph.tasks.length,
      maxLength: graph.tasks.length,
    }),
    maxAttempts: fc.array(fc.integer({ min: 1, max: 3 }), {
      minLength: graph.tasks.length,
      maxLength: graph.tasks.length,
    }),
    pauseAfter: fc.option(fc.integer({ min: 0, max: 4 }), { nil: null }),
  }),
);

/** What the docs say each task ends as (failFast off, runIf allSucceeded), and its attempts. */
function expectedOutcome(scenario: Scenario): Map<string, { status: string; attempts: number }> {
  const { tasks } = scenario.graph;
  const edges = referenceRuntimeEdges(tasks);
  const composite = new Set(tasks.flatMap((t) => (t.parentId ? [t.parentId] : [])));
  const result = new Map<string, { status: string; attempts: number }>();
  const settle = (id: string): { status: string; attempts: number } => {
    const known = result.get(id);
    if (known) {
      return known;
    }
    const index = tasks.findIndex((t) => t.id === id);
    const depsFailed = [...(edges.get(id) ?? [])].some((dep) => FAILED_FOR_DEPENDANTS.has(settle(dep).status));
    let outcome: { status: string; attempts: number };
    if (composite.has(id)) {
      outcome = { status: depsFailed ? "failed" : "completed", attempts: 0 };
    } else if (depsFailed) {
      outcome = { status: "cancelled", attempts: 0 };
    } else {
      outcome = runScript(scenario.scripts[index] ?? ["ok"], scenario.maxAttempts[index] ?? 1);
    }
    result.set(id, outcome);
    return outcome;
  };
  tasks.forEach((task) => settle(task.id));
  return result;
}

function runScript(script: readonly Outcome[], maxAttempts: number): { status: string; attempts: number } {
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const outcome = script[Math.min(attempt, script.length) - 1];
    if (outcome === "ok") {
      return { status: "completed", attempts: attempt };
    }
    if (outcome === "fatal") {
      return { status: "failed", attempts: attempt };
    }
  }
  return { status: "failed", attempts: maxAttempts };
}

/** Every invariant that does not depend on timing: the run's state and its history. */
async function invariantViolations(orch: Orchestrator, runId: string): Promise<string[]> {
  return [...(await stateViolations(orch, runId)), ...(await historyViolations(orch, runId))];
}

async function runScenario(orch: Orchestrator, scenario: Scenario, index: number): Promise<void> {
  const workflow = `model_${index}`;
  const { tasks } = scenario.graph;
  const parents = new Set(tasks.flatMap((t) => (t.parentId ? [t.parentId] : [])));
  const specs: TaskSpec[] = tasks.map((task, i) =>
    parents.has(task.id) ? task : { ...task, step: "work", maxAttempts: scenario.maxAttempts[i] },
  );
  const scriptOf = new Map(tasks.map((task, i) => [task.id, scenario.scripts[i] ?? ["ok"]]));
  let completions = 0;
  let paused: Promise<void> | undefined;
  const steps: Steps = {
    work: async (ctx) => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      const script = scriptOf.get(ctx.task.id) ?? ["ok"];
      const outcome = script[Math.min(ctx.attempt, script.length) - 1];
      if (outcome === "fail") {
        throw new Error(`scripted failure of ${ctx.task.id} #${ctx.attempt}`);
      }
      if (outcome === "fatal") {
        throw new NonRetryableError(`scripted fatal failure of ${ctx.task.id}`);
      }
      if (completions++ === scenario.pauseAfter) {
        paused = pauseAndResume(orch, ctx.runId);
      }
      return { id: ctx.task.id, attempt: ctx.attempt };
    },
  };
  const graph = validateGraph({ goal: `model ${index}`, tasks: specs }, { limits: { maxDepth: 20 } });
  const result = await orch.composeFromTaskGraph(graph, steps, {
    workflow,
    failFast: false,
    maxDepth: 20,
    backoff: { baseMs: 1, maxMs: 2, jitter: 0 },
  });
  await paused;
  expect(await invariantViolations(orch, result.runId)).toEqual([]);
  const expected = expectedOutcome(scenario);
  const actual = new Map(result.tasks.map((t) => [t.id, { status: t.status, attempts: t.attempts }]));
  expect(Object.fromEntries(actual)).toEqual(Object.fromEntries(expected));
  const anyFailed = [...expected.values()].some((t) => t.status === "failed");
  expect(result.status).toBe(anyFailed ? "failed" : "completed");
}

/**
 * Pauses the run, checks the invariants while it is paused, and resumes it. A paused run still
 * finishes when its last running tasks settle, so either transition may find the run final.
 */
async function pauseAndResume(orch: Orchestrator, runId: string): Promise<void> {
  const finalAlready = async (error: unknown): Promise<void> => {
    if (!(error instanceof IllegalTransitionError) || !FINAL.has((await orch.getRun(runId)).status)) {
      throw error;
    }
  };
  try {
    await orch.pauseRun(runId, "model pause");
  } catch (error) {
    return finalAlready(error);
  }
  await waitFor(async () => {
    const { status } = await orch.getRun(runId);
    return status === "paused" || FINAL.has(status);
  });
  expect(await invariantViolations(orch, runId)).toEqual([]);
  await orch.resumeRun(runId).catch(finalAlready);
}

describe.each(STORES)("executor invariants on %s (model-based)", (kind) => {
  const orch = useOrchestrator(kind);

  it("random graphs, scripted outcomes and pauses end as the model says, with every invariant holding", async () => {
    let index = 0;
    await fc.assert(
      fc.asyncProperty(scenarioArbitrary, async (scenario) => runScenario(orch(), scenario, index++)),
      { numRuns: 25, seed: 1796 },
    );
  }, 120_000);
});
