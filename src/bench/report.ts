/** The benchmark's output: one table (systems side by side), ratios to the peers, and the targets (docs/performance.md#targets). */
import type { ResultRow } from "./harness.js";
import { scaleOutMetric } from "./sizes.js";
import { WORKLOAD_LABELS, WORKLOADS, type WorkloadId } from "./types.js";

/** A figure with as many decimals as it deserves. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) {
    return "–";
  }
  const magnitude = Math.abs(value);
  if (magnitude >= 100) {
    return Math.round(value).toLocaleString("en-US");
  }
  if (magnitude >= 10) {
    return value.toFixed(1);
  }
  return value.toFixed(value !== 0 && magnitude < 0.1 ? 3 : 2);
}

/** The median of `metric` of `workload` on `system` (quiet, or under the background load), NaN if not measured. */
export function medianOf(
  rows: readonly ResultRow[],
  system: string,
  workload: WorkloadId,
  metric: string,
  background = false,
): number {
  return (
    rows.find(
      (r) =>
        r.system === system && r.workload === workload && r.metric === metric && (r.background ?? false) === background,
    )?.median ?? Number.NaN
  );
}

/** A workload's label, with " (background)" for figures taken under the background load. */
export function workloadLabel(workload: WorkloadId, background = false): string {
  return background ? `${WORKLOAD_LABELS[workload]} (background)` : WORKLOAD_LABELS[workload];
}

/** Rows of the side-by-side table: one per workload and metric, one cell per system ("median (min–max)"). */
export function sideBySide(rows: readonly ResultRow[], systems: readonly string[]): string[][] {
  const header = ["workload", "metric", ...systems];
  const body: string[][] = [];
  // Each workload's quiet rows, then its rows under the background load (if any).
  for (const [workload, background] of WORKLOADS.flatMap((w) => [[w, false] as const, [w, true] as const])) {
    const own = rows.filter((r) => r.workload === workload && (r.background ?? false) === background);
    const metrics = [...new Set(own.map((r) => r.metric))];
    for (const metric of metrics) {
      body.push([
        workloadLabel(workload, background),
        metric,
        ...systems.map((system) => {
          const row = own.find((r) => r.system === system && r.metric === metric);
          if (!row || !Number.isFinite(row.median)) {
            return "–";
          }
          return row.min === row.max
            ? formatNumber(row.median)
            : `${formatNumber(row.median)} (${formatNumber(row.min)}–${formatNumber(row.max)})`;
        }),
      ]);
    }
  }
  return [header, ...body];
}

