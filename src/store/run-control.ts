/** Query family: run control (cancel, time out, pause, resume, retry). One guarded call each. */
import type { Db } from "./db.js";
import { quoteIdentifier } from "./identifiers.js";

export function createRunControlQueries(db: Db, schema: string) {
  const s = quoteIdentifier(schema);
  return {
    /**
     * Cancels or times out a run, or fails it (a plan that could not be written); returns the status
     * it had (null: no such run).
     */
    async stopRun(
      runId: string,
      status: "cancelled" | "timed_out" | "failed",
      reason: string | null,
      channel: string | null,
    ) {
      const { rows } = await db.query<{ before: string | null }>(`SELECT ${s}.stop_run($1, $2, $3, $4) AS before`, [
        runId,
        status,
        reason,
        channel,
      ]);
      return rows[0]?.before ?? null;
    },

    /** Pauses or resumes a run; returns the status it had (null: no such run). */
    async setPaused(runId: string, paused: boolean, reason: string | null, channel: string | null) {
      const { rows } = await db.query<{ before: string | null }>(
        `SELECT ${s}.set_run_paused($1, $2, $3, $4) AS before`,
        [runId, paused, reason, channel],
      );
      return rows[0]?.before ?? null;
    },

    /** Re-opens a final run; returns the tasks reset, or -1 if the run is not final. */
    async retryRun(runId: string, fromTask: string | null, channel: string | null): Promise<number> {
      const { rows } = await db.query<{ reset: number }>(`SELECT ${s}.retry_run($1, $2, $3) AS reset`, [
        runId,
        fromTask,
        channel,
      ]);
      return rows[0]?.reset ?? -1;
    },

    /**
     * Whether a run waits for a person or for time with nothing to do until then: it awaits approval
     * of its plan, is paused, or is running with every ready task a wait that started (none running).
     * Null when it is busy, final or unknown.
     */
    async parkedStatus(runId: string): Promise<"awaiting_approval" | "paused" | "waiting" | null> {
      const { rows } = await db.query<{ parked: "awaiting_approval" | "paused" | "waiting" | null }>(
        `SELECT CASE WHEN r.status IN ('awaiting_approval', 'paused') THEN r.status
                     WHEN r.status = 'running'
                      AND NOT EXISTS (SELECT 1 FROM ${s}.tasks t WHERE t.run_id = r.id AND t.status = 'running')
                      AND EXISTS (SELECT 1 FROM ${s}.tasks t WHERE t.run_id = r.id AND t.status = 'ready')
                      AND NOT EXISTS (SELECT 1 FROM ${s}.tasks t WHERE t.run_id = r.id AND t.status = 'ready'
                                        AND NOT (t.waiting_since IS NOT NULL AND t.waiting_since >= t.ready_at))
                     THEN 'waiting' END AS parked
           FROM ${s}.runs r WHERE r.id = $1`,
        [runId],
      );
      return rows[0]?.parked ?? null;
    },

    /** The run's status, or null if there is no such run. */
    async runStatus(runId: string): Promise<string | null> {
      const { rows } = await db.query<{ status: string }>(`SELECT status FROM ${s}.runs WHERE id = $1`, [runId]);
      return rows[0]?.status ?? null;
    },

    /** A run's status, and whether its events are NOTIFYed on demand (realTimeNotifications "on-demand"). */
    async runStatusAndMode(runId: string): Promise<{ status: string; onDemand: boolean } | null> {
      const { rows } = await db.query<{ status: string; onDemand: boolean }>(
        `SELECT status, ${s}.notify_mode(options) IS NOT DISTINCT FROM 'on-demand' AS "onDemand" FROM ${s}.runs WHERE id = $1`,
        [runId],
      );
      return rows[0] ?? null;
    },

    /** Whether a task id exists in a run. */
    async hasTask(runId: string, taskId: string): Promise<boolean> {
      const { rowCount } = await db.query(`SELECT 1 FROM ${s}.tasks WHERE run_id = $1 AND id = $2`, [runId, taskId]);
      return rowCount > 0;
    },

    /** The task of the run that `taskId` was merged into (it runs in that task's attempts), or null. */
    async mergedInto(runId: string, taskId: string): Promise<string | null> {
      const { rows } = await db.query<{ id: string }>(
        `SELECT id FROM ${s}.tasks WHERE run_id = $1 AND spec->'merged' @> jsonb_build_array(jsonb_build_object('id', $2::text))`,
        [runId, taskId],
      );
      return rows[0]?.id ?? null;
    },
  };
}

export type RunControlQueries = ReturnType<typeof createRunControlQueries>;
