/** The README's example as a module tests can import (test/docs runs the README's block itself): `npx tsx examples/readme.ts`. */
import { fileURLToPath } from "node:url";
import { createOrchestrator, defineStep, type RunResult } from "../src/index.js";

export async function main(database = process.env.DATABASE_URL ?? "memory://"): Promise<RunResult> {
  const orch = await createOrchestrator({ database }); // omitted → PGlite in ./.htdag

  const decomposer = (goal: string) => [
    { id: "research", input: { topic: goal } },
    { id: "outline", dependsOn: ["research"] },
    { id: "sections", dependsOn: ["outline"], forEach: { from: "outline", path: "headings" } },
    { id: "publish", dependsOn: ["sections"], when: { task: "sections", op: "truthy" as const } },
  ];

  const result = await orch.composeFromGoal(
    "Write a guide to Postgres indexes",
    decomposer,
    {
      research: async ({ input }) => ({ notes: [`about ${(input as { topic: string }).topic}`] }),
      outline: async () => ({ headings: ["B-tree", "GIN", "BRIN"] }),
      sections: defineStep({
        timeoutMs: 5_000,
        maxAttempts: 3,
        run: async ({ input }) => `## ${(input as { item: string }).item}`,
      }),
      publish: async ({ deps, signal }) => ({
        characters: (deps.sections as string[]).join("\n").length,
        aborted: signal.aborted,
      }),
    },
    { maxParallel: 4 },
  );

  await orch.close();
  return result;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const result = await main();
  console.log(result.status, result.outputs.publish);
}
