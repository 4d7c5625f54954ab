/**
 * The in-process executor of one run: starts it, runs claimed tasks, settles each attempt (which
 * claims the run's next tasks in the same round trip), renews leases, and enforces the run's
 * deadline. Newly ready tasks go straight to this dispatcher; nothing waits for a poll.
 */
import type { AttemptRef, ClaimedTask, Settlement, TaskQueries } from "../store/tasks.js";
import type { RunControlQueries } from "../store/run-control.js";
import { failure, planClaimedExpansion, runAttempt, type AttemptEnvironment } from "./attempt.js";
import { isFinalRunStatus, type RunStatus } from "./state-machine.js";
import { retryTransient } from "./transient.js";
import { EarliestWake } from "./earliest-wake.js";
import { SettleBatcher } from "./settle-batcher.js";
import { declinedRevision, failedRevision, planClaimedRevision } from "./revision-attempt.js";

/**
 * How often a run that cannot claim rechecks: paused, awaiting approval of its plan, or its ready
 * tasks held back by slots or a queue that other runs or processes fill. A resume or an approval in
 * this process wakes it at once.
 */
const IDLE_POLL_MS = 1000;
/** The soonest a run with running steps rechecks its waits (see scheduleWaitWake). */
const WAIT_RECHECK_MS = 5;

/** What the executor needs from the orchestrator. */
export interface ExecutorDeps {
  tasks: TaskQueries;
  control: RunControlQueries;
  workerId: string;
  leaseMs: number;
  /** NOTIFY channel, or null when realTimeNotifications is off. */
  channel: string | null;
  /** Reports errors that must not stop the run (a failed log write, a failed retry). */
  onError(error: unknown): void;
  /**
   * A settle of this run freed a slot of a concurrency key that ready tasks wait on: the service
   * has its other runs claim again (docs/waits-and-flow-control.md). @default none
   */
  onSlotFreed?(runId: string): void;
}

/** One run to execute. */
export interface ExecutorRun {
  runId: string;
  maxParallel: number;
  /** Absolute deadline (ms since epoch) of the whole run, if it has one. */
  deadlineAt: number | null;
  /**
   * The run has wait tasks (docs/waits-and-flow-control.md): while its steps run, the executor also
   * wakes when a wait is due, since a wait holds no slot and no settle would come for it. @default false
   */
  hasWaits?: boolean;
  environment: AttemptEnvironment;
}

/** Runs one run to a final status in this process. */
export class RunExecutor {
  /** The attempts this executor runs (claimed, not yet settled), by `taskId#attempt`, each with its own abort. */
  private readonly running = new Map<string, { task: ClaimedTask; abort: AbortController }>();
  /** Attempts the store ended (failFast, a stop elsewhere): their cancelled settlement is not sent. */
  private readonly endedByStore = new Set<string>();
  private readonly abort = new AbortController();
  private finished!: (status: RunStatus) => void;
  private failed!: (error: unknown) => void;
  private readonly done = new Promise<RunStatus>((resolve, reject) => {
    this.finished = resolve;
    this.failed = reject;
  });
  private wakeTimer: NodeJS.Timeout | undefined;
  /** Wakes a run with running steps when one of its waits is due (see ExecutorRun.hasWaits). */
  private waitTimer: NodeJS.Timeout | undefined;
  /** When tasks a rate limit refused may start: a claim then, whatever else runs (flow control). */
  private readonly rateWake = new EarliestWake(() => this.recheck());
  private deadline: NodeJS.Timeout | undefined;
  private settled = false;
  private runStatus: RunStatus = "running";
  /** The last claim found nothing to take although the run was running: wait at the idle rate. */
  private claimedNothing = false;
  private readonly batcher: SettleBatcher;

  constructor(
    private readonly deps: ExecutorDeps,
    private readonly run: ExecutorRun,
  ) {
    this.batcher = new SettleBatcher(
      (batch) => this.settleBatch(batch),
      Number.POSITIVE_INFINITY,
      (queued) => this.running.size > queued,
      run.environment.maxOutputBytes,
    );
  }

