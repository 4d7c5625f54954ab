import { describe, expect, it } from "vitest";
import { validateGraph } from "../../src/graph/validate.js";
import {
  fitDurationModel,
  fitLogNormal,
  inverseNormalCdf,
  modelCdf,
  modelMean,
  modelQuantile,
  normalCdf,
  sampleDuration,
  seededRandom,
} from "../../src/optimizer/duration-models.js";
import { simulateSchedule, trialsFor } from "../../src/optimizer/simulate.js";

/** `n` log-normal durations with median `medianMs` and log-sd `sigma`, drawn with a fixed seed. */
function logNormalSample(n: number, medianMs: number, sigma: number, seed = 1): number[] {
  const random = seededRandom(seed);
  return Array.from({ length: n }, () =>
    sampleDuration(
      { kind: "lognormal", samples: n, bic: 0, components: [{ weight: 1, mu: Math.log(medianMs), sigma }] },
      random,
    ),
  );
}

describe("duration models", () => {
  it("inverts the normal CDF", () => {
    expect(inverseNormalCdf(0.5)).toBeCloseTo(0, 9);
    expect(inverseNormalCdf(0.975)).toBeCloseTo(1.959964, 5);
    expect(inverseNormalCdf(0.001)).toBeCloseTo(-3.090232, 5);
    expect(normalCdf(1.959964)).toBeCloseTo(0.975, 6);
    expect(normalCdf(-1)).toBeCloseTo(0.158655, 6);
  });

  it("fits a log-normal: median and spread recovered from 2000 samples", () => {
    const model = fitLogNormal(logNormalSample(2000, 100, 0.5));
    expect(model.kind).toBe("lognormal");
    expect(Math.exp(model.components[0]!.mu)).toBeCloseTo(100, -1);
    expect(model.components[0]!.sigma).toBeCloseTo(0.5, 1);
    // q0.999 of LogNormal(ln 100, 0.5) is 100·e^(0.5·3.09) ≈ 469 ms.
    expect(modelQuantile(model, 0.999)).toBeGreaterThan(420);
    expect(modelQuantile(model, 0.999)).toBeLessThan(520);
    expect(modelCdf(model, modelQuantile(model, 0.9))).toBeCloseTo(0.9, 6);
  });

  it("keeps a log-normal for a unimodal sample and for small samples", () => {
    expect(fitDurationModel(logNormalSample(500, 50, 0.3))?.kind).toBe("lognormal");
    const bimodalButSmall = [...logNormalSample(12, 10, 0.1), ...logNormalSample(5, 400, 0.1, 2)];
    expect(fitDurationModel(bimodalButSmall)?.kind).toBe("lognormal");
    expect(fitDurationModel([])).toBeNull();
  });

  it("fits a mixture to bimodal durations: both modes and their shares, and a tail quantile in the slow mode", () => {
    const durations = [...logNormalSample(180, 20, 0.1, 3), ...logNormalSample(20, 300, 0.1, 4)];
    const model = fitDurationModel(durations)!;
    expect(model.kind).toBe("mixture");
    const [fast, slow] = model.components;
    expect(fast!.weight).toBeCloseTo(0.9, 2);
    expect(Math.exp(fast!.mu)).toBeCloseTo(20, 0);
    expect(Math.exp(slow!.mu)).toBeGreaterThan(270);
    expect(Math.exp(slow!.mu)).toBeLessThan(330);
    expect(modelQuantile(model, 0.5)).toBeLessThan(25);
    expect(modelQuantile(model, 0.999)).toBeGreaterThan(300);
    // The single log-normal would put p50 between the modes' and smear the tail: the mixture keeps the mean.
    expect(modelMean(model)).toBeCloseTo(durations.reduce((s, d) => s + d, 0) / durations.length, -1);
  });

  it("takes a constant sample as a narrow distribution, not a degenerate one", () => {
    const model = fitDurationModel(Array.from({ length: 30 }, () => 40))!;
    expect(model.components[0]!.sigma).toBe(0.01);
    expect(modelQuantile(model, 0.999)).toBeCloseTo(41.3, 0);
  });
});

describe("schedule simulation", () => {
  const graph = validateGraph({
    goal: "sim",
    tasks: [
      { id: "a" },
      { id: "b", dependsOn: ["a"] },
      { id: "c", dependsOn: ["a"] },
      { id: "d", dependsOn: ["a"] },
      { id: "e", dependsOn: ["b", "c", "d"] },
    ],
  });
  const fixed = (ms: Record<string, number>) => (id: string) => ms[id] ?? 0;

  it("gives the critical path with unlimited slots and the peak demand of the widest stage", () => {
    const result = simulateSchedule({
      tasks: graph.tasks,
      sample: fixed({ a: 10, b: 30, c: 20, d: 20, e: 5 }),
      maxParallel: Infinity,
      trials: 3,
      random: seededRandom(1),
    });
    expect(result).toMatchObject({
      makespanP50Ms: 45,
      makespanP95Ms: 45,
      peakDemandP95: 3,
      queuePeakDemandP95: { default: 3 },
    });
  });

  it("queues tasks beyond maxParallel, highest priority first", () => {
    const result = simulateSchedule({
      tasks: graph.tasks,
      sample: fixed({ a: 10, b: 30, c: 20, d: 20, e: 5 }),
      maxParallel: 1,
      trials: 1,
      random: seededRandom(1),
    });
    expect(result.makespanP50Ms).toBe(85);
    expect(result.peakDemandP95).toBe(1);
  });

  it("lets composites take no time and no slot", () => {
    const nested = validateGraph({
      goal: "nested",
      tasks: [{ id: "p" }, { id: "x", parentId: "p" }, { id: "y", parentId: "p" }, { id: "z", dependsOn: ["p"] }],
    });
    const result = simulateSchedule({
      tasks: nested.tasks,
      sample: fixed({ x: 10, y: 20, z: 5, p: 999 }),
      maxParallel: Infinity,
      trials: 1,
      random: seededRandom(1),
    });
    expect(result).toMatchObject({ makespanP50Ms: 25, peakDemandP95: 2 });
  });

  it("bounds the trials by the graph's size", () => {
    expect(trialsFor(10)).toBe(400);
    expect(trialsFor(5000)).toBe(40);
    expect(trialsFor(100_000)).toBe(20);
  });
});
