/**
 * A worker process for the re-planning crash test (replan-crash.test.ts):
 * `node --import tsx test/e2e/replan-worker-child.ts <url> <log> <block|answer>`.
 * Runs workflow `replan_crash` (fetch → parse_v1 → report; parse_v1 fails for good) with a decomposer
 * whose revisions route around parse_v1. Each step start and each revision asked is appended to
 * `<log>` (`run <task> <pid>`, `revise <number> <pid>`), outside the store. With `block`, the
 * decomposer blocks forever once it has logged the revision (the parent kills the process there).
 * Prints "ready" once its worker runs; on SIGTERM it stops its worker and exits.
 */
import { appendFileSync } from "node:fs";
import { createOrchestrator, NonRetryableError, type DecomposerContext, type TaskSpec } from "../../src/index.js";

const [url, log, mode] = process.argv.slice(2);
const record = (line: string) => appendFileSync(log!, `${line} ${process.pid}\n`);

const counted =
  <T>(id: string, step: (deps: Record<string, unknown>) => T) =>
  ({ deps }: { deps: Record<string, unknown> }) => {
    record(`run ${id}`);
    return step(deps);
  };

const steps = {
  fetch: counted("fetch", () => ({ rows: [1, 2, 3], pid: process.pid })),
  parse_v1: counted("parse_v1", () => {
    throw new NonRetryableError("the v1 parser is gone");
  }),
  parse_v2: counted("parse_v2", (deps) => ({ parsed: (deps.fetch as { rows: number[] }).rows.length })),
  report: counted("report", (deps) => ({ inputs: Object.keys(deps) })),
};

const revised: TaskSpec[] = [
  { id: "fetch", description: "fetch the rows", step: "fetch", dependsOn: [] },
  { id: "parse_v2", description: "parse them with v2", step: "parse_v2", dependsOn: ["fetch"] },
  { id: "report", description: "report", step: "report", dependsOn: ["parse_v2"] },
];

const decomposer = {
  name: "crash_reviser",
  async decompose(_goal: string, ctx: DecomposerContext) {
    if (!ctx.revision) {
      throw new Error("submitted runs are planned by the test");
    }
    record(`revise ${ctx.revision.number}`);
    if (mode === "block") {
      // The parent kills this process here, between the failure and the revision's commit.
      await new Promise(() => undefined);
    }
    return revised;
  },
};

const orch = await createOrchestrator({ database: url!, migrate: false, leaseMs: 1_000, onError: () => undefined });
const worker = await orch.startWorker({
  workflows: { replan_crash: steps },
  decomposers: { replan_crash: decomposer },
  concurrency: 2,
  reapIntervalMs: 250,
  pollIntervalMs: 250,
});
console.log("ready");
process.once("SIGTERM", () => {
  void worker
    .stop()
    .then(() => orch.close())
    .finally(() => process.exit(0));
});
