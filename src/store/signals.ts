/** Query family: signals to runs (docs/waits-and-flow-control.md), one round trip each. */
import type { Db } from "./db.js";
import { quoteIdentifier } from "./identifiers.js";

/** What `deliver_signal` did with a signal. */
export interface SignalDelivery {
  /** True when a waiting task took it at once. */
  delivered: boolean;
  /** The task that took it; null when it was kept, or refused. */
  taskId?: string | null;
  /** The run's status after the call; null for an unknown run. */
  runStatus: string | null;
  /** Why no wait takes it (nothing was stored); absent when it was delivered or kept. */
  reason?: string;
}

export function createSignalQueries(db: Db, schema: string) {
  const s = quoteIdentifier(schema);
  return {
    /**
     * Sends signal `name` with `payload` (as stored: encoded by the codec, if any) to the run, under
     * its lock: the task waiting for it completes with the payload as its output, or the signal is
     * kept for a wait not started yet, or nothing is stored and `reason` says why.
     */
    async deliver(runId: string, name: string, payload: unknown, channel: string | null): Promise<SignalDelivery> {
      const { rows } = await db.query<{ r: SignalDelivery }>(`SELECT ${s}.deliver_signal($1, $2, $3, $4) AS r`, [
        runId,
        name,
        JSON.stringify(payload ?? null),
        channel,
      ]);
      return rows[0]!.r;
    },
  };
}

export type SignalQueries = ReturnType<typeof createSignalQueries>;
