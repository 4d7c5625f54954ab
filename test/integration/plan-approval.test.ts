/** Plan approval (docs/waits-and-flow-control.md, "Plan approval") on both stores. */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  GraphValidationError,
  IllegalTransitionError,
  RunNotFoundError,
  InvalidOptionError,
  type Steps,
} from "../../src/index.js";
import { ruleDecomposer } from "../../src/decomposers/rules.js";
import { validateGraph } from "../../src/graph/validate.js";
import type { Orchestrator } from "../../src/orchestrator/orchestrator.js";
import { STORES, useOrchestrator } from "../helpers/stores.js";
import { waitFor } from "../helpers/wait.js";

/** Long enough for an executor or a worker to claim what it could (they would at once), short for the suite. */
const SETTLE_MS = 300;

const rules = ruleDecomposer([
  {
    name: "report",
    match: /^report on (?<topic>.+)$/,
    tasks: [
      { id: "fetch", step: "fetch", input: { topic: "{{topic}}" } },
      { id: "write", step: "write", dependsOn: ["fetch"] },
    ],
  },
]);

/** Steps that record each call. */
function recordingSteps(calls: string[]): Steps {
  return {
    fetch: async (ctx) => {
      calls.push("fetch");
      return { fetched: (ctx.input as { topic: string }).topic };
    },
    write: async (ctx) => {
      calls.push("write");
      return `written from ${JSON.stringify(ctx.deps)}`;
    },
    check: async () => {
      calls.push("check");
      return "checked";
    },
  };
}

/** The run's events of the plan and of its start and end, in the order they were written. */
async function planEvents(orch: Orchestrator, runId: string) {
  const { rows } = await orch.db.query<{ type: string; payload: Record<string, unknown> }>(
    `SELECT type, payload FROM "${orch.options.schema}".events
      WHERE run_id = $1 AND (type LIKE 'plan:%' OR type LIKE 'execution:%') ORDER BY id`,
    [runId],
  );
  return rows;
}

/** The id of the newest run of `workflow` awaiting approval, once there is one. */
async function awaitingRunId(orch: Orchestrator, workflow: string): Promise<string> {
  let id: string | undefined;
  await waitFor(
    async () => {
      id = (await orch.listRuns({ workflow, status: "awaiting_approval", limit: 1 }))[0]?.runId;
      return id !== undefined;
    },
    10_000,
    `a run of ${workflow} awaiting approval`,
  );
  return id!;
}

