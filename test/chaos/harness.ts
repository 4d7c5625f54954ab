/**
 * The chaos harness: a private PostgreSQL cluster, three worker processes and an outside LISTEN
 * subscriber run 1,000-task layered DAGs while faults hit them every 1-2 s (faults.ts); then the
 * invariants are checked (checks.ts) and the times to recover measured (recovery.ts).
 * `npm run chaos` runs it (main.ts); test/chaos/chaos.test.ts runs a bounded version.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { createOrchestrator, type Orchestrator } from "../../src/index.js";
import { seededRandom } from "../../src/bench/sizes.js";
import { startPrivatePostgres } from "../helpers/private-postgres.js";
import { checkRun, unexplainedReExecutions, type RunFindings } from "./checks.js";
import { FaultInjector, type Fault } from "./faults.js";
import { ChaosChild } from "./processes.js";
import { RECORDER_APPLICATION } from "./recorder.js";
import { recoveryTimes, type Recovery } from "./recovery.js";
import { chaosGraph, CHAOS_WORKFLOW, DEFAULT_SHAPE, EXECUTIONS_DDL, type WorkloadShape } from "./workload.js";

export interface ChaosOptions {
  /** Keep starting runs, one after another, until this much time has passed, in ms. @default 0 (one run) */
  durationMs?: number;
  /** Worker processes. @default 3 */
  workers?: number;
  /** Tasks each worker runs at once. @default 4 */
  concurrency?: number;
  /** The workers' lease, in ms; a frozen worker stays frozen this long plus a second. @default 1500 */
  leaseMs?: number;
  /** Shortest and longest time between two faults, in ms. @default [1000, 2000] */
  faultEveryMs?: readonly [number, number];
  /** Seed of the graphs and of the faults' times, kinds and targets. @default 1 */
  seed?: number;
  /** The graph of each run. @default 20 layers of 50 tasks, 2 parents each, steps of 5-50 ms */
  shape?: WorkloadShape;
  /** Longest wait for one run to end, in ms: past it the run counts as stuck. @default 180000 */
  runTimeoutMs?: number;
  /** Receives a line per fault and per run as they happen. @default nothing */
  log?: (line: string) => void;
}

/** What the outside subscriber saw, against what the store holds. */
export interface SubscriberFindings {
  /** Events it wrote (over all its lives). */
  seen: number;
  /** Events of the chaos workflow in the store. */
  stored: number;
  /** Event ids it wrote more than once. */
  duplicates: number;
  /** Stored events it never wrote. */
  missing: number;
  /** Times it was started (1 + kills). */
  lives: number;
}

export interface ChaosReport {
  elapsedMs: number;
  runs: RunFindings[];
  faults: Fault[];
  recoveries: Recovery[];
  subscriber: SubscriberFindings;
  /** Late settles the store refused (rejected_completions). */
  rejectedSettles: number;
  /**
   * Errors the workers and the subscriber reported, by name, with the first message of each
   * (LeaseExpiredError: a step not started, its lease gone by the worker's clock).
   */
  workerErrors: Record<string, { count: number; sample: string }>;
  /** Every invariant broken; empty when the harness found nothing. */
  violations: string[];
}

const LISTEN_CATCH_UP_MS = 30_000;

