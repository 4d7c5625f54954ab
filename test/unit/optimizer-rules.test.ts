import { describe, expect, it } from "vitest";
import { validateGraph } from "../../src/graph/validate.js";
import type { TaskSpec } from "../../src/graph/task-graph.js";
import {
  attemptFailureRate,
  attemptsRule,
  deterministicWarning,
  timeoutRule,
} from "../../src/optimizer/basic-rules.js";
import { backoffRule, maxParallelRule, priorityRules } from "../../src/optimizer/advanced-rules.js";
import { optimizeOptionsSchema, type EffectiveDefaults } from "../../src/optimizer/types.js";
import type { TaskMetrics } from "../../src/store/metrics.js";

const defaults: EffectiveDefaults = {
  timeoutMs: 30_000,
  maxAttempts: 3,
  maxParallel: 10,
  backoff: { kind: "exponential", baseMs: 1000, maxMs: 60_000, jitter: 0.2 },
};
const options = optimizeOptionsSchema.parse({ timeoutThresholdMs: 100 });
const graphOf = (tasks: TaskSpec[]) => validateGraph({ goal: "rules", tasks });
const task = (spec: Partial<TaskSpec> = {}) => graphOf([{ id: "t", ...spec }]).tasks[0]!;

/** A task that ran in `runs` runs, succeeding first time, unless overridden. */
function metrics(overrides: Partial<TaskMetrics> = {}): TaskMetrics {
  const runs = overrides.runs ?? 20;
  return {
    key: "t",
    step: null,
    runs,
    attempts: runs,
    successes: runs,
    failures: 0,
    timeouts: 0,
    transientFailures: 0,
    deterministicFailures: 0,
    timeoutsRecovered: 0,
    runsNeverSucceeded: 0,
    timeoutOnlyRuns: 0,
    runsWithTimeout: 0,
    firstAttempts: runs,
    firstAttemptFailures: 0,
    firstAttemptsRecovered: 0,
    retries: 0,
    retriesFailed: 0,
    p50Ms: 200,
    p95Ms: 400,
    p99Ms: 500,
    meanMs: 250,
    maxSuccessMs: 520,
    meanQueueWaitMs: 5,
    meanOverheadMs: null,
    timeoutWaitMs: 0,
    ...overrides,
  };
}

