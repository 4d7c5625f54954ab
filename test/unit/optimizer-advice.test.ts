/** The advice rules of getRecommendations, pure: tighter timeouts, transient warnings, cost. */
import { describe, expect, it } from "vitest";
import { validateGraph } from "../../src/graph/validate.js";
import { costRecommendation, tighterTimeoutAdvice, transientWarning } from "../../src/optimizer/advice-rules.js";
import { optimizeOptionsSchema, type EffectiveDefaults } from "../../src/optimizer/types.js";
import type { SpendPercentiles, TaskMetrics } from "../../src/store/metrics.js";

const defaults: EffectiveDefaults = {
  timeoutMs: 30_000,
  maxAttempts: 3,
  maxParallel: 4,
  backoff: { kind: "exponential", baseMs: 1000, maxMs: 60_000, jitter: 0.2 },
};
const options = optimizeOptionsSchema.parse({});
const graph = validateGraph({ goal: "advice", tasks: [{ id: "t" }, { id: "tight", timeoutMs: 1100 }] });
const task = graph.tasks[0]!;

function metrics(overrides: Partial<TaskMetrics> = {}): TaskMetrics {
  return {
    key: "t",
    step: "t",
    runs: 10,
    attempts: 10,
    successes: 10,
    failures: 0,
    timeouts: 0,
    transientFailures: 0,
    deterministicFailures: 0,
    timeoutsRecovered: 0,
    runsNeverSucceeded: 0,
    timeoutOnlyRuns: 0,
    runsWithTimeout: 0,
    firstAttempts: 10,
    firstAttemptFailures: 0,
    firstAttemptsRecovered: 0,
    retries: 0,
    retriesFailed: 0,
    p50Ms: 18,
    p95Ms: 21,
    p99Ms: 22,
    meanMs: 19,
    maxSuccessMs: 22,
    meanQueueWaitMs: 1,
    meanOverheadMs: 1,
    timeoutWaitMs: 0,
    ...overrides,
  };
}

const spend = (overrides: Partial<SpendPercentiles> = {}): SpendPercentiles => ({
  samples: 4,
  samplesWithUsage: 4,
  p50Usd: 0.1 + 0.2,
  p95Usd: 0.5,
  p50Tokens: 1000.12345,
  p95Tokens: 2000,
  ...overrides,
});

describe("tighterTimeoutAdvice", () => {
  it("advises p99 × headroom, held at the slowest success and timeoutThresholdMs, with its evidence", () => {
    expect(tighterTimeoutAdvice(task, metrics(), defaults, options)).toMatchObject({
      taskId: "t",
      field: "timeoutMs",
      from: 30_000,
      to: 1000,
      evidence: { samples: 10, statistic: "p99Ms", value: 22 },
    });
    const slow = metrics({ p99Ms: 2000, maxSuccessMs: 4000 });
    expect(tighterTimeoutAdvice(task, slow, defaults, options)?.to).toBe(4000);
  });

  it("gives none within the margin, below the sample floor, where every attempt timed out, or for a small cut", () => {
    expect(tighterTimeoutAdvice(graph.tasks[1]!, metrics(), defaults, options)).toBeNull();
    expect(tighterTimeoutAdvice(task, metrics({ successes: 4 }), defaults, options)).toBeNull();
    expect(tighterTimeoutAdvice(task, metrics({ timeoutOnlyRuns: 1 }), defaults, options)).toBeNull();
    // 30 s is over 4× a 7 s p99, but a 16 s slowest success would not halve it.
    expect(tighterTimeoutAdvice(task, metrics({ p99Ms: 7000, maxSuccessMs: 16_000 }), defaults, options)).toBeNull();
    expect(tighterTimeoutAdvice(task, undefined, defaults, options)).toBeNull();
  });
});

describe("transientWarning", () => {
  it("names a task whose first attempt a retry fixed in more than 20% of runs", () => {
    expect(transientWarning(task, metrics({ firstAttemptsRecovered: 3 }), options)?.pattern).toEqual({
      taskId: "t",
      kind: "transient",
      evidence: { samples: 10, statistic: "firstAttemptTransientRate", value: 0.3 },
    });
  });

  it("is silent at 20% or with too few runs", () => {
    expect(transientWarning(task, metrics({ firstAttemptsRecovered: 2 }), options)).toBeNull();
    expect(
      transientWarning(task, metrics({ runs: 4, firstAttempts: 4, firstAttemptsRecovered: 4 }), options),
    ).toBeNull();
  });
});

describe("costRecommendation", () => {
  it("is null without spend, or when nothing was spent", () => {
    expect(costRecommendation(undefined)).toBeNull();
    expect(
      costRecommendation({
        perRun: spend({ samplesWithUsage: 0, p50Usd: 0, p95Usd: 0 }),
        perTask: new Map([["t", spend({ samplesWithUsage: 0 })]]),
      }),
    ).toBeNull();
  });

  it("rounds USD to 8 decimals and tokens to 3, and lists only tasks with usage", () => {
    expect(
      costRecommendation({
        perRun: spend(),
        perTask: new Map([
          ["t", spend({ samplesWithUsage: 1 })],
          ["idle", spend({ samplesWithUsage: 0 })],
        ]),
      }),
    ).toEqual({
      perRun: { samples: 4, samplesWithUsage: 4, p50Usd: 0.3, p95Usd: 0.5, p50Tokens: 1000.123, p95Tokens: 2000 },
      perTask: {
        t: { samples: 4, samplesWithUsage: 1, p50Usd: 0.3, p95Usd: 0.5, p50Tokens: 1000.123, p95Tokens: 2000 },
      },
    });
  });
});
