/**
 * The `aggressive` decision rules, pure over plain data: timeouts from a fitted duration model's
 * quantile, hedging thresholds for idempotent stragglers, and limits sized on the concurrent demand
 * a Monte Carlo schedule of the models predicts.
 */
import { backoffDelayMs } from "../composer/backoff.js";
import type { Task } from "../graph/task-graph.js";
import type { TaskMetrics } from "../store/metrics.js";
import { round } from "./basic-rules.js";
import {
  fitDurationModel,
  modelMean,
  modelQuantile,
  sampleDuration,
  seededRandom,
  type DurationModel,
} from "./duration-models.js";
import { sampleConfidence } from "./statistics.js";
import type { DurationModelSummary, EffectiveDefaults, OptimizationChange, ResolvedOptimizeOptions } from "./types.js";

/** Fewest successes a duration model is fitted on (a tail quantile from fewer is a guess). */
export const MODEL_MIN_SAMPLES = 20;
/** Heavier tails than this (p99 / p50 of the model) are worth hedging. */
const HEDGE_TAIL_RATIO = 2;
/** A hedge must save at least this share of the mean duration. */
const HEDGE_MIN_SAVING = 0.05;

/** Models of tasks with at least max(minSamples, 20) successful durations. */
export function fitModels(
  durations: ReadonlyMap<string, readonly number[]>,
  options: ResolvedOptimizeOptions,
): Map<string, DurationModel> {
  const models = new Map<string, DurationModel>();
  for (const [taskId, samples] of durations) {
    if (samples.length < Math.max(options.minSamples, MODEL_MIN_SAMPLES)) {
      continue;
    }
    const model = fitDurationModel(samples);
    if (model) {
      models.set(taskId, model);
    }
  }
  return models;
}

/** A model as reported in results and evidence. */
export function summarizeModel(model: DurationModel): DurationModelSummary {
  const q = (p: number) => round(modelQuantile(model, p));
  return {
    kind: model.kind,
    samples: model.samples,
    p50Ms: q(0.5),
    p95Ms: q(0.95),
    p99Ms: q(0.99),
    p999Ms: q(0.999),
    components: model.components.map((c) => ({ weight: round(c.weight), mu: round(c.mu), sigma: round(c.sigma) })),
  };
}

/**
 * Timeout from the model: its `timeoutQuantile` × `modelHeadroom`, never below the slowest success.
 * Raised whenever that exceeds the limit; lowered only where attempts hung and a retry fixed them.
 * An idempotent task that hangs may be cut earlier: at the restart cutoff (see `restartCutoffMs`),
 * below its slowest success, since a re-run is safe and beats waiting out a hang. Its backoff is
 * the task's as it will run (after the backoff rule, when that applies).
 * Where every attempt timed out in some runs the successes understate the duration (censored): the
 * basic rule, which at least doubles the limit, decides instead (returns null here).
 */
