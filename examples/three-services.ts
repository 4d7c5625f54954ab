/**
 * Three services built in parallel as three workflows; the order service depends on the user
 * service and receives its outputs (its user API's base URL) as run input.
 *
 *   npx tsx examples/three-services.ts [--database postgres://…]
 */
import { fileURLToPath } from "node:url";
import { createOrchestrator, type Decomposer, type MultipleResult, type Steps } from "../src/index.js";

/** Every "Build X service API" goal becomes schema → handlers → tests. */
export const serviceDecomposer: Decomposer = {
  name: "service-template",
  decompose: (goal) => {
    const match = /build (\w+) service api/i.exec(goal);
    if (!match) {
      return null;
    }
    const name = match[1]!.toLowerCase();
    return [
      { id: "schema", input: { entity: name } },
      { id: "handlers", dependsOn: ["schema"] },
      { id: "tests", dependsOn: ["handlers"] },
    ];
  },
};

const serviceSteps = (port: number): Steps => ({
  schema: async ({ input }) => {
    const { entity } = input as { entity: string };
    return { table: `${entity}s`, columns: ["id", "created_at", `${entity}_data`] };
  },
  handlers: async ({ deps, runInput }) => {
    const { table } = deps.schema as { table: string };
    const upstream =
      (runInput as { workflows?: Record<string, Record<string, { baseUrl?: string }>> } | null)?.workflows ?? {};
    const needs = Object.fromEntries(
      Object.entries(upstream).map(([name, outputs]) => [name, outputs.handlers?.baseUrl]),
    );
    return {
      baseUrl: `http://127.0.0.1:${port}/${table}`,
      routes: ["GET", "POST", "DELETE"].map((m) => `${m} /${table}`),
      needs,
    };
  },
  tests: async ({ deps }) => ({ cases: (deps.handlers as { routes: string[] }).routes.length * 2 }),
});

/** Runs the example and returns its result. */
export async function main(database?: string): Promise<MultipleResult> {
  const orch = await createOrchestrator({ database: database ?? "memory://" });
  try {
    return await orch.composeMultipleWorkflows(
      [
        { name: "user_service", goal: "Build user service API" },
        { name: "order_service", goal: "Build order service API", dependsOn: ["user_service"] },
        { name: "inventory_service", goal: "Build inventory service API" },
      ],
      serviceDecomposer,
      { user_service: serviceSteps(8001), order_service: serviceSteps(8002), inventory_service: serviceSteps(8003) },
      { parallel: true },
    );
  } finally {
    await orch.close();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const at = process.argv.indexOf("--database");
  const result = await main(at > 0 ? process.argv[at + 1] : undefined);
  for (const [name, run] of Object.entries(result.runs)) {
    console.log(`${name}: ${run.status}`);
  }
  process.exitCode = result.status === "completed" ? 0 : 1;
}
