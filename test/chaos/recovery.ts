/**
 * Time to recover after each fault, from the store: from the fault until every task the processes
 * it hit held then (claimed, not yet settled) has completed, or when they held none, until the next
 * task completed anywhere. For the subscriber: until it wrote its next event. Completion times are
 * commit times (the private cluster runs with track_commit_timestamp).
 */
import type { Fault } from "./faults.js";
import type { Query } from "./checks.js";

export interface Recovery {
  fault: Fault;
  /** ms from the fault to recovery; null when nothing happened after it (the last run had ended). */
  recoveryMs: number | null;
  /** For a subscriber: ms from the kill until the new process listened (starting Node and tsx, connecting). */
  startMs?: number;
}

export async function recoveryTimes(
  query: Query,
  faults: readonly Fault[],
  subscriberLines: readonly { at: number }[],
): Promise<Recovery[]> {
  for (const statement of [
    "DROP TABLE IF EXISTS chaos.completions",
    `CREATE TABLE chaos.completions AS
       SELECT run_id, task_id, extract(epoch FROM pg_xact_commit_timestamp(xmin))::float8 * 1000 AS at
         FROM htdag.events WHERE type = 'task:completed'`,
    "CREATE INDEX ON chaos.completions (run_id, task_id)",
    "CREATE INDEX ON chaos.completions (at)",
    "ANALYZE chaos.completions",
  ]) {
    await query(statement);
  }
  const recoveries: Recovery[] = [];
  for (const fault of faults) {
    if (fault.kind === "subscriber") {
      const next = subscriberLines.find((line) => line.at >= fault.landedAt);
      recoveries.push({
        fault,
        recoveryMs: next ? next.at - fault.landedAt : null,
        ...(fault.listeningAt === undefined ? {} : { startMs: fault.listeningAt - fault.landedAt }),
      });
      continue;
    }
    const [row] = await query<{ held: number; lastDone: number | null; nextDone: number | null }>(
      `WITH held AS (
         SELECT a.run_id, a.task_id FROM htdag.attempts a
          WHERE a.started_at <= to_timestamp($1::float8 / 1000)
            AND (a.finished_at IS NULL OR a.finished_at >= to_timestamp($1::float8 / 1000))
            AND ($2::int IS NULL OR a.worker_id LIKE '%:' || $2::int || ':w-%'))
       SELECT (SELECT count(*)::int FROM held) AS held,
              (SELECT max(c.at) FROM held JOIN chaos.completions c USING (run_id, task_id)) AS "lastDone",
              (SELECT min(c.at) FROM chaos.completions c WHERE c.at >= $1::float8) AS "nextDone"`,
      [fault.landedAt, fault.pid ?? null],
    );
    const done = row!.held > 0 ? row!.lastDone : row!.nextDone;
    recoveries.push({ fault, recoveryMs: done === null ? null : Math.max(0, done - fault.landedAt) });
  }
  return recoveries;
}
