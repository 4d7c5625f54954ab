/** Schedules (docs/waits-and-flow-control.md): recurring runs fired by any running worker, once per tick. */
import type { Json, TaskGraph, TaskGraphInput } from "../graph/task-graph.js";

/** What `orch.schedule(name, options)` takes. */
export interface ScheduleOptions {
  /**
   * When to fire: a cron expression of 5 fields (minute hour day month weekday) or 6 with seconds
   * first, e.g. `"0 2 * * *"` (02:00 daily) or `"*\/5 * * * * *"` (every 5 s).
   */
  cron: string;
  /** The IANA time zone the cron is read in, e.g. `"Europe/Berlin"`. @default "UTC" */
  timezone?: string;
  /** The workflow of the runs it starts; a worker of that workflow runs them. */
  workflow: string;
  /** The graph each tick runs, validated when the schedule is stored. */
  graph: TaskGraphInput | TaskGraph;
  /** Each run's input. @default null */
  input?: Json;
  /**
   * `"allow"`: every tick starts a run; `"skip"`: a tick while the schedule's previous run is not
   * final starts none. @default "allow"
   */
  overlap?: "allow" | "skip";
}

/** A stored schedule, as `listSchedules` returns it. */
export interface ScheduleInfo {
  name: string;
  cron: string;
  timezone: string;
  workflow: string;
  overlap: "allow" | "skip";
  /** The next tick to fire (ISO 8601). */
  nextTickAt: string;
  /** The last tick fired or skipped (ISO 8601), null before the first. */
  lastTickAt: string | null;
  /** The run the last fired tick started, null before the first. */
  lastRunId: string | null;
  createdAt: string;
}
