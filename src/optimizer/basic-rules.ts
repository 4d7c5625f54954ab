/**
 * The `basic` decision rules, pure over plain data: per-task timeouts from p99 with headroom, and
 * attempts for transient failures. Each returns a change with its evidence, or null.
 */
import type { Task } from "../graph/task-graph.js";
import type { TaskMetrics } from "../store/metrics.js";
import { attemptsForTarget, sampleConfidence, wilsonUpper } from "./statistics.js";
import type { EffectiveDefaults, OptimizationChange, ResolvedOptimizeOptions } from "./types.js";

/** Most attempts the optimizer grants (the graph schema allows 100). */
export const MAX_TUNED_ATTEMPTS = 10;

/**
 * Timeout from history. Raised when, in at least two runs and at least half the runs where it timed
 * out, every attempt timed out (the true duration is above the limit, so at least double it), or when p99 ×
 * headroom exceeds it. Lowered only on evidence that it costs time: timeouts that were hangs a retry
 * fixed, with p99 × headroom under half the limit. Never below the slowest success; tasks with p99
 * under `timeoutThresholdMs` are left alone.
 */
export function timeoutRule(
  task: Task,
  metrics: TaskMetrics | undefined,
  defaults: EffectiveDefaults,
  options: ResolvedOptimizeOptions,
): OptimizationChange | null {
  if (!metrics || metrics.successes < options.minSamples || metrics.p99Ms === null) {
    return null;
  }
  if (metrics.p99Ms < options.timeoutThresholdMs) {
    return null;
  }
  const current = task.timeoutMs ?? defaults.timeoutMs;
  const slowest = Math.ceil(metrics.maxSuccessMs ?? 0);
  const fromP99 = Math.ceil(metrics.p99Ms * options.timeoutHeadroom);
  const unrecoveredTimeouts = metrics.timeouts - metrics.timeoutsRecovered;
  const evidence = { samples: metrics.successes, statistic: "p99Ms", value: round(metrics.p99Ms) };
  const confidence = sampleConfidence(metrics.successes);
  // Slow, not stuck: where it timed out at all, at least half the time every attempt did. Independent
  // hangs rarely repeat on every attempt of a run; a step slower than its limit always does.
  if (metrics.timeoutOnlyRuns >= 2 && metrics.timeoutOnlyRuns * 2 >= metrics.runsWithTimeout) {
    const to = Math.min(86_400_000, Math.max(fromP99, slowest, current * 2));
    return {
      taskId: task.id,
      field: "timeoutMs",
      from: current,
      to,
      confidence,
      reason: `every attempt timed out at ${current} ms in ${metrics.timeoutOnlyRuns} run(s) (${unrecoveredTimeouts} unrecovered timeouts): its duration exceeds the limit`,
      evidence: { samples: metrics.attempts, statistic: "unrecoveredTimeouts", value: unrecoveredTimeouts },
    };
  }
  const to = Math.min(86_400_000, Math.max(fromP99, slowest));
  if (to > current) {
    return {
      taskId: task.id,
      field: "timeoutMs",
      from: current,
      to,
      evidence,
      confidence,
      reason: `p99 ${round(metrics.p99Ms)} ms × ${options.timeoutHeadroom} headroom exceeds the timeout`,
    };
  }
  // Lowering saves time only where attempts hang; without hangs a shorter limit is risk for nothing.
  if (metrics.timeoutsRecovered > 0 && to * 2 <= current) {
    return {
      taskId: task.id,
      field: "timeoutMs",
      from: current,
      to,
      evidence,
      confidence: confidence * 0.97,
      reason:
        `p99 ${round(metrics.p99Ms)} ms × ${options.timeoutHeadroom} headroom (slowest success ${slowest} ms) is under half the timeout; ` +
        `${metrics.timeoutsRecovered} timeout(s) were hangs a retry fixed, so a shorter limit wastes less time`,
    };
  }
  return null;
}

/**
 * Attempts from history: only for transient failures (the task completed later in the same run),
 * enough that independent failures at the observed rate's upper 95% bound fail for good at most 1 time
 * in 1000.
 * Deterministic failures (never completed) get no extra attempts: retries cannot fix them.
 */
export function attemptsRule(
  task: Task,
  metrics: TaskMetrics | undefined,
  defaults: EffectiveDefaults,
  options: ResolvedOptimizeOptions,
): OptimizationChange | null {
  if (!metrics || metrics.runs < options.minSamples || metrics.transientFailures === 0) {
    return null;
  }
  const current = task.maxAttempts ?? defaults.maxAttempts;
  const failureRate = attemptFailureRate(metrics, current);
  // Sized on the rate's upper 95% bound: a small sample must not talk the attempts down.
  const upper = wilsonUpper(Math.round(failureRate * metrics.attempts), metrics.attempts);
  const needed = Math.min(MAX_TUNED_ATTEMPTS, attemptsForTarget(upper));
  if (needed <= current) {
    return null;
  }
  const share = metrics.transientFailures / Math.max(1, metrics.transientFailures + metrics.deterministicFailures);
  return {
    taskId: task.id,
    field: "maxAttempts",
    from: current,
    to: needed,
    confidence: sampleConfidence(metrics.runs),
    reason:
      `${metrics.transientFailures} failure(s) succeeded on a later attempt (transient share ${round(share)}); ` +
      `at a ${round(failureRate)} failure rate per attempt (≤ ${round(upper)} at 95%), ${needed} attempts fail for good ≤ 0.1% of the time`,
    evidence: { samples: metrics.runs, statistic: "transientFailureRate", value: round(failureRate) },
  };
}

/**
 * Failure rate per attempt. All failures over all attempts is the estimate for independent failures
 * (leaving out runs that never succeeded would bias it low). But when more runs never succeeded than
 * the transient rate predicts (3× the expectation, plus one), those runs are deterministic inputs:
 * the transient rate alone is used.
 */
export function attemptFailureRate(metrics: TaskMetrics, attemptsPerRun: number): number {
  const all = (metrics.failures + metrics.timeouts) / Math.max(1, metrics.attempts);
  const recoverableAttempts = metrics.attempts - metrics.deterministicFailures;
  const transient = recoverableAttempts > 0 ? metrics.transientFailures / recoverableAttempts : 1;
  const expectedNeverSucceeded = metrics.runs * transient ** attemptsPerRun;
  return metrics.runsNeverSucceeded <= 3 * expectedNeverSucceeded + 1 ? all : transient;
}

/** A warning for a task that failed every attempt in some runs: retries do not help it. */
export function deterministicWarning(
  task: Task,
  metrics: TaskMetrics | undefined,
  options: ResolvedOptimizeOptions,
): string | null {
  if (!metrics || metrics.runs < options.minSamples || metrics.runsNeverSucceeded === 0) {
    return null;
  }
  const unrecoveredTimeouts = metrics.timeouts - metrics.timeoutsRecovered;
  if (unrecoveredTimeouts > 0) {
    return (
      `${task.id}: never completed in ${metrics.runsNeverSucceeded} of ${metrics.runs} runs ` +
      `(${unrecoveredTimeouts} attempts timed out); it is slower than its timeout there — raise timeoutMs (see timeoutAdjustments)`
    );
  }
  return (
    `${task.id}: never completed in ${metrics.runsNeverSucceeded} of ${metrics.runs} runs ` +
    `(${metrics.deterministicFailures} failed attempts); more attempts will not fix it — fix the step or its input`
  );
}

export function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
