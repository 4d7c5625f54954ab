/**
 * The executor's invariants, read from the store (each check in one statement, so one snapshot).
 * Used by the model-based test and by the reproductions of issue 17's core cases.
 */
import type { Orchestrator } from "../../src/index.js";

/**
 * Invariants of the run's state, true at every commit, also across retryRun: the run's counters
 * equal those derived from its tasks' statuses; the run is final exactly when all its tasks are; a
 * pending task's dependency counters equal those derived from its dependencies' statuses.
 */
export async function stateViolations(orch: Orchestrator, runId: string): Promise<string[]> {
  const { rows } = await orch.db.query<{ problem: string }>(
    `WITH t AS (SELECT * FROM htdag.tasks WHERE run_id = $1),
          r AS (SELECT * FROM htdag.runs WHERE id = $1),
          final(status) AS (VALUES ('completed'), ('failed'), ('timed_out'), ('cancelled'), ('skipped'), ('superseded'))
     SELECT 'run counters ' || row(r.total_tasks, r.remaining_tasks, r.failed_tasks)::text || ' <> derived ' ||
            row((SELECT count(*) FROM t WHERE status <> 'superseded'), (SELECT count(*) FROM t WHERE status NOT IN (SELECT status FROM final)),
                (SELECT count(*) FROM t WHERE status IN ('failed', 'timed_out')))::text AS problem
       FROM r
      WHERE row(r.total_tasks::bigint, r.remaining_tasks::bigint, r.failed_tasks::bigint) IS DISTINCT FROM
            row((SELECT count(*) FROM t WHERE status <> 'superseded'), (SELECT count(*) FROM t WHERE status NOT IN (SELECT status FROM final)),
                (SELECT count(*) FROM t WHERE status IN ('failed', 'timed_out')))
     UNION ALL
     SELECT 'run ' || r.status || ' with tasks not final: ' ||
            (SELECT string_agg(id || '=' || status, ', ' ORDER BY id) FROM t WHERE status NOT IN (SELECT status FROM final))
       FROM r
      WHERE r.status IN (SELECT status FROM final)
        AND EXISTS (SELECT 1 FROM t WHERE status NOT IN (SELECT status FROM final))
     UNION ALL
     SELECT 'run ' || r.status || ' with every task final'
       FROM r
      WHERE r.status NOT IN (SELECT status FROM final)
        AND NOT EXISTS (SELECT 1 FROM t WHERE status NOT IN (SELECT status FROM final))
     UNION ALL
     SELECT 'pending task ' || p.id || ' counters ' || row(p.remaining_deps, p.failed_deps, p.skipped_deps)::text
            || ' <> derived ' || row(d.remaining, d.failed, d.skipped)::text
       FROM t p,
            LATERAL (SELECT count(*) FILTER (WHERE dep.status NOT IN (SELECT status FROM final)) AS remaining,
                            count(*) FILTER (WHERE dep.status IN ('failed', 'timed_out', 'cancelled')) AS failed,
                            count(*) FILTER (WHERE dep.status = 'skipped') AS skipped
                       FROM htdag.task_edges e JOIN t dep ON dep.id = e.depends_on
                      WHERE e.run_id = $1 AND e.task_id = p.id) d
      WHERE p.status = 'pending'
        AND row(p.remaining_deps::bigint, p.failed_deps::bigint, p.skipped_deps::bigint) IS DISTINCT FROM
            row(d.remaining, d.failed, d.skipped)`,
    [runId],
  );
  return rows.map((row) => row.problem);
}

/**
 * Invariants of the run's history (for a run never retried): no task completes twice (one completed
 * attempt, one `task:completed` event at most); no task is `running` without a running attempt of
 * the same number, and no attempt runs for a task that is not running.
 */
export async function historyViolations(orch: Orchestrator, runId: string): Promise<string[]> {
  const { rows } = await orch.db.query<{ problem: string }>(
    `WITH t AS (SELECT * FROM htdag.tasks WHERE run_id = $1)
     SELECT 'task ' || task_id || ' completed by ' || count(*) || ' attempts' AS problem
       FROM htdag.attempts WHERE run_id = $1 AND status = 'completed' GROUP BY task_id HAVING count(*) > 1
     UNION ALL
     SELECT 'task ' || task_id || ' has ' || count(*) || ' task:completed events'
       FROM htdag.events WHERE run_id = $1 AND type = 'task:completed' GROUP BY task_id HAVING count(*) > 1
     UNION ALL
     SELECT 'atomic task ' || id || ' running without a running attempt ' || attempts
       FROM t WHERE status = 'running' AND kind = 'atomic' AND NOT EXISTS (
         SELECT 1 FROM htdag.attempts a
          WHERE a.run_id = $1 AND a.task_id = t.id AND a.attempt = t.attempts AND a.status = 'running')
     UNION ALL
     SELECT 'attempt ' || a.task_id || '#' || a.attempt || ' running for a task that is ' || t.status
       FROM htdag.attempts a JOIN t ON t.id = a.task_id
      WHERE a.run_id = $1 AND a.status = 'running' AND (t.status <> 'running' OR a.attempt <> t.attempts)`,
    [runId],
  );
  return rows.map((row) => row.problem);
}
