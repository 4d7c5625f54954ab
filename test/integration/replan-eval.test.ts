/**
 * The re-planning evaluation on TaskBench dailylife (test/eval/replan-eval.ts), bounded to 10 goals
 * (7 chains, 3 DAGs) on Postgres and 4 of them on PGlite: with re-planning every goal completes after
 * one revision, without none does, no kept task runs twice, and every revision request quotes the
 * failed task's error.
 * `npm run eval:replan` runs all 130 multi-task goals and prints the table.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { evaluateReplanning, multiTaskRecords, type ReplanReport } from "../eval/replan-eval.js";
import { createTestDatabase } from "../helpers/postgres.js";
import type { StoreKind } from "../helpers/stores.js";
import { SUBSTITUTES } from "../eval/substitutes.js";
import { loadCatalogue, type TaskBenchRecord } from "../eval/taskbench.js";

const all = multiTaskRecords();
const RECORDS = [
  ...all.filter((r) => r.type !== "dag").filter((_, i) => i % 17 === 0),
  ...all.filter((r) => r.type === "dag").slice(0, 3),
];

it("gives every catalogue tool a substitute: another catalogue tool, with each of its arguments filled", () => {
  const catalogue = loadCatalogue();
  const required = new Map(
    catalogue.map((entry) => [entry.name, (entry.inputSchema as { required?: string[] } | undefined)?.required ?? []]),
  );
  expect(Object.keys(SUBSTITUTES).sort()).toEqual([...required.keys()].sort());
  for (const [tool, substitute] of Object.entries(SUBSTITUTES)) {
    expect(substitute.tool).not.toBe(tool);
    expect(required.has(substitute.tool)).toBe(true);
    const input = substitute.input({ date: "2023-05-15", location: "Paris", content: "hello", title: "Up" });
    expect(Object.keys(input).sort()).toEqual([...required.get(substitute.tool)!].sort());
  }
});

/** PGlite runs slower: a subset of the subset (2 chains, 2 DAGs) keeps the file bounded. */
const CASES: [StoreKind, TaskBenchRecord[]][] = [
  ["postgres", RECORDS],
  ["pglite", [...RECORDS.slice(0, 2), ...RECORDS.slice(-2)]],
];

describe.each(CASES)("re-planning evaluation on %s (TaskBench goals)", (store, records) => {
  let report: ReplanReport;
  const row = (mode: "replan" | "no replan") => report.rows.find((r) => r.mode === mode)!;
  const goals = (mode: "replan" | "no replan") => report.goals.filter((g) => g.mode === mode);
  const n = records.length;

  beforeAll(async () => {
    if (store === "postgres") {
      const database = await createTestDatabase();
      try {
        report = await evaluateReplanning({ records, store, database: database.url });
      } finally {
        await database.drop();
      }
    } else {
      report = await evaluateReplanning({ records, store });
    }
  }, 60_000);

  it("runs the selected goals, chains and DAGs, each with a task that fails for good", () => {
    expect(RECORDS).toHaveLength(10);
    expect(RECORDS.filter((r) => r.type === "dag")).toHaveLength(3);
    expect(records.some((r) => r.type === "dag")).toBe(true);
    expect([row("replan").goals, row("no replan").goals]).toEqual([n, n]);
    // The failed task is replaced by another catalogue tool.
    expect(goals("replan").every((g) => g.substitute !== g.failedTask)).toBe(true);
  });

  it("completes every goal with re-planning, none without", () => {
    expect(goals("replan").map((g) => g.status)).toEqual(Array(n).fill("completed"));
    expect(goals("no replan").map((g) => g.status)).toEqual(Array(n).fill("failed"));
    expect([row("replan").completedShare, row("no replan").completedShare]).toEqual([1, 0]);
  });

  it("revises each plan once, with one more LLM call, and the decompositions table agrees", () => {
    expect(goals("replan").map((g) => g.revisions)).toEqual(Array(n).fill(1));
    expect(goals("no replan").map((g) => g.revisions)).toEqual(Array(n).fill(0));
    expect([row("replan").revisionsPerGoal, row("replan").llmCallsPerGoal]).toEqual([1, 2]);
    expect(row("no replan").llmCallsPerGoal).toBe(1);
    expect(report.goals.every((g) => g.llmCallsInStore === g.llmCalls)).toBe(true);
  });

  it("never runs a kept task twice: one execution, one completed attempt before the revision", () => {
    expect(row("replan").keptTasks).toBeGreaterThanOrEqual(n);
    expect(goals("replan").every((g) => g.keptTasks.length >= 1)).toBe(true);
    expect(row("replan").keptRanTwice).toBe(0);
    expect(Math.max(...report.goals.map((g) => g.maxExecutionsPerTask))).toBe(1);
  });

  it("quotes the failed task and its error in every revision request, and breaks no promise", () => {
    expect(row("replan").revisionRequestsQuotingError).toBe(n);
    expect(report.violations).toEqual([]);
  });
});