describe("basic rules", () => {
  it("raises a timeout below p99 × headroom, never below the slowest success", () => {
    const change = timeoutRule(task({ timeoutMs: 600 }), metrics(), defaults, options);
    expect(change).toMatchObject({
      taskId: "t",
      field: "timeoutMs",
      from: 600,
      to: 750,
      evidence: { samples: 20, statistic: "p99Ms", value: 500 },
    });
    expect(change!.confidence).toBeCloseTo(20 / 21, 6);
    expect(timeoutRule(task({ timeoutMs: 600 }), metrics({ maxSuccessMs: 900 }), defaults, options)?.to).toBe(900);
  });

  it("at least doubles a timeout that attempts hit without the task ever completing (censored durations)", () => {
    const change = timeoutRule(
      task({ timeoutMs: 600 }),
      metrics({ timeouts: 4, timeoutOnlyRuns: 2, runsWithTimeout: 2, p99Ms: 300, maxSuccessMs: 310 }),
      defaults,
      options,
    );
    expect(change).toMatchObject({ from: 600, to: 1200, evidence: { statistic: "unrecoveredTimeouts", value: 4 } });
    // One run where every attempt timed out is not yet evidence of slowness.
    expect(
      timeoutRule(
        task({ timeoutMs: 600 }),
        metrics({ timeouts: 2, timeoutOnlyRuns: 1, runsWithTimeout: 1, p99Ms: 300, maxSuccessMs: 310 }),
        defaults,
        options,
      ),
    ).toBeNull();
  });

  it("does not take a hang next to a failure (no run where every attempt timed out) for slowness", () => {
    const hangs = metrics({ timeouts: 1, timeoutOnlyRuns: 0, runsWithTimeout: 1, p99Ms: 300, maxSuccessMs: 310 });
    expect(timeoutRule(task({ timeoutMs: 600 }), hangs, defaults, options)).toBeNull();
    // Independent hangs: 5 runs with a timeout, a retry fixed 4, one run hung on both attempts.
    const unlucky = metrics({
      timeouts: 6,
      timeoutsRecovered: 4,
      timeoutOnlyRuns: 1,
      runsWithTimeout: 5,
      p99Ms: 300,
      maxSuccessMs: 310,
    });
    expect(timeoutRule(task({ timeoutMs: 600 }), unlucky, defaults, options)).toBeNull();
  });

  it("never lowers a timeout that no attempt hung on: a shorter limit would only add risk", () => {
    expect(timeoutRule(task(), metrics(), defaults, options)).toBeNull();
  });

  it("lowers a timeout far above p99 when every timeout was a hang a retry fixed", () => {
    const change = timeoutRule(task(), metrics({ timeouts: 3, timeoutsRecovered: 3 }), defaults, options);
    expect(change).toMatchObject({ from: 30_000, to: 750 });
  });

  it("leaves tasks under timeoutThresholdMs alone, and changes nothing below minSamples", () => {
    expect(
      timeoutRule(task({ timeoutMs: 100 }), metrics({ p99Ms: 50, maxSuccessMs: 60 }), defaults, options),
    ).toBeNull();
    expect(timeoutRule(task({ timeoutMs: 100 }), metrics({ runs: 4 }), defaults, options)).toBeNull();
    expect(timeoutRule(task({ timeoutMs: 100 }), undefined, defaults, options)).toBeNull();
  });

  it("makes nothing of an all-failing task: no timeout without successes, no attempts, a warning", () => {
    const failing = metrics({
      successes: 0,
      failures: 60,
      attempts: 60,
      deterministicFailures: 60,
      runsNeverSucceeded: 20,
      firstAttemptFailures: 20,
      p50Ms: null,
      p95Ms: null,
      p99Ms: null,
      meanMs: null,
      maxSuccessMs: null,
    });
    expect(timeoutRule(task(), failing, defaults, options)).toBeNull();
    expect(attemptsRule(task(), failing, defaults, options)).toBeNull();
    expect(deterministicWarning(task(), failing, options)).toMatch(/never completed in 20 of 20 runs/);
    expect(deterministicWarning(task(), metrics({ timeouts: 4, runsNeverSucceeded: 2 }), options)).toMatch(
      /4 attempts timed out.*raise timeoutMs/,
    );
    expect(deterministicWarning(task(), metrics(), options)).toBeNull();
  });

  it("grants attempts for transient failures from their rate", () => {
    // 20 runs; 6 failed first attempts that then succeeded: 6 / 26 attempts fail.
    const flaky = metrics({ attempts: 26, failures: 6, transientFailures: 6, firstAttemptFailures: 6, retries: 6 });
    const change = attemptsRule(task({ maxAttempts: 2 }), flaky, defaults, options);
    expect(change).toMatchObject({
      field: "maxAttempts",
      from: 2,
      to: 8,
      evidence: { samples: 20, statistic: "transientFailureRate", value: 0.231 },
    });
    expect(attemptsRule(task({ maxAttempts: 8 }), flaky, defaults, options)).toBeNull();
    expect(attemptsRule(task({ maxAttempts: 7 }), flaky, defaults, options)?.to).toBe(8);
    expect(attemptsRule(task({ maxAttempts: 2 }), { ...flaky, runs: 4 }, defaults, options)).toBeNull();
  });
});

