/**
 * A worker: claims ready tasks of any run of its workflows, across processes and machines, runs
 * them, and settles them (which claims the same run's next tasks in the same round trip). NOTIFY
 * wakes it when work may be ready; a slow poll is the fallback. It renews its leases, reaps the
 * expired leases of dead workers, and on stop hands back what it still runs.
 */
import { setMaxListeners } from "node:events";
import type { ClaimedTask, Settlement, TaskQueries } from "../store/tasks.js";
import type { Db, Listener } from "../store/db.js";
import { runAttempt, type AttemptEnvironment } from "./attempt.js";
import { retryTransient } from "./transient.js";
import { SettleBatcher } from "./settle-batcher.js";

/** Options of `startWorker`. */
export interface WorkerOptions {
  /** Steps of each workflow this worker runs, by workflow name. */
  workflows: Record<string, import("./steps.js").Steps>;
  /** Tasks this worker runs at once. @default 10 */
  concurrency?: number;
  /**
   * Most tasks claimed by one claim query, and per task settled by a settle (1: unbatched, one task
   * claimed for each one that ends). Settles of one run are always grouped into one round trip.
   * @default concurrency
   */
  batchSize?: number;
  /** Fallback poll when no NOTIFY arrives, in ms (idle cost: one query per interval). @default 2000 */
  pollIntervalMs?: number;
  /** How often this worker looks for expired leases of dead workers, in ms. @default 5000 */
  reapIntervalMs?: number;
  /** On stop, how long running steps may take to finish before their tasks are handed back, in ms. @default 30000 */
  stopTimeoutMs?: number;
  /** Cluster-wide limits of running tasks per queue, set when the worker starts. @default none */
  queues?: Record<string, number>;
}

/** What the worker needs from the orchestrator. */
export interface WorkerDeps {
  db: Db;
  tasks: TaskQueries;
  workerId: string;
  leaseMs: number;
  /** NOTIFY channel to listen on and to notify with, or null (poll only, no NOTIFY sent). */
  channel: string | null;
  /** Most output, in bytes of JSON, one settle call carries (the orchestrator's `maxOutputBytes`). */
  maxOutputBytes: number;
  /** The environment of a run (goal, input, steps); null when this worker lacks its workflow. */
  environmentFor(runId: string, workflow: string): Promise<AttemptEnvironment | null>;
  onError(error: unknown): void;
}

/** Event types that never make work ready. */
const QUIET = new Set(["task:started", "task:progress"]);
const STOPPING = new Set(["execution:cancelled", "execution:timed_out", "execution:failed"]);

export class Worker {
  private readonly running = new Map<string, { runId: string; done: Promise<void> }>();
  private readonly aborts = new Map<string, AbortController>();
  private readonly batchers = new Map<string, SettleBatcher>();
  private readonly timers: NodeJS.Timeout[] = [];
  private listener: Listener | undefined;
  private claiming = false;
  private claimAgain = false;
  private stopping = false;
  private releasing = false;
  readonly concurrency: number;
  private readonly batchSize: number;

  constructor(
    private readonly deps: WorkerDeps,
    private readonly options: WorkerOptions,
  ) {
    this.concurrency = options.concurrency ?? 10;
    this.batchSize = options.batchSize ?? this.concurrency;
  }

  get id(): string {
    return this.deps.workerId;
  }

  /** Tasks this worker is running now. */
  get active(): number {
    return this.running.size;
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
    this.every(this.options.pollIntervalMs ?? 2000, () => this.kick());
    this.every(Math.max(100, Math.floor(leaseMs / 3)), () => tasks.renewLeases(workerId, leaseMs));
    this.every(this.options.reapIntervalMs ?? 5000, async () => {
      if ((await tasks.reapExpired(100, channel)) > 0) {
        this.kick();
      }
    });
    this.kick();
  }

  private every(ms: number, fn: () => unknown): void {
    this.timers.push(
      setInterval(() => {
        Promise.resolve()
          .then(fn)
          .catch((error) => this.deps.onError(error));
      }, ms),
    );
  }

