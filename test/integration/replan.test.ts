/**
 * Re-planning (design.md §13, issue 20) on both stores: a failure for good followed by a revision
 * that completes with the kept outputs untouched; ReplanError; the maxRevisions bound; re-planning
 * off; a decomposer that declines; an invalid revision.
 */
import { describe, expect, it } from "vitest";
import {
  DecompositionError,
  NonRetryableError,
  ReplanError,
  type DecomposerContext,
  type PlanRevisionRequest,
  type TaskSpec,
} from "../../src/index.js";
import { STORES, useOrchestrator } from "../helpers/stores.js";
import { historyViolations, stateViolations } from "../helpers/invariants.js";

const fetchPlan: TaskSpec[] = [
  { id: "fetch", description: "fetch the data", dependsOn: [] },
  { id: "parse_v1", description: "parse with the v1 parser", dependsOn: ["fetch"] },
  { id: "report", description: "write the report", dependsOn: ["parse_v1"] },
];

/** A decomposer whose first plan is `fetchPlan` and whose revisions route around parse_v1. */
function revisingDecomposer(seen: PlanRevisionRequest[]) {
  return {
    name: "scripted",
    decompose(_goal: string, ctx: DecomposerContext) {
      if (!ctx.revision) {
        return fetchPlan;
      }
      seen.push(ctx.revision);
      return [
        { id: "fetch", description: "fetch the data", dependsOn: [] },
        { id: "parse_v2", description: "parse with the v2 parser", dependsOn: ["fetch"] },
        { id: "report", description: "write the report", dependsOn: ["parse_v2"] },
      ];
    },
  };
}

