/**
 * Query family: the queue waits claims recorded (attempts.queue_wait_ms), read for telemetry only.
 * The attempts that start together are read together: one query per tick, whatever their number.
 */
import type { Queryable } from "./db.js";
import { quoteIdentifier } from "./identifiers.js";
import type { AttemptRef } from "./tasks.js";

/** Reads the queue wait of attempts, coalescing the reads of one tick into one query. */
export interface QueueWaitReader {
  /** The attempt's wait from ready to claimed, in ms; null when its claim recorded none. */
  queueWaitMs(attempt: AttemptRef): Promise<number | null>;
}

export function createQueueWaitReader(db: Queryable, schema: string): QueueWaitReader {
  const s = quoteIdentifier(schema);
  let pending: { attempt: AttemptRef; resolve(ms: number | null): void; reject(error: unknown): void }[] = [];
  const flush = async () => {
    const batch = pending;
    pending = [];
    try {
      const { rows } = await db.query<{
        run_id: string;
        task_id: string;
        attempt: number;
        queue_wait_ms: number | null;
      }>(
        `SELECT a.run_id, a.task_id, a.attempt, a.queue_wait_ms
           FROM unnest($1::uuid[], $2::text[], $3::integer[]) AS r (run_id, task_id, attempt)
           JOIN ${s}.attempts a USING (run_id, task_id, attempt)`,
        [batch.map((p) => p.attempt.runId), batch.map((p) => p.attempt.taskId), batch.map((p) => p.attempt.attempt)],
      );
      const waits = new Map(rows.map((r) => [`${r.run_id}/${r.task_id}#${r.attempt}`, r.queue_wait_ms]));
      for (const { attempt, resolve } of batch) {
        resolve(waits.get(`${attempt.runId}/${attempt.taskId}#${attempt.attempt}`) ?? null);
      }
    } catch (error) {
      for (const { reject } of batch) {
        reject(error);
      }
    }
  };
  return {
    queueWaitMs(attempt) {
      return new Promise((resolve, reject) => {
        if (pending.length === 0) {
          setImmediate(() => void flush());
        }
        pending.push({ attempt, resolve, reject });
      });
    },
  };
}
