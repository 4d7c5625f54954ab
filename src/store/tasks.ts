/** Query family: the executor's transitions (start, claim, settle, leases, logs), one round trip each. */
import type { Db } from "./db.js";
import { quoteIdentifier, statementName } from "./identifiers.js";
import { createRedactor, type Redactor } from "./redact.js";
import type { ApplyRevisionResult } from "./revisions.js";

/** What a revision of the plan is asked for, as the failure that asked stored it (`tasks.replan`). */
export interface ReplanMark {
  reason: string;
  error: unknown;
  attempt: number;
  outcome: string;
}

/** A task handed to a runner by a claim: everything its step needs. */
export interface ClaimedTask {
  runId: string;
  taskId: string;
  workflow: string;
  attempt: number;
  kind: "atomic" | "composite";
  step: string | null;
  input: unknown;
  spec: Record<string, unknown>;
  timeoutMs: number;
  /** Attempts allowed to this task so far, counted over every retryRun (`attempt` keeps counting). */
  maxAttempts: number;
  /**
   * Attempts made before the current try of the run (before the last retryRun, and attempts handed
   * back uncharged): `attempt - attemptBase` is this attempt's number within the try. 0 when absent.
   */
  attemptBase?: number;
  backoff: unknown;
  queue: string;
  deps: Record<string, unknown>;
  /**
   * Set when this claim is for a revision of the run's plan rather than the step: what the
   * revision is asked for (docs/living-plans.md). Null or absent for every other claim.
   */
  replan?: ReplanMark | null;
}

/** How an attempt ended. */
export type AttemptOutcome = "completed" | "failed" | "timed_out" | "cancelled" | "skipped";

/** What an expansion reports back. */
export interface ExpandResult {
  /** False when the guard rejected the call (not the live attempt, or not the lease holder, or the run is final). */
  settled: boolean;
  runStatus?: string;
  /** The run's next tasks, claimed in the same transaction. */
  claimed: ClaimedTask[];
}

/**
 * What a settle reports back: one result per settlement, in order (`settled` false when its guard
 * rejected it; `status` the task's status after it, `ready` when a retry was scheduled), the
 * running attempts of the run it ended otherwise than by their own settle (failFast: their steps
 * are to be aborted), and the run's next tasks.
 */
export interface SettleManyResult {
  results: { taskId: string; attempt: number; settled: boolean; status: string | null }[];
  aborted: { taskId: string; attempt: number }[];
  runStatus: string | null;
  claimed: ClaimedTask[];
  /** A run of the worker's other runs had ready tasks but another transaction held it (see ClaimResult). */
  busy: boolean;
  /** The claim refused tasks for their rate limit: claim again in this many ms (see ClaimResult). */
  wakeInMs?: number | null;
  /**
   * The settle freed a slot of a queue at its limit (a concurrency key) that ready tasks wait on: other
   * runs' claimers are to claim again (workers hear it as the NOTIFY `queue:freed`).
   */
  slotFreed?: boolean;
}

/**
 * What a claim reports back: the tasks it claimed, and whether it skipped a run with ready tasks
 * because another transaction held that run (a settle, which claims only for its own slots): a
 * worker told `busy` with slots left claims again shortly instead of waiting for a wake-up.
 */
export interface ClaimResult {
  claimed: ClaimedTask[];
  busy: boolean;
  /**
   * The run's status after a claim of one run (`runId`): the claim ends the run's due waits, which
   * may end the run. Absent for a claim across runs.
   */
  runStatus?: string | null;
  /**
   * The claim refused tasks for their rate limit (docs/waits-and-flow-control.md): the first of them
   * may start in this many ms, and nothing else will say so; null or absent: none refused.
   */
  wakeInMs?: number | null;
}

/** One attempt of one task of one run. */
export interface AttemptRef {
  runId: string;
  taskId: string;
  attempt: number;
}

