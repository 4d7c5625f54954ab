/**
 * Advice `getRecommendations` gives beyond the findings of a level, pure over plain data: a tighter
 * timeout where the limit is far above the slowest success, warnings for failure patterns (first
 * attempts that fail often, tasks that never complete), and cost per run and per task. None of it is
 * applied by `optimizeWorkflow`.
 */
import type { Task } from "../graph/task-graph.js";
import type { TaskMetrics } from "../store/metrics.js";
import { deterministicWarning, round } from "./basic-rules.js";
import type { History } from "./decide.js";
import { sampleConfidence } from "./statistics.js";
import type {
  CostRecommendation,
  EffectiveDefaults,
  FailurePattern,
  OptimizationChange,
  ResolvedOptimizeOptions,
} from "./types.js";

/** A limit is far above a task's p99 when it is more than this many times the p99… */
export const TIGHTER_TIMEOUT_FACTOR = 4;
/** …and more than this many ms above it (a few ms of headroom on a fast task is no waste). */
export const TIGHTER_TIMEOUT_MARGIN_MS = 1000;
/** A task is named when more than this share of its first attempts failed and a later one succeeded. */
export const TRANSIENT_WARNING_RATE = 0.2;

/**
 * Advice to tighten a timeout far above the task's p99 (more than 4× it and more than 1 s above it),
 * with at least `minSamples` successes and no run where every attempt timed out: p99 × headroom, never
 * below the slowest success nor `timeoutThresholdMs`, and only where that at least halves the limit.
 * A limit that high only costs time when an attempt hangs, so `basic` keeps it; this is for a reader.
 */
export function tighterTimeoutAdvice(
  task: Task,
  metrics: TaskMetrics | undefined,
  defaults: EffectiveDefaults,
  options: ResolvedOptimizeOptions,
): OptimizationChange | null {
  if (!metrics || metrics.successes < options.minSamples || metrics.p99Ms === null || metrics.timeoutOnlyRuns > 0) {
    return null;
  }
  const current = task.timeoutMs ?? defaults.timeoutMs;
  const p99 = metrics.p99Ms;
  if (current <= p99 * TIGHTER_TIMEOUT_FACTOR || current - p99 <= TIGHTER_TIMEOUT_MARGIN_MS) {
    return null;
  }
  const slowest = Math.ceil(metrics.maxSuccessMs ?? 0);
  const to = Math.max(Math.ceil(p99 * options.timeoutHeadroom), slowest, Math.ceil(options.timeoutThresholdMs));
  if (to * 2 > current) {
    return null;
  }
  return {
    taskId: task.id,
    field: "timeoutMs",
    from: current,
    to,
    evidence: { samples: metrics.successes, statistic: "p99Ms", value: round(p99) },
    confidence: sampleConfidence(metrics.successes),
    reason:
      `advice, not applied: the limit ${current} ms is over ${TIGHTER_TIMEOUT_FACTOR}× p99 ${round(p99)} ms ` +
      `(slowest success ${slowest} ms); a hung attempt would wait it out, ${to} ms would do`,
  };
}

/** Warns of a task whose first attempt failed, and a later one succeeded, in more than 20% of its runs. */
export function transientWarning(
  task: Task,
  metrics: TaskMetrics | undefined,
  options: ResolvedOptimizeOptions,
): { warning: string; pattern: FailurePattern } | null {
  if (!metrics || metrics.runs < options.minSamples || metrics.firstAttempts < options.minSamples) {
    return null;
  }
  const rate = metrics.firstAttemptsRecovered / metrics.firstAttempts;
  if (rate <= TRANSIENT_WARNING_RATE) {
    return null;
  }
  return {
    warning:
      `${task.id}: the first attempt failed in ${metrics.firstAttemptsRecovered} of ${metrics.firstAttempts} runs ` +
      `and a later attempt succeeded (transient rate ${round(rate)} > ${TRANSIENT_WARNING_RATE}); ` +
      `retries hide it at the cost of time — make the step more reliable`,
    pattern: {
      taskId: task.id,
      kind: "transient",
      evidence: { samples: metrics.firstAttempts, statistic: "firstAttemptTransientRate", value: round(rate) },
    },
  };
}

/** Every failure warning of the graph's tasks (deterministic, then transient, per task), as text and as data. */
export function failureWarnings(
  tasks: readonly Task[],
  metricsOf: (id: string) => TaskMetrics | undefined,
  options: ResolvedOptimizeOptions,
): { warnings: string[]; patterns: FailurePattern[] } {
  const warnings: string[] = [];
  const patterns: FailurePattern[] = [];
  for (const task of tasks) {
    const metrics = metricsOf(task.id);
    const deterministic = deterministicWarning(task, metrics, options);
    if (deterministic !== null && metrics) {
      warnings.push(deterministic);
      patterns.push({
        taskId: task.id,
        kind: "deterministic",
        evidence: { samples: metrics.runs, statistic: "runsNeverSucceeded", value: metrics.runsNeverSucceeded },
      });
    }
    const transient = transientWarning(task, metrics, options);
    if (transient) {
      warnings.push(transient.warning);
      patterns.push(transient.pattern);
    }
  }
  return { warnings, patterns };
}

/** Cost per run and per task where usage exists; null when no run or attempt spent anything. */
export function costRecommendation(spend: History["spend"]): CostRecommendation | null {
  if (!spend) {
    return null;
  }
  const perRun = spend.perRun && spend.perRun.samplesWithUsage > 0 ? roundSpend(spend.perRun) : null;
  const perTask = Object.fromEntries(
    [...spend.perTask].filter(([, s]) => s.samplesWithUsage > 0).map(([id, s]) => [id, roundSpend(s)]),
  );
  if (perRun === null && Object.keys(perTask).length === 0) {
    return null;
  }
  return { perRun, perTask };
}

/** USD to the stored scale (8 decimals), tokens to 3: interpolation leaves float noise otherwise. */
function roundSpend<T extends { p50Usd: number; p95Usd: number; p50Tokens: number; p95Tokens: number }>(s: T): T {
  const usd = (value: number) => Math.round(value * 1e8) / 1e8;
  return {
    ...s,
    p50Usd: usd(s.p50Usd),
    p95Usd: usd(s.p95Usd),
    p50Tokens: round(s.p50Tokens),
    p95Tokens: round(s.p95Tokens),
  };
}
