/** Query family: events (write one with its NOTIFY, read recent ones, catch up a subscription, prune). */
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

/** An event row with the id of the transaction that wrote it (an xid8, as text). */
export interface CatchUpRow extends EventRow {
  xid: string;
}

/** A new event. `channel` null stores the row without a NOTIFY. */
export interface NewEvent {
  type: string;
  runId?: string | null;
  taskId?: string | null;
  workflow?: string | null;
  payload?: unknown;
}

/** What a subscription wants: one channel, optionally one run, one workflow, some types. */
export interface EventFilter {
  channel: string;
  runId?: string | null;
  workflow?: string | null;
  types?: readonly string[] | null;
}

/** Where a catch-up read starts; see `createEventQueries().since`. */
export interface CatchUpCursor {
  /** Rows of transactions older than this xid8 were all delivered; null reads from the oldest. */
  horizon: string | null;
  /** Only ids above this one (the caller's `afterEventId`, or the last row of the previous page). */
  afterId: string | null;
  /** Ids at or above the horizon that were delivered already. */
  delivered: readonly string[];
  limit: number;
}

const EVENT_COLUMNS = "id::text AS id, type, channel, run_id, task_id, workflow, payload, created_at";

/** The filter's conditions from parameter `$first` on; `e` is the events alias. */
function filterSql(first: number): string {
  return `e.channel = $${first} AND ($${first + 1}::uuid IS NULL OR e.run_id = $${first + 1})
      AND ($${first + 2}::text IS NULL OR e.workflow = $${first + 2}) AND ($${first + 3}::text[] IS NULL OR e.type = ANY ($${first + 3}))`;
}

function filterParams(filter: EventFilter): unknown[] {
  return [filter.channel, filter.runId ?? null, filter.workflow ?? null, filter.types ? [...filter.types] : null];
}

export function createEventQueries(db: Db, schema: string) {
  const s = quoteIdentifier(schema);
  return {
    /** Stores an event (and NOTIFYs unless `channel` is null) in `q`'s transaction; returns its id. */
    async emit(event: NewEvent, channel: string | null, q: Queryable = db, notify = true): Promise<string> {
      if (!notify && channel !== null) {
        return this.store(event, channel, q);
      }
      const { rows } = await q.query<{ id: string }>(`SELECT ${s}.emit($1, $2, $3, $4, $5, $6)::text AS id`, [
        channel,
        event.type,
        event.runId ?? null,
        event.taskId ?? null,
        event.workflow ?? null,
        JSON.stringify(event.payload ?? {}),
      ]);
      return rows[0]!.id;
    },

    /** Stores an event on `channel` without a NOTIFY (subscribers see it at their next catch-up); returns its id. */
    async store(event: NewEvent, channel: string, q: Queryable = db): Promise<string> {
      const { rows } = await q.query<{ id: string }>(
        `INSERT INTO ${s}.events (type, channel, run_id, task_id, workflow, payload) VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING id::text AS id`,
        [
          event.type,
          channel,
          event.runId ?? null,
          event.taskId ?? null,
          event.workflow ?? null,
          JSON.stringify(event.payload ?? {}),
        ],
      );
      return rows[0]!.id;
    },

    /** The latest events, oldest first, filtered by run, workflow, types and channel. */
    async recent(filter: {
      limit: number;
      runId?: string;
      types?: string[];
      channel?: string;
      afterId?: string;
      workflow?: string;
    }): Promise<EventRow[]> {
      const { rows } = await db.query<EventRow>(
        // ORDER BY e.id, not id: the output column id is text, and "10" sorts before "9".
        `SELECT ${EVENT_COLUMNS} FROM (
           SELECT * FROM ${s}.events
            WHERE ($1::uuid IS NULL OR run_id = $1) AND ($2::text[] IS NULL OR type = ANY ($2))
              AND ($3::text IS NULL OR channel = $3) AND ($4::bigint IS NULL OR id > $4)
              AND ($6::text IS NULL OR workflow = $6)
            ORDER BY id DESC LIMIT $5) e ORDER BY e.id`,
        [
          filter.runId ?? null,
          filter.types ?? null,
          filter.channel ?? null,
          filter.afterId ?? null,
          filter.limit,
          filter.workflow ?? null,
        ],
      );
      return rows;
    },

    /**
     * The current horizon (the oldest transaction still in progress) and the rows of `filter` that
     * are visible at or above it: a subscription that starts now has already "seen" them.
     */
    async horizon(filter: EventFilter): Promise<{ horizon: string; rows: { id: string; xid: string }[] }> {
      const { rows } = await db.query<{ horizon: string; id: string | null; xid: string | null }>(
        `SELECT h.horizon::text AS horizon, e.id::text AS id, e.xid::text AS xid
           FROM (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS horizon) h
           LEFT JOIN ${s}.events e ON e.xid >= h.horizon AND ${filterSql(1)}`,
        filterParams(filter),
      );
      return {
        horizon: rows[0]!.horizon,
        rows: rows.flatMap((r) => (r.id && r.xid ? [{ id: r.id, xid: r.xid }] : [])),
      };
    },

    /**
     * The rows of `filter` written by transactions at or above `cursor.horizon`, above
     * `cursor.afterId`, not delivered yet, in id order; and the horizon of this read's snapshot.
     */
    async since(filter: EventFilter, cursor: CatchUpCursor): Promise<{ horizon: string; rows: CatchUpRow[] }> {
      const { rows } = await db.query<CatchUpRow & { horizon: string; id: string | null }>(
        `SELECT h.horizon::text AS horizon, e.id::text AS id, e.xid::text AS xid, e.type, e.channel, e.run_id,
                e.task_id, e.workflow, e.payload, e.created_at
           FROM (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS horizon) h
           LEFT JOIN LATERAL (
             SELECT * FROM ${s}.events e
              -- GUARD: not "id > last delivered": below the horizon every row is final, above it a
              -- lower id may still commit, so that window is re-read minus the ids delivered.
              WHERE ${filterSql(1)} AND ($5::xid8 IS NULL OR e.xid >= $5::xid8) AND ($6::bigint IS NULL OR e.id > $6)
                AND e.id <> ALL ($7::bigint[])
              ORDER BY e.id LIMIT $8) e ON true
          ORDER BY e.id`,
        [...filterParams(filter), cursor.horizon, cursor.afterId, [...cursor.delivered], cursor.limit],
      );
      return {
        horizon: rows[0]!.horizon,
        rows: rows.filter((r): r is CatchUpRow & { horizon: string } => r.id !== null),
      };
    },

    /** Deletes events created more than `olderThanMs` ago, `batchSize` rows per statement; returns how many. */
    async prune(olderThanMs: number, batchSize = 10_000): Promise<number> {
      let deleted = 0;
      for (;;) {
        const { rowCount } = await db.query(
          `DELETE FROM ${s}.events WHERE id IN (
             SELECT id FROM ${s}.events WHERE created_at < now() - $1::double precision * interval '1 millisecond' LIMIT $2)`,
          [olderThanMs, batchSize],
        );
        deleted += rowCount;
        if (rowCount < batchSize) {
          return deleted;
        }
      }
    },
  };
}

export type EventQueries = ReturnType<typeof createEventQueries>;
