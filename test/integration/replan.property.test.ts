/**
 * Model-based test of re-planning (design.md §13, issue 20), on both stores: random small graphs run
 * with `replan` (random `maxRevisions`, random failFast), their tasks succeed, fail for good or throw
 * `ReplanError`, and a scripted decomposer answers each revision with a random plan made from the
 * one it is shown (completed tasks kept, relisted with another input, or left out; other tasks
 * kept, changed or dropped; new tasks added on completed or listed ones; now and then a decline or
 * an invalid plan). Each revision also checks the invariants while its attempt holds the lease.
 *
 * After each run:
 * - the run is final: completed exactly when every task it kept completed (or was skipped);
 * - `stateViolations` and `historyViolations` are empty;
 * - no task's step succeeded twice, and each completed task's output is its one success's
 *   (a completed task is never run again, whatever a revision lists);
 * - the decomposer was never asked for more than `maxRevisions`, and the run's `revision` equals
 *   its `run_revisions` rows, its `plan:revised` events and `getRun().revisions`, at most `maxRevisions`.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  NonRetryableError,
  ReplanError,
  type DecomposerContext,
  type Orchestrator,
  type Steps,
  type TaskSpec,
} from "../../src/index.js";
import { historyViolations, stateViolations } from "../helpers/invariants.js";
import { STORES, useOrchestrator } from "../helpers/stores.js";

type Outcome = "ok" | "fatal" | "replan";
const outcomeArbitrary = fc.constantFrom<Outcome>("ok", "ok", "ok", "fatal", "replan");

/** One answer of the decomposer: a choice per task it is shown, new outcomes, tasks to add. */
interface RevisionScript {
  mode: "plan" | "plan" | "plan" | "plan" | "decline" | "invalid";
  choices: number[];
  outcomes: Outcome[];
  adds: number;
}

interface Scenario {
  /** Task i depends on the earlier tasks listed. */
  deps: number[][];
  outcomes: Outcome[];
  revisions: RevisionScript[];
  maxRevisions: number;
  failFast: boolean;
}

const revisionArbitrary: fc.Arbitrary<RevisionScript> = fc.record({
  mode: fc.constantFrom<RevisionScript["mode"]>("plan", "plan", "plan", "plan", "decline", "invalid"),
  choices: fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 16, maxLength: 16 }),
  outcomes: fc.array(outcomeArbitrary, { minLength: 16, maxLength: 16 }),
  adds: fc.integer({ min: 0, max: 2 }),
});

const scenarioArbitrary: fc.Arbitrary<Scenario> = fc.integer({ min: 2, max: 5 }).chain((n) =>
  fc.record({
    deps: fc.tuple(
      ...Array.from({ length: n }, (_, i) =>
        fc.subarray(
          Array.from({ length: i }, (_, j) => j),
          { maxLength: Math.min(i, 2) },
        ),
      ),
    ),
    outcomes: fc.array(outcomeArbitrary, { minLength: n, maxLength: n }),
    revisions: fc.array(revisionArbitrary, { minLength: 5, maxLength: 5 }),
    maxRevisions: fc.integer({ min: 1, max: 3 }),
    failFast: fc.boolean(),
  }),
);

const spec = (id: string, outcome: Outcome, dependsOn: string[]): TaskSpec => ({
  id,
  description: `task ${id}`,
  step: "work",
  input: { outcome },
  maxAttempts: 1,
  dependsOn,
});

/** The decomposer's answer to its `call`-th revision, from the plan it is shown. */
function revise(script: RevisionScript, call: number, request: NonNullable<DecomposerContext["revision"]>) {
  if (script.mode === "decline") {
    return null;
  }
  const choice = (i: number) => script.choices[i % script.choices.length]!;
  const completed = new Set(
    Object.entries(request.statuses)
      .filter(([, status]) => status === "completed")
      .map(([id]) => id),
  );
  const listed: TaskSpec[] = [];
  request.graph.tasks.forEach((task, i) => {
    const outcome = script.outcomes[i % script.outcomes.length]!;
    if (completed.has(task.id)) {
      // Left out (stays readable), relisted with another input (must be ignored), or kept.
      if (choice(i) === 0) {
        return;
      }
      listed.push(choice(i) === 1 ? { ...task, input: { outcome: "fatal" } } : task);
    } else if (task.id === request.taskId) {
      if (choice(i) % 2 === 0) {
        listed.push({ ...task, input: { outcome } });
      }
    } else if (choice(i) === 0) {
      return;
    } else {
      listed.push(choice(i) === 1 ? { ...task, input: { outcome } } : task);
    }
  });
  const known = new Set([...listed.map((t) => t.id), ...completed]);
  const candidates = [...known];
  for (let j = 0; j < script.adds; j++) {
    const deps = candidates.filter((_, k) => (choice(k + j) + k) % 3 === 0).slice(0, 2);
    listed.push(spec(`r${call}_${j}`, script.outcomes[15 - j]!, deps));
  }
  // Dependencies on tasks the answer dropped are rewired away (an invalid plan is its own mode).
  const answer: TaskSpec[] = listed.map((task) => ({
    ...task,
    dependsOn: (task.dependsOn ?? []).filter((dep) => known.has(dep)),
  }));
  if (script.mode === "invalid") {
    answer.push(spec(`r${call}_bad`, "ok", ["nowhere"]));
  }
  return answer;
}

