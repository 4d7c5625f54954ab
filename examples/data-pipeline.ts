/**
 * A data pipeline as a chain: extract a CSV, validate its rows, aggregate revenue per region with a
 * forEach fan-out, and load a JSON report to disk. Runs on the embedded store by default.
 *
 *   npx tsx examples/data-pipeline.ts [--database postgres://…]
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createOrchestrator, defineStep, NonRetryableError, type RunResult } from "../src/index.js";
import { z } from "zod";

const here = dirname(fileURLToPath(import.meta.url));

const steps = {
  extract: defineStep({
    description: "Read a CSV file into rows",
    input: z.object({ path: z.string() }),
    run: async ({ input }) => {
      const [header, ...lines] = (await readFile(join(here, input.path), "utf8")).trim().split("\n");
      const columns = (header ?? "").split(",");
      return {
        rows: lines.map((line) => Object.fromEntries(line.split(",").map((v, i) => [columns[i] ?? `c${i}`, v]))),
      };
    },
  }),
  validate: async ({ deps }: { deps: Record<string, unknown> }) => {
    const { rows } = deps.extract as { rows: Record<string, string>[] };
    const bad = rows.filter((r) => !(Number(r.units) >= 0) || !(Number(r.unit_price) >= 0));
    if (bad.length > 0) {
      throw new NonRetryableError(`${bad.length} rows have bad numbers`);
    }
    const regions = [...new Set(rows.map((r) => r.region ?? "unknown"))].sort();
    return { rows, regions };
  },
  revenue: async ({ input, deps }: { input: unknown; deps: Record<string, unknown> }) => {
    const { item: region } = input as { item: string };
    const { rows } = deps.validate as { rows: Record<string, string>[] };
    const mine = rows.filter((r) => r.region === region);
    return {
      region,
      orders: mine.length,
      revenue: Math.round(mine.reduce((sum, r) => sum + Number(r.units) * Number(r.unit_price), 0) * 100) / 100,
    };
  },
  load: async ({ deps, runId }: { deps: Record<string, unknown>; runId: string }) => {
    const perRegion = deps.revenue as { region: string; revenue: number }[];
    const out = join(here, "out", `sales-${runId}.json`);
    await mkdir(dirname(out), { recursive: true });
    const total = Math.round(perRegion.reduce((sum, r) => sum + r.revenue, 0) * 100) / 100;
    await writeFile(out, JSON.stringify({ total, perRegion }, null, 2));
    return { path: out, total };
  },
};

const graph = {
  goal: "Summarise sales revenue per region from data/sales.csv",
  tasks: [
    { id: "extract", input: { path: "data/sales.csv" } },
    { id: "validate", dependsOn: ["extract"] },
    { id: "revenue", dependsOn: ["validate"], forEach: { from: "validate", path: "regions" } },
    { id: "load", dependsOn: ["revenue"] },
  ],
};

/** Runs the pipeline and returns its result. */
export async function main(database?: string): Promise<RunResult> {
  const orch = await createOrchestrator({ database: database ?? "memory://" });
  try {
    const recorded = await orch.decomposeGoal(graph.goal, () => graph.tasks);
    return await orch.composeFromTaskGraph(recorded, steps, { workflow: "sales_pipeline" });
  } finally {
    await orch.close();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const at = process.argv.indexOf("--database");
  const result = await main(at > 0 ? process.argv[at + 1] : undefined);
  console.log(`${result.status} in ${result.durationMs} ms`);
  console.log(JSON.stringify(result.outputs.load, null, 2));
  process.exitCode = result.status === "completed" ? 0 : 1;
}
