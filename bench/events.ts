/**
 * Live-events benchmark (docs/performance.md#targets): latency from commit to a listener in another process, and
 * what NOTIFY costs a chain of no-op steps.
 *
 * - latency: this process sends `BENCH_EVENTS` (500) events one after another with sendWithNotify;
 *   a child process (bench/events-child.ts) receives them through a plain LISTEN and through an
 *   htdag subscription (NOTIFY wake-up, then a read of the events table). Both processes stamp with
 *   the same machine clock. "commit →" starts when sendWithNotify resolved (the commit was
 *   acknowledged); "send →" when it was called.
 * - chain: a 200-step no-op chain (bench/workloads/chain.ts), median of 3 after a warm-up, with
 *   realTimeNotifications on, on with an in-process subscriber, and off; on Postgres and PGlite.
 *
 *   npx tsx bench/events.ts
 */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { createOrchestrator, type Orchestrator } from "../src/index.js";
import { createLiveEmitter } from "../src/notifications/emitter.js";
import { createNotifications } from "../src/notifications/service.js";
import { createBenchDatabase } from "./lib/databases.js";
import { median, percentile } from "./lib/stats.js";
import { runChain } from "./workloads/chain.js";

const EVENTS = Number(process.env.BENCH_EVENTS ?? 500);
const CHAIN_STEPS = 200;
const CHANNEL = "htdag_events";
const now = () => performance.timeOrigin + performance.now();
const progress = (message: string) => process.stderr.write(`bench: ${message}\n`);
const fmt = (ms: number) => ms.toFixed(2).padStart(8);

interface Arrival {
  id: string;
  via: "notify" | "subscription";
  at: number;
}

/** Starts the child and resolves once its LISTEN and its subscription are both live. */
async function startReceiver(url: string): Promise<{ arrivals: Arrival[]; exited: Promise<void> }> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", fileURLToPath(new URL("./events-child.ts", import.meta.url)), url, CHANNEL, String(EVENTS)],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const arrivals: Arrival[] = [];
  const exited = new Promise<void>((resolve, reject) =>
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`events-child exited with ${code}`)))),
  );
  await new Promise<void>((resolve, reject) => {
    exited.catch(reject);
    createInterface({ input: child.stdout }).on("line", (line) => {
      if (line === "ready") {
        resolve();
      } else {
        arrivals.push(JSON.parse(line) as Arrival);
      }
    });
  });
  return { arrivals, exited };
}

async function latency(orch: Orchestrator, url: string): Promise<void> {
  const notifications = createNotifications({ db: orch.db, channel: CHANNEL });
  const receiver = await startReceiver(url);
  const sent = new Map<string, { calledAt: number; committedAt: number }>();
  for (let i = 0; i < EVENTS; i++) {
    const calledAt = now();
    const id = await notifications.sendWithNotify(CHANNEL, { type: "bench:latency", payload: { i, calledAt } });
    sent.set(id, { calledAt, committedAt: now() });
  }
  await receiver.exited;
  const rows: [string, number[]][] = [];
  for (const via of ["notify", "subscription"] as const) {
    const arrivals = receiver.arrivals.filter((a) => a.via === via);
    if (arrivals.length !== EVENTS) {
      throw new Error(`${via}: received ${arrivals.length} of ${EVENTS} events`);
    }
    rows.push([`commit → ${via}`, arrivals.map((a) => a.at - sent.get(a.id)!.committedAt)]);
    rows.push([`send → ${via}`, arrivals.map((a) => a.at - sent.get(a.id)!.calledAt)]);
  }
  console.log(`\nevent latency, ${EVENTS} events, listener in another process (ms)`);
  console.log(`${"path".padEnd(26)}${"p50".padStart(8)}${"p90".padStart(8)}${"p99".padStart(8)}${"max".padStart(8)}`);
  for (const [label, samples] of rows) {
    console.log(
      `${label.padEnd(26)}${fmt(percentile(samples, 50))}${fmt(percentile(samples, 90))}${fmt(percentile(samples, 99))}${fmt(Math.max(...samples))}`,
    );
  }
}

/** Median ms per step of a 200-step chain on one orchestrator, after one warm-up run. */
async function chainMsPerStep(orch: Orchestrator): Promise<number> {
  await runChain(orch, CHAIN_STEPS);
  const runs: number[] = [];
  for (let i = 0; i < 3; i++) {
    runs.push((await runChain(orch, CHAIN_STEPS))["ms per step"]);
  }
  return median(runs);
}

async function chainVariant(database: string, realTimeNotifications: boolean, subscriber: boolean): Promise<number> {
  const orch = await createOrchestrator({ database, realTimeNotifications });
  const live = subscriber ? createLiveEmitter(createNotifications({ db: orch.db }), {}) : undefined;
  let received = 0;
  live?.emitter.on("*", () => void received++);
  await live?.ready();
  try {
    return await chainMsPerStep(orch);
  } finally {
    await live?.close();
    await orch.close();
    if (subscriber) {
      progress(`subscriber received ${received} events`);
    }
  }
}

async function chains(url: string): Promise<void> {
  console.log(`\nchain of ${CHAIN_STEPS} no-op steps, ms per step (median of 3)`);
  console.log(
    `${"store".padEnd(10)}${"NOTIFY on".padStart(12)}${"+subscriber".padStart(13)}${"NOTIFY off".padStart(12)}`,
  );
  for (const [store, database] of [
    ["postgres", url],
    ["pglite", "memory://"],
  ] as const) {
    progress(`chain on ${store}`);
    const on = await chainVariant(database, true, false);
    const subscribed = await chainVariant(database, true, true);
    const off = await chainVariant(database, false, false);
    console.log(
      `${store.padEnd(10)}${on.toFixed(2).padStart(12)}${subscribed.toFixed(2).padStart(13)}${off.toFixed(2).padStart(12)}`,
    );
  }
}

const database = await createBenchDatabase();
progress(`postgres: database ${database.name}`);
try {
  const orch = await createOrchestrator({ database: database.url });
  try {
    await latency(orch, database.url);
  } finally {
    await orch.close();
  }
  await chains(database.url);
} finally {
  await database.drop();
}
