/**
 * orch.schedule, unschedule and listSchedules (docs/waits-and-flow-control.md, "Schedules"): the
 * options are checked at the edge (the cron and time zone with croner, the graph with validateGraph)
 * and the schedule is stored with its first tick after now. Firing lives in schedule-firer.ts.
 */
import { z } from "zod";
import { InvalidOptionError } from "../errors.js";
import { jsonSchema } from "../graph/task-graph.js";
import { validateGraph } from "../graph/validate.js";
import { parseOptions } from "../options.js";
import type { ScheduleQueries, ScheduleRow } from "../store/schedules.js";
import { assertOptionsObject, assertStorableOptions } from "./checks.js";
import type { ResolvedOrchestratorOptions } from "./options.js";
import { RUN_DEFAULTS } from "../defaults.js";
import type { ScheduleInfo, ScheduleOptions } from "./schedule-options.js";
import { parseCron } from "./schedule-ticks.js";

/** A schedule's name, like a workflow's. */
const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127}$/;
const NAME_EXPECTED = 'a name of letters, digits and _ . : / - (at most 128), e.g. "nightly-audit"';

const scheduleOptionsSchema = z.strictObject({
  cron: z.string({ message: 'a cron expression such as "0 2 * * *"' }).min(1).max(200),
  timezone: z.string().min(1).max(100).default("UTC"),
  workflow: z.string().regex(NAME, { message: "a name of letters, digits and _ . : / - (at most 128)" }),
  graph: z.unknown(),
  input: jsonSchema.optional(),
  overlap: z.enum(["allow", "skip"]).default("allow"),
});

export interface ScheduleServiceDeps {
  schedules: ScheduleQueries;
  options: ResolvedOrchestratorOptions;
  /** Called after a schedule is stored, so this process's firing loops see it at once. */
  onStored(): void;
}

/** The schedule methods of the orchestrator. */
export function createScheduleService(deps: ScheduleServiceDeps) {
  return {
    async schedule(name: string, options: ScheduleOptions): Promise<ScheduleInfo> {
      if (typeof name !== "string" || !NAME.test(name)) {
        throw new InvalidOptionError("name", NAME_EXPECTED, name, "schedule");
      }
      assertOptionsObject(options, "schedule");
      const resolved = parseOptions(scheduleOptionsSchema, options, "schedule");
      assertStorableOptions(resolved, "schedule");
      const cron = parseCron(resolved.cron, resolved.timezone);
      if (resolved.graph === undefined) {
        throw new InvalidOptionError("graph", "the task graph each tick runs", undefined, "schedule");
      }
      // As submit checks a graph without steps: the steps are the workers' of `workflow`.
      const graph = validateGraph(resolved.graph, {
        limits: {
          maxTasks: deps.options.maxTasks,
          maxInputBytes: deps.options.maxInputBytes,
          maxDepth: RUN_DEFAULTS.maxDepth,
        },
        defaults: { source: "function", decomposer: "manual" },
      });
      const row = await deps.schedules.upsert({
        name,
        cron: resolved.cron,
        timezone: resolved.timezone,
        workflow: resolved.workflow,
        graph,
        input: resolved.input ?? null,
        overlap: resolved.overlap,
        nextTickAt: cron.nextAfter(new Date())!,
      });
      deps.onStored();
      return toScheduleInfo(row);
    },

    async unschedule(name: string): Promise<boolean> {
      if (typeof name !== "string") {
        throw new InvalidOptionError("name", NAME_EXPECTED, name, "unschedule");
      }
      return deps.schedules.remove(name);
    },

    async listSchedules(): Promise<ScheduleInfo[]> {
      return (await deps.schedules.list()).map(toScheduleInfo);
    },
  };
}

export type ScheduleService = ReturnType<typeof createScheduleService>;

/** A stored schedule as the public API shows it. */
export function toScheduleInfo(row: ScheduleRow): ScheduleInfo {
  return {
    name: row.name,
    cron: row.cron,
    timezone: row.timezone,
    workflow: row.workflow,
    overlap: row.overlap,
    nextTickAt: row.next_tick_at.toISOString(),
    lastTickAt: row.last_tick_at ? row.last_tick_at.toISOString() : null,
    lastRunId: row.last_run_id,
    createdAt: row.created_at.toISOString(),
  };
}
