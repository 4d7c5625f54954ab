/**
 * Rewrites the generated part of docs/performance.md (between the `bench:results` markers) from a
 * report, so the page always shows the figures of the last full run and nothing typed by hand.
 */
import { readFile, writeFile } from "node:fs/promises";
import { backgroundLine, type BenchReport } from "../../src/bench/report-run.js";
import { formatNumber, markdownTable, ratioWorkload, sideBySide, verdict } from "../../src/bench/report.js";
import type { Chart } from "./charts.js";

const START = "<!-- bench:results:start -->";
const END = "<!-- bench:results:end -->";

/** The generated Markdown: machine, versions, the table, ratios, targets, charts. */
export function resultsMarkdown(report: BenchReport, charts: readonly Chart[]): string {
  const { meta } = report;
  const names = meta.systems.map((s) => s.name);
  const out = [
    `Last run: ${meta.date} — ${meta.size} sizes, ${meta.repeats} measured run(s) per workload after one discarded warm-up; ` +
      "cells are medians (min–max).",
    "",
    `Machine: ${meta.cpus} × ${meta.cpuModel}, ${meta.memoryGb} GB; PostgreSQL ${meta.postgres} on the same host; Node ${meta.node}; ` +
      `1-minute load average ${formatNumber(meta.loadAverage.start)} at start, ${formatNumber(meta.loadAverage.end)} at end.`,
    ...(meta.background ? ["", `${backgroundLine(meta.background)}.`] : []),
    "",
    markdownTable(
      [
        ["system", "version", "how it runs the workloads"],
        ...meta.systems.map((s) => [s.name, s.version, s.notes.join("; ")]),
      ],
      3,
    ),
    "",
    markdownTable(sideBySide(report.results, names), 2),
    "",
    "### htdag against each peer (ratio of medians; below 1 means htdag's figure is lower)",
    "",
    markdownTable(
      [
        ["workload", "metric", "peer", "htdag / peer"],
        ...report.ratios.map((r) => [ratioWorkload(r), r.metric, r.peer, formatNumber(r.value)]),
      ],
      3,
    ),
    "",
    "### Targets",
    "",
    markdownTable(
      [["target", "htdag", "verdict"], ...report.targets.map((t) => [t.target, formatNumber(t.value), verdict(t)])],
      1,
    ),
  ];
  if (report.failures.length > 0) {
    out.push(
      "",
      "### Failures in this run",
      "",
      ...report.failures.map((f) => `- ${f.system} ${f.workload}${f.background ? " (background)" : ""}: ${f.message}`),
    );
  }
  out.push("", "### Charts", "", ...charts.map((c) => `![${c.title}](performance/${c.file})`));
  return out.join("\n");
}

/** Replaces the generated section of `path`; the markers must be there (the rest of the page is prose). */
export async function updateResultsPage(report: BenchReport, path: string, charts: readonly Chart[]): Promise<void> {
  const page = await readFile(path, "utf8");
  const start = page.indexOf(START);
  const end = page.indexOf(END);
  if (start < 0 || end < start) {
    throw new Error(
      `${path} has no "${START}" … "${END}" section; put both markers where the results belong and run again`,
    );
  }
  await writeFile(
    path,
    `${page.slice(0, start + START.length)}\n${resultsMarkdown(report, charts)}\n${page.slice(end)}`,
  );
}
