/**
 * The harness: for each system, one at a time, a fresh database; for each workload one discarded
 * warm-up, then `repeats` measured runs. Around every run it counts round trips, Node CPU and
 * Postgres CPU (counters.ts), and turns them into figures per task.
 */
import type pg from "pg";
import { BackgroundLoad, type BackgroundAchieved, type BackgroundOptions } from "./background-load.js";
import {
  backendCpu,
  backendCpuDelta,
  excludeFromCounts,
  installRoundTripCounter,
  nodeCpuSeconds,
  roundTripsTo,
  statementProfile,
  type StatementProfile,
} from "./counters.js";
import { benchDatabaseName, connectAdmin, dropDatabase, recreateDatabase } from "./databases.js";
import { faultPlan, layeredDag, scaleOutPlan } from "./sizes.js";
import { summarizeRepeats, type Summary } from "./stats.js";
import {
  WORKLOADS,
  type BenchSystem,
  type SystemSession,
  type WorkloadId,
  type WorkloadResult,
  type WorkloadSizes,
} from "./types.js";

/** Options of `runBenchmark`. */
export interface HarnessOptions {
  /** Systems to measure, in order. */
  systems: readonly BenchSystem[];
  sizes: WorkloadSizes;
  /** Measured runs per workload after the warm-up. @default 3 */
  repeats?: number;
  /** Run one discarded warm-up before the measured runs. @default true */
  warmUp?: boolean;
  /** Admin URL of the Postgres server; the harness creates `htdag_bench_<system>` databases there. */
  adminUrl: string;
  /** Databases are named `<databasePrefix>_<system>`, dropped and recreated. @default "htdag_bench" */
  databasePrefix?: string;
  /** Workloads to run. @default every workload */
  workloads?: readonly WorkloadId[];
  /** Time every statement and report each system's costliest (all its workloads together). @default false */
  profile?: boolean;
  /** Progress lines. @default none */
  onProgress?: (line: string) => void;
  /**
   * Measure W1 and W2 a second time under a fixed synthetic load on another database of the same
   * server (`<databasePrefix>_background`, dropped at the end). @default none
   */
  background?: BackgroundOptions;
}

/** The workloads measured a second time under the background load. */
export const BACKGROUND_WORKLOADS: readonly WorkloadId[] = ["flat", "flat-batched", "chain"];

/** One figure: a metric of a workload on a system, over the repeats. */
export interface ResultRow extends Summary {
  system: string;
  workload: WorkloadId;
  metric: string;
  /** Measured under the background load (BENCH_BACKGROUND). */
  background?: boolean;
}

/** A workload that threw on a system (the other workloads and systems still run). */
export interface Failure {
  system: string;
  workload: WorkloadId | "open";
  message: string;
  /** Failed under the background load. */
  background?: boolean;
}

/** A system's costliest statements over all its workloads (with `profile`). */
export interface SystemProfile {
  system: string;
  statements: (StatementProfile & { statement: string })[];
}

export interface HarnessResult {
  rows: ResultRow[];
  failures: Failure[];
  profiles: SystemProfile[];
  /** With `background`: the load actually achieved. */
  background?: BackgroundAchieved;
}

type Runner = (session: SystemSession) => Promise<WorkloadResult> | undefined;

/** Runners of the workloads measured from start to end (idle-queries is measured inside its watch). */
function runnerFor(workload: Exclude<WorkloadId, "idle-queries">, sizes: WorkloadSizes): Runner {
  const dag = layeredDag(sizes);
  const plan = faultPlan(sizes);
  const runners: Record<Exclude<WorkloadId, "idle-queries">, Runner> = {
    flat: (s) => s.flat?.(sizes.flatTasks, sizes.concurrency, 1),
    "flat-batched": (s) => s.flat?.(sizes.flatTasks, sizes.concurrency, sizes.batchSize),
    chain: (s) => s.chain?.(sizes.chainSteps),
    fan: (s) => s.fan?.(sizes.fanWidth),
    layered: (s) => s.layered?.(dag),
    "idle-latency": (s) => s.idleLatency?.(sizes.idleTasks),
    faults: (s) => s.faults?.(plan),
    "many-runs": (s) => s.manyRuns?.(sizes.manyRuns, sizes.concurrency),
    "scale-out": (s) => s.scaleOut?.(scaleOutPlan(sizes)),
  };
  return runners[workload];
}