  /** Starts (or resumes) the run and resolves with its final status. */
  async execute(): Promise<RunStatus> {
    // Leases are renewed by the owner of workerId (one heartbeat per process, not per run).
    const { tasks, workerId, leaseMs, channel } = this.deps;
    if (this.run.deadlineAt !== null) {
      this.deadline = setTimeout(
        () => void this.stop("timed_out", "the run's timeoutMs elapsed"),
        Math.max(0, this.run.deadlineAt - Date.now()),
      );
    }
    try {
      const started = await tasks.startRun(this.run.runId, workerId, this.run.maxParallel, leaseMs, channel);
      this.observe(started.runStatus as RunStatus);
      this.dispatch(started.claimed);
      this.rateWake.in(started.wakeInMs);
      this.claimedNothing = started.claimed.length === 0;
      if (!started.started) {
        await this.claimMore();
      }
      this.checkIdle();
    } catch (error) {
      this.fail(error);
    }
    return this.done;
  }

  /** Aborts running steps and marks the run cancelled or timed out. */
  async stop(status: "cancelled" | "timed_out", reason: string): Promise<void> {
    try {
      await this.deps.control.stopRun(this.run.runId, status, reason, this.deps.channel);
      this.interrupt(status, reason);
    } catch (error) {
      this.fail(error);
    }
  }

  /** Aborts running steps after the run was stopped elsewhere (cancelRun in this process). */
  interrupt(status: "cancelled" | "timed_out" | "failed", reason: string): void {
    this.runStatus = status;
    this.abortRun(new Error(reason));
    this.checkIdle();
  }

  /** The attempts this executor runs now: what the process's heartbeat renews, and nothing else. */
  heldAttempts(): AttemptRef[] {
    return [...this.running.values()].map(({ task: { runId, taskId, attempt } }) => ({ runId, taskId, attempt }));
  }

  /**
   * Aborts the steps of attempts the store ended otherwise than by their settle (failFast cancelled
   * them, a stop elsewhere, the reaper): they are no longer this process's to run.
   */
  abortEnded(attempts: readonly Pick<AttemptRef, "taskId" | "attempt">[]): void {
    for (const { taskId, attempt } of attempts) {
      const key = `${taskId}#${attempt}`;
      const held = this.running.get(key);
      if (held) {
        this.endedByStore.add(key);
        held.abort.abort(new Error(`task ${taskId} was cancelled (attempt ${attempt} ended)`));
      }
    }
  }

  /** Aborts every attempt of the run, and those dispatched later. */
  private abortRun(reason: unknown): void {
    this.abort.abort(reason);
    for (const { abort } of this.running.values()) {
      abort.abort(reason);
    }
  }

  /** Claims again after a resume or a retry delay. */
  wake(): void {
    this.runStatus = "running";
    this.claimedNothing = false;
    void this.claimMore().then(() => this.checkIdle());
  }

  private dispatch(claimed: readonly ClaimedTask[]): void {
    for (const task of claimed) {
      const key = `${task.taskId}#${task.attempt}`;
      // One controller per attempt: the run's abort aborts each (no signal combining per attempt).
      const abort = new AbortController();
      if (this.abort.signal.aborted) {
        abort.abort(this.abort.signal.reason);
      }
      this.running.set(key, { task, abort });
      const work = task.replan
        ? this.revise(task)
        : task.kind === "composite"
          ? this.expand(task)
          : runAttempt(task, this.run.environment, abort.signal).then((s) => this.settleUnlessEnded(key, s));
      void work
        .catch((error) => this.fail(error))
        .finally(() => {
          this.running.delete(key);
          this.endedByStore.delete(key);
          this.checkIdle();
        });
    }
  }

  /**
   * Settles an attempt, unless the store ended it already and its step stopped on the abort: the
   * store closed the attempt (as cancelled), and a settle would only be rejected. A step that ran
   * to its end anyway is settled, and rejected, for the record.
   */
  private settleUnlessEnded(key: string, settlement: Settlement): Promise<void> | undefined {
    const ended = this.endedByStore.has(key) || isFinalRunStatus(this.runStatus);
    if (ended && settlement.outcome === "cancelled") {
      return undefined;
    }
    return this.settle(settlement);
  }

  /** Settles through the run's batcher: attempts that end while a settle is in flight go together. */
  private settle(settlement: Settlement): Promise<void> {
    return this.batcher.settle(settlement);
  }

