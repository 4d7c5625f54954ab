import { describe, expect, it } from "vitest";
import { validateGraph } from "../../src/graph/validate.js";
import type { TaskSpec } from "../../src/graph/task-graph.js";
import {
  fitModels,
  hedgeRule,
  modelTimeoutRule,
  restartCutoffMs,
  taskTimeSampler,
} from "../../src/optimizer/aggressive-rules.js";
import { predictiveAllocation } from "../../src/optimizer/allocation.js";
import { AGGRESSIVE_MIN_RUNS, decideOptimization } from "../../src/optimizer/decide.js";
import {
  fitDurationModel,
  sampleDuration,
  seededRandom,
  type DurationModel,
} from "../../src/optimizer/duration-models.js";
import { optimizeOptionsSchema, type EffectiveDefaults } from "../../src/optimizer/types.js";
import type { TaskMetrics } from "../../src/store/metrics.js";

const defaults: EffectiveDefaults = {
  timeoutMs: 1000,
  maxAttempts: 3,
  maxParallel: 2,
  backoff: { kind: "exponential", baseMs: 10, maxMs: 100, jitter: 0 },
};
const options = optimizeOptionsSchema.parse({ level: "aggressive", timeoutThresholdMs: 5 });
const graphOf = (tasks: TaskSpec[]) => validateGraph({ goal: "aggressive", tasks });
const task = (spec: Partial<TaskSpec> = {}) => graphOf([{ id: "t", ...spec }]).tasks[0]!;

function metrics(overrides: Partial<TaskMetrics> = {}): TaskMetrics {
  const runs = overrides.runs ?? 120;
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
    p50Ms: 20,
    p95Ms: 25,
    p99Ms: 28,
    meanMs: 20,
    maxSuccessMs: 30,
    meanQueueWaitMs: 5,
    meanOverheadMs: null,
    timeoutWaitMs: 0,
    ...overrides,
  };
}

/** `n` durations: log-normal around `medianMs`, with a share `slow` of them around `slowMs`. */
function durations(n: number, medianMs: number, slow = 0, slowMs = 0, seed = 7): number[] {
  const random = seededRandom(seed);
  const lognormal = (median: number) => ({
    kind: "lognormal" as const,
    samples: 1,
    bic: 0,
    components: [{ weight: 1, mu: Math.log(median), sigma: 0.1 }],
  });
  return Array.from({ length: n }, (_, i) => sampleDuration(lognormal(i < n * slow ? slowMs : medianMs), random));
}
const modelOf = (values: number[]) => fitDurationModel(values) as DurationModel;