/** Runs every workload of every system and returns the summarized figures. */
export async function runBenchmark(options: HarnessOptions): Promise<HarnessResult> {
  installRoundTripCounter({ profile: options.profile ?? false });
  const progress = options.onProgress ?? (() => undefined);
  const admin = await connectAdmin(options.adminUrl);
  const rows: ResultRow[] = [];
  const failures: Failure[] = [];
  const profiles: SystemProfile[] = [];
  let load: BackgroundLoad | undefined;
  try {
    if (options.background) {
      load = await BackgroundLoad.create(admin, options.adminUrl, options.background, options.databasePrefix);
      progress(`background load: ${load.clients} client(s) × ${load.tps} transactions/s on ${load.database}`);
    }
    for (const system of options.systems) {
      const database = system.store === "postgres" ? benchDatabaseName(system.name, options.databasePrefix) : null;
      const url = database ? await recreateDatabase(admin, options.adminUrl, database) : null;
      let session: SystemSession;
      try {
        session = await system.open(url, options.sizes, { excludeFromCounts });
      } catch (error) {
        failures.push({ system: system.name, workload: "open", message: (error as Error).message });
        progress(`${system.name}: could not start: ${(error as Error).message}`);
        if (database) {
          await dropDatabase(admin, database);
        }
        continue;
      }
      try {
        for (const workload of options.workloads ?? WORKLOADS) {
          const measured = await measureWorkload(
            system.name,
            workload,
            session,
            database,
            admin,
            options,
            progress,
          ).catch((error: unknown) => {
            failures.push({ system: system.name, workload, message: (error as Error).message });
            progress(`${system.name} ${workload}: failed: ${(error as Error).message}`);
            return [];
          });
          rows.push(...measured);
          if (load && BACKGROUND_WORKLOADS.includes(workload)) {
            const loaded = load;
            const underLoad = await measureWorkload(
              system.name,
              workload,
              session,
              database,
              admin,
              options,
              progress,
              (work) => loaded.run(system.name, work),
            ).catch((error: unknown) => {
              failures.push({ system: system.name, workload, message: (error as Error).message, background: true });
              progress(`${system.name} ${workload} (background): failed: ${(error as Error).message}`);
              return [];
            });
            rows.push(...underLoad.map((row) => ({ ...row, background: true })));
          }
        }
      } finally {
        await session.close();
        if (database) {
          await dropDatabase(admin, database);
        }
      }
      if (options.profile && database) {
        profiles.push({ system: system.name, statements: statementProfile(database).slice(0, 12) });
      }
    }
  } finally {
    try {
      await load?.drop();
    } finally {
      await admin.end();
    }
  }
  return { rows, failures, profiles, ...(load ? { background: load.achieved() } : {}) };
}

async function measureWorkload(
  systemName: string,
  workload: WorkloadId,
  session: SystemSession,
  database: string | null,
  admin: pg.Client,
  options: HarnessOptions,
  progress: (line: string) => void,
  /** Wraps every run (the background load). */
  around?: <T>(work: () => Promise<T>) => Promise<T>,
): Promise<ResultRow[]> {
  if (!hasMethod(session, workload)) {
    return [];
  }
  const measure =
    workload === "idle-queries"
      ? () => measureIdle(session, database, admin, options.sizes.idleSeconds)
      : () => measureOnce(session, database, admin, runnerFor(workload, options.sizes));
  const label = around ? `${systemName} ${workload} (background)` : `${systemName} ${workload}`;
  const deadline = () => withDeadline(measure(), RUN_DEADLINE_MS, label);
  // The deadline sits inside the load, so a stalled run stops the load too.
  const once = around ? () => around(deadline) : deadline;
  // Watching an idle system needs no warm-up: there is nothing to warm.
  if ((options.warmUp ?? true) && workload !== "idle-queries") {
    progress(`${label}: warm-up`);
    await once();
  }
  const repeats = options.repeats ?? 3;
  const runs: Record<string, number>[] = [];
  for (let i = 1; i <= repeats; i++) {
    progress(`${label}: run ${i}/${repeats}`);
    runs.push(await once());
  }
  return Object.entries(summarizeRepeats(runs)).map(([metric, s]) => ({ system: systemName, workload, metric, ...s }));
}

