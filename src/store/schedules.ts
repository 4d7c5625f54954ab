/**
 * Query family: schedules (docs/waits-and-flow-control.md, "Schedules"). Stored, listed and removed
 * here; a tick is fired by begin_schedule_tick and finish_schedule_tick (migrations/0008_schedules.sql),
 * each one guarded statement. Task inputs of the stored graph, and the runs' input, are sealed by the
 * codec when there is one.
 */
import type { TaskGraph } from "../graph/task-graph.js";
import { openTaskInputs, sealTaskInputs, type PayloadCodec } from "./codec.js";
import type { Db } from "./db.js";
import { quoteIdentifier } from "./identifiers.js";

/** A schedule as stored. */
export interface NewSchedule {
  name: string;
  cron: string;
  timezone: string;
  workflow: string;
  graph: TaskGraph;
  input: unknown;
  overlap: "allow" | "skip";
  nextTickAt: Date;
}

/** A schedule as read back (without its graph and input). */
export interface ScheduleRow {
  name: string;
  cron: string;
  timezone: string;
  workflow: string;
  overlap: "allow" | "skip";
  next_tick_at: Date;
  last_tick_at: Date | null;
  last_run_id: string | null;
  created_at: Date;
}

/** A due schedule, with what firing its tick needs. */
export interface DueSchedule extends ScheduleRow {
  /** The graph as stored (task inputs opened); validated again by submit. */
  graph: unknown;
  input: unknown;
}

/** What a worker reads before firing: the due schedules, the earliest tick, and the database's clock. */
export interface DueSchedules {
  due: DueSchedule[];
  /** The earliest next tick of the schedules (but those waiting), due or not; null with none. */
  earliest: Date | null;
  /** The database's clock when read: every worker of the cluster compares ticks with the same clock. */
  now: Date;
}

/** What begin_schedule_tick did. */
export type TickStart =
  { outcome: "fire"; tick: Date } | { outcome: "skipped"; tick: Date } | { outcome: "gone"; tick: null };

const COLUMNS = "name, cron, timezone, workflow, overlap, next_tick_at, last_tick_at, last_run_id, created_at";

/** Most due schedules one read returns; the rest are read once these are fired. */
const DUE_LIMIT = 100;

export function createScheduleQueries(db: Db, schema: string, codec?: PayloadCodec) {
  const s = quoteIdentifier(schema);
  return {
    /** Stores the schedule, replacing one of the same name (its pinned tick and history are reset). */
    async upsert(schedule: NewSchedule): Promise<ScheduleRow> {
      const graph = { ...schedule.graph, tasks: sealTaskInputs(schedule.graph.tasks, codec) };
      const input = schedule.input === undefined || schedule.input === null ? null : sealed(schedule.input, codec);
      const { rows } = await db.query<ScheduleRow>(
        `INSERT INTO ${s}.schedules (name, cron, timezone, workflow, graph, input, overlap, next_tick_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (name) DO UPDATE SET cron = excluded.cron, timezone = excluded.timezone,
           workflow = excluded.workflow, graph = excluded.graph, input = excluded.input, overlap = excluded.overlap,
           next_tick_at = excluded.next_tick_at, firing_tick = NULL, updated_at = now()
         RETURNING ${COLUMNS}`,
        [
          schedule.name,
          schedule.cron,
          schedule.timezone,
          schedule.workflow,
          JSON.stringify(graph),
          input === null ? null : JSON.stringify(input),
          schedule.overlap,
          schedule.nextTickAt,
        ],
      );
      return rows[0]!;
    },

    /** Removes the schedule; false when there was none. */
    async remove(name: string): Promise<boolean> {
      const { rowCount } = await db.query(`DELETE FROM ${s}.schedules WHERE name = $1`, [name]);
      return rowCount > 0;
    },

    /** Every schedule, by name. */
    async list(): Promise<ScheduleRow[]> {
      const { rows } = await db.query<ScheduleRow>(`SELECT ${COLUMNS} FROM ${s}.schedules ORDER BY name`);
      return rows;
    },

    /**
     * The schedules whose next tick is due by the database's clock (but those of `waiting`: they
     * failed a moment ago and wait to be tried again), and the earliest next tick of the others.
     */
    async due(waiting: readonly string[] = []): Promise<DueSchedules> {
      const { rows } = await db.query<{ now: Date; earliest: Date | null; due: DueSchedule[] | null }>(
        `WITH clock AS (SELECT clock_timestamp() AS now)
         SELECT clock.now, (SELECT min(next_tick_at) FROM ${s}.schedules WHERE name <> ALL ($1::text[])) AS earliest,
                (SELECT jsonb_agg(d ORDER BY d.next_tick_at) FROM (
                   SELECT ${COLUMNS}, graph, input FROM ${s}.schedules
                    WHERE next_tick_at <= clock.now AND name <> ALL ($1::text[])
                    ORDER BY next_tick_at LIMIT ${DUE_LIMIT}) d) AS due
           FROM clock`,
        [waiting],
      );
      const row = rows[0]!;
      const due = (row.due ?? []).map((d) => ({
        ...d,
        // jsonb_agg gives the timestamps as text.
        next_tick_at: new Date(d.next_tick_at),
        last_tick_at: d.last_tick_at === null ? null : new Date(d.last_tick_at),
        created_at: new Date(d.created_at),
        graph: opened(d.graph, codec),
        input: d.input === null ? null : codec ? codec.decode(d.input) : d.input,
      }));
      return { due, earliest: row.earliest, now: row.now };
    },

    /** Pins (or skips, for overlap "skip") the tick of a schedule read with next tick `seen`. */
    async beginTick(name: string, seen: Date, tick: Date, next: Date, channel: string | null): Promise<TickStart> {
      const { rows } = await db.query<{ outcome: TickStart["outcome"]; tick: Date | null }>(
        `SELECT outcome, tick FROM ${s}.begin_schedule_tick($1, $2, $3, $4, $5)`,
        [name, seen, tick, next, channel],
      );
      const row = rows[0]!;
      return row.outcome === "gone" ? { outcome: "gone", tick: null } : { outcome: row.outcome, tick: row.tick! };
    },

    /** Advances the schedule past its pinned tick with the tick's run; false when another worker did. */
    async finishTick(name: string, tick: Date, next: Date, runId: string, channel: string | null): Promise<boolean> {
      const { rows } = await db.query<{ finished: boolean }>(
        `SELECT ${s}.finish_schedule_tick($1, $2, $3, $4, $5) AS finished`,
        [name, tick, next, runId, channel],
      );
      return rows[0]?.finished === true;
    },
  };
}

export type ScheduleQueries = ReturnType<typeof createScheduleQueries>;

function sealed(value: unknown, codec: PayloadCodec | undefined): unknown {
  return codec ? codec.encode(value) : value;
}

function opened(graph: unknown, codec: PayloadCodec | undefined): unknown {
  if (graph === null || typeof graph !== "object" || !Array.isArray((graph as { tasks?: unknown }).tasks)) {
    return graph;
  }
  const stored = graph as { tasks: unknown[] };
  return { ...stored, tasks: openTaskInputs(stored.tasks, codec) };
}
