/** The benchmark's output: one aligned table on stdout and the same figures as JSON. */
import { mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { Summary } from "./stats.js";

/** One figure: a metric of a workload on a system, over the repeats. */
export interface ResultRow extends Summary {
  system: string;
  workload: string;
  metric: string;
}

/** Turns `{ metric: summary }` of one workload into rows. */
export function rowsOf(system: string, workload: string, summaries: Record<string, Summary>): ResultRow[] {
  return Object.entries(summaries).map(([metric, s]) => ({ system, workload, metric, ...s }));
}

/** The row for `metric` of `workload` on `system`, if it was measured. */
export function findRow(rows: readonly ResultRow[], system: string, workload: string, metric: string): ResultRow | undefined {
  return rows.find((r) => r.system === system && r.workload === workload && r.metric === metric);
}

/** A figure with as many decimals as it deserves. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return "–";
  const magnitude = Math.abs(value);
  if (magnitude >= 100) return Math.round(value).toLocaleString("en-US");
  if (magnitude >= 10) return value.toFixed(1);
  return value.toFixed(value !== 0 && magnitude < 0.1 ? 3 : 2);
}

/** Lays out `cells` (first row = header) in columns; numeric columns (after `textColumns`) align right. */
export function formatTable(cells: readonly string[][], textColumns: number): string {
  const widths: number[] = [];
  for (const row of cells) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  const line = (row: readonly string[]) =>
    row.map((cell, i) => (i < textColumns ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join("  ").trimEnd();
  const [header, ...body] = cells;
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  return [line(header ?? []), rule, ...body.map(line)].join("\n");
}

/** The results as a table: system, workload, metric, median, min, max. */
export function resultsTable(rows: readonly ResultRow[]): string {
  const cells = [["system", "workload", "metric", "median", "min", "max"]];
  for (const r of rows) cells.push([r.system, r.workload, r.metric, formatNumber(r.median), formatNumber(r.min), formatNumber(r.max)]);
  return formatTable(cells, 3);
}

/** Writes `report` as indented JSON, creating the folder if needed. */
export async function writeJson(path: string, report: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify(report, null, 2)}\n`);
}
