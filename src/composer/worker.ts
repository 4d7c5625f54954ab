/**
 * A worker: claims ready tasks of any run of its workflows, across processes and machines, runs
 * them, and settles them (which claims the same run's next tasks in the same round trip). NOTIFY
 * wakes it when work may be ready; a slow poll is the fallback. It renews the leases of the
 * attempts it holds, never starts a step whose lease has run out by its own clock, reaps the
 * expired leases of dead workers, and on stop hands back what it still holds.
 */
import type { AttemptRef, ClaimedTask, Settlement } from "../store/tasks.js";
import type { Listener } from "../store/db.js";
import { LeaseExpiredError } from "../errors.js";
import { failure, planClaimedExpansion, runAttempt, type AttemptEnvironment } from "./attempt.js";
import { declinedRevision, failedRevision, planClaimedRevision } from "./revision-attempt.js";
import { attemptKey, HeldLeases } from "./held-leases.js";
import { retryTransient } from "./transient.js";
import { EarliestWake } from "./earliest-wake.js";
import { SettleBatcher } from "./settle-batcher.js";
import type { WorkerDeps, WorkerOptions } from "./worker-options.js";

export type { WorkerDeps, WorkerOptions } from "./worker-options.js";

/**
 * The events after which a task of the run may be claimable: a run started, resumed or repaired, a
 * task ready again, children expanded, or a task final (a dependant may be ready, or a slot of the
 * run's maxParallel free). Others (a task started, a run finished, progress) wake no claim.
 */
const CLAIMABLE_AFTER = new Set([
  "execution:started",
  "execution:resumed",
  "execution:reconciled",
  "task:retried",
  "task:completed",
  "task:failed",
  "task:skipped",
  "task:cancelled",
  "decomposition:completed",
]);
/** The NOTIFY of a slot freed in a queue at its limit that ready tasks wait on. */
const QUEUE_FREED = "queue:freed";
const STOPPING = new Set(["execution:cancelled", "execution:timed_out", "execution:failed"]);
/** How many of the tasks it settled a worker remembers, to ignore their events. */
const SETTLED_REMEMBERED = 1000;
/** How soon a worker claims again after a claim skipped a run another transaction held, in ms. */
const BUSY_RETRY_MS = 1;

export class Worker {
  private readonly running = new Map<string, { runId: string; done: Promise<void> }>();
  /**
   * One controller per attempt (attemptKey): aborted when the store ended the attempt otherwise
   * than by its settle, when its run was stopped, or when stop() runs out of time.
   */
  private readonly attemptAborts = new Map<string, AbortController>();
  /** Attempts the store ended (failFast, a stop): their cancelled settlement is not sent. */
  private readonly endedByStore = new Set<string>();
  private readonly batchers = new Map<string, SettleBatcher>();
  /** The leases of the attempts this worker holds: claimed, and not yet settled, dropped or handed back. */
  private readonly leases: HeldLeases;
  /** Claims and settles in flight: each may bring in tasks, which stop() must hand back. */
  private readonly claimCalls = new Set<Promise<void>>();
  /** The poll and the reaper; the heartbeat is apart, as it runs until stop() ends. */
  private readonly timers: NodeJS.Timeout[] = [];
  private heartbeat: NodeJS.Timeout | undefined;
  /** The pending claim of claimSoon(), if one is scheduled. */
  private busyRetry: NodeJS.Timeout | undefined;
  /** The claim due when tasks a rate limit refused may start (flow control), if one is scheduled. */
  private readonly rateWake = new EarliestWake(() => this.kick());
  /** Slots promised to claims and settles in flight (see freeSlots). */
  private reserved = 0;
  /** A wake-up found no free slot: the next freed slot claims. */
  private wakePending = false;
  /** `runId/taskId` of tasks this worker settled lately, oldest first (see rememberSettled). */
  private readonly settledHere = new Set<string>();
  private renewal: Promise<void> = Promise.resolve();
  private listener: Listener | undefined;
  private claiming = false;
  private claimAgain = false;
  private stopping = false;
  private stopped: Promise<void> | undefined;
  private releasing = false;
  readonly concurrency: number;
  private readonly batchSize: number;
  /** The workflows this worker runs: a settle fills the slots its run leaves free from their runs. */
  private readonly workflowNames: string[];