describe.each(STORES)("plan approval on %s", (kind) => {
  const orch = useOrchestrator(kind);

  it("composeFromGoal records the plan, runs nothing until approvePlan, then runs it to the end", async () => {
    const calls: string[] = [];
    const awaiting = new Promise<string>((resolve) => {
      const listener = (event: { runId: string | null; payload: { tasks: number } }) => {
        expect(event.payload.tasks).toBe(2);
        orch().off("plan:awaiting_approval", listener);
        resolve(event.runId!);
      };
      orch().on("plan:awaiting_approval", listener);
    });
    const pending = orch().composeFromGoal("report on rivers", rules, recordingSteps(calls), {
      workflow: "approve_goal",
      approvePlan: true,
    });
    const runId = await awaiting;
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const before = await orch().getRun(runId);
    expect(before.status).toBe("awaiting_approval");
    expect(before.tasks.map((t) => [t.id, t.status])).toEqual([
      ["fetch", "pending"],
      ["write", "pending"],
    ]);
    expect(calls).toEqual([]);
    const listed = await orch().listRuns({ status: "awaiting_approval", workflow: "approve_goal" });
    expect(listed.map((r) => r.runId)).toEqual([runId]);
    // Pausing or resuming is not approving.
    await expect(orch().pauseRun(runId)).rejects.toThrow(IllegalTransitionError);
    await expect(orch().resumeRun(runId)).rejects.toThrow(IllegalTransitionError);

    await orch().approvePlan(runId);
    const result = await pending;
    expect(result.status).toBe("completed");
    expect(calls).toEqual(["fetch", "write"]);
    expect(result.outputs.fetch).toEqual({ fetched: "rivers" });
    expect(
      (await planEvents(orch(), runId)).map((e) => [e.type, e.payload.tasks ?? null, e.payload.edited ?? null]),
    ).toEqual([
      ["plan:awaiting_approval", 2, null],
      ["plan:approved", 2, false],
      ["execution:started", 2, null],
      ["execution:completed", null, null],
    ]);
    // Only a run awaiting approval is approved or rejected.
    await expect(orch().approvePlan(runId)).rejects.toThrow(IllegalTransitionError);
    await expect(orch().rejectPlan(runId, "late")).rejects.toThrow(/from completed to cancelled/);
    await expect(orch().approvePlan(randomUUID())).rejects.toThrow(RunNotFoundError);
  });

  it("approves an edited plan: the edited tasks run instead, the recorded ones are gone", async () => {
    const calls: string[] = [];
    const steps = recordingSteps(calls);
    const graph = validateGraph({
      goal: "edit me",
      tasks: [
        { id: "fetch", step: "fetch", input: { topic: "first" } },
        { id: "write", step: "write", dependsOn: ["fetch"] },
      ],
    });
    const pending = orch().composeFromTaskGraph(graph, steps, { workflow: "approve_edit", approvePlan: true });
    const runId = await awaitingRunId(orch(), "approve_edit");

    // An invalid edit changes nothing: the run still awaits approval with its recorded plan.
    const invalid = orch().approvePlan(runId, {
      graph: { goal: "edit me", tasks: [{ id: "fetch", step: "fetch", dependsOn: ["nowhere"] }, { id: "nope" }] },
    });
    await expect(invalid).rejects.toThrow(GraphValidationError);
    await expect(invalid).rejects.toThrow(/nowhere/);
    await expect(invalid).rejects.toThrow(/nope/);
    await expect(orch().approvePlan(runId, { graph: graph, tasksToo: true } as never)).rejects.toThrow(
      InvalidOptionError,
    );
    const still = await orch().getRun(runId);
    expect(still.status).toBe("awaiting_approval");
    expect(still.tasks.map((t) => t.id)).toEqual(["fetch", "write"]);

    await orch().approvePlan(runId, {
      graph: {
        goal: "edit me",
        tasks: [
          { id: "fetch", step: "fetch", input: { topic: "edited" } },
          { id: "check", step: "check", dependsOn: ["fetch"], maxAttempts: 2 },
        ],
      },
    });
    const result = await pending;
    expect(result.status).toBe("completed");
    expect(calls).toEqual(["fetch", "check"]);
    expect(result.tasks.map((t) => [t.id, t.status])).toEqual([
      ["fetch", "completed"],
      ["check", "completed"],
    ]);
    expect(result.outputs).toEqual({ fetch: { fetched: "edited" }, check: "checked" });
    const events = await planEvents(orch(), runId);
    expect(events.find((e) => e.type === "plan:approved")?.payload).toEqual({ edited: true, tasks: 2 });
    const s = orch().options.schema;
    const {
      rows: [row],
    } = await orch().db.query<{ graph_id: string; total_tasks: number; tasks: { id: string }[]; max_attempts: number }>(
      `SELECT r.graph_id, r.total_tasks, g.tasks, t.max_attempts FROM "${s}".runs r
         JOIN "${s}".graphs g ON g.id = r.graph_id JOIN "${s}".tasks t ON t.run_id = r.id AND t.id = 'check'
        WHERE r.id = $1`,
      [runId],
    );
    // The edited plan is a graph of its own; the recorded one is left as it was.
    expect(row!.graph_id).not.toBe(graph.id);
    expect(row!.tasks.map((t) => t.id)).toEqual(["fetch", "check"]);
    expect(row!.total_tasks).toBe(2);
    expect(row!.max_attempts).toBe(2);
  });

  it("rejectPlan cancels the run with the reason, and composeFromGoal resolves cancelled", async () => {
    const calls: string[] = [];
    const pending = orch().composeFromGoal("report on lakes", rules, recordingSteps(calls), {
      workflow: "reject_goal",
      approvePlan: true,
    });
    const runId = await awaitingRunId(orch(), "reject_goal");
    await expect(orch().rejectPlan(runId, 42 as never)).rejects.toThrow(InvalidOptionError);
    await orch().rejectPlan(runId, "too risky");
    const result = await pending;
    expect(result.status).toBe("cancelled");
    expect(result.error?.message).toBe("too risky");
    expect(result.tasks.map((t) => t.status)).toEqual(["cancelled", "cancelled"]);
    expect(calls).toEqual([]);
    expect((await planEvents(orch(), runId)).map((e) => e.type)).toEqual([
      "plan:awaiting_approval",
      "plan:rejected",
      "execution:cancelled",
    ]);
    expect((await planEvents(orch(), runId))[1]!.payload).toEqual({ reason: "too risky" });
    await expect(orch().approvePlan(runId)).rejects.toThrow(IllegalTransitionError);
  });

  it("a run awaiting approval still ends at its timeoutMs, and can be cancelled", async () => {
    const timedOut = await orch().composeFromGoal("report on seas", rules, recordingSteps([]), {
      workflow: "approve_timeout",
      approvePlan: true,
      timeoutMs: 200,
    });
    expect(timedOut.status).toBe("timed_out");
    const pending = orch().composeFromGoal("report on ponds", rules, recordingSteps([]), {
      workflow: "approve_cancel",
      approvePlan: true,
    });
    await orch().cancelRun(await awaitingRunId(orch(), "approve_cancel"), "no longer needed");
    expect((await pending).status).toBe("cancelled");
  });

  it("a submitted run awaiting approval times out in the reaper's sweep, and fails over its budget", async () => {
    const s = orch().options.schema;
    const graph = validateGraph({ goal: "submitted, then left", tasks: [{ id: "fetch" }] });
    const late = await orch().submit(graph, { workflow: "approve_reaped", approvePlan: true, timeoutMs: 50 });
    await new Promise((r) => setTimeout(r, 100));
    await orch().db.query(`SELECT "${s}".reap_expired(100, NULL)`);
    expect((await orch().getRun(late.runId)).status).toBe("timed_out");

    const spent = await orch().submit(graph, {
      workflow: "approve_budget",
      approvePlan: true,
      budget: { llmCalls: 1 },
    });
    await orch().db.query(`SELECT "${s}".record_usage($1, NULL, NULL, 'decomposition', 'm', 1, 10, 10, NULL, NULL)`, [
      spent.runId,
    ]);
    const failed = await orch().getRun(spent.runId);
    expect(failed.status).toBe("failed");
    expect(failed.error?.message).toMatch(/reached its budget/);
  });

  it("a submitted run awaiting approval is claimed by no worker until approvePlan", async () => {
    const calls: string[] = [];
    const worker = await orch().startWorker({ workflows: { approve_submit: recordingSteps(calls) } });
    try {
      const graph = validateGraph({
        goal: "submitted",
        tasks: [
          { id: "fetch", step: "fetch", input: { topic: "queued" } },
          { id: "write", step: "write", dependsOn: ["fetch"] },
        ],
      });
      const { runId } = await orch().submit(graph, { workflow: "approve_submit", approvePlan: true });
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      // The reconciler starts runs left pending past their grace; one awaiting approval is not one of them.
      await orch().db.query(`SELECT "${orch().options.schema}".reconcile_runs(100, 0, NULL)`);
      expect((await orch().getRun(runId)).status).toBe("awaiting_approval");
      expect(calls).toEqual([]);
      // An edit of a submitted run is checked against the steps given (this process bound none).
      await expect(
        orch().approvePlan(runId, {
          graph: { goal: "submitted", tasks: [{ id: "unknown_step" }] },
          steps: recordingSteps([]),
        }),
      ).rejects.toThrow(GraphValidationError);
      await orch().approvePlan(runId);
      const result = await orch().waitForRun(runId, { timeoutMs: 10_000 });
      expect(result.status).toBe("completed");
      expect(calls).toEqual(["fetch", "write"]);
    } finally {
      await worker.stop();
    }
  });

  it("streamPlan cannot be combined with approvePlan", async () => {
    await expect(
      orch().composeFromGoal("report on wells", rules, recordingSteps([]), { approvePlan: true, streamPlan: true }),
    ).rejects.toThrow(/streamPlan.*approvePlan: true/);
  });
});
