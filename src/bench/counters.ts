/**
 * What the harness counts around each run, the same way for every system:
 * - round trips: statements node-postgres sends to the benchmark's database (a counter wrapped
 *   around `pg.Client.prototype.query`, filtered by database name, so the harness's own queries on
 *   the admin database are not counted); PGlite sessions count their own;
 * - Node CPU: `process.cpuUsage()` of this process (every system runs in it);
 * - Postgres CPU: utime + stime in `/proc/<pid>/stat` of the server backends connected to the
 *   benchmark's database (NaN when /proc is not readable, e.g. a server in another container).
 */
import { readFile } from "node:fs/promises";
import pg from "pg";

type QueryFn = (...args: unknown[]) => unknown;
const counts = new Map<string, number>();
const uncounted = new WeakSet<object>();
let installed = false;

/** Per statement (first 120 characters of its SQL): how often it was sent and the time to its result. */
export interface StatementProfile {
  calls: number;
  totalMs: number;
}
let profiles: Map<string, Map<string, StatementProfile>> | null = null;

/** Starts counting statements per database (idempotent); `profile` also times each statement. */
export function installRoundTripCounter(options: { profile?: boolean } = {}): void {
  if (options.profile) {
    profiles ??= new Map();
  }
  if (installed) {
    return;
  }
  installed = true;
  const proto = pg.Client.prototype as unknown as { query: QueryFn };
  const original = proto.query;
  proto.query = function countedQuery(this: { database?: string }, ...args: unknown[]) {
    if (!this.database || uncounted.has(this)) {
      return original.apply(this, args);
    }
    counts.set(this.database, (counts.get(this.database) ?? 0) + 1);
    if (!profiles) {
      return original.apply(this, args);
    }
    // node-postgres takes a callback (pg-pool's pool.query passes one) or returns a promise.
    const done = timer(this.database, args[0]);
    const last = args.length - 1;
    const callback = args[last];
    if (typeof callback === "function") {
      args[last] = (...results: unknown[]) => {
        done();
        return callback(...results);
      };
      return original.apply(this, args);
    }
    const result = original.apply(this, args);
    // Only timing: the caller handles the result and any error.
    if (result instanceof Promise) {
      result.then(done, done);
    }
    return result;
  };
}

/** Starts timing one statement; the returned function notes its end. */
function timer(database: string, query: unknown): () => void {
  const text = typeof query === "string" ? query : (query as { text?: unknown } | null)?.text;
  const key = (typeof text === "string" ? text : "(query object)").replace(/\s+/g, " ").trim().slice(0, 120);
  const startedAt = performance.now();
  return () => {
    const byStatement = profiles?.get(database) ?? new Map<string, StatementProfile>();
    profiles?.set(database, byStatement);
    const entry = byStatement.get(key) ?? { calls: 0, totalMs: 0 };
    entry.calls += 1;
    entry.totalMs += performance.now() - startedAt;
    byStatement.set(key, entry);
  };
}

/** The statements sent to `database`, most total time first (empty unless profiling is on). */
export function statementProfile(database: string): (StatementProfile & { statement: string })[] {
  return [...(profiles?.get(database) ?? new Map<string, StatementProfile>())]
    .map(([statement, p]) => ({ statement, ...p }))
    .sort((a, b) => b.totalMs - a.totalMs);
}

/** Statements sent so far to `database`. */
export function roundTripsTo(database: string): number {
  return counts.get(database) ?? 0;
}

/** Leaves `client`'s statements out of the counts (harness probes that are not the system's work). */
export function excludeFromCounts(client: object): void {
  uncounted.add(client);
}

/** Seconds of CPU used by this process so far. */
export function nodeCpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

const CLOCK_TICKS_PER_SECOND = 100;

/** CPU seconds of one process from /proc, or undefined when it is gone or unreadable. */
async function processCpuSeconds(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    // Best effort by design: the backend may have exited, or /proc may belong to another machine.
    return undefined;
  }
}

/** CPU seconds by backend pid for the backends connected to `database`; `admin` must be on another database. */
export async function backendCpu(admin: pg.Client, database: string): Promise<Map<number, number>> {
  const { rows } = await admin.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = $1", [
    database,
  ]);
  const out = new Map<number, number>();
  for (const { pid } of rows) {
    const seconds = await processCpuSeconds(pid);
    if (seconds !== undefined) {
      out.set(pid, seconds);
    }
  }
  return out;
}

/** CPU the backends used between two snapshots (new backends from zero); NaN when none could be read. */
export function backendCpuDelta(before: Map<number, number>, after: Map<number, number>): number {
  if (after.size === 0) {
    return Number.NaN;
  }
  let total = 0;
  for (const [pid, seconds] of after) {
    total += seconds - (before.get(pid) ?? 0);
  }
  return total;
}