  constructor(
    private readonly deps: WorkerDeps,
    private readonly options: WorkerOptions,
  ) {
    this.concurrency = options.concurrency ?? 10;
    this.batchSize = options.batchSize ?? this.concurrency;
    this.leases = new HeldLeases(deps.leaseMs);
    this.workflowNames = Object.keys(options.workflows);
  }

  get id(): string {
    return this.deps.workerId;
  }

  /** Tasks this worker is running now. */
  get active(): number {
    return this.running.size;
  }

  /**
   * Slots neither running nor promised to a claim in flight. Claims and settles of different runs
   * are in flight at once, and each may bring tasks back: each reserves what it may claim until
   * what it claimed is running, so together they never claim past `concurrency`.
   */
  private freeSlots(): number {
    return this.concurrency - this.running.size - this.reserved;
  }

  async start(): Promise<void> {
    const { tasks, workerId, leaseMs, channel } = this.deps;
    await tasks.registerWorker(
      workerId,
      (await import("node:os")).hostname(),
      process.pid,
      Object.keys(this.options.workflows),
    );
    if (channel) {
      this.listener = await this.deps.db.listen(channel, {
        onNotify: (payload) => this.onNotify(payload),
        onConnect: () => this.kick(),
        onError: (error) => this.deps.onError(error),
      });
    }
    this.timers.push(this.every(this.options.pollIntervalMs ?? 2000, () => this.poll()));
    this.heartbeat = this.every(Math.max(100, Math.floor(leaseMs / 3)), () => this.renewLeases());
    this.timers.push(
      this.every(this.options.reapIntervalMs ?? 5000, async () => {
        // Expired leases back to ready; runs no process owns started or finished (grace: one lease).
        const reaped = await tasks.reapExpired(100, channel);
        const reconciled = await tasks.reconcileRuns(100, leaseMs, channel);
        if (reaped + reconciled > 0) {
          this.kick();
        }
      }),
    );
    this.kick();
  }

  private every(ms: number, fn: () => unknown): NodeJS.Timeout {
    return setInterval(() => {
      Promise.resolve()
        .then(fn)
        .catch((error) => this.deps.onError(error));
    }, ms);
  }

  /** Renews the leases of the attempts this worker holds (a lease belongs to an attempt). */
  private renewLeases(): Promise<void> {
    const { tasks, workerId, leaseMs } = this.deps;
    const sentAt = this.leases.now();
    this.renewal = tasks.renewHeldLeases(workerId, leaseMs, this.leases.list()).then(({ renewed, gone }) => {
      this.leases.renewed(renewed, sentAt);
      this.abortEnded(gone);
    });
    return this.renewal;
  }

  /**
   * Aborts the steps of attempts the store ended otherwise than by their settle (failFast, a stop,
   * the reaper): they are no longer this worker's to run. Without `taskId`: every attempt of the
   * run; without `attempt`: every attempt of the task.
   */
  private abortEnded(
    attempts: readonly { runId: string; taskId?: string; attempt?: number }[],
    reason = "the task was cancelled",
  ): void {
    for (const ended of attempts) {
      const prefix =
        ended.taskId === undefined
          ? `${ended.runId}/`
          : ended.attempt === undefined
            ? `${ended.runId}/${ended.taskId}#`
            : attemptKey(ended as AttemptRef);
      for (const [key, controller] of this.attemptAborts) {
        if (ended.attempt === undefined ? key.startsWith(prefix) : key === prefix) {
          this.endedByStore.add(key);
          controller.abort(new Error(reason));
        }
      }
    }
  }

