/**
 * Two revisions asked at once (design.md §13), on both stores: two parallel tasks fail for good
 * together, both revision attempts ask the decomposer of the same plan; the first applies, the
 * second is stale, released (not charged, its mark kept) and asked again of the revised plan. With
 * `maxRevisions: 1` the second fails its task, and the run, with its own error.
 */
import { describe, expect, it } from "vitest";
import {
  NonRetryableError,
  validateGraph,
  type DecomposerContext,
  type PlanRevisionRequest,
  type TaskSpec,
} from "../../src/index.js";
import { historyViolations, stateViolations } from "../helpers/invariants.js";
import { STORES, useOrchestrator } from "../helpers/stores.js";
import { gate, waitFor } from "../helpers/wait.js";

const firstPlan: TaskSpec[] = [
  { id: "a", description: "a", step: "broken", dependsOn: [] },
  { id: "b", description: "b", step: "broken", dependsOn: [] },
  { id: "join", description: "join", step: "join", dependsOn: ["a", "b"] },
];

/**
 * A decomposer whose revision replaces the task that asked (`x` → `x2`, dependants rewired) and
 * keeps the rest of the plan it is shown; the first two asks wait for each other, so both are asked
 * of the same plan.
 */
function pairedReviser(seen: PlanRevisionRequest[]) {
  const bothAsked = gate();
  return {
    name: "paired",
    async decompose(_goal: string, ctx: DecomposerContext) {
      const revision = ctx.revision;
      if (!revision) {
        return firstPlan;
      }
      seen.push(revision);
      if (seen.length === 2) {
        bothAsked.open();
      }
      if (seen.length <= 2) {
        await bothAsked.promise;
      }
      const renamed = (id: string) => (id === revision.taskId ? `${id}2` : id);
      return revision.graph.tasks.map((task) => ({
        ...task,
        id: renamed(task.id),
        step: task.id === revision.taskId ? "work" : task.step,
        dependsOn: (task.dependsOn ?? []).map(renamed),
      }));
    },
  };
}

/** Steps where a and b (step `broken`) fail for good together: each waits for the other to start. */
function steps(ran: string[]) {
  const bothRunning = gate();
  let started = 0;
  return {
    broken: async (ctx: { task: { id: string } }) => {
      ran.push(ctx.task.id);
      if (++started === 2) {
        bothRunning.open();
      }
      await bothRunning.promise;
      throw new NonRetryableError(`${ctx.task.id} broke`);
    },
    work: (ctx: { task: { id: string } }) => {
      ran.push(ctx.task.id);
      return ctx.task.id;
    },
    join: (ctx: { task: { id: string }; deps: Record<string, unknown> }) => {
      ran.push(ctx.task.id);
      return Object.keys(ctx.deps).sort();
    },
  };
}

describe.each(STORES)("two revisions asked at once on %s", (kind) => {
  const orch = useOrchestrator(kind);
  it("applies them one after the other: the stale one is released and asked again of the revised plan", async () => {
    const seen: PlanRevisionRequest[] = [];
    const ran: string[] = [];
    const result = await orch().composeFromGoal("two at once", pairedReviser(seen), steps(ran), {
      failFast: false,
      replan: { maxRevisions: 2 },
    });
    expect(result.status).toBe("completed");
    expect(result.outputs.join).toEqual(["a2", "b2"]);
    expect(seen.map((r) => r.number)).toEqual([1, 1, 2]);
    const run = await orch().getRun(result.runId);
    const [applied, stale] = run.revisions.map((r) => r.taskId!);
    expect(run.revisions.map((r) => r.revision)).toEqual([1, 2]);
    expect([applied, stale].sort()).toEqual(["a", "b"]);
    // Both asked of the first plan; the stale one asked again, of the plan the first revision made.
    expect(
      seen
        .slice(0, 2)
        .map((r) => r.taskId)
        .sort(),
    ).toEqual(["a", "b"]);
    expect(seen[2]!.taskId).toBe(stale);
    expect(seen[2]!.graph.tasks.map((t) => t.id).sort()).toEqual([`${applied}2`, stale, "join"].sort());
    const events = await orch().notifications.getRecentEvents({ runId: result.runId, types: ["plan:revised"] });
    expect(events.map((e) => (e.payload as { revision: number }).revision)).toEqual([1, 2]);
    const attempts = await orch().db.query<{ status: string; error_class: string | null; name: string | null }>(
      `SELECT status, error_class, error ->> 'name' AS name FROM htdag.attempts
        WHERE run_id = $1 AND task_id = $2 ORDER BY attempt`,
      [result.runId, stale],
    );
    expect(attempts.rows).toEqual([
      { status: "failed", error_class: "NonRetryableError", name: "NonRetryableError" },
      { status: "lost", error_class: "Released", name: "StaleRevision" },
      { status: "revised", error_class: "Revision", name: null },
    ]);
    expect(ran.filter((id) => id === "join")).toHaveLength(1);
    expect(await stateViolations(orch(), result.runId)).toEqual([]);
    expect(await historyViolations(orch(), result.runId)).toEqual([]);
  });

  it("with maxRevisions 1, the second fails its task and the run with its own error, without asking again", async () => {
    const seen: PlanRevisionRequest[] = [];
    const ran: string[] = [];
    const result = await orch().composeFromGoal("two at once, one revision", pairedReviser(seen), steps(ran), {
      failFast: false,
      replan: { maxRevisions: 1 },
    });
    expect(result.status).toBe("failed");
    expect(seen.map((r) => r.number)).toEqual([1, 1]);
    const run = await orch().getRun(result.runId);
    expect(run.revisions).toHaveLength(1);
    const applied = run.revisions[0]!.taskId!;
    const second = applied === "a" ? "b" : "a";
    const statuses = Object.fromEntries(run.tasks.map((t) => [t.id, t.status]));
    expect(statuses).toEqual({
      [applied]: "superseded",
      [`${applied}2`]: "completed",
      [second]: "failed",
      join: "cancelled",
    });
    const failed = run.tasks.find((t) => t.id === second);
    expect(failed?.error).toMatchObject({ name: "NonRetryableError", message: `${second} broke` });
    expect(result.error?.message).toContain(second);
    expect(ran.filter((id) => id === "join")).toHaveLength(0);
    expect(await stateViolations(orch(), result.runId)).toEqual([]);
    expect(await historyViolations(orch(), result.runId)).toEqual([]);
  });
});