async function invariantViolations(orch: Orchestrator, runId: string): Promise<string[]> {
  return [...(await stateViolations(orch, runId)), ...(await historyViolations(orch, runId))];
}

async function runScenario(orch: Orchestrator, scenario: Scenario, index: number): Promise<void> {
  const plan = scenario.outcomes.map((outcome, i) =>
    spec(
      `t${i}`,
      outcome,
      scenario.deps[i]!.map((d) => `t${d}`),
    ),
  );
  /** Each step run, by task: the outcome it ran with, and the output of a success. */
  const executions = new Map<string, { outcome: Outcome; output?: unknown }[]>();
  let ran = 0;
  const asked: number[] = [];
  const midRevision: string[] = [];
  let runId: string | undefined;
  const steps: Steps = {
    work: async (ctx) => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      runId = ctx.runId;
      const { outcome } = ctx.input as { outcome: Outcome };
      const record: { outcome: Outcome; output?: unknown } = { outcome };
      executions.set(ctx.task.id, [...(executions.get(ctx.task.id) ?? []), record]);
      if (outcome === "fatal") {
        throw new NonRetryableError(`scripted failure of ${ctx.task.id}`);
      }
      if (outcome === "replan") {
        throw new ReplanError(`${ctx.task.id} asks for another plan`);
      }
      record.output = { id: ctx.task.id, run: ran++ };
      return record.output;
    },
  };
  const decomposer = {
    name: "scripted",
    async decompose(_goal: string, ctx: DecomposerContext) {
      if (!ctx.revision) {
        return plan;
      }
      asked.push(ctx.revision.number);
      // An interleaving: the failure asked, its revision attempt holds the lease, nothing applied.
      if (runId) {
        midRevision.push(...(await invariantViolations(orch, runId)));
      }
      const call = asked.length - 1;
      return revise(scenario.revisions[call % scenario.revisions.length]!, call, ctx.revision);
    },
  };
  const result = await orch.composeFromGoal(`replan model ${index}`, decomposer, steps, {
    workflow: `replan_model_${index}`,
    failFast: scenario.failFast,
    replan: { maxRevisions: scenario.maxRevisions },
  });
  expect(midRevision).toEqual([]);
  expect(await invariantViolations(orch, result.runId)).toEqual([]);

  const run = await orch.getRun(result.runId);
  const kept = run.tasks.filter((t) => t.status !== "superseded");
  const allDone = kept.every((t) => t.status === "completed" || t.status === "skipped");
  expect(result.status).toBe(allDone ? "completed" : "failed");

  for (const [id, runs] of executions) {
    const successes = runs.filter((r) => r.output !== undefined);
    expect(successes.length, `task ${id} succeeded ${successes.length} times`).toBeLessThanOrEqual(1);
  }
  for (const task of run.tasks.filter((t) => t.status === "completed")) {
    const successes = (executions.get(task.id) ?? []).filter((r) => r.output !== undefined);
    expect(successes).toHaveLength(1);
    expect(result.outputs[task.id]).toEqual(successes[0]!.output);
  }

  expect(Math.max(0, ...asked)).toBeLessThanOrEqual(scenario.maxRevisions);
  const { rows } = await orch.db.query<{ revision: number; rows: number; events: number }>(
    `SELECT r.revision,
            (SELECT count(*)::integer FROM htdag.run_revisions v WHERE v.run_id = r.id) AS rows,
            (SELECT count(*)::integer FROM htdag.events e WHERE e.run_id = r.id AND e.type = 'plan:revised') AS events
       FROM htdag.runs r WHERE r.id = $1`,
    [result.runId],
  );
  const counts = rows[0]!;
  expect(counts.revision).toBeLessThanOrEqual(scenario.maxRevisions);
  expect(counts.rows).toBe(counts.revision);
  expect(counts.events).toBe(counts.revision);
  console.log(
    `STATS rev=${counts.revision} asked=${asked.length} status=${result.status} tasks=${run.tasks.map((t) => t.id + ":" + t.status).join(",")}`,
  );
  expect(run.revisions.map((r) => r.revision)).toEqual(Array.from({ length: counts.revision }, (_, i) => i + 1));
}

describe.each(STORES)("re-planning invariants on %s (model-based)", (kind) => {
  const orch = useOrchestrator(kind);

  it("random plans, failures and revisions keep every invariant, and completed work is never redone", async () => {
    let index = 0;
    await fc.assert(
      fc.asyncProperty(scenarioArbitrary, async (scenario) => runScenario(orch(), scenario, index++)),
      { numRuns: 20, seed: 2020 },
    );
  }, 120_000);
});