/** A run that takes longer has stalled: the harness reports it and goes on with the next workload. */
const RUN_DEADLINE_MS = 600_000;

function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(
            `${what} did not finish within ${ms / 1000} s: the system stalled ` +
              "(look for errors above, or run this workload alone with BENCH_WORKLOADS to see it)",
          ),
        ),
      ms,
    );
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

const METHOD: Record<WorkloadId, keyof SystemSession> = {
  flat: "flat",
  "flat-batched": "flat",
  chain: "chain",
  fan: "fan",
  layered: "layered",
  "idle-latency": "idleLatency",
  "idle-queries": "idleQueries",
  faults: "faults",
  "many-runs": "manyRuns",
  "scale-out": "scaleOut",
};
function hasMethod(session: SystemSession, workload: WorkloadId): boolean {
  return typeof session[METHOD[workload]] === "function";
}

function counters(session: SystemSession, database: string | null, admin: pg.Client) {
  return async () => ({
    at: performance.now(),
    roundTrips: session.roundTrips?.() ?? (database ? roundTripsTo(database) : Number.NaN),
    nodeCpu: nodeCpuSeconds(),
    pgCpu: database ? await backendCpu(admin, database) : new Map<number, number>(),
  });
}

/** One run of a workload, with its counters turned into figures per task. */
async function measureOnce(
  session: SystemSession,
  database: string | null,
  admin: pg.Client,
  run: Runner,
): Promise<Record<string, number>> {
  const read = counters(session, database, admin);
  const before = await read();
  const result = await run(session);
  if (!result) {
    throw new Error("this system does not run this workload (its adapter has no runner for it)");
  }
  const after = await read();
  if (result.inChildProcesses) {
    return result.metrics;
  }
  const perThousand = 1000 / result.tasks;
  return {
    ...result.metrics,
    "round trips per task": (after.roundTrips - before.roundTrips) / result.tasks,
    "node CPU s per 1k tasks": (after.nodeCpu - before.nodeCpu) * perThousand,
    "pg CPU s per 1k tasks": database ? backendCpuDelta(before.pgCpu, after.pgCpu) * perThousand : Number.NaN,
  };
}

/**
 * W5 idle: the system's workers wait with nothing to do for `seconds`; queries and CPU per second.
 * Commits from pg_stat_database are not used: backends flush those counters up to 10 s late, so a
 * short window would show the previous workload's commits.
 */
async function measureIdle(
  session: SystemSession,
  database: string | null,
  admin: pg.Client,
  seconds: number,
): Promise<Record<string, number>> {
  const read = counters(session, database, admin);
  let figures: Record<string, number> = {};
  await session.idleQueries?.(async () => {
    // Let start-up queries (registration, LISTEN, a first claim) finish before counting.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const before = await read();
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    const after = await read();
    const elapsed = (after.at - before.at) / 1000;
    figures = {
      "queries per s": (after.roundTrips - before.roundTrips) / elapsed,
      "node CPU %": ((after.nodeCpu - before.nodeCpu) / elapsed) * 100,
      "pg CPU %": database ? (backendCpuDelta(before.pgCpu, after.pgCpu) / elapsed) * 100 : Number.NaN,
    };
  });
  return figures;
}
