/** Query family: events (write one with its NOTIFY, read recent ones, catch up a subscription, prune). */
import type { Db, Queryable } from "./db.js";
import { positionAfterRead, positionAfterRow, type EventPosition, type ReadPhase } from "./event-position.js";
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

/** What a subscription wants: one channel, optionally one run, one workflow, some types. */
export interface EventFilter {
  channel: string;
  runId?: string | null;
  workflow?: string | null;
  types?: readonly string[] | null;
}

/** What a read after a position wants: like a subscription's filter, but `channel` null reads every channel. */
export type ReadFilter = Omit<EventFilter, "channel"> & { channel: string | null };

/** A row of a read after a position, with the position just after it. */
export interface PositionedRow extends EventRow {
  position: EventPosition;
}

const EVENT_COLUMNS = "id::text AS id, type, channel, run_id, task_id, workflow, payload, created_at";

/** The filter's conditions from parameter `$first` on; `e` is the events alias. */
function filterSql(first: number): string {
  return `($${first}::text IS NULL OR e.channel = $${first}) AND ($${first + 1}::uuid IS NULL OR e.run_id = $${first + 1})
      AND ($${first + 2}::text IS NULL OR e.workflow = $${first + 2}) AND ($${first + 3}::text[] IS NULL OR e.type = ANY ($${first + 3}))`;
}

/** The event's own columns of a row read with extra ones (the snapshot, the phase). */
function eventRow(row: EventRow & { id: string | null }): EventRow & { id: string | null } {
  const { id, type, channel, run_id, task_id, workflow, payload, created_at } = row;
  return { id, type, channel, run_id, task_id, workflow, payload, created_at };
}

function filterParams(filter: ReadFilter): unknown[] {
  return [filter.channel, filter.runId ?? null, filter.workflow ?? null, filter.types ? [...filter.types] : null];
}

export function createEventQueries(db: Db, schema: string) {
  const s = quoteIdentifier(schema);
  return {
    /**
     * Stores an event (and NOTIFYs unless `channel` is null) in `q`'s transaction; returns its id.
     * Events written here are NOTIFYed whoever listens (the executor's own, written in SQL, are
     * NOTIFYed only when wanted: see notify_scope in the schema).
     */
    async emit(event: NewEvent, channel: string | null, q: Queryable = db, notify = true): Promise<string> {
      if (!notify && channel !== null) {
        return this.store(event, channel, q);
      }
      const { rows } = await q.query<{ id: string }>(`SELECT ${s}.emit($1, $2, $3, $4, $5, $6, true)::text AS id`, [
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

    /**
     * The latest events, oldest first, filtered by run, workflow, types and channel; each with the
     * position just after it (the events of this read's snapshot up to its id are passed).
     */
    async recent(filter: {
      limit: number;
      runId?: string;
      types?: string[];
      channel?: string;
      afterId?: string;
      workflow?: string;
    }): Promise<PositionedRow[]> {
      const { rows } = await db.query<EventRow & { snapshot: string; id: string | null }>(
        // ORDER BY e.id, not id: the output column id is text, and "10" sorts before "9".
        `SELECT s.snapshot::text AS snapshot, ${EVENT_COLUMNS}
           FROM (SELECT pg_current_snapshot() AS snapshot) s
           LEFT JOIN LATERAL (
             SELECT * FROM ${s}.events
              WHERE ($1::uuid IS NULL OR run_id = $1) AND ($2::text[] IS NULL OR type = ANY ($2))
                AND ($3::text IS NULL OR channel = $3) AND ($4::bigint IS NULL OR id > $4)
                AND ($6::text IS NULL OR workflow = $6)
              ORDER BY id DESC LIMIT $5) e ON true
          ORDER BY e.id`,
        [
          filter.runId ?? null,
          filter.types ?? null,
          filter.channel ?? null,
          filter.afterId ?? null,
          filter.limit,
          filter.workflow ?? null,
        ],
      );
      const start: EventPosition = { afterId: filter.afterId ?? null, done: null, round: null };
      return rows.flatMap((row) =>
        row.id === null
          ? []
          : [{ ...eventRow(row), id: row.id, position: positionAfterRow(start, row.snapshot, 2, row.id) }],
      );
    },

    /** Where a reader that starts now stands: every event visible now is passed. */
    async now(): Promise<EventPosition> {
      const { rows } = await db.query<{ snapshot: string }>(`SELECT pg_current_snapshot()::text AS snapshot`);
      return { afterId: null, done: rows[0]!.snapshot, round: null };
    },

    /**
     * The events of `filter` not passed at `position`, at most `limit`: first the rest of the
     * position's round, then what became visible since, each part in id order, each row with the
     * position just after it; `end` is the position after this read when it returned every row.
     */
    async since(
      filter: ReadFilter,
      position: EventPosition,
      limit: number,
    ): Promise<{ rows: PositionedRow[]; end: EventPosition | null }> {
      const columns = "e.id, e.type, e.channel, e.run_id, e.task_id, e.workflow, e.payload, e.created_at";
      const { rows } = await db.query<EventRow & { snapshot: string; phase: ReadPhase; id: string | null }>(
        `SELECT s.snapshot::text AS snapshot, e.phase, ${EVENT_COLUMNS}
           FROM (SELECT pg_current_snapshot() AS snapshot) s
           LEFT JOIN LATERAL (
             (SELECT 1 AS phase, ${columns} FROM ${s}.events e
               -- GUARD: the rest of the round: visible in its snapshot, above its last id, not done.
               WHERE ${filterSql(1)} AND ($5::bigint IS NULL OR e.id > $5) AND $7::pg_snapshot IS NOT NULL
                 AND e.id > $8::bigint AND e.xid < pg_snapshot_xmax($7::pg_snapshot)
                 AND pg_visible_in_snapshot(e.xid, $7::pg_snapshot)
                 AND ($6::pg_snapshot IS NULL OR (e.xid >= pg_snapshot_xmin($6::pg_snapshot)
                      AND NOT pg_visible_in_snapshot(e.xid, $6::pg_snapshot)))
               ORDER BY e.id LIMIT $9)
             UNION ALL
             (SELECT 2 AS phase, ${columns} FROM ${s}.events e
               -- GUARD: not "id > last delivered": a transaction that was in progress at the last
               -- read is not visible in its snapshot, whatever its ids, so its rows come now.
               WHERE ${filterSql(1)} AND ($5::bigint IS NULL OR e.id > $5)
                 AND pg_visible_in_snapshot(e.xid, s.snapshot)
                 AND (coalesce($7::pg_snapshot, $6::pg_snapshot) IS NULL OR (
                      e.xid >= pg_snapshot_xmin(coalesce($7::pg_snapshot, $6::pg_snapshot))
                      AND NOT pg_visible_in_snapshot(e.xid, coalesce($7::pg_snapshot, $6::pg_snapshot))))
                 AND ($6::pg_snapshot IS NULL OR NOT pg_visible_in_snapshot(e.xid, $6::pg_snapshot))
               ORDER BY e.id LIMIT $9)
           ) e ON true
          ORDER BY e.phase, e.id LIMIT $9`,
        [
          ...filterParams(filter),
          position.afterId,
          position.done,
          position.round?.snapshot ?? null,
          position.round?.lastId ?? null,
          limit,
        ],
      );
      const snapshot = rows[0]!.snapshot;
      const read = rows.flatMap((row) =>
        row.id === null
          ? []
          : [{ ...eventRow(row), id: row.id, position: positionAfterRow(position, snapshot, row.phase, row.id) }],
      );
      return { rows: read, end: read.length < limit ? positionAfterRead(position, snapshot) : null };
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
