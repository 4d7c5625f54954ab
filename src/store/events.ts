/** Query family: events (write one with its NOTIFY, read recent ones). */
import type { Db, Queryable } from "./db.js";
import { quoteIdentifier } from "./identifiers.js";

/** An event row as read back. */
export interface EventRow {
  id: string;
  type: string;
  channel: string;
  run_id: string | null;
  task_id: string | null;
  workflow: string | null;
  payload: Record<string, unknown>;
  created_at: Date;
}

/** A new event. `channel` null stores the row without a NOTIFY. */
export interface NewEvent {
  type: string;
  runId?: string | null;
  taskId?: string | null;
  workflow?: string | null;
  payload?: unknown;
}

export function createEventQueries(db: Db, schema: string) {
  const s = quoteIdentifier(schema);
  return {
    /** Stores an event (and NOTIFYs unless `channel` is null) in `q`'s transaction; returns its id. */
    async emit(event: NewEvent, channel: string | null, q: Queryable = db): Promise<string> {
      const { rows } = await q.query<{ id: string }>(`SELECT ${s}.emit($1, $2, $3, $4, $5, $6)::text AS id`, [
        channel, event.type, event.runId ?? null, event.taskId ?? null, event.workflow ?? null, JSON.stringify(event.payload ?? {}),
      ]);
      return rows[0]!.id;
    },

    /** The latest events, oldest first, filtered by run, types and channel. */
    async recent(filter: { limit: number; runId?: string; types?: string[]; channel?: string; afterId?: string }): Promise<EventRow[]> {
      const { rows } = await db.query<EventRow>(
        `SELECT id::text, type, channel, run_id, task_id, workflow, payload, created_at FROM (
           SELECT * FROM ${s}.events
            WHERE ($1::uuid IS NULL OR run_id = $1) AND ($2::text[] IS NULL OR type = ANY ($2))
              AND ($3::text IS NULL OR channel = $3) AND ($4::bigint IS NULL OR id > $4)
            ORDER BY id DESC LIMIT $5) e ORDER BY id`,
        [filter.runId ?? null, filter.types ?? null, filter.channel ?? null, filter.afterId ?? null, filter.limit],
      );
      return rows;
    },
  };
}

export type EventQueries = ReturnType<typeof createEventQueries>;