export async function runChaos(options: ChaosOptions = {}): Promise<ChaosReport> {
  const workerCount = options.workers ?? 3;
  const concurrency = options.concurrency ?? 4;
  const leaseMs = options.leaseMs ?? 1500;
  const seed = options.seed ?? 1;
  const shape = options.shape ?? DEFAULT_SHAPE;
  const log = options.log ?? (() => undefined);
  const random = seededRandom(seed);
  const began = Date.now();

  const server = startPrivatePostgres({ settings: { track_commit_timestamp: "on", max_connections: "300" } });
  // A harness that exits before its `finally` (an uncaught error, Ctrl-C in main.ts) stops its cluster.
  const stopServer = () => server.stop();
  process.once("exit", stopServer);
  const dir = mkdtempSync(`${tmpdir()}/htdag-chaos-`);
  const subscriberFile = `${dir}/events.log`;
  const children: ChaosChild[] = [];
  const workers: ChaosChild[] = [];
  let subscriber: ChaosChild | undefined;
  let subscriberLives = 0;
  let orch: Orchestrator | undefined;
  let injector: FaultInjector | undefined;
  const spawnWorker = () => {
    const child = new ChaosChild("./worker-child.ts", [server.url, String(concurrency), String(leaseMs)]);
    children.push(child);
    workers.push(child);
    return child;
  };
  const spawnSubscriber = () => {
    const spawnedAt = Date.now();
    subscriber = new ChaosChild("./subscriber-child.ts", [server.url, subscriberFile]);
    subscriber.ready.then(
      () => log(`subscriber listening ${Date.now() - spawnedAt} ms after its start`),
      () => undefined,
    );
    children.push(subscriber);
    subscriberLives++;
    return subscriber;
  };
  try {
    // Its connections die with every fault: what it reports goes to the log, as the faults do.
    orch = await createOrchestrator({ database: server.url, onError: (error) => log(`harness: ${String(error)}`) });
    await orch.db.query(EXECUTIONS_DDL);
    await spawnSubscriber().ready;
    await Promise.all(Array.from({ length: workerCount }, () => spawnWorker().ready));

    injector = new FaultInjector(
      {
        workers: () => workers,
        replaceWorker: (killed) => {
          workers.splice(workers.indexOf(killed), 1);
          spawnWorker();
        },
        restartSubscriber: async () => {
          const killed = subscriber!;
          if (!killed.isReady) {
            return null;
          }
          await killed.kill();
          return { pid: killed.pid, ready: spawnSubscriber().ready };
        },
        terminateConnections: () => terminateHtdagConnections(server.url),
        crashServer: () => server.crash(),
        startServer: () => server.start(),
        freezeMs: leaseMs + 1000,
      },
      random,
      options.faultEveryMs ?? [1000, 2000],
      log,
    );
    injector.start();

    const runIds: string[] = [];
    const tasksPerRun = shape.layers * shape.width;
    while (runIds.length === 0 || Date.now() - began < (options.durationMs ?? 0) || !injector.everyKindSeen) {
      const index = runIds.length;
      const started = Date.now();
      const deadline = started + (options.runTimeoutMs ?? 180_000);
      const { runId } = await retrying(deadline, log, () =>
        orch!.submit(chaosGraph(shape, seed, index), {
          workflow: CHAOS_WORKFLOW,
          idempotencyKey: `chaos-${index}`,
          maxParallel: workerCount * concurrency,
          maxAttempts: 100,
          backoff: { baseMs: 50, maxMs: 1000 },
        }),
      );
      runIds.push(runId);
      const status = await waitForEnd(orch, runId, deadline, log);
      log(
        `run ${index + 1} (${runId}): ${status} in ${Date.now() - started} ms, ${injector.faults.length} faults so far`,
      );
    }
    await injector.stop();
    // Every worker and the subscriber up again before the checks (a replacement may still be starting).
    await Promise.all(children.filter((c) => c.alive).map((c) => c.ready.catch(() => undefined)));

    const runs: RunFindings[] = [];
    for (const runId of runIds) {
      runs.push(await checkRun(orch, runId, tasksPerRun));
    }
    const subscriberFindings = await checkSubscriber(orch, subscriberFile, subscriberLives);
    const query = async <R>(sql: string, params?: unknown[]) => (await orch!.db.query(sql, params)).rows as R[];
    const recoveries = await recoveryTimes(query, injector.faults, subscriberLines(subscriberFile));
    const [{ rejected }] = (await query<{ rejected: number }>(
      "SELECT count(*)::int AS rejected FROM htdag.rejected_completions",
    )) as [{ rejected: number }];
    const workerErrors: Record<string, { count: number; sample: string }> = {};
    for (const child of children) {
      for (const [name, count] of child.errors) {
        workerErrors[name] ??= { count: 0, sample: child.samples.get(name)! };
        workerErrors[name].count += count;
      }
    }
    const violations = [
      ...runs.flatMap((run) => run.violations.map((v) => `run ${run.runId}: ${v}`)),
      ...unexplainedReExecutions(runs, injector.faults),
      ...(subscriberFindings.duplicates > 0
        ? [`the subscriber saw ${subscriberFindings.duplicates} events twice`]
        : []),
      ...(subscriberFindings.missing > 0 ? [`the subscriber missed ${subscriberFindings.missing} stored events`] : []),
    ];
    return {
      elapsedMs: Date.now() - began,
      runs,
      faults: injector.faults,
      recoveries,
      subscriber: subscriberFindings,
      rejectedSettles: rejected,
      workerErrors,
      violations,
    };
  } finally {
    await injector?.stop();
    await Promise.all(children.map((child) => child.stop()));
    await orch?.close();
    process.off("exit", stopServer);
    server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Calls `fn` until it succeeds: through a restart or terminated connections, until `deadline`. */
async function retrying<T>(deadline: number, log: (line: string) => void, fn: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await fn();
    } catch (error) {
      if (Date.now() > deadline) {
        throw error;
      }
      log(`harness: ${String(error)}; again`);
      await sleep(200);
    }
  }
}

/** Waits for the run's final status; past `deadline` the run is stuck, and says so. */
async function waitForEnd(
  orch: Orchestrator,
  runId: string,
  deadline: number,
  log: (line: string) => void,
): Promise<string> {
  return retrying(deadline, log, async () => {
    const timeoutMs = Math.max(1, deadline - Date.now());
    return (await orch.waitForRun(runId, { timeoutMs })).status;
  });
}

/** pg_terminate_backend on every connection of the database but the steps' own (RECORDER_APPLICATION). */
async function terminateHtdagConnections(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url, application_name: "chaos-harness" });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: number }>(
      `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n
         FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid()
          AND backend_type = 'client backend' AND application_name <> $1`,
      [RECORDER_APPLICATION],
    );
    return rows[0]!.n;
  } finally {
    await client.end();
  }
}

/** The subscriber's lines: when it wrote each, and the event's id. */
function subscriberLines(file: string): { at: number; id: string }[] {
  if (!existsSync(file)) {
    return [];
  }
  return readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [at, id] = line.split(" ");
      return { at: Number(at), id: id! };
    });
}

/** Waits (up to 30 s) for the subscriber to write every stored event, then compares. */
async function checkSubscriber(orch: Orchestrator, file: string, lives: number): Promise<SubscriberFindings> {
  const { rows } = await orch.db.query<{ id: string }>("SELECT id::text FROM htdag.events WHERE workflow = $1", [
    CHAOS_WORKFLOW,
  ]);
  const stored = new Set(rows.map((row) => row.id));
  const caughtUpBy = Date.now() + LISTEN_CATCH_UP_MS;
  let lines = subscriberLines(file);
  const missing = () => {
    const written = new Set(lines.map((line) => line.id));
    return [...stored].some((id) => !written.has(id));
  };
  while (Date.now() < caughtUpBy && missing()) {
    await sleep(250);
    lines = subscriberLines(file);
  }
  const seen = new Map<string, number>();
  for (const line of lines) {
    seen.set(line.id, (seen.get(line.id) ?? 0) + 1);
  }
  return {
    seen: lines.length,
    stored: stored.size,
    duplicates: [...seen.values()].filter((n) => n > 1).length,
    missing: [...stored].filter((id) => !seen.has(id)).length,
    lives,
  };
}
