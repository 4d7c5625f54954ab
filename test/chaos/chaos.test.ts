/**
 * The bounded chaos run (issue 19): three worker processes and an outside LISTEN subscriber, a
 * private PostgreSQL cluster, 1,000-task layered DAGs, a fault every 1-2 s until every kind has hit
 * at least once. `npm run chaos -- --minutes 10` is the soak version.
 */
import { describe, expect, it } from "vitest";
import { FAULT_KINDS } from "./faults.js";
import { runChaos } from "./harness.js";
import { formatReport } from "./report.js";

describe("chaos", () => {
  it("1,000-task runs survive kill -9, terminated connections, a crashed server, SIGSTOP past the lease and a killed subscriber", async () => {
    const report = await runChaos({ seed: 1, runTimeoutMs: 90_000 });
    const summary = formatReport(report);
    expect(report.violations, summary).toEqual([]);
    for (const kind of FAULT_KINDS) {
      expect(
        report.faults.some((fault) => fault.kind === kind),
        `no ${kind} fault: ${summary}`,
      ).toBe(true);
    }
    expect(report.runs.every((run) => run.status === "completed" && run.completed === run.tasks)).toBe(true);
    expect(report.subscriber.lives).toBeGreaterThan(1);
    expect(report.subscriber.seen).toBe(report.subscriber.stored);
  }, 150_000);
});
