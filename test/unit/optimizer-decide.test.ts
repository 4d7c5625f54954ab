import { describe, expect, it } from "vitest";
import { validateGraph } from "../../src/graph/validate.js";
import { decideOptimization } from "../../src/optimizer/decide.js";
import { parallelizablePairs, recommend } from "../../src/optimizer/recommend.js";
import { optimizeOptionsSchema, type EffectiveDefaults } from "../../src/optimizer/types.js";
import type { TaskMetrics } from "../../src/store/metrics.js";

const defaults: EffectiveDefaults = {
  timeoutMs: 300,
  maxAttempts: 2,
  maxParallel: 1,
  backoff: { kind: "exponential", baseMs: 1000, maxMs: 60_000, jitter: 0.2 },
};
const graph = validateGraph({
  goal: "decide",
  tasks: [{ id: "slow" }, { id: "flaky", dependsOn: ["slow"] }, { id: "side", dependsOn: ["slow"] }, { id: "broken" }],
});

function metrics(key: string, overrides: Partial<TaskMetrics> = {}): TaskMetrics {
  return {
    key,
    step: key,
    runs: 20,
    attempts: 20,
    successes: 20,
    failures: 0,
    timeouts: 0,
    transientFailures: 0,
    deterministicFailures: 0,
    timeoutsRecovered: 0,
    runsNeverSucceeded: 0,
    timeoutOnlyRuns: 0,
    runsWithTimeout: 0,
    firstAttempts: 20,
    firstAttemptFailures: 0,
    firstAttemptsRecovered: 0,
    retries: 0,
    retriesFailed: 0,
    p50Ms: 50,
    p95Ms: 80,
    p99Ms: 90,
    meanMs: 55,
    maxSuccessMs: 95,
    meanQueueWaitMs: 200,
    meanOverheadMs: null,
    timeoutWaitMs: 0,
    ...overrides,
  };
}

const history = {
  runs: 20,
  tasks: [
    metrics("slow", {
      p50Ms: 250,
      p99Ms: 290,
      maxSuccessMs: 295,
      timeouts: 4,
      timeoutOnlyRuns: 2,
      runsWithTimeout: 2,
      attempts: 24,
    }),
    metrics("flaky", {
      attempts: 26,
      failures: 6,
      transientFailures: 6,
      firstAttemptFailures: 6,
      retries: 6,
      retriesFailed: 0,
    }),
    metrics("side"),
    metrics("broken", {
      attempts: 40,
      successes: 0,
      failures: 40,
      deterministicFailures: 40,
      runsNeverSucceeded: 20,
      firstAttemptFailures: 20,
      retries: 20,
      retriesFailed: 20,
      p50Ms: null,
      p95Ms: null,
      p99Ms: null,
      meanMs: null,
      maxSuccessMs: null,
    }),
  ],
};
const opts = (extra: object = {}) => optimizeOptionsSchema.parse({ timeoutThresholdMs: 100, ...extra });

