/**
 * The invariants of a chaos run, read from the store and the harness's own table once the faults
 * have stopped: every task completed exactly once, with one task:completed event and its output
 * from a recorded execution of its completed attempt; no step started after its task's completion
 * committed; no attempt ran twice; counters agree with statuses; and every re-execution belongs to
 * an attempt in flight at a fault that hit its process.
 */
import type { Orchestrator } from "../../src/index.js";
import { historyViolations, stateViolations } from "../helpers/invariants.js";
import type { Fault } from "./faults.js";

/** A fault counts for an attempt claimed up to this long after it was injected (a signal or a shutdown takes a moment to land). */
const LANDING_MS = 100;

/** An execution of a step whose attempt did not complete its task. */
export interface ReExecution {
  taskId: string;
  attempt: number;
  pid: number;
  /** When its attempt was claimed, and when the store ended it (null: never), in ms since the epoch. */
  claimedAt: number;
  endedAt: number | null;
}

/** What the checks found in one run. */
export interface RunFindings {
  runId: string;
  status: string;
  tasks: number;
  completed: number;
  /** Tasks with more than one task:completed event or completed attempt. */
  duplicateCompletions: number;
  executions: number;
  reExecutions: ReExecution[];
  violations: string[];
}

/** The rows of one statement. */
export type Query = <R>(sql: string, params?: unknown[]) => Promise<R[]>;

export async function checkRun(orch: Orchestrator, runId: string, expectedTasks: number): Promise<RunFindings> {
  const query: Query = async (sql, params) => (await orch.db.query(sql, params)).rows as never;
  const violations = [...(await stateViolations(orch, runId)), ...(await historyViolations(orch, runId))];
  const [run] = await query<{
    status: string;
    tasks: number;
    completed: number;
    duplicates: number;
    executions: number;
  }>(
    `SELECT r.status,
            (SELECT count(*)::int FROM htdag.tasks WHERE run_id = r.id) AS tasks,
            (SELECT count(*)::int FROM htdag.tasks WHERE run_id = r.id AND status = 'completed') AS completed,
            (SELECT count(DISTINCT task_id)::int FROM (
               SELECT task_id FROM htdag.events WHERE run_id = r.id AND type = 'task:completed'
                GROUP BY task_id HAVING count(*) > 1
               UNION ALL
               SELECT task_id FROM htdag.attempts WHERE run_id = r.id AND status = 'completed'
                GROUP BY task_id HAVING count(*) > 1) d) AS duplicates,
            (SELECT count(*)::int FROM chaos.executions WHERE run_id = r.id) AS executions
       FROM htdag.runs r WHERE r.id = $1`,
    [runId],
  );
  if (run!.status !== "completed") {
    violations.push(`the run ended ${run!.status}`);
  }
  if (run!.tasks !== expectedTasks || run!.completed !== expectedTasks) {
    violations.push(`${run!.completed} of ${run!.tasks} tasks completed; the graph has ${expectedTasks}`);
  }
  for (const row of await query<{ problem: string }>(
    `WITH done AS (
       SELECT a.task_id, a.attempt FROM htdag.attempts a WHERE a.run_id = $1 AND a.status = 'completed')
     -- More than one is historyViolations' finding; none is this one.
     SELECT 'task ' || t.id || ' has no task:completed event' AS problem
       FROM htdag.tasks t
      WHERE t.run_id = $1 AND NOT EXISTS (
        SELECT 1 FROM htdag.events e WHERE e.run_id = t.run_id AND e.task_id = t.id AND e.type = 'task:completed')
     UNION ALL
     SELECT 'task ' || t.id || ' has output ' || coalesce(t.output::text, 'null') ||
            ', not a finished execution of its completed attempt'
       FROM htdag.tasks t JOIN done ON done.task_id = t.id
      WHERE t.run_id = $1 AND NOT EXISTS (
        SELECT 1 FROM chaos.executions x
         WHERE x.id::text = t.output->>'execution' AND x.run_id = t.run_id AND x.task_id = t.id
           AND x.attempt = done.attempt AND x.finished_at IS NOT NULL)
     UNION ALL
     SELECT 'attempt ' || task_id || '#' || attempt || ' ran ' || count(*) || ' times (pids ' ||
            string_agg(pid::text, ', ') || ')'
       FROM chaos.executions WHERE run_id = $1 GROUP BY task_id, attempt HAVING count(*) > 1
     UNION ALL
     SELECT 'task ' || x.task_id || ' started again (attempt ' || x.attempt || ', pid ' || x.pid || ') ' ||
            round(extract(epoch FROM x.started_at - pg_xact_commit_timestamp(e.xmin)) * 1000) ||
            ' ms after its completion committed'
       FROM chaos.executions x
       JOIN htdag.events e ON e.run_id = x.run_id AND e.task_id = x.task_id AND e.type = 'task:completed'
      WHERE x.run_id = $1 AND x.started_at > pg_xact_commit_timestamp(e.xmin)`,
    [runId],
  )) {
    violations.push(row.problem);
  }
  const reExecutions = await query<ReExecution>(
    `SELECT x.task_id AS "taskId", x.attempt, x.pid,
            extract(epoch FROM a.started_at)::float8 * 1000 AS "claimedAt",
            extract(epoch FROM a.finished_at)::float8 * 1000 AS "endedAt"
       FROM chaos.executions x
       JOIN htdag.attempts a ON a.run_id = x.run_id AND a.task_id = x.task_id AND a.attempt = x.attempt
      WHERE x.run_id = $1 AND a.status <> 'completed'`,
    [runId],
  );
  return {
    runId,
    status: run!.status,
    tasks: run!.tasks,
    completed: run!.completed,
    duplicateCompletions: run!.duplicates,
    executions: run!.executions,
    reExecutions,
    violations,
  };
}

/** Whether `fault` hit the process of `execution` while its attempt was in flight. */
export function inFlightAt(execution: ReExecution, fault: Fault): boolean {
  return (
    (fault.pid === undefined || fault.pid === execution.pid) &&
    fault.kind !== "subscriber" &&
    execution.claimedAt <= fault.landedAt + LANDING_MS &&
    (execution.endedAt === null || fault.at <= execution.endedAt)
  );
}

/** The re-executions no fault explains: each one is a violation. */
export function unexplainedReExecutions(findings: readonly RunFindings[], faults: readonly Fault[]): string[] {
  return findings.flatMap((run) =>
    run.reExecutions
      .filter((execution) => !faults.some((fault) => inFlightAt(execution, fault)))
      .map(
        (e) =>
          `task ${e.taskId} attempt ${e.attempt} (pid ${e.pid}) ran but did not complete, and no fault hit it ` +
          `(claimed at ${new Date(e.claimedAt).toISOString()})`,
      ),
  );
}
