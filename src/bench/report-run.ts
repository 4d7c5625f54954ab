/** One benchmark run from start to report: the machine, the harness's figures, ratios and targets. */
import { cpus, loadavg, totalmem } from "node:os";
import type { BackgroundAchieved } from "./background-load.js";
import { connectAdmin } from "./databases.js";
import { runBenchmark, type Failure, type HarnessOptions, type ResultRow, type SystemProfile } from "./harness.js";
import {
  backgroundSlowdowns,
  checkTargets,
  formatNumber,
  formatTable,
  ratios,
  ratioWorkload,
  sideBySide,
  verdict,
  type Ratio,
  type TargetCheck,
} from "./report.js";
import type { SizeName } from "./sizes.js";
import type { WorkloadSizes } from "./types.js";

/** Where and how the figures were taken. */
export interface BenchMeta {
  date: string;
  node: string;
  cpus: number;
  cpuModel: string;
  memoryGb: number;
  postgres: string;
  /** 1-minute load average before and after: other work on the box skews every figure. */
  loadAverage: { start: number; end: number };
  size: SizeName;
  sizes: WorkloadSizes;
  repeats: number;
  systems: { name: string; version: string; notes: string[] }[];
  roundTrips: string;
  /** With BENCH_BACKGROUND: the synthetic load W1 and W2 were measured under a second time, as achieved. */
  background?: BackgroundAchieved;
}

export interface BenchReport {
  meta: BenchMeta;
  results: ResultRow[];
  failures: Failure[];
  ratios: Ratio[];
  targets: TargetCheck[];
  /** With `profile`: each system's costliest statements. */
  profiles: SystemProfile[];
}

async function serverVersion(adminUrl: string): Promise<string> {
  const admin = await connectAdmin(adminUrl);
  try {
    const { rows } = await admin.query<{ v: string }>("SELECT current_setting('server_version') AS v");
    return rows[0]?.v ?? "unknown";
  } finally {
    await admin.end();
  }
}

/** Runs the harness and gathers the report. */
export async function benchmark(options: HarnessOptions & { size: SizeName }): Promise<BenchReport> {
  const loadAtStart = loadavg()[0] ?? Number.NaN;
  const postgres = await serverVersion(options.adminUrl);
  const { rows, failures, profiles, background } = await runBenchmark(options);
  const names = options.systems.map((s) => s.name);
  const meta: BenchMeta = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? "unknown",
    memoryGb: Math.round(totalmem() / 2 ** 30),
    postgres,
    loadAverage: { start: loadAtStart, end: loadavg()[0] ?? Number.NaN },
    size: options.size,
    sizes: options.sizes,
    repeats: options.repeats ?? 3,
    systems: options.systems.map((s) => ({ name: s.name, version: s.version, notes: s.notes })),
    roundTrips:
      "statements sent by node-postgres to the system's database (a counter around pg.Client#query; pg_stat_statements " +
      "needs shared_preload_libraries, so it is not used); PGlite: htdag's own driver counter",
    ...(background ? { background } : {}),
  };
  return {
    meta,
    results: rows,
    failures,
    ratios: ratios(rows, names),
    targets: checkTargets(rows, options.size === "full"),
    profiles,
  };
}

/** The report as text: header, side-by-side table, ratios, targets, failures. */
export function renderReport(report: BenchReport): string {
  const { meta } = report;
  const lines = [
    `htdag benchmark (${meta.size} sizes): ${meta.repeats} repeat(s) after a warm-up, medians (min–max)`,
    `node ${meta.node}, PostgreSQL ${meta.postgres}, ${meta.cpus} × ${meta.cpuModel}; load average ${formatNumber(meta.loadAverage.start)} → ${formatNumber(meta.loadAverage.end)}`,
    `systems: ${meta.systems.map((s) => `${s.name} ${s.version}`).join("; ")}`,
    ...(meta.background ? [backgroundLine(meta.background)] : []),
    "",
    formatTable(
      sideBySide(
        report.results,
        meta.systems.map((s) => s.name),
      ),
      2,
    ),
  ];
  if (report.ratios.length > 0) {
    lines.push(
      "",
      formatTable(
        [
          ["htdag / peer", "metric", "peer", "×"],
          ...report.ratios.map((r) => [ratioWorkload(r), r.metric, r.peer, formatNumber(r.value)]),
        ],
        3,
      ),
    );
  }
  const slowdowns = backgroundSlowdowns(
    report.results,
    meta.systems.map((s) => s.name),
  );
  if (slowdowns.length > 0) {
    lines.push(
      "",
      formatTable(
        [
          ["background / quiet", "metric", "system", "×"],
          ...slowdowns.map((r) => [r.workload, r.metric, r.system, formatNumber(r.value)]),
        ],
        3,
      ),
    );
  }
  lines.push(
    "",
    formatTable(
      [["target", "htdag", "verdict"], ...report.targets.map((t) => [t.target, formatNumber(t.value), verdict(t)])],
      1,
    ),
  );
  for (const p of report.profiles) {
    lines.push(
      "",
      formatTable(
        [
          [`${p.system}: costliest statements`, "calls", "total ms", "ms each"],
          ...p.statements.map((s) => [
            s.statement,
            String(s.calls),
            formatNumber(s.totalMs),
            formatNumber(s.totalMs / s.calls),
          ]),
        ],
        1,
      ),
    );
  }
  for (const f of report.failures) {
    lines.push(`FAILED ${f.system} ${f.workload}${f.background ? " (background)" : ""}: ${f.message}`);
  }
  return lines.join("\n");
}

/** The header line of a run with BENCH_BACKGROUND: the load as asked and as achieved. */
export function backgroundLine(load: BackgroundAchieved): string {
  const each = load.bySystem.map((s) => `${s.system} ${formatNumber(s.achievedTps)}`).join(", ");
  return (
    `background load: ${load.clients} client(s) × ${formatNumber(load.tps)} transactions/s asked on another database; ` +
    `achieved ${formatNumber(load.achievedTps)} transactions/s while W1/W2 ran a second time${each ? ` (${each})` : ""}` +
    (load.errors.length > 0 ? `; ${load.errors.length} client error(s): ${load.errors[0]}` : "")
  );
}