export function modelTimeoutRule(
  task: Task,
  metrics: TaskMetrics | undefined,
  model: DurationModel | undefined,
  defaults: EffectiveDefaults,
  options: ResolvedOptimizeOptions,
): OptimizationChange | null {
  if (!metrics || !model || metrics.p99Ms === null || metrics.p99Ms < options.timeoutThresholdMs) {
    return null;
  }
  if (metrics.timeoutOnlyRuns >= 2 && metrics.timeoutOnlyRuns * 2 >= metrics.runsWithTimeout) {
    return null;
  }
  const current = task.timeoutMs ?? defaults.timeoutMs;
  const hangs = metrics.timeoutsRecovered > 0;
  const cutoff =
    hangs && task.idempotent === true
      ? restartCutoffMs(model, metrics, { ...defaults.backoff, ...task.backoff }.baseMs)
      : null;
  const quantile = cutoff?.ms ?? modelQuantile(model, options.timeoutQuantile);
  const floor = cutoff ? 0 : Math.ceil(metrics.maxSuccessMs ?? 0);
  // The cutoff is already the optimum under the model (its spread included): no headroom on top.
  const to = Math.min(86_400_000, Math.max(Math.ceil(quantile * (cutoff ? 1 : options.modelHeadroom)), floor));
  const statistic = cutoff ? `${model.kind}.restartCutoffMs` : `${model.kind}.q${options.timeoutQuantile}Ms`;
  const evidence = { samples: model.samples, statistic, value: round(quantile) };
  const confidence = sampleConfidence(model.samples);
  const fit =
    model.kind === "mixture"
      ? `a two-mode log-normal mixture (slow mode ${round(model.components[1]!.weight * 100)}% of runs)`
      : "a log-normal";
  const at = cutoff
    ? `the restart cutoff at ${round(quantile)} ms (q${round(cutoff.quantile)}: an idempotent task that hangs is re-run rather than waited for)`
    : `q${options.timeoutQuantile} at ${round(quantile)} ms`;
  if (to > current) {
    return {
      taskId: task.id,
      field: "timeoutMs",
      from: current,
      to,
      evidence,
      confidence,
      reason: `${fit} fit on ${model.samples} successes puts ${at}${cutoff ? "" : `; × ${options.modelHeadroom}`} exceeds the timeout`,
    };
  }
  if (hangs && to < current) {
    return {
      taskId: task.id,
      field: "timeoutMs",
      from: current,
      to,
      evidence,
      confidence: confidence * 0.97,
      reason:
        `${fit} fit on ${model.samples} successes puts ${at}; ` +
        `${metrics.timeoutsRecovered} timeout(s) were hangs a retry fixed, so waiting longer than ${to} ms only wastes time`,
    };
  }
  return null;
}

/**
 * The timeout that minimises the expected time to a success when attempts are re-run (independent
 * attempts: a share h hangs, a share f throws, the rest take a model draw T): for a cutoff c, an
 * attempt costs E[min(T, c)] (c for a hang) and succeeds with probability (1 − h − f)·P(T ≤ c);
 * each failure adds the backoff. Searched over the model's quantiles 0.9–0.999.
 */
export function restartCutoffMs(
  model: DurationModel,
  metrics: TaskMetrics,
  backoffMs: number,
): { ms: number; quantile: number } {
  const attempts = Math.max(1, metrics.attempts);
  const hang = metrics.timeoutsRecovered / attempts;
  const thrown = Math.max(0, metrics.transientFailures - metrics.timeoutsRecovered) / attempts;
  const random = seededRandom(model.samples * 104_729);
  const draws = Array.from({ length: 4000 }, () => sampleDuration(model, random)).sort((a, b) => a - b);
  let best = { ms: modelQuantile(model, 0.999), quantile: 0.999, expected: Infinity };
  for (const quantile of [0.9, 0.925, 0.95, 0.96, 0.97, 0.98, 0.99, 0.995, 0.999]) {
    const c = modelQuantile(model, quantile);
    const within = draws.filter((d) => d <= c);
    const meanCut = (within.reduce((sum, d) => sum + d, 0) + (draws.length - within.length) * c) / draws.length;
    const success = (1 - hang - thrown) * (within.length / draws.length);
    if (success <= 0) {
      continue;
    }
    const perAttempt = hang * c + (1 - hang) * meanCut + (1 - success) * backoffMs;
    const expected = perAttempt / success;
    if (expected < best.expected) {
      best = { ms: c, quantile, expected };
    }
  }
  return { ms: best.ms, quantile: best.quantile };
}

/**
 * Hedged re-runs for stragglers of idempotent tasks with a heavy tail (model p99 ≥ 2 × p50): start a
 * second attempt once the first runs past a threshold, first to finish wins. The threshold is the
 * model quantile, from `hedgeQuantile` up (so at most 1 − hedgeQuantile of attempts get a second
 * one), that saves the most time if attempt times are independent (estimated by simulation); kept
 * only if it saves ≥ 5% of the mean.
 */
