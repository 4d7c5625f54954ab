/**
 * Designing a microservices architecture from a goal: a function decomposer turns the goal into a
 * chain (requirements → domain model → services → API contracts → deployment plan), and the steps
 * produce each artefact from their dependencies' outputs. The API contracts are a composite whose
 * children run one per service.
 *
 *   npx tsx examples/microservices.ts [--database postgres://…]
 */
import { fileURLToPath } from "node:url";
import { createOrchestrator, type Decomposer, type RunResult, type Steps } from "../src/index.js";

const SERVICES = ["users", "catalog", "orders", "payments"] as const;

/** Rules of thumb as a decomposer: the same goal always yields the same graph. */
export const architectureDecomposer: Decomposer = {
  name: "architecture-rules",
  decompose: (goal) => {
    if (!/microservice/i.test(goal)) {
      return null;
    }
    return [
      { id: "requirements", description: "List the capabilities the system needs", input: { goal: "{{ goal }}" } },
      { id: "domain_model", description: "Group capabilities into bounded contexts", dependsOn: ["requirements"] },
      { id: "contracts", description: "Write an API contract per service", dependsOn: ["domain_model"] },
      ...SERVICES.map((s) => ({ id: `contract_${s}`, step: "contract", parentId: "contracts", input: { service: s } })),
      { id: "deployment", description: "Plan deployment order from service dependencies", dependsOn: ["contracts"] },
    ];
  },
};

export const steps: Steps = {
  requirements: async ({ input }) => {
    const goal = (input as { goal: string }).goal.toLowerCase();
    const capabilities = ["sign up", "log in", "browse products", "place order", "pay"];
    if (goal.includes("shop")) {
      capabilities.push("track shipment");
    }
    return { capabilities };
  },
  domain_model: async ({ deps }) => {
    const { capabilities } = deps.requirements as { capabilities: string[] };
    const contextOf = (c: string) =>
      /sign|log/.test(c) ? "users" : /browse/.test(c) ? "catalog" : /pay/.test(c) ? "payments" : "orders";
    const contexts: Record<string, string[]> = {};
    for (const c of capabilities) {
      (contexts[contextOf(c)] ??= []).push(c);
    }
    return { contexts };
  },
  contract: async ({ input, deps }) => {
    const { service } = input as { service: string };
    const { contexts } = deps.domain_model as { contexts: Record<string, string[]> };
    const endpoints = (contexts[service] ?? []).map((c) => `POST /${service}/${c.replace(/\s+/g, "-")}`);
    const calls = service === "orders" ? ["users", "catalog", "payments"] : service === "payments" ? ["users"] : [];
    return { service, endpoints, calls };
  },
  deployment: async ({ deps }) => {
    const contracts = Object.values(deps.contracts as Record<string, { service: string; calls: string[] }>);
    const order: string[] = [];
    const visit = (name: string) => {
      if (order.includes(name)) {
        return;
      }
      for (const dep of contracts.find((c) => c.service === name)?.calls ?? []) {
        visit(dep);
      }
      order.push(name);
    };
    for (const c of contracts) {
      visit(c.service);
    }
    return { order };
  },
};

/** Runs the example and returns its result. */
export async function main(database?: string): Promise<RunResult> {
  const orch = await createOrchestrator({ database: database ?? "memory://" });
  try {
    return await orch.composeFromGoal(
      "Design a microservices architecture for an online shop",
      architectureDecomposer,
      steps,
    );
  } finally {
    await orch.close();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const at = process.argv.indexOf("--database");
  const result = await main(at > 0 ? process.argv[at + 1] : undefined);
  console.log(
    `${result.status} in ${result.durationMs} ms; deploy in this order: ${(result.outputs.deployment as { order: string[] }).order.join(" → ")}`,
  );
  process.exitCode = result.status === "completed" ? 0 : 1;
}