describe.each(STORES)("a revision slower than the lease on %s", (kind) => {
  const orch = useOrchestrator(kind, { leaseMs: 1_000 });
  const slowReviser = (seen: PlanRevisionRequest[]) => ({
    name: "slow",
    async decompose(_goal: string, ctx: DecomposerContext) {
      if (!ctx.revision) {
        return firstPlan;
      }
      seen.push(ctx.revision);
      // Three leases: the revision attempt's lease is renewed meanwhile, so no reaper takes it back.
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      return [
        { id: "a", description: "a", step: "work", dependsOn: [] },
        { id: "b", description: "b", step: "work", dependsOn: [] },
        { id: "join", description: "join", step: "join", dependsOn: ["a", "b"] },
      ];
    },
  });
  const slowSteps = {
    broken: (ctx: { task: { id: string } }) => {
      if (ctx.task.id === "a") {
        throw new NonRetryableError("a broke");
      }
      return ctx.task.id;
    },
    work: (ctx: { task: { id: string } }) => ctx.task.id,
    join: (ctx: { deps: Record<string, unknown> }) => Object.keys(ctx.deps).sort(),
  };

  it("in the composing process: asked once, applied once", async () => {
    const seen: PlanRevisionRequest[] = [];
    const result = await orch().composeFromGoal("slow revision", slowReviser(seen), slowSteps, {
      replan: { maxRevisions: 2 },
    });
    expect(result.status).toBe("completed");
    expect(seen).toHaveLength(1);
    expect((await orch().getRun(result.runId)).revisions).toHaveLength(1);
    expect(await stateViolations(orch(), result.runId)).toEqual([]);
    expect(await historyViolations(orch(), result.runId)).toEqual([]);
  }, 30_000);

  it("in a worker, with a second worker reaping: asked once, applied once", async () => {
    const seen: PlanRevisionRequest[] = [];
    const workerOptions = {
      workflows: { slow_revision: slowSteps },
      decomposers: { slow_revision: slowReviser(seen) },
      reapIntervalMs: 100,
      pollIntervalMs: 100,
    };
    const workers = [await orch().startWorker(workerOptions), await orch().startWorker(workerOptions)];
    try {
      const { runId } = await orch().submit(validateGraph({ goal: "slow revision", tasks: firstPlan }), {
        workflow: "slow_revision",
        replan: { maxRevisions: 2 },
      });
      const result = await orch().waitForRun(runId, { timeoutMs: 20_000 });
      expect(result.status).toBe("completed");
      expect(seen).toHaveLength(1);
      expect((await orch().getRun(runId)).revisions).toHaveLength(1);
      expect(await stateViolations(orch(), runId)).toEqual([]);
      expect(await historyViolations(orch(), runId)).toEqual([]);
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
    }
  }, 30_000);
});

