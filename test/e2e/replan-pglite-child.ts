/**
 * The composing process of the PGlite re-planning crash test (replan-crash.test.ts):
 * `node --import tsx test/e2e/replan-pglite-child.ts <dataDir> <log>`. Composes the crash plan on
 * the embedded store in `<dataDir>` with idempotency key `replan-crash`; its decomposer logs the
 * revision and blocks forever (the parent kills the process there).
 */
import { createOrchestrator } from "../../src/index.js";
import { crashDecomposer, crashSteps, CRASH_GOAL, crashRunOptions } from "./replan-crash-workload.js";

const [dataDir, log] = process.argv.slice(2);
const orch = await createOrchestrator({ database: `pglite:${dataDir}`, leaseMs: 1_000, onError: () => undefined });
await orch.composeFromGoal(CRASH_GOAL, crashDecomposer(log!, "block"), crashSteps(log!), crashRunOptions);
