/**
 * The workload of the re-planning crash tests: fetch → parse_v1 → report, where parse_v1 fails for
 * good and each revision routes around it (parse_v2). Each step run and each revision asked is
 * appended to a log file, outside the store (`run <task> <pid>`, `revise <number> <pid>`).
 */
import { appendFileSync } from "node:fs";
import { NonRetryableError, type DecomposerContext, type RunOptions, type TaskSpec } from "../../src/index.js";

export const CRASH_GOAL = "parse the rows";

export const crashRunOptions: RunOptions = {
  workflow: "replan_crash",
  idempotencyKey: "replan-crash",
  replan: { maxRevisions: 2 },
};

const record = (log: string, line: string) => appendFileSync(log, `${line} ${process.pid}\n`);

export function crashSteps(log: string) {
  const counted =
    <T>(id: string, step: (deps: Record<string, unknown>) => T) =>
    ({ deps }: { deps: Record<string, unknown> }) => {
      record(log, `run ${id}`);
      return step(deps);
    };
  return {
    fetch: counted("fetch", () => ({ rows: [1, 2, 3], pid: process.pid })),
    parse_v1: counted("parse_v1", () => {
      throw new NonRetryableError("the v1 parser is gone");
    }),
    parse_v2: counted("parse_v2", (deps) => ({ parsed: (deps.fetch as { rows: number[] }).rows.length })),
    report: counted("report", (deps) => ({ inputs: Object.keys(deps) })),
  };
}

export const firstPlan: TaskSpec[] = [
  { id: "fetch", description: "fetch the rows", step: "fetch", dependsOn: [] },
  { id: "parse_v1", description: "parse them", step: "parse_v1", dependsOn: ["fetch"] },
  { id: "report", description: "report", step: "report", dependsOn: ["parse_v1"] },
];

const revisedPlan: TaskSpec[] = [
  { id: "fetch", description: "fetch the rows", step: "fetch", dependsOn: [] },
  { id: "parse_v2", description: "parse them with v2", step: "parse_v2", dependsOn: ["fetch"] },
  { id: "report", description: "report", step: "report", dependsOn: ["parse_v2"] },
];

/**
 * The run's decomposer: `firstPlan`, then revisions that route around parse_v1. With `block`, a
 * revision is logged and never answered (its process is killed there).
 */
export function crashDecomposer(log: string, mode: "block" | "answer") {
  return {
    name: "crash_reviser",
    async decompose(_goal: string, ctx: DecomposerContext) {
      if (!ctx.revision) {
        return firstPlan;
      }
      record(log, `revise ${ctx.revision.number}`);
      if (mode === "block") {
        await new Promise(() => undefined);
      }
      return revisedPlan;
    },
  };
}