describe.each(STORES)("two revisions asked at once in two workers on %s", (kind) => {
  const orch = useOrchestrator(kind);

  for (const maxRevisions of [2, 1]) {
    it(`maxRevisions ${maxRevisions}: applied one after the other, never asked past the limit`, async () => {
      const seen: PlanRevisionRequest[] = [];
      const ran: string[] = [];
      const workflow = `two_workers_${maxRevisions}`;
      const workerOptions = {
        workflows: { [workflow]: steps(ran) },
        decomposers: { [workflow]: pairedReviser(seen) },
        concurrency: 1,
        pollIntervalMs: 50,
      };
      const workers = [await orch().startWorker(workerOptions), await orch().startWorker(workerOptions)];
      try {
        const { runId } = await orch().submit(validateGraph({ goal: "two at once", tasks: firstPlan }), {
          workflow,
          failFast: false,
          replan: { maxRevisions },
        });
        const result = await orch().waitForRun(runId, { timeoutMs: 20_000 });
        const run = await orch().getRun(runId);
        if (maxRevisions === 2) {
          expect(result.status).toBe("completed");
          expect(result.outputs.join).toEqual(["a2", "b2"]);
          expect(seen.map((r) => r.number)).toEqual([1, 1, 2]);
          expect(run.revisions.map((r) => r.revision)).toEqual([1, 2]);
        } else {
          expect(result.status).toBe("failed");
          expect(seen.map((r) => r.number)).toEqual([1, 1]);
          expect(run.revisions).toHaveLength(1);
          const second = run.revisions[0]!.taskId === "a" ? "b" : "a";
          expect(run.tasks.find((t) => t.id === second)).toMatchObject({
            status: "failed",
            error: { message: `${second} broke` },
          });
        }
        expect(await stateViolations(orch(), runId)).toEqual([]);
        expect(await historyViolations(orch(), runId)).toEqual([]);
      } finally {
        await Promise.all(workers.map((w) => w.stop()));
      }
    });
  }
});

describe.each(STORES)("a run cancelled or paused while its plan is revised on %s", (kind) => {
  const orch = useOrchestrator(kind);
  /** A reviser that reports each revision asked, and answers once `answer` resolves. */
  const heldReviser = (asked: () => void, answer: Promise<void>) => ({
    name: "held",
    async decompose(_goal: string, ctx: DecomposerContext) {
      if (!ctx.revision) {
        return firstPlan;
      }
      asked();
      await answer;
      return [
        { id: "a2", description: "a2", step: "work", dependsOn: [] },
        { id: "b", description: "b", step: "work", dependsOn: [] },
        { id: "join", description: "join", step: "join", dependsOn: ["a2", "b"] },
      ];
    },
  });
  const oneBroken = {
    broken: (ctx: { task: { id: string } }) => {
      if (ctx.task.id === "a") {
        throw new NonRetryableError("a broke");
      }
      return ctx.task.id;
    },
    work: (ctx: { task: { id: string } }) => ctx.task.id,
    join: (ctx: { deps: Record<string, unknown> }) => Object.keys(ctx.deps).sort(),
  };

  it("cancelled: the revision is not applied, and the run ends cancelled", async () => {
    const answer = gate();
    const asked = gate();
    const composed = orch().composeFromGoal(
      "cancel mid-revision",
      heldReviser(() => asked.open(), answer.promise),
      oneBroken,
      { replan: { maxRevisions: 2 }, workflow: "cancel_mid_revision" },
    );
    await asked.promise;
    const [running] = await orch().listRuns({ workflow: "cancel_mid_revision" });
    await orch().cancelRun(running!.runId, "cancelled mid-revision");
    answer.open();
    const result = await composed;
    expect(result.status).toBe("cancelled");
    const run = await orch().getRun(result.runId);
    expect(run.revisions).toEqual([]);
    expect(await orch().notifications.getRecentEvents({ runId: result.runId, types: ["plan:revised"] })).toEqual([]);
    expect(await stateViolations(orch(), result.runId)).toEqual([]);
    expect(await historyViolations(orch(), result.runId)).toEqual([]);
  });

  it("paused: the revision applies, and the run completes once resumed", async () => {
    const answer = gate();
    const asked = gate();
    const composed = orch().composeFromGoal(
      "pause mid-revision",
      heldReviser(() => asked.open(), answer.promise),
      oneBroken,
      { replan: { maxRevisions: 2 }, workflow: "pause_mid_revision" },
    );
    await asked.promise;
    const [running] = await orch().listRuns({ workflow: "pause_mid_revision" });
    await orch().pauseRun(running!.runId, "paused mid-revision");
    answer.open();
    await waitFor(async () => (await orch().getRun(running!.runId)).revisions.length === 1, 10_000, "the revision");
    expect((await orch().getRun(running!.runId)).status).toBe("paused");
    expect(await stateViolations(orch(), running!.runId)).toEqual([]);
    expect(await historyViolations(orch(), running!.runId)).toEqual([]);
    await orch().resumeRun(running!.runId);
    const result = await composed;
    expect(result.status).toBe("completed");
    expect(result.outputs.join).toEqual(["a2", "b"]);
    expect(await stateViolations(orch(), result.runId)).toEqual([]);
    expect(await historyViolations(orch(), result.runId)).toEqual([]);
  });
});