describe("decideOptimization", () => {
  it("basic: raises the slow step's timeout and the flaky step's attempts, nothing for the broken one", () => {
    const result = decideOptimization(graph, history, defaults, opts());
    expect(result.changes.map((c) => [c.taskId, c.field, c.from, c.to])).toEqual([
      ["slow", "timeoutMs", 300, 600],
      ["flaky", "maxAttempts", 2, 8],
    ]);
    expect(result.graph.tasks.find((t) => t.id === "slow")?.timeoutMs).toBe(600);
    expect(result.graph.tasks.find((t) => t.id === "flaky")?.maxAttempts).toBe(8);
    expect(result.graph.tasks.find((t) => t.id === "broken")?.maxAttempts).toBeUndefined();
    expect(result.confidence).toBeCloseTo(20 / 21, 6);
    expect(graph.tasks.find((t) => t.id === "slow")?.timeoutMs).toBeUndefined();
  });

  it("never changes dependencies or task order", () => {
    const result = decideOptimization(graph, history, defaults, opts({ level: "advanced" }));
    expect(result.graph.tasks.map((t) => [t.id, t.dependsOn])).toEqual(graph.tasks.map((t) => [t.id, t.dependsOn]));
  });

  it("advanced: adds backoff for independent failures and maxParallel, but no priorities without samples for every task", () => {
    const result = decideOptimization(graph, history, defaults, opts({ level: "advanced" }));
    expect(result.changes.map((c) => [c.taskId ?? null, c.field, c.to])).toEqual([
      ["slow", "timeoutMs", 600],
      ["flaky", "maxAttempts", 8],
      ["flaky", "backoff.baseMs", 50],
      [null, "maxParallel", 2],
    ]);
    expect(result.maxParallel).toBe(2);
  });

  it("keeps findings below the confidence threshold as recommendations", () => {
    const result = decideOptimization(graph, history, defaults, opts({ patternConfidenceThreshold: 0.99 }));
    expect(result.changes).toEqual([]);
    expect(result.recommendations.map((c) => c.field)).toEqual(["timeoutMs", "maxAttempts"]);
    expect(result.graph.tasks.find((t) => t.id === "slow")?.timeoutMs).toBeUndefined();
    expect(result.confidence).toBe(0);
  });

  it("aggressive with fewer than 100 runs says so and falls back to advanced", () => {
    const result = decideOptimization(graph, history, defaults, opts({ level: "aggressive" }));
    expect(result.notes).toEqual([
      "aggressive needs ≥ 100 finished runs of the workflow, found 20: fell back to advanced",
    ]);
    expect(result.changes.map((c) => c.field)).toEqual(["timeoutMs", "maxAttempts", "backoff.baseMs", "maxParallel"]);
  });

  it("takes the claim-and-settle overrun of timed-out attempts off durations before setting timeouts", () => {
    const hangs = {
      runs: 20,
      overrun: { samples: 8, p50Ms: 40 },
      tasks: [
        metrics("flaky", {
          p50Ms: 60,
          p99Ms: 90,
          maxSuccessMs: 95,
          timeouts: 8,
          timeoutsRecovered: 8,
          transientFailures: 8,
          runsWithTimeout: 8,
        }),
      ],
    };
    const result = decideOptimization(graph, hangs, { ...defaults, timeoutMs: 1000 }, opts({ timeoutThresholdMs: 10 }));
    // (90 − 40) × 1.5 = 75; the slowest success less the overrun is 55.
    expect(result.changes.find((c) => c.field === "timeoutMs")).toMatchObject({ taskId: "flaky", from: 1000, to: 75 });
    expect(result.notes).toEqual([
      "timeouts are set on durations less 40 ms of claim and settle (the median overrun of 8 timed-out attempts)",
    ]);
    const few = decideOptimization(
      graph,
      { ...hangs, overrun: { samples: 4, p50Ms: 40 } },
      { ...defaults, timeoutMs: 1000 },
      opts({ timeoutThresholdMs: 10 }),
    );
    expect(few.changes.find((c) => c.field === "timeoutMs")?.to).toBe(135);
    expect(few.notes).toEqual([]);
  });

  it("changes nothing without history, and says why", () => {
    const result = decideOptimization(graph, { runs: 0, tasks: [] }, defaults, opts());
    expect(result).toMatchObject({
      changes: [],
      confidence: 0,
      notes: ["no history for this workflow: run it first, then optimize"],
    });
  });

  it("changes nothing on small samples", () => {
    const small = {
      runs: 4,
      tasks: history.tasks.map((m) => ({
        ...m,
        runs: 4,
        successes: Math.min(m.successes, 4),
        retries: Math.min(m.retries, 4),
      })),
    };
    expect(decideOptimization(graph, small, defaults, opts({ level: "advanced" })).changes).toEqual([]);
  });
});

describe("recommend", () => {
  it("lists parallelizable pairs, timeouts, warnings and limits", () => {
    const recommendations = recommend(graph, history, defaults, opts());
    expect(recommendations.parallelizablePairs).toEqual([
      ["slow", "broken"],
      ["flaky", "side"],
      ["flaky", "broken"],
      ["side", "broken"],
    ]);
    expect(recommendations.timeoutAdjustments).toEqual({ slow: 600 });
    expect(recommendations.failedPatternWarnings).toEqual([
      "broken: never completed in 20 of 20 runs (40 failed attempts); more attempts will not fix it — fix the step or its input",
    ]);
    expect(recommendations.resourceAllocation).toEqual({ maxParallel: 2, queues: {} });
  });

  it("finds no pairs in a chain", () => {
    const chain = validateGraph({
      goal: "chain",
      tasks: [{ id: "a" }, { id: "b", dependsOn: ["a"] }, { id: "c", dependsOn: ["b"] }],
    });
    expect(parallelizablePairs(chain)).toEqual([]);
  });
});