  private async settleBatch(batch: readonly Settlement[]): Promise<void> {
    const { tasks, workerId, leaseMs, channel } = this.deps;
    // The settling tasks still count as running here; the SQL re-checks max_parallel exactly.
    const freeSlots = this.run.maxParallel - this.running.size + batch.length;
    // Through a Postgres restart: a settle that did commit is rejected by its guard on retry.
    const result = await retryTransient(
      () => tasks.settleMany(this.run.runId, batch, workerId, freeSlots, leaseMs, channel),
      Math.max(30_000, 2 * leaseMs),
      (error) => this.deps.onError(error),
    );
    if (result.runStatus) {
      this.observe(result.runStatus as RunStatus);
    }
    this.abortEnded(result.aborted);
    this.dispatch(result.claimed);
    this.rateWake.in(result.wakeInMs);
    if (result.slotFreed) {
      this.deps.onSlotFreed?.(this.run.runId);
    }
    if (result.results.some((r) => r.status === "ready")) {
      this.scheduleWake();
    }
  }

  /**
   * A slot of a concurrency key was freed by another run of this process: claim again, whatever
   * runs here (a paused or final run does not).
   */
  recheck(): void {
    if (this.settled || this.runStatus !== "running") {
      return;
    }
    this.claimedNothing = false;
    void this.claimMore().then(() => this.checkIdle());
  }

  /** Expands a lazy composite; a failed expansion is an attempt that failed (retried per policy). */
  private async expand(task: ClaimedTask): Promise<void> {
    const env = this.run.environment;
    const base = { runId: task.runId, taskId: task.taskId, attempt: task.attempt };
    try {
      const plan = await planClaimedExpansion(
        task,
        env,
        "bind one to the run in this process: composeFromTaskGraph(graph, steps, { decomposer })",
      );
      const { tasks, workerId, leaseMs, channel } = this.deps;
      const result = await tasks.expand(
        task,
        plan.tasks,
        plan.edges,
        workerId,
        this.run.maxParallel - this.running.size + 1,
        leaseMs,
        channel,
      );
      if (result.runStatus) {
        this.observe(result.runStatus as RunStatus);
      }
      this.dispatch(result.claimed);
    } catch (error) {
      await this.settle(failure(base, task, error, "failed"));
    }
  }

  /**
   * Revises the plan for a claim with `replan`: asks the run's decomposer, then applies the revision
   * (superseded running attempts are aborted, the next tasks claimed). A stale one was released and
   * is claimed again; a declined one fails the task with its own error, a failed one with the
   * DecompositionError that says why.
   */
  private async revise(task: ClaimedTask): Promise<void> {
    let settlement: Settlement;
    try {
      const outcome = await planClaimedRevision(
        task,
        this.run.environment,
        "bind one to the run in this process: composeFromTaskGraph(graph, steps, { decomposer })",
      );
      if (outcome.kind === "plan") {
        const { tasks, workerId, leaseMs, channel } = this.deps;
        const { plan } = outcome;
        const result = await retryTransient(
          () =>
            tasks.applyRevision(
              task,
              workerId,
              plan.revision,
              plan.rows.tasks,
              plan.rows.edges,
              plan.record,
              this.run.maxParallel - this.running.size + 1,
              leaseMs,
              channel,
            ),
          Math.max(30_000, 2 * leaseMs),
          (error) => this.deps.onError(error),
        );
        if (result.runStatus) {
          this.observe(result.runStatus as RunStatus);
        }
        this.abortEnded(result.aborted);
        this.dispatch(result.claimed);
        if (result.stale) {
          this.scheduleWake();
        }
        return;
      }
      settlement = declinedRevision(task);
    } catch (error) {
      settlement = failedRevision(task, error);
    }
    await this.settle(settlement);
  }

  private async claimMore(): Promise<void> {
    if (this.settled) {
      return;
    }
    const { tasks, workerId, leaseMs, channel } = this.deps;
    try {
      const free = this.run.maxParallel - this.running.size;
      const { claimed, runStatus, wakeInMs } = await retryTransient(
        () => tasks.claim(this.run.runId, null, workerId, free, leaseMs, channel),
        Math.max(30_000, 2 * leaseMs),
      );
      // The claim ends the run's due waits, which may have ended the run.
      if (runStatus) {
        this.observe(runStatus as RunStatus);
      }
      this.claimedNothing = claimed.length === 0;
      this.dispatch(claimed);
      this.rateWake.in(wakeInMs);
    } catch (error) {
      this.fail(error);
    }
  }