describe("attemptFailureRate", () => {
  it("counts every failure when runs that never succeeded are as many as independence predicts", () => {
    // 30 runs at 2 attempts, rate 0.3: 2.7 runs expected to fail both attempts; 3 did.
    const flaky = metrics({
      runs: 30,
      attempts: 43,
      failures: 13,
      transientFailures: 7,
      deterministicFailures: 6,
      runsNeverSucceeded: 3,
    });
    expect(attemptFailureRate(flaky, 2)).toBeCloseTo(13 / 43, 6);
  });

  it("leaves out runs that fail far more often than independence predicts: those inputs are deterministic", () => {
    // 20 runs; 10 inputs always fail (20 attempts), 3 transient failures among the other 10 runs.
    const mixed = metrics({
      runs: 20,
      attempts: 33,
      failures: 23,
      transientFailures: 3,
      deterministicFailures: 20,
      runsNeverSucceeded: 10,
    });
    expect(attemptFailureRate(mixed, 2)).toBeCloseTo(3 / 13, 6);
  });
});

describe("advanced rules", () => {
  const chain = graphOf([
    { id: "a" },
    { id: "b", dependsOn: ["a"] },
    { id: "c", dependsOn: ["b"] },
    { id: "side", dependsOn: ["a"] },
  ]);
  const p50 = { a: 100, b: 300, c: 100, side: 50 } as Record<string, number>;
  const metricsOf = (id: string) => metrics({ key: id, p50Ms: p50[id] ?? 0 });

  it("sets priorities by remaining p50 path, keeping explicit ones", () => {
    const changes = priorityRules(chain.tasks, metricsOf, options);
    expect(Object.fromEntries(changes.map((c) => [c.taskId, c.to]))).toEqual({ a: 1000, b: 800, c: 200, side: 100 });
    expect(changes[0]!.evidence).toEqual({ samples: 20, statistic: "remainingPathP50Ms", value: 500 });
    const pinned = graphOf([
      { id: "a", priority: 5 },
      { id: "b", dependsOn: ["a"] },
    ]);
    expect(priorityRules(pinned.tasks, metricsOf, options).map((c) => c.taskId)).toEqual(["b"]);
  });

  it("sets no priorities while any task lacks samples", () => {
    expect(priorityRules(chain.tasks, (id) => (id === "c" ? undefined : metricsOf(id)), options)).toEqual([]);
  });

  it("shortens backoff for independent failures and lengthens it for clustered ones", () => {
    const independent = metrics({
      firstAttemptFailures: 6,
      retries: 6,
      retriesFailed: 2,
      transientFailures: 8,
      p50Ms: 40,
    });
    expect(backoffRule(task(), independent, defaults, options)).toMatchObject({
      field: "backoff.baseMs",
      from: 1000,
      to: 40,
    });
    const clustered = metrics({ firstAttemptFailures: 2, retries: 10, retriesFailed: 8, transientFailures: 10 });
    expect(backoffRule(task(), clustered, defaults, options)).toMatchObject({
      from: 1000,
      to: 2000,
      evidence: { value: 0.8 },
    });
    expect(backoffRule(task(), metrics({ retries: 3, transientFailures: 3 }), defaults, options)).toBeNull();
    const deterministic = metrics({
      firstAttemptFailures: 20,
      retries: 20,
      retriesFailed: 20,
      deterministicFailures: 40,
    });
    expect(backoffRule(task(), deterministic, defaults, options)).toBeNull();
  });

  it("raises maxParallel to the widest layer when queue wait dominates", () => {
    const wide = graphOf([
      { id: "root" },
      ...Array.from({ length: 6 }, (_, i) => ({ id: `w${i}`, dependsOn: ["root"] })),
    ]);
    const waited = wide.tasks.map((t) => metrics({ key: t.id, meanQueueWaitMs: 300, meanMs: 100 }));
    expect(maxParallelRule(wide.tasks, waited, 2, options)).toMatchObject({ field: "maxParallel", from: 2, to: 6 });
    expect(maxParallelRule(wide.tasks, waited, 6, options)).toBeNull();
    const busy = wide.tasks.map((t) => metrics({ key: t.id, meanQueueWaitMs: 10, meanMs: 100 }));
    expect(maxParallelRule(wide.tasks, busy, 2, options)).toBeNull();
  });
});
