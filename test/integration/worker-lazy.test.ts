/**
 * Issue 17, case 13: a worker runs lazy composites. `startWorker({ decomposers })` gives it the
 * decomposer of each workflow; it expands the composite when it becomes ready, like an in-process run.
 */
import { describe, expect, it } from "vitest";
import { validateGraph, type Decomposer, type Steps } from "../../src/index.js";
import { STORES, useOrchestrator } from "../helpers/stores.js";

const graph = validateGraph({
  goal: "process the listed files",
  tasks: [
    { id: "list" },
    { id: "process", kind: "composite", expand: "lazy", dependsOn: ["list"], description: "process each file" },
    { id: "summary", dependsOn: ["process"] },
  ],
});
const decomposer: Decomposer = (_goal, ctx) =>
  ((ctx.parent?.depsOutputs.list as string[] | undefined) ?? []).map((file) => ({
    id: `file_${file}`,
    step: "handle",
    input: { file },
  }));
const steps: Steps = {
  list: async () => ["a", "b"],
  handle: async (ctx) => `${(ctx.input as { file: string }).file}!`,
  summary: async (ctx) => ctx.deps.process,
};

describe.each(STORES)("a worker with lazy composites on %s", (kind) => {
  const orch = useOrchestrator(kind);

  it("expands a lazy composite with the workflow's decomposer and runs its children", async () => {
    const worker = await orch().startWorker({
      workflows: { lazy_files: steps },
      decomposers: { lazy_files: decomposer },
    });
    try {
      const { runId } = await orch().submit(graph, { workflow: "lazy_files" });
      const result = await orch().waitForRun(runId, { timeoutMs: 20_000 });
      expect(result.error).toBeUndefined();
      expect(result.status).toBe("completed");
      expect(result.outputs.summary).toEqual({ "process/file_a": "a!", "process/file_b": "b!" });
    } finally {
      await worker.stop();
    }
  });

  it("without a decomposer for the workflow, fails the composite at once and says how to give one", async () => {
    const worker = await orch().startWorker({ workflows: { lazy_none: steps } });
    try {
      const { runId } = await orch().submit(graph, { workflow: "lazy_none" });
      const result = await orch().waitForRun(runId, { timeoutMs: 20_000 });
      expect(result.status).toBe("failed");
      const process = result.tasks.find((t) => t.id === "process");
      expect(process?.attempts).toBe(1);
      expect(process?.error?.message).toMatch(/startWorker\(\{ decomposers: \{ lazy_none: … \} \}\)/);
    } finally {
      await worker.stop();
    }
  });
});
