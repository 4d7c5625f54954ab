/** The chaos report in plain text: faults by kind with times to recover, the counts, and every violation. */
import { FAULT_KINDS, FAULT_LABELS } from "./faults.js";
import type { ChaosReport } from "./harness.js";

const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);

/** The nearest-rank percentile of sorted values. */
function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!;
}

export function formatReport(report: ChaosReport): string {
  const tasks = sum(report.runs.map((r) => r.tasks));
  const completed = sum(report.runs.map((r) => r.completed));
  const executions = sum(report.runs.map((r) => r.executions));
  const reExecutions = sum(report.runs.map((r) => r.reExecutions.length));
  const lines = [
    `chaos: ${report.runs.length} run(s), ${tasks} tasks, ${report.faults.length} faults in ${(report.elapsedMs / 1000).toFixed(1)} s`,
    "",
    "fault                                                    count  recovery p50 / max (ms)",
  ];
  for (const kind of FAULT_KINDS) {
    const times = report.recoveries
      .filter((r) => r.fault.kind === kind && r.recoveryMs !== null)
      .map((r) => Math.round(r.recoveryMs!))
      .sort((a, b) => a - b);
    const count = report.faults.filter((f) => f.kind === kind).length;
    const recovery = times.length === 0 ? "-" : `${percentile(times, 0.5)} / ${times.at(-1)}`;
    lines.push(`${FAULT_LABELS[kind].padEnd(56)} ${String(count).padStart(5)}  ${recovery}`);
  }
  const starts = report.recoveries
    .flatMap((r) => (r.startMs === undefined ? [] : [Math.round(r.startMs)]))
    .sort((a, b) => a - b);
  if (starts.length > 0) {
    lines.push(
      `  of which starting the new subscriber process (Node, tsx, connecting) ${"".padEnd(8)}  ${percentile(starts, 0.5)} / ${starts.at(-1)}`,
    );
  }
  const refused = report.workerErrors.LeaseExpiredError?.count ?? 0;
  const s = report.subscriber;
  lines.push(
    "",
    `tasks completed: ${completed} of ${tasks}; lost: ${tasks - completed}; duplicate completions: ${sum(report.runs.map((r) => r.duplicateCompletions))}`,
    `step executions: ${executions}; re-executions: ${reExecutions} (each of an attempt in flight at a fault, or listed below)`,
    `late settles refused by the store: ${report.rejectedSettles}; steps not started (lease gone by the worker's clock): ${refused}`,
    `LISTEN subscriber: ${s.seen} events written over ${s.lives} lives, ${s.stored} stored; ${s.duplicates} twice, ${s.missing} missed`,
    `errors the children reported (by name, with the first message): ${Object.keys(report.workerErrors).length === 0 ? "none" : ""}`,
    ...Object.entries(report.workerErrors).map(([name, { count, sample }]) => `  ${name} ×${count}: ${sample}`),
    "",
    report.violations.length === 0 ? "violations: none" : `violations (${report.violations.length}):`,
    ...report.violations.slice(0, 50).map((v) => `  ${v}`),
  );
  return lines.join("\n");
}