/** One attempt's settlement. */
export interface Settlement {
  runId: string;
  taskId: string;
  attempt: number;
  outcome: AttemptOutcome;
  output?: unknown;
  error?: unknown;
  errorClass?: string | null;
  /** Delay before the next attempt; null when the task should not be tried again. */
  retryDelayMs?: number | null;
  /** The step's own time in this attempt, in ms, as the process that ran it measured it. */
  stepMs?: number;
  /** The step threw a `ReplanError`: a run that re-plans asks for a revision at once. */
  replan?: boolean;
  /** Size of `output` in bytes of JSON, measured when it was checked; batches are split by it. Not sent. */
  outputBytes?: number;
}

/**
 * The queries of tasks, attempts and their logs over `schema`. `redactor` cleans what a step wrote
 * and may quote its config with: attempt errors and log lines (docs/operations.md, "Secrets").
 */
export function createTaskQueries(db: Db, schema: string, redactor: Redactor = createRedactor()) {
  const s = quoteIdentifier(schema);
  const json = (value: unknown) => (value === undefined ? null : JSON.stringify(value));
  // Prepared once per connection, under names unique per schema and text (statementName).
  const claimSql = `SELECT ${s}.claim_tasks($1, $2, $3, $4, $5, $6) AS r`;
  const settleManySql = `SELECT ${s}.settle_tasks($1, $2, $3, $4, $5, $6, $7) AS r`;
  const claimName = statementName(schema, claimSql);
  const settleManyName = statementName(schema, settleManySql);
  return {
    /** Starts a pending run and claims its first tasks. */
    async startRun(runId: string, worker: string, claimLimit: number, leaseMs: number, channel: string | null) {
      const { rows } = await db.query<{
        r: { started: boolean; runStatus: string; claimed: ClaimedTask[]; wakeInMs?: number | null };
      }>(`SELECT ${s}.start_run($1, $2, $3, $4, $5) AS r`, [runId, worker, claimLimit, leaseMs, channel]);
      return rows[0]!.r;
    },

    /** Claims ready tasks of one run, or of any run of `workflows` when `runId` is null. */
    async claim(
      runId: string | null,
      workflows: string[] | null,
      worker: string,
      limit: number,
      leaseMs: number,
      channel: string | null,
    ): Promise<ClaimResult> {
      const { rows } = await db.query<{ r: ClaimResult }>(
        claimSql,
        [runId, workflows, worker, limit, leaseMs, channel],
        { name: claimName },
      );
      return rows[0]!.r;
    },

    /**
     * Settles several attempts of one run in one round trip and one transaction (each with its own
     * guard), then claims up to `claimLimit` of the run's next ready tasks; with `workflows` (a
     * worker's), the slots the run leaves free are filled from the other runs of those workflows.
     */
    async settleMany(
      runId: string,
      settlements: readonly Settlement[],
      worker: string | null,
      claimLimit: number,
      leaseMs: number,
      channel: string | null,
      workflows: readonly string[] | null = null,
    ): Promise<SettleManyResult> {
      const batch = settlements.map((x) => ({
        taskId: x.taskId,
        attempt: x.attempt,
        outcome: x.outcome,
        output: x.output,
        error: redactor.json(x.error),
        errorClass: x.errorClass ?? null,
        retryDelayMs: x.retryDelayMs ?? null,
        stepMs: x.stepMs ?? null,
        ...(x.replan ? { replan: true } : {}),
      }));
      const { rows } = await db.query<{ r: SettleManyResult }>(
        settleManySql,
        [runId, worker, JSON.stringify(batch), claimLimit, leaseMs, channel, workflows],
        { name: settleManyName },
      );
      return rows[0]!.r;
    },

    /** Inserts a lazy composite's children (rows as bindGraph lays them out) and claims the run's next tasks. */
    async expand(
      claimed: Pick<ClaimedTask, "runId" | "taskId" | "attempt">,
      children: unknown[],
      edges: unknown[],
      worker: string | null,
      claimLimit: number,
      leaseMs: number,
      channel: string | null,
    ) {
      const { rows } = await db.query<{ r: ExpandResult }>(
        `SELECT ${s}.expand_task($1, $2, $3, $4, $5, $6, $7, $8, $9) AS r`,
        [
          claimed.runId,
          claimed.taskId,
          claimed.attempt,
          worker,
          JSON.stringify(children),
          JSON.stringify(edges),
          claimLimit,
          leaseMs,
          channel,
        ],
      );
      return rows[0]!.r;
    },

    /** Applies a revision made by the live revision attempt of `claimed` (see `apply_revision`). */
    async applyRevision(
      claimed: Pick<ClaimedTask, "runId" | "taskId" | "attempt">,
      worker: string | null,
      revision: number,
      tasks: unknown[],
      edges: unknown[],
      record: Record<string, unknown>,
      claimLimit: number,
      leaseMs: number,
      channel: string | null,
    ): Promise<ApplyRevisionResult> {
      const { rows } = await db.query<{ r: ApplyRevisionResult }>(
        `SELECT ${s}.apply_revision($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) AS r`,
        [
          claimed.runId,
          claimed.taskId,
          claimed.attempt,
          worker,
          revision,
          JSON.stringify(tasks),
          JSON.stringify(edges),
          JSON.stringify(record),
          claimLimit,
          leaseMs,
          channel,
        ],
      );
      return rows[0]!.r;
    },

    /** Returns expired leases to ready (or fails tasks out of attempts) and times out overdue runs. */
    /** The reconciler's sweep (`reconcile_runs`): starts orphaned pending runs, finishes runs whose tasks are all final. */
    async reconcileRuns(limit: number, graceMs: number, channel: string | null): Promise<number> {
      const { rows } = await db.query<{ n: number }>(`SELECT ${s}.reconcile_runs($1, $2, $3) AS n`, [
        limit,
        graceMs,
        channel,
      ]);
      return rows[0]?.n ?? 0;
    },

    async reapExpired(limit: number, channel: string | null): Promise<number> {
      const { rows } = await db.query<{ n: number }>(`SELECT ${s}.reap_expired($1, $2) AS n`, [limit, channel]);
      return rows[0]?.n ?? 0;
    },

    /** Hands back the tasks a stopping worker still runs, without charging the attempt. */
    async releaseTasks(worker: string, channel: string | null): Promise<number> {
      const { rows } = await db.query<{ n: number }>(`SELECT ${s}.release_tasks($1, $2) AS n`, [worker, channel]);
      return rows[0]?.n ?? 0;
    },

    /**
     * A heartbeat, of a worker or of the runs a process executes: extends the leases of the attempts
     * it still holds, among `held` (a lease belongs to an attempt: one it dropped or that was taken
     * over is not renewed), and its own heartbeat. Returns the attempts renewed, and those of `held`
     * that are no longer this process's to run (their task was cancelled, by failFast or a stop
     * elsewhere, or reaped): the process aborts their steps.
     */
    async renewHeldLeases(
      worker: string,
      leaseMs: number,
      held: readonly { runId: string; taskId: string; attempt: number }[],
    ): Promise<{ renewed: AttemptRef[]; gone: AttemptRef[] }> {
      const { rows } = await db.query<AttemptRef & { renewed: boolean }>(
        // A row a settle holds is skipped, never waited for: the heartbeat takes no lock a settle may
        // wait on (no deadlock), and that attempt is renewed by the next beat if it still runs.
        `WITH beat AS (UPDATE ${s}.workers SET heartbeat_at = now() WHERE id = $1),
              h AS (SELECT * FROM unnest($3::uuid[], $4::text[], $5::integer[]) AS h (run_id, task_id, attempt)),
              held AS (
                SELECT t.run_id, t.id FROM ${s}.tasks t JOIN h
                    ON t.run_id = h.run_id AND t.id = h.task_id AND t.attempts = h.attempt
                 WHERE t.lease_owner = $1 AND t.status = 'running'
                   FOR UPDATE OF t SKIP LOCKED),
              renewed AS (
                UPDATE ${s}.tasks t SET lease_expires_at = now() + $2 * interval '1 millisecond'
                  FROM held WHERE t.run_id = held.run_id AND t.id = held.id
                RETURNING t.run_id, t.id, t.attempts)
         SELECT run_id AS "runId", id AS "taskId", attempts AS attempt, true AS renewed FROM renewed
         UNION ALL
         SELECT h.run_id, h.task_id, h.attempt, false FROM h
          WHERE NOT EXISTS (SELECT 1 FROM ${s}.tasks t WHERE t.run_id = h.run_id AND t.id = h.task_id
                              AND t.attempts = h.attempt AND t.status = 'running' AND t.lease_owner = $1)`,
        [worker, leaseMs, held.map((a) => a.runId), held.map((a) => a.taskId), held.map((a) => a.attempt)],
      );
      const ref = ({ runId, taskId, attempt }: AttemptRef) => ({ runId, taskId, attempt });
      return { renewed: rows.filter((r) => r.renewed).map(ref), gone: rows.filter((r) => !r.renewed).map(ref) };
    },

    /** Registers a worker process (visible in the workers table while it runs). */
    async registerWorker(worker: string, host: string, pid: number, workflows: string[]): Promise<void> {
      await db.query(
        `INSERT INTO ${s}.workers (id, hostname, pid, workflows) VALUES ($1, $2, $3, $4)
         ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), workflows = excluded.workflows`,
        [worker, host, pid, workflows],
      );
    },

    async unregisterWorker(worker: string): Promise<void> {
      await db.query(`DELETE FROM ${s}.workers WHERE id = $1`, [worker]);
    },

    /**
     * The earliest moment a ready task of the run becomes claimable (after a retry delay), or a wait
     * of it is due; a signal wait without timeout ('infinity', which the drivers read differently)
     * is left out.
     */
    async nextAvailableAt(runId: string): Promise<Date | null> {
      const { rows } = await db.query<{ at: Date | null }>(
        `SELECT min(available_at) AS at FROM ${s}.tasks
          WHERE run_id = $1 AND status = 'ready' AND available_at < 'infinity'`,
        [runId],
      );
      return rows[0]?.at ?? null;
    },

    /**
     * In how many ms (by the database's clock) the run's next wait is due, or null when none is
     * (docs/waits-and-flow-control.md): what an executor whose slots are all taken wakes up for.
     */
    async nextWaitDueInMs(runId: string): Promise<number | null> {
      const { rows } = await db.query<{ ms: number | null }>(
        `SELECT (extract(epoch FROM min(available_at) - clock_timestamp()) * 1000)::float8 AS ms FROM ${s}.tasks
          WHERE run_id = $1 AND status = 'ready' AND spec ? 'wait' AND available_at < 'infinity'`,
        [runId],
      );
      const ms = rows[0]?.ms;
      return ms === null || ms === undefined ? null : Number(ms);
    },

    /** Outputs of the completed tasks of a run among `taskIds` (as stored), by id; others are left out. */
    async completedOutputs(runId: string, taskIds: readonly string[]): Promise<Record<string, unknown>> {
      const { rows } = await db.query<{ id: string; output: unknown }>(
        `SELECT id, output FROM ${s}.tasks WHERE run_id = $1 AND id = ANY ($2::text[]) AND status = 'completed'`,
        [runId, taskIds],
      );
      return Object.fromEntries(rows.map((row) => [row.id, row.output]));
    },

    async appendLog(runId: string, taskId: string, attempt: number, message: string, data: unknown): Promise<void> {
      await db.query(
        `INSERT INTO ${s}.task_logs (run_id, task_id, attempt, message, data) VALUES ($1, $2, $3, $4, $5)`,
        [runId, taskId, attempt, redactor.text(message), json(redactor.json(data))],
      );
    },
  };
}

export type TaskQueries = ReturnType<typeof createTaskQueries>;
