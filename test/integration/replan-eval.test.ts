/**
 * The re-planning evaluation on TaskBench dailylife (test/eval/replan-eval.ts), bounded to 10 goals
 * (7 chains, 3 DAGs) on both stores: with re-planning every goal completes after one revision, without
 * none does, no kept task runs twice, and every revision request quotes the failed task's error.
 * `npm run eval:replan` runs all 130 multi-task goals and prints the table.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { evaluateReplanning, multiTaskRecords, type ReplanReport } from "../eval/replan-eval.js";
import { createTestDatabase } from "../helpers/postgres.js";
import { STORES } from "../helpers/stores.js";

const all = multiTaskRecords();
const RECORDS = [
  ...all.filter((r) => r.type !== "dag").filter((_, i) => i % 17 === 0),
  ...all.filter((r) => r.type === "dag").slice(0, 3),
];

describe.each(STORES)("re-planning evaluation on %s (10 TaskBench goals)", (store) => {
  let report: ReplanReport;
  const row = (mode: "replan" | "no replan") => report.rows.find((r) => r.mode === mode)!;
  const goals = (mode: "replan" | "no replan") => report.goals.filter((g) => g.mode === mode);

  beforeAll(async () => {
    if (store === "postgres") {
      const database = await createTestDatabase();
      try {
        report = await evaluateReplanning({ records: RECORDS, store, database: database.url });
      } finally {
        await database.drop();
      }
    } else {
      report = await evaluateReplanning({ records: RECORDS, store });
    }
  }, 60_000);

  it("runs the 10 selected goals, chains and DAGs, each with a task that fails for good", () => {
    expect(RECORDS).toHaveLength(10);
    expect(RECORDS.filter((r) => r.type === "dag")).toHaveLength(3);
    expect(row("replan").goals).toBe(10);
    expect(row("no replan").goals).toBe(10);
    // The failed task is replaced by another catalogue tool.
    expect(goals("replan").every((g) => g.substitute !== g.failedTask)).toBe(true);
  });

  it("completes every goal with re-planning, none without", () => {
    expect(goals("replan").map((g) => g.status)).toEqual(Array(10).fill("completed"));
    expect(goals("no replan").map((g) => g.status)).toEqual(Array(10).fill("failed"));
    expect([row("replan").completedShare, row("no replan").completedShare]).toEqual([1, 0]);
  });

  it("revises each plan once, with one more LLM call, and the decompositions table agrees", () => {
    expect(goals("replan").map((g) => g.revisions)).toEqual(Array(10).fill(1));
    expect(goals("no replan").map((g) => g.revisions)).toEqual(Array(10).fill(0));
    expect([row("replan").revisionsPerGoal, row("replan").llmCallsPerGoal]).toEqual([1, 2]);
    expect(row("no replan").llmCallsPerGoal).toBe(1);
    expect(report.goals.every((g) => g.llmCallsInStore === g.llmCalls)).toBe(true);
  });

  it("never runs a kept task twice: one execution, one completed attempt before the revision", () => {
    expect(row("replan").keptTasks).toBeGreaterThanOrEqual(10);
    expect(goals("replan").every((g) => g.keptTasks.length >= 1)).toBe(true);
    expect(row("replan").keptRanTwice).toBe(0);
    expect(Math.max(...report.goals.map((g) => g.maxExecutionsPerTask))).toBe(1);
  });

  it("quotes the failed task and its error in every revision request, and breaks no promise", () => {
    expect(row("replan").revisionRequestsQuotingError).toBe(10);
    expect(report.violations).toEqual([]);
  });
});
