/**
 * Issue 17, case 8: the children of a lazy composite keep their references. Their ids are
 * namespaced under the composite (`process/a`), and so is every reference to a sibling: `$from`,
 * `{{ templates }}`, `when.task` and `forEach.from`, not only `dependsOn` and `parentId`. A child may
 * also read the composite's own dependencies, which it inherits.
 */
import { describe, expect, it } from "vitest";
import type { Decomposer, Steps } from "../../src/index.js";
import { STORES, useOrchestrator } from "../helpers/stores.js";

describe.each(STORES)("lazy expansion on %s", (kind) => {
  const orch = useOrchestrator(kind);

  it("renames every reference to a sibling, and lets children read the composite's dependencies", async () => {
    const decomposer: Decomposer = (_goal, ctx) => {
      if (!ctx.parent) {
        return [
          { id: "fetch" },
          { id: "process", kind: "composite", expand: "lazy", dependsOn: ["fetch"], description: "process it" },
          { id: "report", dependsOn: ["process"] },
        ];
      }
      return [
        { id: "items", input: { from: { $from: "fetch", path: "items" } } },
        { id: "label", step: "echo", dependsOn: ["items"], input: { text: "{{ items.0 }} of {{ fetch.name }}" } },
        { id: "each", step: "double", dependsOn: ["items"], forEach: { from: "items" } },
        { id: "kept", step: "echo", dependsOn: ["items"], when: { task: "items", op: "truthy" }, input: { text: "y" } },
        {
          id: "dropped",
          step: "echo",
          dependsOn: ["items"],
          when: { not: { task: "items", op: "truthy" } },
          input: { text: "n" },
        },
      ];
    };
    const steps: Steps = {
      fetch: async () => ({ name: "batch-7", items: [2, 3] }),
      items: async (ctx) => (ctx.input as { from: number[] }).from,
      echo: async (ctx) => (ctx.input as { text: string }).text,
      double: async (ctx) => (ctx.input as { item: number }).item * 2,
      report: async (ctx) => ctx.deps.process,
    };
    const result = await orch().composeFromGoal("lazy references", decomposer, steps);
    expect(result.error).toBeUndefined();
    expect(result.status).toBe("completed");
    expect(result.outputs["process/label"]).toBe("2 of batch-7");
    expect(result.outputs["process/each"]).toEqual([4, 6]);
    expect(result.outputs["process/kept"]).toBe("y");
    expect(result.tasks.find((t) => t.id === "process/dropped")?.status).toBe("skipped");
  });
});
