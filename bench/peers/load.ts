/**
 * Loads the peer adapters that can run here. Each peer is a devDependency; when its package is not
 * installed, the benchmark goes on without it and says why.
 */
import type { BenchSystem } from "../../src/bench/types.js";

const ADAPTERS: Record<string, { module: string; exportName: string; install: string }> = {
  "graphile-worker": {
    module: "./graphile-worker.js",
    exportName: "graphileWorker",
    install: "npm install --save-dev graphile-worker@0.17.3",
  },
  "pg-boss": { module: "./pg-boss.js", exportName: "pgBoss", install: "npm install --save-dev pg-boss@10.3.3" },
};

/** The peers named in `names` that could be loaded, and a line for each that could not. */
export async function loadPeers(names: readonly string[]): Promise<{ systems: BenchSystem[]; skipped: string[] }> {
  const systems: BenchSystem[] = [];
  const skipped: string[] = [];
  for (const name of names) {
    const adapter = ADAPTERS[name];
    if (!adapter) {
      skipped.push(`${name}: no such peer (known: ${Object.keys(ADAPTERS).join(", ")})`);
      continue;
    }
    try {
      const loaded = (await import(adapter.module)) as Record<string, BenchSystem>;
      const system = loaded[adapter.exportName];
      if (!system) {
        throw new Error(`${adapter.module} does not export ${adapter.exportName}`);
      }
      systems.push(system);
    } catch (error) {
      skipped.push(
        `${name}: not measured, its adapter could not load (${(error as Error).message}); install it with \`${adapter.install}\``,
      );
    }
  }
  return { systems, skipped };
}