describe("aggressive rules", () => {
  it("fits models only on tasks with at least 20 successes", () => {
    const models = fitModels(
      new Map([
        ["many", durations(40, 20)],
        ["few", durations(10, 20)],
      ]),
      options,
    );
    expect([...models.keys()]).toEqual(["many"]);
  });

  it("sets a hanging task's timeout from the model's q0.999 × 1.25, and never below the slowest success", () => {
    const model = modelOf(durations(200, 20));
    const hangs = metrics({ timeouts: 12, timeoutsRecovered: 12, transientFailures: 12, runsWithTimeout: 12 });
    const change = modelTimeoutRule(task(), hangs, model, defaults, options)!;
    expect(change).toMatchObject({
      field: "timeoutMs",
      from: 1000,
      evidence: { samples: 200, statistic: "lognormal.q0.999Ms" },
    });
    // LogNormal(ln 20, 0.1): q0.999 ≈ 27.3 ms; × 1.25 ≈ 34 ms.
    expect(change.to).toBeGreaterThanOrEqual(32);
    expect(change.to).toBeLessThanOrEqual(37);
    expect(modelTimeoutRule(task(), { ...hangs, maxSuccessMs: 80 }, model, defaults, options)?.to).toBe(80);
  });

  it("never lowers a timeout without hangs, and leaves censored tasks (every attempt timed out) to the basic rule", () => {
    const model = modelOf(durations(200, 20));
    expect(modelTimeoutRule(task(), metrics(), model, defaults, options)).toBeNull();
    const censored = metrics({ timeouts: 8, timeoutOnlyRuns: 4, runsWithTimeout: 4 });
    expect(modelTimeoutRule(task({ timeoutMs: 25 }), censored, model, defaults, options)).toBeNull();
  });

  it("cuts an idempotent task that hangs at the restart cutoff, below its slowest success", () => {
    const model = modelOf(durations(200, 20, 0.05, 60, 5));
    const hangs = metrics({
      attempts: 160,
      timeouts: 24,
      timeoutsRecovered: 24,
      transientFailures: 40,
      runsWithTimeout: 24,
      maxSuccessMs: 75,
    });
    const cutoff = restartCutoffMs(model, hangs, 10);
    // Waiting for the 5% slow mode (~60 ms) costs more than re-running: the cutoff sits in the fast mode's tail.
    expect(cutoff.ms).toBeLessThan(40);
    expect(cutoff.quantile).toBeLessThanOrEqual(0.95);
    const change = modelTimeoutRule(task({ idempotent: true }), hangs, model, defaults, options)!;
    expect(change).toMatchObject({
      from: 1000,
      to: Math.ceil(cutoff.ms),
      evidence: { statistic: "mixture.restartCutoffMs" },
    });
    // Not idempotent: the quantile timeout, never below the slowest success.
    expect(modelTimeoutRule(task(), hangs, model, defaults, options)!.to).toBeGreaterThanOrEqual(75);
  });

  it("weighs the backoff the task will run with: a cheap retry moves the cutoff down", () => {
    const model = modelOf(durations(200, 20, 0.05, 60, 5));
    const hangs = metrics({
      attempts: 160,
      timeouts: 24,
      timeoutsRecovered: 24,
      transientFailures: 40,
      runsWithTimeout: 24,
    });
    expect(restartCutoffMs(model, hangs, 10).ms).toBeLessThan(restartCutoffMs(model, hangs, 5000).ms);
  });

  it("raises the timeout of a bimodal task to the slow mode's tail", () => {
    const model = modelOf(durations(200, 20, 0.1, 300));
    expect(model.kind).toBe("mixture");
    const change = modelTimeoutRule(
      task({ timeoutMs: 100 }),
      metrics({ p99Ms: 330, maxSuccessMs: 340 }),
      model,
      defaults,
      options,
    )!;
    expect(change.to).toBeGreaterThan(400);
    expect(change.reason).toMatch(/two-mode log-normal mixture/);
  });

  it("hedges only idempotent tasks with a heavy tail", () => {
    const heavy = modelOf(durations(300, 20, 0.1, 300));
    const hedge = hedgeRule(task({ idempotent: true }), heavy, options)!;
    expect(hedge).toMatchObject({ field: "hedgeAfterMs", from: null, evidence: { statistic: "modelP99/P50" } });
    expect(hedge.to).toBeGreaterThan(20);
    expect(hedge.to).toBeLessThan(400);
    expect(hedgeRule(task(), heavy, options)).toBeNull();
    expect(hedgeRule(task({ idempotent: true }), modelOf(durations(300, 20)), options)).toBeNull();
  });

  it("draws a task's settle time with its failures, timeouts and backoff", () => {
    const graph = graphOf([{ id: "t", timeoutMs: 50, maxAttempts: 2 }]);
    const hangs = metrics({ attempts: 100, transientFailures: 100, timeoutsRecovered: 100, p50Ms: 20 });
    const sample = taskTimeSampler(graph.tasks, () => hangs, new Map(), defaults);
    // Every attempt hangs: 50 ms, 10 ms backoff, 50 ms.
    expect(sample("t", seededRandom(1))).toBe(110);
    expect(taskTimeSampler(graph.tasks, () => metrics(), new Map(), defaults)("t", seededRandom(1))).toBe(20);
  });
});

