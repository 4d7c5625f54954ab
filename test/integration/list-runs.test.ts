import { describe, expect, it } from "vitest";
import { InvalidOptionError, validateGraph, type RunSummary } from "../../src/index.js";
import { STORES, useOrchestrator } from "../helpers/stores.js";

describe.each(STORES)("listRuns on %s", (kind) => {
  const orch = useOrchestrator(kind);

  it("returns camelCase run summaries, latest first, filtered by status and workflow", async () => {
    const graph = validateGraph({ goal: "list runs", tasks: [{ id: "ok" }, { id: "bad", dependsOn: ["ok"] }] });
    const good = await orch().composeFromTaskGraph(
      graph,
      { ok: async () => 1, bad: async () => 2 },
      { workflow: "listed" },
    );
    const failed = await orch().composeFromTaskGraph(
      graph,
      { ok: async () => 1, bad: async () => Promise.reject(new Error("no")) },
      { workflow: "listed", maxAttempts: 1, idempotencyKey: "listed-failed" },
    );

    const runs = await orch().listRuns({ workflow: "listed" });
    expect(runs.map((r) => r.runId)).toEqual([failed.runId, good.runId]);
    const [latest] = runs as [RunSummary, RunSummary];
    expect(latest).toMatchObject({
      runId: failed.runId,
      workflow: "listed",
      goal: "list runs",
      status: "failed",
      totalTasks: 2,
      finishedTasks: 2,
      failedTasks: 1,
      pauseReason: null,
      idempotencyKey: "listed-failed",
      error: { taskId: "bad" },
    });
    expect(latest.createdAt).toBeInstanceOf(Date);
    expect(latest.finishedAt!.getTime()).toBeGreaterThanOrEqual(latest.startedAt!.getTime());
    expect(latest.durationMs).toBe(latest.finishedAt!.getTime() - latest.startedAt!.getTime());
    expect(Object.keys(latest).filter((key) => key.includes("_"))).toEqual([]);

    expect((await orch().listRuns({ workflow: "listed", status: "completed" })).map((r) => r.runId)).toEqual([
      good.runId,
    ]);
    expect(await orch().listRuns({ workflow: "listed", limit: 1 })).toHaveLength(1);
  });

  it.each([
    ["limit", { limit: 0 }],
    ["limit", { limit: "5" }],
    ["limit", { limit: 1.5 }],
    ["limit", { limit: 1001 }],
    ["status", { status: "nope" }],
    ["workflow", { workflow: "" }],
    ["colour", { colour: "red" }],
  ])("rejects a bad `%s`: %j", async (option, options) => {
    const error = await orch()
      .listRuns(options as never)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as InvalidOptionError).option).toBe(option);
    expect((error as Error).message).toContain(`\`${option}\``);
    expect((error as Error).message).toContain("listRuns");
  });
});
