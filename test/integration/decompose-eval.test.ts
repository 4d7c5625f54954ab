/**
 * The decomposer evaluation on TaskBench dailylife (dev split), through the real SDKs and the local
 * test server (see test/eval/decompose-eval.ts; `npx tsx test/eval/decompose-eval.ts` prints the table).
 */
import { beforeAll, describe, expect, it } from "vitest";
import { evaluateDecomposers, type EvalReport } from "../eval/decompose-eval.js";

describe("TaskBench dailylife evaluation", () => {
  let report: EvalReport;
  const row = (group: string) => report.rows.find((r) => r.group === group)!;

  beforeAll(async () => void (report = await evaluateDecomposers()), 120_000);

  it("runs every record through both providers, gold and perturbed", () => {
    expect(row("gold").goals).toBe(408);
    expect(row("perturbed: all").goals).toBe(408);
  });

  it("gold plans: 100% valid with one call each, node and edge F1 = 1.0", () => {
    expect(row("gold")).toMatchObject({
      parsed: 1,
      schemaValid: 1,
      graphValid: 1,
      validFinal: 1,
      nodeF1: 1,
      edgeF1: 1,
      callsPerGoal: 1,
    });
  });

  it("perturbed plans: all valid after repair, at most 1.5 calls per goal, F1 unharmed", () => {
    const all = row("perturbed: all");
    expect(all.validFinal).toBe(1);
    expect(all.callsPerGoal).toBeCloseTo(1.31, 2);
    expect([all.nodeF1, all.edgeF1]).toEqual([1, 1]);
    // Fences, renamed ids and near-miss tools are repaired locally; a dangling dependency always needs a re-ask.
    expect(
      ["fences", "renamed_ids", "near_miss_tool"].map((p) => row(`perturbed: ${p}`).validAfterLocalRepair),
    ).toEqual([1, 1, 1]);
    expect(row("perturbed: missing_dependency")).toMatchObject({
      validAfterLocalRepair: 0,
      validFinal: 1,
      callsPerGoal: 2,
    });
    expect(row("perturbed: near_miss_tool").schemaValid).toBe(0);
  });

  it("plans with tools outside the catalogue end in a DecompositionError, save one near-miss name", () => {
    expect(report.rejected).toMatchObject({ goals: 46, failedWithError: 44 });
    expect(new Set(report.rejected.repairedToCatalogue)).toEqual(
      new Set(['tasks[3].step: mapped unknown step "share_via_social_network" to "share_by_social_network"']),
    );
  });

  it("the dailylife rules file covers 62 of 204 goals, each with the gold graph", () => {
    expect(report.rules).toMatchObject({ goals: 204, covered: 62, nodeF1: 1, edgeF1: 1 });
  });
});
