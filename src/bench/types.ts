/**
 * The benchmark's vocabulary: workloads, their sizes, and what a system under test must offer.
 * Every system (htdag, the raw-SQL floor, graphile-worker, pg-boss) implements `BenchSystem`; the
 * harness measures the same workloads on each, one system at a time, in its own database.
 */

/** The workloads of the benchmark (docs/performance.md). */
export const WORKLOADS = [
  "flat",
  "flat-batched",
  "chain",
  "fan",
  "layered",
  "idle-latency",
  "idle-queries",
  "faults",
  "many-runs",
  "scale-out",
] as const;
export type WorkloadId = (typeof WORKLOADS)[number];

/** Short labels for tables and charts. */
export const WORKLOAD_LABELS: Record<WorkloadId, string> = {
  flat: "W1 flat",
  "flat-batched": "W1 flat, batched",
  chain: "W2 chain",
  fan: "W3 fan",
  layered: "W4 layered DAG",
  "idle-latency": "W5 single tasks",
  "idle-queries": "W5 idle",
  faults: "W6 faults",
  "many-runs": "W7 many runs",
  "scale-out": "W8 scale-out",
};

/** Sizes of every workload; `sizesFor` picks full, quick or tiny ones. */
export interface WorkloadSizes {
  /** W1: independent no-op tasks. */
  flatTasks: number;
  /** W1: tasks running at once (every system). */
  concurrency: number;
  /** W1 batched: tasks per claim. */
  batchSize: number;
  /** W2: steps of the chain. */
  chainSteps: number;
  /** W3: children between the root and the join. */
  fanWidth: number;
  /** W4: layers × nodes per layer, each node with `parents` random parents in the previous layer. */
  layers: number;
  layerWidth: number;
  parents: number;
  /** W5: single tasks sent one after another. */
  idleTasks: number;
  /** W5: seconds of watching an idle system. */
  idleSeconds: number;
  /** W6: tasks; 10% throw once, 5% hang past the timeout once. */
  faultTasks: number;
  /** W6: per-attempt timeout, ms. */
  faultTimeoutMs: number;
  /** W7: single-task runs submitted at once by one process, run by one worker (concurrency `concurrency`). */
  manyRuns: number;
  /** W8: independent tasks drained by each count of worker processes. */
  scaleOutTasks: number;
  /** W8: how long each task's step sleeps, ms. */
  scaleOutStepMs: number;
  /** W8: the counts of worker processes (concurrency `concurrency` each), in order; the speed-up is last ÷ first. */
  scaleOutProcesses: number[];
}

/** What one run of a workload measured. `tasks` turns the harness's counters into per-task figures. */
export interface WorkloadResult {
  /** Tasks (jobs, steps) the run executed. */
  tasks: number;
  /** Figures by metric name, e.g. `{ "ms per step": 1.2 }`. */
  metrics: Record<string, number>;
  /**
   * The work ran in child processes: the harness's in-process counters (round trips, Node CPU, and the
   * CPU of backends that left before the run ended) would miss it, so it adds none; `metrics` carries
   * the children's own round trips. @default false
   */
  inChildProcesses?: boolean;
}

/** One system opened on one database: it runs workloads until closed. Missing methods = not measured. */
export interface SystemSession {
  flat?(tasks: number, concurrency: number, batchSize: number): Promise<WorkloadResult>;
  chain?(steps: number): Promise<WorkloadResult>;
  fan?(width: number): Promise<WorkloadResult>;
  layered?(dag: LayeredDag): Promise<WorkloadResult>;
  idleLatency?(count: number): Promise<WorkloadResult>;
  /** Starts the system's idle workers, calls `watch()` (the harness counts while it waits), then stops them. */
  idleQueries?(watch: () => Promise<void>): Promise<WorkloadResult>;
  faults?(plan: FaultPlan): Promise<WorkloadResult>;
  /** W7: `runs` single-task runs (jobs) submitted one by one, concurrently, to one worker. */
  manyRuns?(runs: number, concurrency: number): Promise<WorkloadResult>;
  /** W8: the same independent tasks drained by each count of worker processes in `plan`. */
  scaleOut?(plan: ScaleOutPlan): Promise<WorkloadResult>;
  /** Statements sent so far, when the driver is not node-postgres (PGlite). */
  roundTrips?(): number;
  close(): Promise<void>;
}

/** A system under test. */
export interface BenchSystem {
  /** Short name, e.g. `htdag`, `graphile-worker`. */
  name: string;
  /** Package version (or a description), for the report. */
  version: string;
  /** `postgres` systems get a fresh database `htdag_bench_<name>`; `embedded` ones get none. */
  store: "postgres" | "embedded";
  /** How this system's workloads differ from the others' (shown under the table). */
  notes: string[];
  /** Opens a session on `url` (null for embedded systems). */
  open(url: string | null, sizes: WorkloadSizes, harness: HarnessTools): Promise<SystemSession>;
}

/**
 * What the harness lends a system. Passed in rather than imported, so that an adapter loaded from
 * another copy of this module (the CLI loads bench/peers from source) shares the harness's counters.
 */
export interface HarnessTools {
  /** Leaves `client`'s statements out of the round-trip counts (a connection that only watches). */
  excludeFromCounts(client: object): void;
}

/** W4's graph: `parentsOf[layer][node]` lists node indexes in the previous layer. */
export interface LayeredDag {
  layers: number;
  width: number;
  parentsOf: number[][][];
}

/** W6's plan: which task indexes throw on their first attempt and which hang past the timeout. */
export interface FaultPlan {
  tasks: number;
  timeoutMs: number;
  throwsOnce: ReadonlySet<number>;
  hangsOnce: ReadonlySet<number>;
  /** Delay before a retry, ms (where the system lets one set it). */
  retryDelayMs: number;
}

/** W8's plan: `tasks` sleeping `stepMs` each, drained once per count in `processes`. */
export interface ScaleOutPlan {
  tasks: number;
  stepMs: number;
  /** Tasks running at once in each process. */
  concurrency: number;
  processes: readonly number[];
}
