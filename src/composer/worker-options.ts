/** What a worker is given: the options of `startWorker`, and what the orchestrator passes in. */
import type { Db } from "../store/db.js";
import type { TaskQueries } from "../store/tasks.js";
import type { AttemptEnvironment } from "./attempt.js";
import type { Decomposer } from "../graph/decomposer.js";
import type { Steps } from "./steps.js";

/** Options of `startWorker`. */
export interface WorkerOptions {
  /** Steps of each workflow this worker runs, by workflow name. */
  workflows: Record<string, Steps>;
  /** Tasks this worker runs at once. @default 10 */
  concurrency?: number;
  /**
   * Most tasks claimed by one claim query, and per task settled by a settle (1: unbatched, one task
   * claimed for each one that ends). Settles of one run are always grouped into one round trip.
   * @default concurrency
   */
  batchSize?: number;
  /**
   * Fallback poll when no NOTIFY arrives, in ms (idle cost: one query per interval); also how often
   * the worker reads the schedules at least (docs/waits-and-flow-control.md). @default 2000
   */
  pollIntervalMs?: number;
  /** How often this worker looks for expired leases of dead workers, in ms. @default 5000 */
  reapIntervalMs?: number;
  /** On stop, how long running steps may take to finish before their tasks are handed back, in ms. @default 30000 */
  stopTimeoutMs?: number;
  /** Cluster-wide limits of running tasks per queue, set when the worker starts. @default none */
  queues?: Record<string, number>;
  /**
   * The decomposer of each workflow whose graphs hold lazy composites (`expand: "lazy"`), by
   * workflow name: the worker expands such a composite when it becomes ready.
   * @default none (a lazy composite of a workflow without one fails at once, saying so)
   */
  decomposers?: Record<string, Decomposer>;
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