  private onNotify(payload: string): void {
    let event: { type?: string; runId?: string; workflow?: string };
    try {
      event = JSON.parse(payload) as typeof event;
    } catch (error) {
      this.deps.onError(new Error(`ignored a NOTIFY that is not JSON: ${payload.slice(0, 100)}`, { cause: error }));
      return;
    }
    if (event.runId && event.type && STOPPING.has(event.type)) {
      this.aborts.get(event.runId)?.abort(new Error(`run ${event.type.slice(10)}`));
    }
    if (!event.workflow || !(event.workflow in this.options.workflows) || QUIET.has(event.type ?? "")) {
      return;
    }
    // A task event of a run this worker is settling: that settle claims the run's next tasks itself.
    if (event.runId && event.type?.startsWith("task:") && this.batchers.has(event.runId)) {
      return;
    }
    this.kick();
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
      const want = Math.min(this.batchSize, this.concurrency - this.running.size);
      if (want <= 0 || this.stopping) {
        return;
      }
      const claimed = await retryTransient(
        () => tasks.claim(null, workflows, workerId, want, leaseMs, channel),
        leaseMs,
      );
      this.dispatch(claimed);
      if (claimed.length < want) {
        return;
      }
    }
  }

  private dispatch(claimed: readonly ClaimedTask[]): void {
    for (const task of claimed) {
      const key = `${task.runId}/${task.taskId}#${task.attempt}`;
      const done = this.runOne(task)
        .catch((error) => this.deps.onError(error))
        .finally(() => this.running.delete(key));
      this.running.set(key, { runId: task.runId, done });
    }
  }

  private async runOne(task: ClaimedTask): Promise<void> {
    const { workerId, leaseMs } = this.deps;
    const env = await retryTransient(() => this.deps.environmentFor(task.runId, task.workflow), leaseMs);
    const abort = this.abortFor(task.runId);
    const settlement = env
      ? await runAttempt(task, env, abort.signal)
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
    // A stopping worker that ran out of time hands the task back instead of settling it.
    if (this.releasing) {
      return;
    }
    const batcher = this.batcherFor(task.runId);
    await batcher.settle(settlement);
    if (batcher.idle && this.batchers.get(task.runId) === batcher) {
      this.batchers.delete(task.runId);
    }
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
    const { tasks, workerId, leaseMs, channel } = this.deps;
    // The settling tasks still count as running here; the SQL re-checks max_parallel exactly. With
    // batchSize 1 a settle claims at most one task per task it settles.
    const free = Math.min(batch.length * this.batchSize, this.concurrency - this.running.size + batch.length);
    // Through a Postgres restart: a settle that did commit is rejected by its guard on retry.
    const result = await retryTransient(
      () => tasks.settleMany(runId, batch, workerId, free, leaseMs, channel),
      Math.max(30_000, 2 * leaseMs),
      (error) => this.deps.onError(error),
    );
    this.dispatch(result.claimed);
    if (result.claimed.length < free) {
      this.kick();
    }
  }

  private abortFor(runId: string): AbortController {
    let controller = this.aborts.get(runId);
    if (!controller || controller.signal.aborted) {
      controller = new AbortController();
      // Every running attempt of the run listens on this signal (removed when it ends).
      setMaxListeners(0, controller.signal);
      this.aborts.set(runId, controller);
    }
    return controller;
  }

  /** Stops claiming, lets running steps finish up to `stopTimeoutMs`, then hands back what remains. */
  async stop(): Promise<void> {
    if (this.stopping) {
      return;
    }
    this.stopping = true;
    for (const timer of this.timers) {
      clearInterval(timer);
    }
    await this.listener?.close();
    const all = Promise.allSettled([...this.running.values()].map((r) => r.done));
    const deadline = new Promise<"late">((resolve) =>
      setTimeout(() => resolve("late"), this.options.stopTimeoutMs ?? 30_000).unref(),
    );
    if ((await Promise.race([all, deadline])) === "late") {
      this.releasing = true;
      for (const controller of this.aborts.values()) {
        controller.abort(new Error("worker stopping"));
      }
    }
    const { tasks, workerId, channel } = this.deps;
    await tasks.releaseTasks(workerId, channel);
    await tasks.unregisterWorker(workerId);
  }
}
