/**
 * The executor benchmark (design.md §11): a chain of no-op steps (W2), a 1 → N → 1 fan (W3) and the
 * raw-SQL floor, on Postgres and on embedded PGlite, one system at a time. Each workload runs once
 * to warm up (discarded), then `repeats` times; figures are medians with min and max.
 *
 *   npm run bench                      # 5 repeats, chain of 200, fan 1 → 1,000 → 1
 *   BENCH_QUICK=1 npx tsx bench/run.ts # 2 repeats, chain of 100, fan 1 → 250 → 1
 *
 * Environment: BENCH_REPEATS, BENCH_SYSTEMS (postgres,pglite), BENCH_DATABASE_URL (admin URL of
 * the server; a fresh htdag_bench_* database is created there and dropped after).
 * Prints one table on stdout (progress on stderr) and writes bench/results/latest.json.
 */
import { cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { createOrchestrator, type Orchestrator } from "../src/index.js";
import { ClaimWatch } from "./lib/claim-watch.js";
import { createBenchDatabase, serverVersion } from "./lib/databases.js";
import { findRow, formatNumber, formatTable, resultsTable, rowsOf, writeJson, type ResultRow } from "./lib/report.js";
import { summarizeRepeats, type Summary } from "./lib/stats.js";
import { runChain } from "./workloads/chain.js";
import { runFan } from "./workloads/fan.js";
import { pgliteFloor, postgresFloor } from "./workloads/floor.js";

const QUICK = process.env.BENCH_QUICK === "1";
const config = {
  quick: QUICK,
  repeats: Number(process.env.BENCH_REPEATS ?? (QUICK ? 2 : 5)),
  chainSteps: QUICK ? 100 : 200,
  fanWidth: QUICK ? 250 : 1000,
  systems: (process.env.BENCH_SYSTEMS ?? "postgres,pglite").split(",").map((s) => s.trim()).filter(Boolean),
};
const RESULTS_PATH = fileURLToPath(new URL("./results/latest.json", import.meta.url));
const CHAIN = `chain ${config.chainSteps}`;
const FAN = `fan 1→${config.fanWidth.toLocaleString("en-US")}→1`;
const FLOOR = `raw SQL floor ×${config.chainSteps}`;

const progress = (message: string) => process.stderr.write(`bench: ${message}\n`);

/** One discarded warm-up, then `config.repeats` measured runs, summarized per metric. */
async function repeated<K extends string>(label: string, once: () => Promise<Record<K, number>>): Promise<Record<K, Summary>> {
  progress(`${label}: warm-up`);
  await once();
  const runs: Record<K, number>[] = [];
  for (let i = 1; i <= config.repeats; i++) {
    progress(`${label}: run ${i}/${config.repeats}`);
    runs.push(await once());
  }
  return summarizeRepeats(runs);
}

/** The chain and fan workloads on one orchestrator. */
async function executorWorkloads(system: string, orch: Orchestrator): Promise<ResultRow[]> {
  const watch = new ClaimWatch(orch);
  const chain = await repeated(`${system} ${CHAIN}`, () => runChain(orch, config.chainSteps, watch));
  const fan = await repeated(`${system} ${FAN}`, () => runFan(orch, config.fanWidth, watch));
  return [...rowsOf(system, CHAIN, chain), ...rowsOf(system, FAN, fan)];
}

async function onPostgres(): Promise<ResultRow[]> {
  const database = await createBenchDatabase();
  progress(`postgres: database ${database.name}`);
  try {
    const orch = await createOrchestrator({ database: database.url });
    let rows: ResultRow[];
    try {
      rows = await executorWorkloads("postgres", orch);
    } finally {
      await orch.close();
    }
    const floor = await postgresFloor(database.url);
    try {
      return [...rows, ...rowsOf("postgres", FLOOR, await repeated(`postgres ${FLOOR}`, () => floor.run(config.chainSteps)))];
    } finally {
      await floor.close();
    }
  } finally {
    await database.drop();
  }
}

async function onPglite(): Promise<ResultRow[]> {
  const orch = await createOrchestrator({ database: "memory://" });
  let rows: ResultRow[];
  try {
    rows = await executorWorkloads("pglite", orch);
  } finally {
    await orch.close();
  }
  const floor = await pgliteFloor();
  try {
    return [...rows, ...rowsOf("pglite", FLOOR, await repeated(`pglite ${FLOOR}`, () => floor.run(config.chainSteps)))];
  } finally {
    await floor.close();
  }
}

/** Derived figures: PGlite against Postgres, and each chain against its system's floor. */
function ratios(rows: readonly ResultRow[]): { name: string; value: number }[] {
  const median = (system: string, workload: string, metric: string) => findRow(rows, system, workload, metric)?.median ?? Number.NaN;
  const chainStep = (system: string) => median(system, CHAIN, "ms per step");
  const floorStep = (system: string) => median(system, FLOOR, "ms per round trip");
  return [
    { name: "chain ms/step, PGlite / Postgres", value: chainStep("pglite") / chainStep("postgres") },
    { name: "fan total ms, PGlite / Postgres", value: median("pglite", FAN, "total ms") / median("postgres", FAN, "total ms") },
    { name: "chain ms/step / raw SQL round trip, Postgres", value: chainStep("postgres") / floorStep("postgres") },
    { name: "chain ms/step / raw SQL round trip, PGlite", value: chainStep("pglite") / floorStep("pglite") },
  ].filter((r) => Number.isFinite(r.value));
}

async function main(): Promise<void> {
  const runners: Record<string, () => Promise<ResultRow[]>> = { postgres: onPostgres, pglite: onPglite };
  const rows: ResultRow[] = [];
  // Other work on the machine skews every figure; the 1-minute load average is reported with them.
  const loadAtStart = loadavg()[0] ?? Number.NaN;
  for (const system of config.systems) {
    const runner = runners[system];
    if (!runner) throw new Error(`BENCH_SYSTEMS names ${JSON.stringify(system)}; expected postgres and/or pglite`);
    rows.push(...(await runner()));
  }
  const derived = ratios(rows);
  const postgres = config.systems.includes("postgres") ? await serverVersion() : null;
  const loadAverage = { start: loadAtStart, end: loadavg()[0] ?? Number.NaN };
  const meta = { date: new Date().toISOString(), node: process.version, cpus: cpus().length, postgres, loadAverage, ...config };
  console.log(`htdag executor benchmark: ${config.repeats} repeats after a warm-up; node ${process.version}, ${meta.cpus} CPUs` +
    `${postgres ? `, PostgreSQL ${postgres}` : ""}${QUICK ? " (quick)" : ""}; load average ` +
    `${formatNumber(loadAverage.start)} at start, ${formatNumber(loadAverage.end)} at end\n`);
  console.log(resultsTable(rows));
  if (derived.length > 0) console.log(`\n${formatTable([["ratio of medians", "×"], ...derived.map((r) => [r.name, formatNumber(r.value)])], 1)}`);
  await writeJson(RESULTS_PATH, { meta, results: rows, ratios: derived });
  progress(`wrote ${RESULTS_PATH}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