describe.each(STORES)("re-planning on %s", (kind) => {
  const orch = useOrchestrator(kind, { defaults: { maxAttempts: 2, backoff: { kind: "constant", baseMs: 1 } } });

  function steps(calls: Record<string, number>, parseV1: () => unknown) {
    const counted =
      <T>(name: string, step: (ctx: { deps: Record<string, unknown> }) => T) =>
      (ctx: { deps: Record<string, unknown> }) => {
        calls[name] = (calls[name] ?? 0) + 1;
        return step(ctx);
      };
    return {
      fetch: counted("fetch", () => ({ rows: [1, 2, 3] })),
      parse_v1: counted("parse_v1", parseV1),
      parse_v2: counted("parse_v2", ({ deps }) => ({ parsed: (deps.fetch as { rows: number[] }).rows.length })),
      report: counted("report", ({ deps }) => ({ from: Object.keys(deps) })),
    };
  }

  it("revises the plan after a failure for good and completes, keeping what completed", async () => {
    const seen: PlanRevisionRequest[] = [];
    const calls: Record<string, number> = {};
    const result = await orch().composeFromGoal(
      "parse the data",
      revisingDecomposer(seen),
      steps(calls, () => {
        throw new Error("v1 parser crashed");
      }),
      { replan: { onFailure: true, maxRevisions: 2 } },
    );
    expect(result.status).toBe("completed");
    expect(calls).toEqual({ fetch: 1, parse_v1: 2, parse_v2: 1, report: 1 });
    expect(result.outputs.parse_v2).toEqual({ parsed: 3 });
    expect(result.outputs.report).toEqual({ from: ["parse_v2"] });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({
      number: 1,
      taskId: "parse_v1",
      error: { message: "v1 parser crashed" },
      statuses: { fetch: "completed", parse_v1: "failed", report: "pending" },
      outputs: { fetch: { rows: [1, 2, 3] } },
    });
    expect(seen[0]!.reason).toContain("v1 parser crashed");
    const run = await orch().getRun(result.runId);
    expect(run.revisions).toEqual([
      expect.objectContaining({
        revision: 1,
        taskId: "parse_v1",
        added: ["parse_v2"],
        removed: ["parse_v1"],
        changed: ["report"],
      }),
    ]);
    const statuses = Object.fromEntries(run.tasks.map((t) => [t.id, t.status]));
    expect(statuses).toEqual({
      fetch: "completed",
      parse_v1: "superseded",
      report: "completed",
      parse_v2: "completed",
    });
    const events = await orch().notifications.getRecentEvents({ runId: result.runId, types: ["plan:revised"] });
    expect(events.map((e) => e.payload)).toEqual([
      expect.objectContaining({ revision: 1, taskId: "parse_v1", added: ["parse_v2"], removed: ["parse_v1"] }),
    ]);
    expect(await stateViolations(orch(), result.runId)).toEqual([]);
    expect(await historyViolations(orch(), result.runId)).toEqual([]);
  });

  it("asks for a revision at once on ReplanError, without retrying the task", async () => {
    const seen: PlanRevisionRequest[] = [];
    const calls: Record<string, number> = {};
    const result = await orch().composeFromGoal(
      "parse the data",
      revisingDecomposer(seen),
      steps(calls, () => {
        throw new ReplanError("the v1 format is gone; plan with v2");
      }),
      { replan: { onFailure: false } },
    );
    expect(result.status).toBe("completed");
    expect(calls.parse_v1).toBe(1);
    expect(seen[0]!.reason).toBe("the v1 format is gone; plan with v2");
  });

  it("fails as before when re-planning is off, and ReplanError fails like NonRetryableError", async () => {
    const seen: PlanRevisionRequest[] = [];
    const calls: Record<string, number> = {};
    const result = await orch().composeFromGoal(
      "parse the data",
      revisingDecomposer(seen),
      steps(calls, () => {
        throw new ReplanError("plan again");
      }),
    );
    expect(result.status).toBe("failed");
    expect(calls.parse_v1).toBe(1);
    expect(seen).toHaveLength(0);
    expect(new ReplanError("x")).toBeInstanceOf(NonRetryableError);
    expect(new ReplanError("x").code).toBe("REPLAN_REQUESTED");
  });

  it("does not ask for a revision for an ordinary failure when onFailure is false", async () => {
    const seen: PlanRevisionRequest[] = [];
    const result = await orch().composeFromGoal(
      "parse the data",
      revisingDecomposer(seen),
      steps({}, () => {
        throw new NonRetryableError("bad input");
      }),
      { replan: { onFailure: false } },
    );
    expect(result.status).toBe("failed");
    expect(seen).toHaveLength(0);
  });

  it("stops at maxRevisions: the next failure fails the run with its own error", async () => {
    const seen: PlanRevisionRequest[] = [];
    const decomposer = {
      name: "stubborn",
      decompose(_goal: string, ctx: DecomposerContext) {
        if (ctx.revision) {
          seen.push(ctx.revision);
        }
        // Every revision lists parse_v1 again: a fresh attempt budget, and it fails again.
        return fetchPlan;
      },
    };
    const calls: Record<string, number> = {};
    const result = await orch().composeFromGoal(
      "parse the data",
      decomposer,
      steps(calls, () => {
        throw new NonRetryableError("still broken");
      }),
      { replan: { maxRevisions: 2 } },
    );
    expect(result.status).toBe("failed");
    expect(seen.map((r) => r.number)).toEqual([1, 2]);
    expect(calls.parse_v1).toBe(3);
    expect(calls.fetch).toBe(1);
    expect(result.error?.message).toContain("parse_v1");
    const run = await orch().getRun(result.runId);
    expect(run.revisions.map((r) => r.changed)).toEqual([
      ["parse_v1", "report"],
      ["parse_v1", "report"],
    ]);
    expect(await stateViolations(orch(), result.runId)).toEqual([]);
  });

  it("fails as before when the decomposer declines (null), and with a DecompositionError for an invalid revision", async () => {
    const declined = await orch().composeFromGoal(
      "parse the data",
      { name: "declines", decompose: (_g: string, ctx: DecomposerContext) => (ctx.revision ? null : fetchPlan) },
      steps({}, () => {
        throw new NonRetryableError("v1 down");
      }),
      { replan: {} },
    );
    expect(declined.status).toBe("failed");
    const failedTask = declined.tasks.find((t) => t.id === "parse_v1");
    expect(failedTask?.error).toMatchObject({ message: "v1 down" });

    const invalid = await orch().composeFromGoal(
      "parse the data",
      {
        name: "invalid",
        decompose: (_g: string, ctx: DecomposerContext) =>
          ctx.revision ? [{ id: "report", description: "r", dependsOn: ["nowhere"] }] : fetchPlan,
      },
      steps({}, () => {
        throw new NonRetryableError("v1 down");
      }),
      { replan: {} },
    );
    expect(invalid.status).toBe("failed");
    const error = invalid.tasks.find((t) => t.id === "parse_v1")?.error as {
      name: string;
      message: string;
      cause: unknown;
    };
    expect(error.name).toBe("DecompositionError");
    expect(error.message).toContain("nowhere");
    expect(error.cause).toMatchObject({ message: "v1 down" });
    expect(DecompositionError).toBeDefined();
  });
});