  /** Marks a claim or settle as in flight until it ends; stop() waits for those. */
  private inFlight<T>(call: Promise<T>): Promise<T> {
    // Only its end matters here: the caller awaits `call` and handles its error.
    const ended = call.then(
      () => undefined,
      () => undefined,
    );
    this.claimCalls.add(ended);
    void ended.then(() => this.claimCalls.delete(ended));
    return call;
  }

  private onNotify(payload: string): void {
    let event: { type?: string; runId?: string; taskId?: string; workflow?: string };
    try {
      event = JSON.parse(payload) as typeof event;
    } catch (error) {
      this.deps.onError(new Error(`ignored a NOTIFY that is not JSON: ${payload.slice(0, 100)}`, { cause: error }));
      return;
    }
    if (event.runId && event.type && STOPPING.has(event.type)) {
      this.abortEnded([{ runId: event.runId }], `run ${event.type.slice(10)}`);
    }
    if (event.runId && event.taskId && event.type === "task:cancelled") {
      this.abortEnded([{ runId: event.runId, taskId: event.taskId }]);
    }
    // A slot of a concurrency key freed while tasks wait on it, in any run of any workflow
    // (migrations/0009_flow_control.sql): the claim skips what it cannot run.
    if (event.type === QUEUE_FREED) {
      this.kick();
      return;
    }
    if (!event.workflow || !(event.workflow in this.options.workflows) || !CLAIMABLE_AFTER.has(event.type ?? "")) {
      return;
    }
    // A task event of a run this worker is settling, or of a task it settled: that settle claims
    // (claimed) what the change made claimable, for the slots it frees.
    if (event.runId && event.type?.startsWith("task:")) {
      if (this.batchers.has(event.runId) || this.settledHere.delete(`${event.runId}/${event.taskId}`)) {
        return;
      }
    }
    this.kick();
  }

  /**
   * The slow poll: claims; with every slot taken, it still ends the due waits of its workflows' runs
   * (docs/waits-and-flow-control.md): a wait holds no slot, and no claim would come before a step ends.
   */
  private async poll(): Promise<void> {
    const full = this.freeSlots() <= 0;
    this.kick();
    if (full && !this.stopping) {
      const { tasks, workerId, leaseMs, channel } = this.deps;
      await this.inFlight(tasks.claim(null, this.workflowNames, workerId, 0, leaseMs, channel));
    }
  }

  /** Claims while there are free slots; calls that arrive during a claim coalesce into one more. */
  kick(): void {
    if (this.stopping) {
      return;
    }
    if (this.claiming) {
      this.claimAgain = true;
      return;
    }
    this.claiming = true;
    void this.claimLoop()
      .catch((error) => this.deps.onError(error))
      .finally(() => {
        this.claiming = false;
        if (this.claimAgain) {
          this.claimAgain = false;
          this.kick();
        }
      });
  }

  private async claimLoop(): Promise<void> {
    const { tasks, workerId, leaseMs, channel } = this.deps;
    const workflows = Object.keys(this.options.workflows);
    for (;;) {
      const want = Math.min(this.batchSize, this.freeSlots());
      if (this.stopping) {
        return;
      }
      if (want <= 0) {
        // Every slot is running or promised to a claim in flight: claim once one is free.
        this.wakePending = true;
        return;
      }
      this.wakePending = false;
      const sentAt = this.leases.now();
      this.reserved += want;
      try {
        const { claimed, busy, wakeInMs } = await this.inFlight(
          retryTransient(() => tasks.claim(null, workflows, workerId, want, leaseMs, channel), leaseMs),
        );
        this.dispatch(claimed, sentAt);
        this.rateWake.in(wakeInMs);
        if (claimed.length < want) {
          if (busy) {
            this.claimSoon();
          }
          return;
        }
      } finally {
        this.reserved -= want;
      }
    }
  }