export function hedgeRule(
  task: Task,
  model: DurationModel | undefined,
  options: ResolvedOptimizeOptions,
): OptimizationChange | null {
  if (!model || task.idempotent !== true) {
    return null;
  }
  const p50 = modelQuantile(model, 0.5);
  const tail = modelQuantile(model, 0.99) / p50;
  if (tail < HEDGE_TAIL_RATIO) {
    return null;
  }
  const random = seededRandom(model.samples * 7919);
  const draws = Array.from(
    { length: 4000 },
    () => [sampleDuration(model, random), sampleDuration(model, random)] as const,
  );
  const plain = draws.reduce((sum, [first]) => sum + first, 0) / draws.length;
  let best: { quantile: number; afterMs: number; saving: number } | null = null;
  for (let quantile = options.hedgeQuantile; quantile < 0.995; quantile += 0.01) {
    const afterMs = Math.ceil(modelQuantile(model, quantile));
    const hedged =
      draws.reduce((sum, [first, second]) => sum + (first <= afterMs ? first : Math.min(first, afterMs + second)), 0) /
      draws.length;
    if (!best || plain - hedged > best.saving) {
      best = { quantile, afterMs, saving: plain - hedged };
    }
  }
  if (!best || best.saving < HEDGE_MIN_SAVING * modelMean(model)) {
    return null;
  }
  return {
    taskId: task.id,
    field: "hedgeAfterMs",
    from: null,
    to: best.afterMs,
    confidence: sampleConfidence(model.samples),
    reason:
      `idempotent, with a heavy tail (model p99 is ${round(tail)} × p50): a second attempt after ${best.afterMs} ms ` +
      `(q${round(best.quantile)}) saves ${round(best.saving)} ms of ${round(plain)} per attempt on average if attempt times are independent`,
    evidence: { samples: model.samples, statistic: "modelP99/P50", value: round(tail) },
  };
}

/**
 * Draws the time a task takes to settle in a simulated run: attempts fail at the observed transient
 * rate (a hang costs the timeout, a thrown failure a normal duration), each failure followed by its
 * backoff; a success takes a model draw (or p50 without a model), cut at the timeout.
 */
export function taskTimeSampler(
  tasks: readonly Task[],
  metricsOf: (id: string) => TaskMetrics | undefined,
  models: ReadonlyMap<string, DurationModel>,
  defaults: EffectiveDefaults,
  overrunMs = 0,
) {
  const byId = new Map(tasks.map((t) => [t.id, t]));
  return (taskId: string, random: () => number): number => {
    const task = byId.get(taskId);
    const metrics = metricsOf(taskId);
    if (!task || !metrics) {
      return 0;
    }
    const model = models.get(taskId);
    // Models are of step time; p50 is claim to settle, which already holds the overrun.
    const draw = () => (model ? sampleDuration(model, random) : Math.max(0, (metrics.p50Ms ?? 0) - overrunMs));
    const timeout = task.timeoutMs ?? defaults.timeoutMs;
    const attempts = task.maxAttempts ?? defaults.maxAttempts;
    const backoff = { ...defaults.backoff, ...task.backoff };
    const recoverable = Math.max(1, metrics.attempts - metrics.deterministicFailures);
    const failRate = metrics.transientFailures / recoverable;
    const hangShare = metrics.transientFailures === 0 ? 0 : metrics.timeoutsRecovered / metrics.transientFailures;
    let elapsed = 0;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const failed = random() < failRate;
      const duration = failed && random() < hangShare ? timeout : Math.min(draw(), timeout);
      elapsed += duration + overrunMs;
      if (!failed && duration < timeout) {
        return elapsed;
      }
      if (attempt < attempts) {
        elapsed += backoffDelayMs(backoff, attempt, random);
      }
    }
    return elapsed;
  };
}
