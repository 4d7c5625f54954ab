/**
 * The public `createOrchestrator`: the orchestrator wired with the dashboard server. It sits above
 * both layers so that neither imports the other (docs/architecture.md).
 */
import { buildOrchestrator } from "./orchestrator/create.js";
import type { StartDashboard } from "./orchestrator/dashboard-port.js";
import type { OrchestratorOptions } from "./orchestrator/options.js";
import type { Orchestrator, OrchestratorExtras } from "./orchestrator/orchestrator.js";

/**
 * Opens the store (embedded PGlite unless `database` names Postgres), migrates it unless
 * `migrate: false`, and returns the orchestrator.
 * @example
 * const orch = await createOrchestrator({ database: process.env.DATABASE_URL });
 */
export function createOrchestrator(options: OrchestratorOptions & OrchestratorExtras = {}): Promise<Orchestrator> {
  return buildOrchestrator({ startDashboard }, options);
}

/** The dashboard server, loaded when `orch.dashboard()` is first called: most processes never serve it. */
const startDashboard: StartDashboard = async (orch, options) =>
  (await import("./dashboard/server.js")).startDashboard(orch, options);
