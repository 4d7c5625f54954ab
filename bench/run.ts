/**
 * `npm run bench`: htdag side by side with graphile-worker, pg-boss and the raw-SQL floor on the
 * same local Postgres (one database per system, `htdag_bench_<system>`, recreated each run), plus
 * htdag on embedded PGlite for W2/W3. One system at a time; one discarded warm-up, then repeats;
 * medians with min and max. Prints one table, writes bench/results/latest.json, and (full runs)
 * the SVG charts in docs/performance/ and the results section of docs/performance.md.
 *
 *   npm run bench                       # full sizes, 5 repeats
 *   BENCH_QUICK=1 npm run bench         # quick sizes, 2 repeats, under 2 minutes
 *
 * Environment:
 *   BENCH_DATABASE_URL  admin URL of the server (default postgres://postgres@127.0.0.1:5432/postgres)
 *   BENCH_SIZE          full | quick | tiny (default full; quick with BENCH_QUICK=1)
 *   BENCH_REPEATS       measured runs per workload (default 5 full, 2 quick, 1 tiny)
 *   BENCH_WARMUP        0 to skip the warm-up run (default 1)
 *   BENCH_SYSTEMS       comma list of htdag, htdag-pglite, floor, graphile-worker, pg-boss (default all)
 *   BENCH_WORKLOADS     comma list of flat, flat-batched, chain, fan, layered, idle-latency, idle-queries, faults,
 *                       many-runs, scale-out
 *   BENCH_OUT           where to write the JSON (default bench/results/latest.json)
 *   BENCH_DATABASE_PREFIX  databases are <prefix>_<system> (default htdag_bench)
 *   BENCH_PROFILE       1 to time every statement and print each system's costliest (adds overhead)
 *   BENCH_RENDER        path of a report JSON: measure nothing, print it and write its charts and page again
 *   BENCH_DOCS          1 to write charts and docs/performance.md, 0 not to (default: full sizes only)
 *   BENCH_BACKGROUND    1 to measure W1 and W2 a second time under a fixed synthetic load on another database
 *                       of the same server (<prefix>_background, dropped at the end)
 *   BENCH_BACKGROUND_CLIENTS  connections of that load (default 2)
 *   BENCH_BACKGROUND_TPS      transactions per second per connection (default 200)
 */
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { DEFAULT_ADMIN_URL } from "../src/bench/databases.js";
import { benchmark, renderReport, type BenchReport } from "../src/bench/report-run.js";
import { checkTargets, ratios } from "../src/bench/report.js";
import { SIZES, type SizeName } from "../src/bench/sizes.js";
import { BUILT_IN_SYSTEMS, PEER_NAMES } from "../src/bench/systems.js";
import { WORKLOADS, type WorkloadId } from "../src/bench/types.js";
import { writeCharts } from "./lib/charts.js";
import { writeJson } from "./lib/report.js";
import { updateResultsPage } from "./lib/page.js";
import { loadPeers } from "./peers/load.js";

const env = process.env;
const progress = (line: string) => process.stderr.write(`bench: ${line}\n`);

function list(value: string | undefined, known: readonly string[], variable: string): string[] | undefined {
  if (!value) {
    return undefined;
  }
  const names = value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !known.includes(n));
  if (unknown.length > 0) {
    throw new Error(`${variable} names ${unknown.join(", ")}; expected some of ${known.join(", ")}`);
  }
  return names;
}

/** Writes the charts in docs/performance/ and the results section of docs/performance.md. */
async function writeDocs(report: BenchReport): Promise<void> {
  const docs = fileURLToPath(new URL("../docs/", import.meta.url));
  const charts = await writeCharts(report, `${docs}performance`);
  await updateResultsPage(report, `${docs}performance.md`, charts);
  progress(`wrote ${charts.length} chart(s) in docs/performance/ and the results of docs/performance.md`);
}

/** BENCH_RENDER: a stored report, its ratios and verdicts recomputed by this version of the report code. */
async function render(path: string): Promise<void> {
  const stored = JSON.parse(await readFile(path, "utf8")) as BenchReport;
  const names = stored.meta.systems.map((s) => s.name);
  const report: BenchReport = {
    ...stored,
    profiles: stored.profiles ?? [],
    ratios: ratios(stored.results, names),
    targets: checkTargets(stored.results, stored.meta.size === "full"),
  };
  console.log(renderReport(report));
  if (env.BENCH_DOCS !== "0") {
    await writeDocs(report);
  }
}

/** BENCH_BACKGROUND_CLIENTS and BENCH_BACKGROUND_TPS, checked. */
function backgroundOptions(): { clients: number; tps: number } {
  const positive = (variable: string, fallback: number) => {
    const value = Number(env[variable] ?? fallback);
    if (!Number.isFinite(value) || value <= 0) {
      throw new Error(`${variable} is ${JSON.stringify(env[variable])}; expected a positive number`);
    }
    return value;
  };
  return {
    clients: Math.round(positive("BENCH_BACKGROUND_CLIENTS", 2)),
    tps: positive("BENCH_BACKGROUND_TPS", 200),
  };
}

async function main(): Promise<void> {
  if (env.BENCH_RENDER) {
    return render(env.BENCH_RENDER);
  }
  const size = (env.BENCH_SIZE ?? (env.BENCH_QUICK === "1" ? "quick" : "full")) as SizeName;
  if (!(size in SIZES)) {
    throw new Error(`BENCH_SIZE is ${JSON.stringify(size)}; expected full, quick or tiny`);
  }
  const repeats = Number(env.BENCH_REPEATS ?? { full: 5, quick: 2, tiny: 1 }[size]);
  const allNames = [...BUILT_IN_SYSTEMS.map((s) => s.name), ...PEER_NAMES];
  const wanted = list(env.BENCH_SYSTEMS, allNames, "BENCH_SYSTEMS") ?? allNames;
  const workloads = list(env.BENCH_WORKLOADS, WORKLOADS, "BENCH_WORKLOADS") as WorkloadId[] | undefined;
  const peers = await loadPeers(PEER_NAMES.filter((p) => wanted.includes(p)));
  for (const line of peers.skipped) {
    progress(line);
  }
  // Report order: htdag first, then the peers, then the floor and the embedded store.
  const order = ["htdag", "graphile-worker", "pg-boss", "floor", "htdag-pglite"];
  const systems = [...BUILT_IN_SYSTEMS, ...peers.systems]
    .filter((s) => wanted.includes(s.name))
    .sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
  const report = await benchmark({
    systems,
    sizes: SIZES[size],
    size,
    repeats,
    warmUp: env.BENCH_WARMUP !== "0",
    adminUrl: env.BENCH_DATABASE_URL ?? env.HTDAG_TEST_DATABASE_URL ?? DEFAULT_ADMIN_URL,
    ...(workloads ? { workloads } : {}),
    ...(env.BENCH_DATABASE_PREFIX ? { databasePrefix: env.BENCH_DATABASE_PREFIX } : {}),
    profile: env.BENCH_PROFILE === "1",
    ...(env.BENCH_BACKGROUND === "1" ? { background: backgroundOptions() } : {}),
    onProgress: progress,
  });
  console.log(renderReport(report));
  for (const line of peers.skipped) {
    console.log(`skipped ${line}`);
  }
  const out = env.BENCH_OUT ?? fileURLToPath(new URL("./results/latest.json", import.meta.url));
  await writeJson(out, report);
  progress(`wrote ${out}`);
  if (env.BENCH_DOCS === "1" || (env.BENCH_DOCS !== "0" && size === "full")) {
    await writeDocs(report);
  }
  if (report.failures.length > 0) {
    process.exitCode = 1;
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