  /** Remembers the tasks a settle of this worker ended, so their events wake no claim (onNotify). */
  private rememberSettled(batch: readonly Settlement[]): void {
    for (const settlement of batch) {
      this.settledHere.add(`${settlement.runId}/${settlement.taskId}`);
    }
    // Not every settle is NOTIFYed ("on-demand"): keep the latest only.
    for (const key of this.settledHere) {
      if (this.settledHere.size <= SETTLED_REMEMBERED) {
        break;
      }
      this.settledHere.delete(key);
    }
  }

  /** A slot was freed: claims for it if a wake-up found none free (the settle that freed it claimed for itself). */
  private slotsFreed(): void {
    if (this.wakePending && this.freeSlots() > 0) {
      this.kick();
    }
  }

  /**
   * Claims again in BUSY_RETRY_MS: a run with ready tasks was held by another transaction (a
   * settle, which claims only for the slots it frees), so its tasks are claimable once it commits.
   */
  private claimSoon(): void {
    if (this.busyRetry || this.stopping) {
      return;
    }
    this.busyRetry = setTimeout(() => {
      this.busyRetry = undefined;
      this.kick();
    }, BUSY_RETRY_MS);
  }

  /** Runs what a call sent at `sentAt` claimed; a stopping worker holds it for stop() to hand back. */
  private dispatch(claimed: readonly ClaimedTask[], sentAt: number): void {
    this.leases.hold(claimed, sentAt);
    if (this.stopping) {
      return;
    }
    for (const task of claimed) {
      const key = attemptKey(task);
      this.attemptAborts.set(key, new AbortController());
      const done = this.runOne(task)
        .catch((error) => this.deps.onError(error))
        .finally(() => {
          this.running.delete(key);
          this.attemptAborts.delete(key);
          this.endedByStore.delete(key);
          this.slotsFreed();
        });
      this.running.set(key, { runId: task.runId, done });
    }
  }

  private async runOne(task: ClaimedTask): Promise<void> {
    let settlement: Settlement | null;
    try {
      settlement = await this.attempt(task);
    } catch (error) {
      // Not run, and never will be here: let its lease run out for the reaper.
      this.leases.release(task);
      throw error;
    }
    // Not started (stop() hands it back, or its lease ran out), or ended after stop() ran out of time:
    // the lease stays held for stop() to hand the task back.
    if (settlement === null || this.releasing) {
      return;
    }
    // Cancelled by the store (which closed the attempt) and stopped on the abort: nothing to settle.
    if (this.endedByStore.has(attemptKey(task)) && settlement.outcome === "cancelled") {
      this.leases.release(task);
      return;
    }
    const batcher = this.batcherFor(task.runId);
    try {
      await batcher.settle(settlement);
    } finally {
      this.leases.release(task);
    }
    if (batcher.idle && this.batchers.get(task.runId) === batcher) {
      this.batchers.delete(task.runId);
    }
  }

  /** The attempt's settlement, or null when its step did not start (or a lazy composite expanded). */
  private async attempt(task: ClaimedTask): Promise<Settlement | null> {
    const { workerId, leaseMs } = this.deps;
    const env = await retryTransient(() => this.deps.environmentFor(task.runId, task.workflow), leaseMs);
    if (env && task.replan) {
      return this.mayStart(task) ? this.revise(task, env) : null;
    }
    if (env && task.kind === "composite") {
      return this.mayStart(task) ? this.expand(task, env) : null;
    }
    return env
      ? runAttempt(task, env, this.signalFor(task), () => this.mayStart(task))
      : {
          runId: task.runId,
          taskId: task.taskId,
          attempt: task.attempt,
          outcome: "failed" as const,
          retryDelayMs: null,
          error: {
            name: "Error",
            message: `worker ${workerId} has no steps for workflow ${JSON.stringify(task.workflow)}`,
          },
        };
  }

