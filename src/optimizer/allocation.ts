/**
 * Predictive allocation (`aggressive`), pure: simulate the tuned graph from the duration models,
 * size maxParallel and the limits of its named queues on the predicted peak concurrent demand, and
 * predict the makespan under the resulting limit.
 */
import type { Task } from "../graph/task-graph.js";
import type { TaskMetrics } from "../store/metrics.js";
import { taskTimeSampler } from "./aggressive-rules.js";
import { round } from "./basic-rules.js";
import { seededRandom, type DurationModel } from "./duration-models.js";
import { simulateSchedule, trialsFor } from "./simulate.js";
import { sampleConfidence } from "./statistics.js";
import type { EffectiveDefaults, MakespanPrediction, OptimizationChange, ResolvedOptimizeOptions } from "./types.js";

/** What predictive allocation needs besides the graph. */
export interface AllocationInput {
  tasks: readonly Task[];
  metricsOf(id: string): TaskMetrics | undefined;
  models: ReadonlyMap<string, DurationModel>;
  defaults: EffectiveDefaults;
  /** The run's maxParallel before this rule. */
  maxParallel: number;
  /** Current cluster-wide limits of queues (null: no limit). */
  queueLimits: Readonly<Record<string, number | null>>;
  options: ResolvedOptimizeOptions;
  /** Claim and settle time around each attempt, in ms (models describe the step alone). @default 0 */
  overrunMs?: number;
}

/**
 * Raises maxParallel (and the limit of any named queue of the graph that has one) to the 95th
 * percentile of the peak concurrent demand predicted with unlimited slots, then predicts the
 * makespan under the new limit. Tasks without a model take their p50 (a task with no history, 0);
 * with no model at all it only returns a note. Limits are only raised: a lower one would not shorten this run.
 */
export function predictiveAllocation(input: AllocationInput): {
  changes: OptimizationChange[];
  prediction?: MakespanPrediction;
  note?: string;
} {
  const composite = new Set(input.tasks.flatMap((t) => (t.parentId ? [t.parentId] : [])));
  const atomic = input.tasks.filter((t) => !composite.has(t.id));
  if (input.models.size === 0) {
    return { changes: [], note: "predictive allocation needs at least one task with a duration model" };
  }
  const sample = taskTimeSampler(input.tasks, input.metricsOf, input.models, input.defaults, input.overrunMs ?? 0);
  const trials = trialsFor(input.tasks.length);
  const demand = simulateSchedule({
    tasks: input.tasks,
    sample,
    maxParallel: Infinity,
    trials,
    random: seededRandom(trials),
  });
  const samples = Math.min(...[...input.models.values()].map((m) => m.samples));
  const confidence = sampleConfidence(samples);
  const changes: OptimizationChange[] = [];
  const peak = Math.min(10_000, demand.peakDemandP95);
  if (peak > input.maxParallel) {
    changes.push({
      field: "maxParallel",
      from: input.maxParallel,
      to: peak,
      confidence,
      reason:
        `a ${trials}-trial simulation of the duration models predicts up to ${peak} tasks ready at once (p95 of the peak); ` +
        `with ${input.maxParallel} slots the rest would queue`,
      evidence: { samples, statistic: "predictedPeakDemandP95", value: peak },
    });
  }
  for (const [queue, limit] of Object.entries(input.queueLimits)) {
    const wanted = demand.queuePeakDemandP95[queue];
    if (limit === null || wanted === undefined || wanted <= limit || !atomic.some((t) => t.queue === queue)) {
      continue;
    }
    changes.push({
      field: "queueLimit",
      queue,
      from: limit,
      to: Math.min(10_000, wanted),
      confidence,
      reason: `the simulation predicts up to ${wanted} tasks of queue ${queue} ready at once (p95); its cluster-wide limit is ${limit}`,
      evidence: { samples, statistic: "predictedQueuePeakDemandP95", value: wanted },
    });
  }
  const slots = Math.max(input.maxParallel, peak);
  const run = simulateSchedule({
    tasks: input.tasks,
    sample,
    maxParallel: slots,
    trials,
    random: seededRandom(trials + 1),
  });
  return {
    changes,
    prediction: {
      trials,
      makespanP50Ms: round(run.makespanP50Ms),
      makespanP95Ms: round(run.makespanP95Ms),
      peakDemand: peak,
    },
  };
}
