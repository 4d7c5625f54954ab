/**
 * orch.close() does not wait for a run of its process that waits for a person or for time (approval,
 * a signal): the run is detached, its call rejects with RunDetachedError, and it goes on elsewhere.
 */
import { describe, expect, it } from "vitest";
import { createOrchestrator, RunDetachedError, validateGraph, type Orchestrator } from "../../src/index.js";
import { createTestDatabase } from "../helpers/postgres.js";
import { STORES, type StoreKind } from "../helpers/stores.js";
import { waitFor } from "../helpers/wait.js";

async function open(kind: StoreKind, url: string | undefined): Promise<Orchestrator> {
  return createOrchestrator({ database: kind === "postgres" ? url! : "memory://", leaseMs: 2000 });
}

const graph = validateGraph({
  goal: "draft, then wait for a person",
  tasks: [
    { id: "draft", step: "draft" },
    { id: "approve", dependsOn: ["draft"], wait: { signal: "approval" } },
  ],
});

describe.each(STORES)("close while a run waits (%s)", (kind) => {
  it("detaches a run awaiting approval and one whose only task left waits for a signal", async () => {
    const database = kind === "postgres" ? await createTestDatabase() : undefined;
    try {
      const orch = await open(kind, database?.url);
      const steps = { draft: () => "v1" };
      const awaiting = new Promise<string>((resolve) =>
        orch.on("plan:awaiting_approval", (event) => resolve(event.runId!)),
      );
      const waiting = new Promise<string>((resolve) => orch.on("task:waiting", (event) => resolve(event.runId!)));
      const toApprove = orch.composeFromTaskGraph(graph, steps, { workflow: "to-approve", approvePlan: true });
      const toSignal = orch.composeFromTaskGraph(graph, steps, { workflow: "to-signal" });
      const [approvalRun, signalRun] = await Promise.all([awaiting, waiting]);
      // Nothing settles either run: close() returns anyway, and both calls reject.
      const outcomes = Promise.allSettled([toApprove, toSignal]);
      await orch.close();
      const [a, b] = await outcomes;
      expect(a.status).toBe("rejected");
      expect(b.status).toBe("rejected");
      const first = (a as PromiseRejectedResult).reason as RunDetachedError;
      const second = (b as PromiseRejectedResult).reason as RunDetachedError;
      expect(first).toBeInstanceOf(RunDetachedError);
      expect(first).toMatchObject({ code: "RUN_DETACHED", runId: approvalRun, status: "awaiting_approval" });
      expect(second).toMatchObject({ code: "RUN_DETACHED", runId: signalRun, status: "running" });
      expect(second.message).toContain("waitForRun");
      if (database) {
        // The runs were left as stored: another process approves one, signals the other, and a
        // worker of their workflows runs them to the end.
        const later = await open(kind, database.url);
        try {
          expect((await later.getRun(approvalRun)).status).toBe("awaiting_approval");
          const worker = await later.startWorker({ workflows: { "to-approve": steps, "to-signal": steps } });
          await later.approvePlan(approvalRun);
          // Read from the store, not from events: this process's subscription may go live after the
          // worker started the wait.
          await waitFor(
            async () => (await later.getRun(approvalRun)).tasks.find((t) => t.id === "approve")?.status === "waiting",
            20_000,
            "the approved run's wait to start",
          );
          for (const runId of [approvalRun, signalRun]) {
            await later.signal(runId, "approval", { by: "ana" });
            const done = await later.waitForRun(runId, { timeoutMs: 20_000 });
            expect(done.status).toBe("completed");
            expect(done.outputs.approve).toEqual({ by: "ana" });
          }
          await worker.stop();
        } finally {
          await later.close();
        }
      }
    } finally {
      await database?.drop();
    }
  }, 60_000);
});
