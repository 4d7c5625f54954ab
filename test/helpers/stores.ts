/** Runs the same integration suite against real Postgres and real PGlite. */
import { afterAll, beforeAll } from "vitest";
import { createOrchestrator } from "../../src/create-orchestrator.js";
import type { Orchestrator, OrchestratorExtras } from "../../src/orchestrator/orchestrator.js";
import type { OrchestratorOptions } from "../../src/orchestrator/options.js";
import { createTestDatabase } from "./postgres.js";

export type StoreKind = "postgres" | "pglite";
export const STORES: StoreKind[] = ["postgres", "pglite"];

/**
 * Opens an orchestrator on `kind` for the enclosing describe block: a fresh database cloned from
 * the migrated template for Postgres, a fresh in-memory PGlite for the embedded store.
 */
export function useOrchestrator(
  kind: StoreKind,
  options: OrchestratorOptions & OrchestratorExtras = {},
): () => Orchestrator {
  let orch: Orchestrator | undefined;
  let drop: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    if (kind === "postgres") {
      const database = await createTestDatabase();
      drop = database.drop;
      orch = await createOrchestrator({ ...options, database: database.url });
    } else {
      orch = await createOrchestrator({ ...options, database: "memory://" });
    }
  });
  afterAll(async () => {
    await orch?.close();
    await drop?.();
  });
  return () => {
    if (!orch) {
      throw new Error("the orchestrator is opened in beforeAll");
    }
    return orch;
  };
}
