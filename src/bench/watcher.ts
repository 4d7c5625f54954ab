/**
 * A connection that waits for a system's completions to be committed (peers complete jobs after the
 * handler returns, sometimes without awaiting it; htdag finishes runs after their last task). Its
 * statements are left out of the round-trip counts: they are the harness watching, not the system working.
 */
import pg from "pg";
import type { HarnessTools } from "./types.js";

export interface Watcher {
  /** Polls `sql` (a `count(*)` as `n`) every 5 ms until it reads 0; throws after 300 s. */
  waitUntilZero(sql: string, params?: unknown[]): Promise<void>;
  close(): Promise<void>;
}

export async function openWatcher(url: string, harness: HarnessTools): Promise<Watcher> {
  const client = new pg.Client({ connectionString: url });
  harness.excludeFromCounts(client);
  await client.connect();
  return {
    async waitUntilZero(sql, params = []) {
      const deadline = Date.now() + 300_000;
      for (;;) {
        const { rows } = await client.query<{ n: number }>(sql, params);
        if (Number(rows[0]?.n ?? 0) === 0) {
          return;
        }
        if (Date.now() > deadline) {
          throw new Error(`the benchmark waited 300 s for "${sql}" to reach 0; the system stopped making progress`);
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    },
    close: () => client.end(),
  };
}
