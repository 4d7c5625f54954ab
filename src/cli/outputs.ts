/** Human summaries of a finished run's outputs: the report path, duplicate groups, column statistics. */
import type { RunResult } from "../orchestrator/run-result.js";
import type { ColumnStats } from "./catalogue/csv-stats.js";
import { formatBytes } from "./catalogue/report.js";

/** Longest JSON shown for an output no summary knows, in characters. */
const MAX_JSON_CHARS = 1500;

/** Ids of top-level tasks no other task depends on: the run's results (a composite's output holds its children's). */
export function sinkTasks(
  tasks: readonly { id: string; dependsOn: readonly string[]; parentId?: string | undefined }[],
): string[] {
  const needed = new Set(tasks.flatMap((t) => t.dependsOn));
  return tasks.filter((t) => t.parentId === undefined && !needed.has(t.id)).map((t) => t.id);
}

/** Lines describing the outputs of `sinks`, using the shape of known outputs. */
export function describeOutputs(result: RunResult, sinks: readonly string[]): string[] {
  const lines: string[] = [];
  for (const id of sinks) {
    if (!(id in result.outputs)) {
      continue;
    }
    lines.push(...describeOutput(id, result.outputs[id]));
  }
  return lines;
}

function describeOutput(id: string, output: unknown): string[] {
  const value = (output ?? {}) as Record<string, unknown>;
  if (typeof value.path === "string" && typeof value.bytes === "number") {
    return [`report written to ${value.path}`];
  }
  if (Array.isArray(value.groups) && typeof value.wastedBytes === "number") {
    return describeDuplicates(value as unknown as DuplicatesOutput);
  }
  if (typeof value.file === "string" && Array.isArray(value.columns)) {
    return describeCsv(value as unknown as CsvSummary);
  }
  const json = JSON.stringify(output, null, 2) ?? "null";
  return [`${id}:`, json.length > MAX_JSON_CHARS ? `${json.slice(0, MAX_JSON_CHARS)}…` : json];
}

interface DuplicatesOutput {
  filesHashed: number;
  groups: { sha256: string; size: number; paths: string[] }[];
  wastedBytes: number;
}

function describeDuplicates(output: DuplicatesOutput): string[] {
  const lines = [
    `${output.groups.length} group(s) of identical files among ${output.filesHashed} file(s); ${formatBytes(output.wastedBytes)} could be freed`,
  ];
  for (const group of output.groups.slice(0, 20)) {
    lines.push(`  ${formatBytes(group.size)} × ${group.paths.length}  sha256 ${group.sha256.slice(0, 12)}`);
    for (const path of group.paths) {
      lines.push(`    ${path}`);
    }
  }
  if (output.groups.length > 20) {
    lines.push(`  … and ${output.groups.length - 20} more group(s)`);
  }
  return lines;
}

interface CsvSummary {
  file: string;
  rows: number;
  columns: ColumnStats[];
}

function describeCsv(summary: CsvSummary): string[] {
  const cell = (v: unknown) => (v === null || v === undefined ? "-" : String(v));
  const rows = summary.columns.map((c) => [
    c.name,
    c.type,
    cell(c.count),
    cell(c.missing),
    cell(c.distinct),
    cell(c.min),
    cell(c.max),
    cell(c.mean),
  ]);
  const header = ["column", "type", "count", "missing", "distinct", "min", "max", "mean"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  return [
    `${summary.file}: ${summary.rows} row(s), ${summary.columns.length} column(s)`,
    line(header),
    ...rows.map(line),
  ];
}