describe("predictive allocation", () => {
  const wide = graphOf([
    { id: "root" },
    ...Array.from({ length: 8 }, (_, i) => ({ id: `w${i}`, dependsOn: ["root"], queue: "io" })),
  ]);
  const models = new Map(wide.tasks.map((t) => [t.id, modelOf(durations(50, 20))]));
  const input = {
    tasks: wide.tasks,
    metricsOf: (id: string) => metrics({ key: id }),
    models,
    defaults,
    maxParallel: 2,
    options,
  };

  it("raises maxParallel and a limited queue to the predicted peak demand, and predicts the makespan", () => {
    const result = predictiveAllocation({ ...input, queueLimits: { io: 3, other: 1 } });
    expect(result.changes.map((c) => [c.field, c.queue ?? null, c.from, c.to])).toEqual([
      ["maxParallel", null, 2, 8],
      ["queueLimit", "io", 3, 8],
    ]);
    expect(result.changes[0]!.evidence).toMatchObject({ samples: 50, statistic: "predictedPeakDemandP95", value: 8 });
    // root then one wave of eight: about 2 × 20 ms.
    expect(result.prediction!.makespanP50Ms).toBeGreaterThan(35);
    expect(result.prediction!.makespanP50Ms).toBeLessThan(50);
  });

  it("leaves unlimited queues alone, never lowers a limit, and says so without models", () => {
    expect(predictiveAllocation({ ...input, maxParallel: 20, queueLimits: { io: null } }).changes).toEqual([]);
    expect(predictiveAllocation({ ...input, models: new Map(), queueLimits: {} }).note).toMatch(
      /needs at least one task with a duration model/,
    );
  });
});

describe("decideOptimization at aggressive", () => {
  const graph = graphOf([{ id: "a" }, { id: "b", dependsOn: ["a"], idempotent: true }, { id: "c", dependsOn: ["a"] }]);
  const tasks = ["a", "b", "c"].map((id) => metrics({ key: id, meanQueueWaitMs: 100 }));
  const history = (runs: number) => ({
    runs,
    tasks,
    queueLimits: {},
    durations: new Map([
      ["a", durations(120, 20)],
      ["b", durations(120, 20, 0.1, 300, 9)],
      ["c", durations(120, 20, 0, 0, 11)],
    ]),
  });

  it("falls back to advanced below 100 runs and says how many it found", () => {
    const result = decideOptimization(graph, history(AGGRESSIVE_MIN_RUNS - 1), defaults, options);
    expect(result.notes).toEqual([
      "aggressive needs ≥ 100 finished runs of the workflow, found 99: fell back to advanced",
    ]);
    expect(result.models).toBeUndefined();
    expect(result.prediction).toBeUndefined();
  });

  it("with 100 runs: models, a hedge applied to the task, predicted demand and makespan", () => {
    const result = decideOptimization(graph, history(AGGRESSIVE_MIN_RUNS), defaults, { ...options, maxParallel: 1 });
    expect(result.notes).toEqual([]);
    expect(Object.keys(result.models!)).toEqual(["a", "b", "c"]);
    expect(result.models!.b!.kind).toBe("mixture");
    expect(result.hedges?.b).toBeGreaterThan(0);
    expect(result.changes.map((c) => `${c.taskId}.${c.field}`)).toContain("b.hedgeAfterMs");
    expect(result.graph.tasks.find((t) => t.id === "b")!.hedgeAfterMs).toBe(result.hedges!.b);
    expect(result.changes.find((c) => c.field === "maxParallel")).toMatchObject({
      from: 1,
      to: 2,
      evidence: { statistic: "predictedPeakDemandP95" },
    });
    expect(result.maxParallel).toBe(2);
    expect(result.prediction!.trials).toBe(400);
    expect(result.graph.tasks.map((t) => t.dependsOn)).toEqual(graph.tasks.map((t) => t.dependsOn));
  });
});
