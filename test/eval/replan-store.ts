/**
 * What the re-planning evaluation reads back from the store (htdag's default schema): the attempts of
 * the tasks a revision kept, and the LLM calls the decompositions table recorded for a goal.
 */
import type { Orchestrator } from "../../src/orchestrator/orchestrator.js";

/**
 * The kept tasks of `runId` that do not have exactly one attempt, completed, finished before the
 * revision (`revisedAt`): each such task is a task that ran again, or whose history is wrong.
 */
export async function keptTaskProblems(
  orch: Orchestrator,
  runId: string,
  keptTasks: string[],
  revisedAt: Date | undefined,
): Promise<string[]> {
  if (keptTasks.length === 0) {
    return [];
  }
  const { rows } = await orch.db.query<{ task_id: string; attempts: number; completed: number; last: Date | null }>(
    `SELECT task_id, count(*)::int AS attempts, count(*) FILTER (WHERE status = 'completed')::int AS completed,
            max(finished_at) AS last
       FROM htdag.attempts WHERE run_id = $1 AND task_id = ANY($2::text[]) GROUP BY task_id`,
    [runId, keptTasks],
  );
  const byTask = new Map(rows.map((row) => [row.task_id, row]));
  return keptTasks.filter((task) => {
    const row = byTask.get(task);
    return (
      row === undefined ||
      row.attempts !== 1 ||
      row.completed !== 1 ||
      revisedAt === undefined ||
      row.last === null ||
      new Date(row.last).getTime() > revisedAt.getTime()
    );
  });
}

/**
 * LLM calls recorded for `goal` in decompositions newer than `afterId` (all of them for null), and
 * the newest decomposition's id, to count the next run's from.
 */
export async function llmCallsInStore(
  orch: Orchestrator,
  goal: string,
  afterId: number | null,
): Promise<{ calls: number; lastId: number }> {
  const { rows } = await orch.db.query<{ calls: number; last_id: string | number | null }>(
    `SELECT coalesce(sum(llm_calls) FILTER (WHERE goal = $1 AND id > $2), 0)::int AS calls, max(id) AS last_id
       FROM htdag.decompositions`,
    [goal, afterId ?? 0],
  );
  return { calls: rows[0]?.calls ?? 0, lastId: Number(rows[0]?.last_id ?? 0) };
}