  /**
   * Expands a claimed lazy composite with its workflow's decomposer: its children are inserted and the
   * run's next tasks claimed in one call, so nothing is left to settle (null). A failed expansion is
   * an attempt that failed, retried per policy; a workflow without a decomposer fails at once.
   */
  private async expand(task: ClaimedTask, env: AttemptEnvironment): Promise<Settlement | null> {
    const base = { runId: task.runId, taskId: task.taskId, attempt: task.attempt };
    const { tasks, workerId, leaseMs, channel } = this.deps;
    try {
      const fix = `give it to the worker: startWorker({ decomposers: { ${task.workflow}: … } })`;
      const plan = await planClaimedExpansion(task, env, fix);
      const free = this.stopping ? 0 : Math.max(0, this.freeSlots() + 1);
      const sentAt = this.leases.now();
      this.reserved += free;
      try {
        const result = await this.inFlight(
          retryTransient(
            () => tasks.expand(task, plan.tasks, plan.edges, workerId, free, leaseMs, channel),
            Math.max(30_000, 2 * leaseMs),
            (error) => this.deps.onError(error),
          ),
        );
        this.leases.release(task);
        this.dispatch(result.claimed, sentAt);
      } finally {
        this.reserved -= free;
      }
      this.slotsFreed();
      return null;
    } catch (error) {
      return failure(base, task, error, "failed");
    }
  }

  /**
   * Revises the run's plan for a claim with `replan` (docs/living-plans.md) with its workflow's decomposer,
   * applied in one call that also claims the run's next tasks (null: nothing left to settle). A
   * declined revision fails the task with its own error, a failed one with the DecompositionError.
   */
  private async revise(task: ClaimedTask, env: AttemptEnvironment): Promise<Settlement | null> {
    const { tasks, workerId, leaseMs, channel } = this.deps;
    try {
      const fix = `give it to the worker: startWorker({ decomposers: { ${task.workflow}: … } })`;
      const outcome = await planClaimedRevision(task, env, fix);
      if (outcome.kind === "declined") {
        return declinedRevision(task);
      }
      const { plan } = outcome;
      const free = this.stopping ? 0 : Math.max(0, this.freeSlots() + 1);
      const sentAt = this.leases.now();
      this.reserved += free;
      try {
        const result = await this.inFlight(
          retryTransient(
            () =>
              tasks.applyRevision(
                task,
                workerId,
                plan.revision,
                plan.rows.tasks,
                plan.rows.edges,
                plan.record,
                free,
                leaseMs,
                channel,
              ),
            Math.max(30_000, 2 * leaseMs),
            (error) => this.deps.onError(error),
          ),
        );
        this.leases.release(task);
        this.abortEnded(result.aborted.map((a) => ({ runId: task.runId, ...a })));
        this.dispatch(result.claimed, sentAt);
      } finally {
        this.reserved -= free;
      }
      this.slotsFreed();
      return null;
    } catch (error) {
      return failedRevision(task, error);
    }
  }

  /**
   * Whether the attempt's step may start now: not once stop() began (stop() hands the task back),
   * nor once its lease has run out by this worker's clock (another worker may own the task now:
   * the attempt is dropped unsettled and the reaper returns it to ready).
   */
  private mayStart(task: ClaimedTask): boolean {
    if (this.stopping) {
      return false;
    }
    const expiredByMs = this.leases.expiredByMs(task);
    if (expiredByMs > 0) {
      this.leases.release(task);
      this.deps.onError(new LeaseExpiredError(this.deps.workerId, task, expiredByMs));
      return false;
    }
    return true;
  }

  /**
   * One batcher per run: a run's settles go one batch at a time (they would queue on the run's row
   * lock anyway), each batch in one round trip: group commit, whatever batchSize is.
   */
  private batcherFor(runId: string): SettleBatcher {
    let batcher = this.batchers.get(runId);
    if (!batcher) {
      batcher = new SettleBatcher(
        (batch) => this.settleBatch(runId, batch),
        this.concurrency,
        (queued) => {
          let running = 0;
          for (const r of this.running.values()) {
            if (r.runId === runId) {
              running++;
            }
          }
          return running > queued;
        },
        this.deps.maxOutputBytes,
      );
      this.batchers.set(runId, batcher);
    }
    return batcher;
  }