  /** The run's status as another call of this process learned it (the end of a streamed plan). */
  notice(status: RunStatus): void {
    this.observe(status);
    this.checkIdle();
  }

  private observe(status: RunStatus): void {
    this.runStatus = status;
    if (isFinalRunStatus(status) && !this.abort.signal.aborted && this.running.size > 0 && status !== "completed") {
      // failFast or a stop elsewhere: what still runs cannot change the outcome.
      this.abortRun(new Error(`run ${status}`));
    }
  }

  /** When nothing runs: finish if the run is final, else wait for a retry delay or a resume. */
  private checkIdle(): void {
    if (this.settled) {
      return;
    }
    if (this.running.size > 0) {
      this.scheduleWaitWake();
      return;
    }
    if (isFinalRunStatus(this.runStatus)) {
      return this.finish(this.runStatus);
    }
    this.scheduleWake();
  }

  private scheduleWake(): void {
    if (this.settled) {
      return;
    }
    clearTimeout(this.wakeTimer);
    if (this.runStatus !== "running") {
      // Paused or awaiting approval: resumeRun or approvePlan in this process calls wake(); one in another
      // process is seen at the idle rate.
      this.wakeTimer = setTimeout(() => void this.poll(), IDLE_POLL_MS);
      return;
    }
    void retryTransient(() => this.deps.tasks.nextAvailableAt(this.run.runId), 30_000)
      .then((at) => {
        const dueInMs = at ? Math.max(0, at.getTime() - Date.now()) : IDLE_POLL_MS;
        // A task that is due but was not claimed waits for slots or a queue that others hold: no
        // loop of queries, a recheck at the idle rate. A retry delay ends at its own time.
        const held = dueInMs === 0 && this.claimedNothing;
        this.wakeTimer = setTimeout(() => void this.poll(), held ? IDLE_POLL_MS : Math.min(dueInMs, IDLE_POLL_MS));
      })
      .catch((error) => this.fail(error));
  }

  /**
   * While steps run, a due wait is ended by the next claim; with every slot taken no claim would come
   * before a step ends, so a run with waits wakes when its next one is due (by the database's clock).
   */
  private scheduleWaitWake(): void {
    if (!this.run.hasWaits || this.settled || this.runStatus !== "running") {
      return;
    }
    void retryTransient(() => this.deps.tasks.nextWaitDueInMs(this.run.runId), 30_000)
      .then((dueInMs) => {
        clearTimeout(this.waitTimer);
        if (dueInMs !== null && !this.settled) {
          // Not sooner than WAIT_RECHECK_MS: a wait due now is ended by the claim this wakes.
          this.waitTimer = setTimeout(() => void this.poll(), Math.max(WAIT_RECHECK_MS, dueInMs));
        }
      })
      .catch((error) => this.fail(error));
  }

  private async poll(): Promise<void> {
    if (this.settled) {
      return;
    }
    try {
      // A run that vanished (deleted) counts as cancelled: nothing is left to run.
      const status = await retryTransient(() => this.deps.control.runStatus(this.run.runId), 30_000);
      this.observe((status ?? "cancelled") as RunStatus);
      if (this.runStatus === "running") {
        await this.claimMore();
      }
      this.checkIdle();
    } catch (error) {
      this.fail(error);
    }
  }

  private finish(status: RunStatus): void {
    if (this.settled) {
      return;
    }
    this.settled = true;
    this.cleanup();
    this.finished(status);
  }

  /** True while no attempt of the run runs in this process (a close may then detach it). */
  get idle(): boolean {
    return !this.settled && this.running.size === 0;
  }

  /**
   * Stops following the run without changing it (orch.close() on a run that waits for a person or
   * for time): execute() rejects with `error`. Only while idle: nothing of the run runs here.
   */
  detach(error: unknown): void {
    if (this.idle) {
      this.fail(error);
    }
  }

  private fail(error: unknown): void {
    if (this.settled) {
      return;
    }
    this.settled = true;
    this.cleanup();
    this.abortRun(error);
    this.failed(error);
  }

  private cleanup(): void {
    clearTimeout(this.deadline);
    clearTimeout(this.wakeTimer);
    clearTimeout(this.waitTimer);
    this.rateWake.stop();
  }
}