/** Lays out `cells` (first row = header) in aligned columns; the first `textColumns` align left. */
export function formatTable(cells: readonly string[][], textColumns: number): string {
  const widths: number[] = [];
  for (const row of cells) {
    row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  }
  const line = (row: readonly string[]) =>
    row
      .map((cell, i) => (i < textColumns ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  const [header, ...body] = cells;
  return [line(header ?? []), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)].join("\n");
}

/** The same cells as a Markdown table. */
export function markdownTable(cells: readonly string[][], textColumns: number): string {
  const [header, ...body] = cells;
  const align = (header ?? []).map((_, i) => (i < textColumns ? "---" : "---:"));
  return [header ?? [], align, ...body].map((row) => `| ${row.join(" | ")} |`).join("\n");
}

/** htdag's median against each other system's, for the headline figures (below 1 = htdag lower). */
export interface Ratio {
  workload: WorkloadId;
  metric: string;
  peer: string;
  /** htdag / peer. */
  value: number;
  /** Both figures taken under the background load. */
  background?: boolean;
}

const HEADLINES: readonly [WorkloadId, string][] = [
  ["flat", "tasks per s"],
  ["flat-batched", "tasks per s"],
  ["chain", "ms per step"],
  ["fan", "total ms"],
  ["layered", "edge p50 ms"],
  ["idle-latency", "latency p50 ms"],
  ["idle-queries", "queries per s"],
  ["faults", "total ms"],
  ["many-runs", "runs per s"],
  ["scale-out", scaleOutMetric(1)],
  ["scale-out", scaleOutMetric(4)],
];

/** The workload column of a ratio row. */
export function ratioWorkload(ratio: Ratio): string {
  return ratio.background ? `${ratio.workload} (background)` : ratio.workload;
}

/** Each system's figure under the background load divided by its quiet figure, for W1 and W2. */
export function backgroundSlowdowns(
  rows: readonly ResultRow[],
  systems: readonly string[],
): { workload: WorkloadId; metric: string; system: string; value: number }[] {
  const out: { workload: WorkloadId; metric: string; system: string; value: number }[] = [];
  for (const [workload, metric] of HEADLINES) {
    for (const system of systems) {
      const value = medianOf(rows, system, workload, metric, true) / medianOf(rows, system, workload, metric);
      if (Number.isFinite(value)) {
        out.push({ workload, metric, system, value });
      }
    }
  }
  return out;
}

export function ratios(rows: readonly ResultRow[], systems: readonly string[], subject = "htdag"): Ratio[] {
  const out: Ratio[] = [];
  for (const [workload, metric] of HEADLINES) {
    for (const background of [false, true]) {
      const own = medianOf(rows, subject, workload, metric, background);
      for (const peer of systems.filter((s) => s !== subject)) {
        const value = own / medianOf(rows, peer, workload, metric, background);
        if (Number.isFinite(value)) {
          out.push({ workload, metric, peer, value, ...(background ? { background } : {}) });
        }
      }
    }
  }
  return out;
}

/** One target (docs/performance.md#targets) and whether this run met it (null: not measured, or not at full size). */
export interface TargetCheck {
  target: string;
  value: number;
  met: boolean | null;
  /** A figure reported with no bar to meet. */
  reportOnly?: boolean;
}

/** Checks htdag's figures against the targets (docs/performance.md#targets). Size-bound targets only count at full size. */
export function checkTargets(rows: readonly ResultRow[], fullSize: boolean): TargetCheck[] {
  const m = (workload: WorkloadId, metric: string, system = "htdag") => medianOf(rows, system, workload, metric);
  const check = (target: string, value: number, ok: (v: number) => boolean, sizeBound = false): TargetCheck => ({
    target,
    value,
    met: !Number.isFinite(value) || (sizeBound && !fullSize) ? null : ok(value),
  });
  return [
    check("W2 chain ≤ 1.5 ms per step (p50 of runs)", m("chain", "ms per step"), (v) => v <= 1.5),
    check(
      "W2 chain ≤ 0.4× graphile-worker per step",
      m("chain", "ms per step") / m("chain", "ms per step", "graphile-worker"),
      (v) => v <= 0.4,
    ),
    check("W3 fan 1→1,000→1 ≤ 1,000 ms total", m("fan", "total ms"), (v) => v <= 1000, true),
    check("W3 join starts ≤ 10 ms after the last child", m("fan", "last child → join ms"), (v) => v <= 10),
    check("W1 ≥ 1,500 tasks/s unbatched", m("flat", "tasks per s"), (v) => v >= 1500, true),
    check("W1 ≥ 5,000 tasks/s batched", m("flat-batched", "tasks per s"), (v) => v >= 5000, true),
    check("W1 ≤ 2 round trips per task unbatched", m("flat", "round trips per task"), (v) => v <= 2),
    check("W5 idle ≤ 1 query per second per process", m("idle-queries", "queries per s"), (v) => v <= 1),
    check("W6 timeouts detected within 50 ms (p99)", m("faults", "timeout lag p99 ms"), (v) => v <= 50),
    check(
      "W7 many runs ≥ 1.2× graphile-worker runs/s",
      m("many-runs", "runs per s") / m("many-runs", "runs per s", "graphile-worker"),
      (v) => v >= 1.2,
      true,
    ),
    check("W8 4 processes ≥ 3× one process (tasks/s)", m("scale-out", "speed-up 4 ÷ 1"), (v) => v >= 3, true),
    check(
      "W8 4 processes ≥ graphile-worker with 4 (tasks/s)",
      m("scale-out", scaleOutMetric(4)) / m("scale-out", scaleOutMetric(4), "graphile-worker"),
      (v) => v >= 1,
      true,
    ),
    {
      target: "PGlite chain ms per step / Postgres chain ms per step",
      value: m("chain", "ms per step", "htdag-pglite") / m("chain", "ms per step"),
      met: null,
      reportOnly: true,
    },
  ];
}

/** "met", "NOT met", or why it was not judged. */
export function verdict(check: TargetCheck): string {
  if (check.reportOnly) {
    return "reported";
  }
  return check.met === null ? "not judged (not measured, or quick sizes)" : check.met ? "met" : "NOT met";
}