  private async settleBatch(runId: string, batch: readonly Settlement[]): Promise<void> {
    // stop() ran out of time: it hands back what is still held instead of settling it.
    if (this.releasing) {
      return;
    }
    const { tasks, workerId, leaseMs, channel } = this.deps;
    // A stopping worker claims nothing. The settling tasks still count as running here; the SQL
    // re-checks max_parallel exactly. With batchSize 1 a settle claims at most one task per task it settles.
    const free = this.stopping
      ? 0
      : Math.max(0, Math.min(batch.length * this.batchSize, this.freeSlots() + batch.length));
    const sentAt = this.leases.now();
    this.reserved += free;
    try {
      // Through a Postgres restart: a settle that did commit is rejected by its guard on retry.
      const result = await this.inFlight(
        retryTransient(
          () => tasks.settleMany(runId, batch, workerId, free, leaseMs, channel, this.workflowNames),
          Math.max(30_000, 2 * leaseMs),
          (error) => this.deps.onError(error),
        ),
      );
      this.abortEnded(result.aborted.map((a) => ({ runId, ...a })));
      this.dispatch(result.claimed, sentAt);
      this.rateWake.in(result.wakeInMs);
      this.rememberSettled(batch);
      // Settled: the batch's slots are free now (its runners leave `running` a few ticks later).
      for (const settlement of batch) {
        this.running.delete(attemptKey(settlement));
      }
      if (result.busy) {
        this.claimSoon();
      }
    } finally {
      this.reserved -= free;
      this.slotsFreed();
    }
  }

  /** The signal of one attempt: aborted by a stop of its run, by the store ending it, or by stop(). */
  private signalFor(task: ClaimedTask): AbortSignal {
    let controller = this.attemptAborts.get(attemptKey(task));
    if (!controller) {
      controller = new AbortController();
      this.attemptAborts.set(attemptKey(task), controller);
    }
    return controller.signal;
  }

  /**
   * Stops claiming, lets running steps finish up to `stopTimeoutMs` (then aborts them), and hands
   * back every task it still holds. Once it resolves this worker starts no step, claims no task
   * and renews no lease; it has no timer left. Calling it again returns the same promise.
   */
  stop(): Promise<void> {
    this.stopped ??= this.shutdown();
    return this.stopped;
  }

  private async shutdown(): Promise<void> {
    this.stopping = true;
    for (const timer of this.timers) {
      clearInterval(timer);
    }
    clearTimeout(this.busyRetry);
    this.rateWake.stop();
    try {
      await this.listener?.close();
      await this.finishSteps(this.options.stopTimeoutMs ?? 30_000);
      // A claim or settle still in flight may bring tasks in (held, never started): wait for it,
      // so that release_tasks hands those back too.
      while (this.claimCalls.size > 0) {
        await Promise.all(this.claimCalls);
      }
      const { tasks, workerId, channel } = this.deps;
      await tasks.releaseTasks(workerId, channel);
      await tasks.unregisterWorker(workerId);
    } finally {
      // The heartbeat renewed the held leases until they were handed back.
      clearInterval(this.heartbeat);
      // Its failure was reported by the timer that ran it; stop() only waits for its end.
      await this.renewal.catch(() => undefined);
      this.leases.clear();
    }
  }

  /** Waits for the running steps up to `timeoutMs`, then aborts them; their tasks are handed back unsettled. */
  private async finishSteps(timeoutMs: number): Promise<void> {
    const all = Promise.allSettled([...this.running.values()].map((r) => r.done));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), timeoutMs);
    });
    try {
      if ((await Promise.race([all, deadline])) === "late") {
        this.releasing = true;
        for (const controller of this.attemptAborts.values()) {
          controller.abort(new Error("worker stopping"));
        }
      }
    } finally {
      clearTimeout(timer);
    }
  }
}
