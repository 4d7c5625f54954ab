/**
 * Flow control benchmark: W1 (independent no-ops submitted at once to one worker, concurrency 10,
 * unbatched and batched 50) as `npm run bench` measures it, without flow control and with a
 * limit on every task that never binds: a rate-limit key (1,000,000 starts per second, one key for
 * all) and a concurrency key (limit 10,000). The variants alternate, each repeated; medians with
 * min and max, in tasks per second. One database, recreated (htdag_bench_flow).
 *
 *   npx tsx bench/flow-control.ts        # BENCH_TASKS (default 2000), BENCH_REPEATS (default 5)
 *   npm run bench:flow
 */
import { DEFAULT_ADMIN_URL, connectAdmin, dropDatabase, recreateDatabase } from "../src/bench/databases.js";
import { flat } from "../src/bench/htdag-system.js";
import { createOrchestrator } from "../src/create-orchestrator.js";
import type { TaskSpec } from "../src/graph/task-graph.js";

const env = process.env;
const adminUrl = env.BENCH_DATABASE_URL ?? DEFAULT_ADMIN_URL;
const tasks = Number(env.BENCH_TASKS ?? 2000);
const repeats = Number(env.BENCH_REPEATS ?? 5);
const DATABASE = "htdag_bench_flow";

const VARIANTS: { name: string; flow: Pick<TaskSpec, "rateLimit" | "concurrency"> }[] = [
  { name: "W1 without flow control", flow: {} },
  { name: "W1, a rate-limit key on every task", flow: { rateLimit: { key: "bench", limit: 1_000_000, perMs: 1000 } } },
  { name: "W1, a concurrency key on every task", flow: { concurrency: { key: "bench", limit: 10_000 } } },
];
const BATCHES = [1, 50];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

async function main(): Promise<void> {
  const admin = await connectAdmin(adminUrl);
  const url = await recreateDatabase(admin, adminUrl, DATABASE);
  const orch = await createOrchestrator({ database: url, maxTasks: 100_000 });
  const figures = new Map<string, number[]>();
  try {
    // One discarded warm-up of each, then the variants in turn, so drift hits them alike.
    for (let round = -1; round < repeats; round++) {
      for (const batchSize of BATCHES) {
        for (const variant of VARIANTS) {
          const { metrics } = await flat(orch, tasks, 10, batchSize, variant.flow);
          if (round >= 0) {
            const key = `${variant.name}, batch ${batchSize}`;
            figures.set(key, [...(figures.get(key) ?? []), metrics["tasks per s"]!]);
          }
        }
      }
    }
  } finally {
    await orch.close();
    await dropDatabase(admin, DATABASE);
    await admin.end();
  }
  console.log(`flow control: W1, ${tasks} tasks, concurrency 10, ${repeats} repeats (tasks/s: median, min-max)`);
  for (const [name, values] of figures) {
    const line = `${Math.round(median(values))} (${Math.round(Math.min(...values))}-${Math.round(Math.max(...values))})`;
    console.log(`  ${name.padEnd(52)} ${line}`);
  }
}

await main();
