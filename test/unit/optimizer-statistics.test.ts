import { describe, expect, it } from "vitest";
import {
  attemptsForTarget,
  failuresCluster,
  mean,
  percentile,
  sampleConfidence,
  summarizeDurations,
  wilsonUpper,
} from "../../src/optimizer/statistics.js";

describe("optimizer statistics", () => {
  it("interpolates percentiles like percentile_cont", () => {
    expect(percentile([10, 20, 30, 40], 0.5)).toBe(25);
    expect(percentile([40, 10, 30, 20], 0.99)).toBeCloseTo(39.7, 6);
    expect(percentile([7], 0.95)).toBe(7);
    expect(percentile([], 0.5)).toBeNull();
  });

  it("keeps the slow mode of a bimodal distribution in p99 while p50 stays in the fast one", () => {
    const durations = [...Array.from({ length: 90 }, () => 10), ...Array.from({ length: 10 }, () => 500)];
    const summary = summarizeDurations(durations);
    expect(summary.p50Ms).toBe(10);
    expect(summary.p99Ms).toBe(500);
    expect(summary.meanMs).toBe(59);
    expect(summary.maxMs).toBe(500);
    expect(summary.samples).toBe(100);
  });

  it("summarises an empty sample as nulls", () => {
    expect(summarizeDurations([])).toEqual({
      samples: 0,
      p50Ms: null,
      p95Ms: null,
      p99Ms: null,
      meanMs: null,
      maxMs: null,
    });
    expect(mean([])).toBeNull();
  });

  it("grows confidence with the sample size, capped at 0.99", () => {
    expect(sampleConfidence(0)).toBe(0);
    expect(sampleConfidence(4)).toBeCloseTo(0.8, 6);
    expect(sampleConfidence(9)).toBeCloseTo(0.9, 6);
    expect(sampleConfidence(1000)).toBe(0.99);
  });

  it("finds the attempts that make independent failures rare", () => {
    expect(attemptsForTarget(0.3)).toBe(6); // 0.3^6 = 0.000729
    expect(attemptsForTarget(0.5)).toBe(10);
    expect(attemptsForTarget(0)).toBe(1);
    expect(attemptsForTarget(1)).toBe(Number.POSITIVE_INFINITY);
  });

  it("tells clustered failures from independent ones", () => {
    expect(failuresCluster(0.3, 0.3)).toBe(false);
    expect(failuresCluster(0.1, 0.8)).toBe(true);
    expect(failuresCluster(0, 0.02)).toBe(false);
  });

  it("bounds a rate from above, more widely for small samples", () => {
    expect(wilsonUpper(6, 26)).toBeCloseTo(0.388, 3);
    expect(wilsonUpper(30, 100)).toBeCloseTo(0.38, 3);
    expect(wilsonUpper(0, 10)).toBeCloseTo(0.213, 3);
    expect(wilsonUpper(5, 5)).toBeCloseTo(1, 9);
    expect(wilsonUpper(0, 0)).toBe(1);
  });
});
