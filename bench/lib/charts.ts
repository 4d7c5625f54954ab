/**
 * Hand-rolled SVG bar charts for docs/performance/: one chart per headline figure, one bar per
 * system (the median), with a line from min to max. Small on purpose: no chart library needed.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ResultRow } from "../../src/bench/harness.js";
import type { BenchReport } from "../../src/bench/report-run.js";
import { formatNumber } from "../../src/bench/report.js";
import { WORKLOAD_LABELS, type WorkloadId } from "../../src/bench/types.js";

/** A chart written to disk. */
export interface Chart {
  file: string;
  title: string;
}

const CHARTS: readonly { workload: WorkloadId; metric: string; better: "lower" | "higher" }[] = [
  { workload: "chain", metric: "ms per step", better: "lower" },
  { workload: "chain", metric: "hop p99 ms", better: "lower" },
  { workload: "fan", metric: "total ms", better: "lower" },
  { workload: "fan", metric: "last child → join ms", better: "lower" },
  { workload: "flat", metric: "tasks per s", better: "higher" },
  { workload: "flat-batched", metric: "tasks per s", better: "higher" },
  { workload: "flat", metric: "round trips per task", better: "lower" },
  { workload: "layered", metric: "edge p50 ms", better: "lower" },
  { workload: "idle-latency", metric: "latency p50 ms", better: "lower" },
  { workload: "idle-queries", metric: "queries per s", better: "lower" },
  { workload: "faults", metric: "timeout lag p99 ms", better: "lower" },
  { workload: "many-runs", metric: "runs per s", better: "higher" },
  { workload: "scale-out", metric: "tasks per s, 4 processes", better: "higher" },
  { workload: "scale-out", metric: "speed-up 4 ÷ 1", better: "higher" },
];

const COLORS: Record<string, string> = {
  htdag: "#2563eb",
  "htdag-pglite": "#60a5fa",
  "graphile-worker": "#f59e0b",
  "pg-boss": "#10b981",
  floor: "#9ca3af",
};
const escape = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** One horizontal bar chart of `rows` (one per system). */
export function barChart(title: string, rows: readonly ResultRow[]): string {
  const width = 640;
  const left = 130;
  const right = 90;
  const barHeight = 22;
  const top = 34;
  const height = top + rows.length * (barHeight + 10) + 10;
  const max = Math.max(...rows.map((r) => (Number.isFinite(r.max) ? r.max : r.median)), Number.MIN_VALUE);
  const x = (value: number) => left + (Math.max(0, value) / max) * (width - left - right);
  const bars = rows.map((r, i) => {
    const y = top + i * (barHeight + 10);
    const color = COLORS[r.system] ?? "#6b7280";
    const whisker =
      Number.isFinite(r.min) && r.min !== r.max
        ? `<line x1="${x(r.min)}" x2="${x(r.max)}" y1="${y + barHeight / 2}" y2="${y + barHeight / 2}" stroke="#111827" stroke-width="1.5"/>`
        : "";
    return (
      `<text x="${left - 8}" y="${y + 15}" text-anchor="end">${escape(r.system)}</text>` +
      `<rect x="${left}" y="${y}" width="${Math.max(1, x(r.median) - left)}" height="${barHeight}" fill="${color}"/>${whisker}` +
      `<text x="${x(Math.max(r.median, Number.isFinite(r.max) ? r.max : r.median)) + 6}" y="${y + 15}">${escape(formatNumber(r.median))}</text>`
    );
  });
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
    `font-family="system-ui, sans-serif" font-size="12">\n<rect width="100%" height="100%" fill="#ffffff"/>\n` +
    `<text x="10" y="20" font-size="14" font-weight="600">${escape(title)}</text>\n` +
    `<text x="${width - 10}" y="20" text-anchor="end" fill="#6b7280">bar: median · line: min–max</text>\n${bars.join("\n")}\n</svg>\n`
  );
}

/** Writes the charts of `report` into `folder`; returns what it wrote (charts with no figures are skipped). */
export async function writeCharts(report: BenchReport, folder: string): Promise<Chart[]> {
  await mkdir(folder, { recursive: true });
  const written: Chart[] = [];
  const order = report.meta.systems.map((s) => s.name);
  for (const { workload, metric, better } of CHARTS) {
    const rows = report.results
      .filter((r) => r.workload === workload && r.metric === metric && !r.background && Number.isFinite(r.median))
      .sort((a, b) => order.indexOf(a.system) - order.indexOf(b.system));
    if (rows.length === 0) {
      continue;
    }
    const title = `${WORKLOAD_LABELS[workload]}: ${metric} (${better} is better)`;
    const file = `${workload}-${metric
      .replace(/[^a-z0-9]+/gi, "-")
      .replace(/^-|-$/g, "")
      .toLowerCase()}.svg`;
    await writeFile(join(folder, file), barChart(title, rows));
    written.push({ file, title });
  }
  return written;
}
