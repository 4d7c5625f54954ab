import { describe, expect, it } from "vitest";
import { validateGraph } from "../../src/graph/validate.js";
import { applyStoredTuning, revertChanges } from "../../src/optimizer/stored-tuning.js";
import type { EffectiveDefaults, OptimizationChange } from "../../src/optimizer/types.js";

const defaults: EffectiveDefaults = {
  timeoutMs: 200,
  maxAttempts: 2,
  maxParallel: 2,
  backoff: { kind: "exponential", baseMs: 200, maxMs: 800, jitter: 0 },
};
const graph = validateGraph({
  goal: "stored",
  tasks: [{ id: "a" }, { id: "b", dependsOn: ["a"], timeoutMs: 500 }, { id: "c", dependsOn: ["a"], idempotent: true }],
});
const change = (
  taskId: string | undefined,
  field: OptimizationChange["field"],
  from: number | null,
  to: number,
  extra: Partial<OptimizationChange> = {},
): OptimizationChange => ({
  ...(taskId ? { taskId } : {}),
  field,
  from,
  to,
  reason: "test",
  evidence: { samples: 30, statistic: "p99Ms", value: 1 },
  confidence: 0.97,
  ...extra,
});

describe("stored tunings", () => {
  const tuning = {
    level: "aggressive",
    changes: [
      change("a", "timeoutMs", 200, 400),
      change("a", "maxAttempts", 2, 6),
      change("a", "priority", null, 1000),
      change("b", "timeoutMs", 200, 300),
      change("gone", "timeoutMs", 200, 300),
      change("c", "backoff.baseMs", 200, 20),
      change(undefined, "maxParallel", 2, 8),
      change(undefined, "queueLimit", 2, 5, { queue: "io" }),
      change("c", "hedgeAfterMs", null, 90),
    ],
  };

  it("applies the changes that still fit, with run-wide limits and hedges, and says what it skipped", () => {
    const result = applyStoredTuning(graph, tuning, defaults);
    expect(result.graph.tasks.map((t) => [t.id, t.timeoutMs, t.maxAttempts, t.priority, t.backoff?.baseMs])).toEqual([
      ["a", 400, 6, 1000, undefined],
      ["b", 500, undefined, undefined, undefined],
      ["c", undefined, undefined, undefined, 20],
    ]);
    expect(result).toMatchObject({ maxParallel: 8, queues: { io: 5 }, hedges: { c: 90 } });
    expect(result.skipped).toEqual([
      "b.timeoutMs: is 500 now, not 200 as when tuned; left as it is",
      "gone.timeoutMs: the task is no longer in the graph",
    ]);
    expect(result.graph.tasks.map((t) => t.dependsOn)).toEqual(graph.tasks.map((t) => t.dependsOn));
  });

  it("still raises a timeout or attempts that changed since, but never lowers them", () => {
    const edited = validateGraph({ goal: "stored", tasks: [{ id: "a", timeoutMs: 300, maxAttempts: 9 }] });
    const result = applyStoredTuning(
      edited,
      { level: "basic", changes: [change("a", "timeoutMs", 200, 400), change("a", "maxAttempts", 2, 6)] },
      defaults,
    );
    expect(result.graph.tasks[0]).toMatchObject({ timeoutMs: 400, maxAttempts: 9 });
    expect(result.applied.map((c) => [c.field, c.from, c.to])).toEqual([["timeoutMs", 300, 400]]);
  });

  it("undoes the changes a run recorded, back to the graph as written", () => {
    const tuned = applyStoredTuning(graph, tuning, defaults);
    const reverted = revertChanges(tuned.graph, tuned.applied);
    expect(reverted.tasks.map((t) => [t.id, t.timeoutMs, t.maxAttempts, t.priority])).toEqual([
      ["a", 200, 2, undefined],
      ["b", 500, undefined, undefined],
      ["c", undefined, undefined, undefined],
    ]);
    expect(reverted.tasks[2]!.backoff?.baseMs).toBe(200);
  });
});
