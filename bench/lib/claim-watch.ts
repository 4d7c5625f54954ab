/**
 * Notes, in this process, the moment each task's claim came back from the database. A settle
 * commits, then returns the tasks it claimed, so "claim returned → step started" is the
 * commit → start latency minus at most one trip back from the server.
 * It wraps `orch.db.query` on the instance (no change to htdag); round trips are still counted
 * by the driver underneath.
 */
import type { Orchestrator } from "../../src/index.js";

type Query = Orchestrator["db"]["query"];

/** Claim return times by `runId:taskId`, for one orchestrator. */
export class ClaimWatch {
  private readonly returnedAt = new Map<string, number>();

  constructor(orch: Orchestrator) {
    const db = orch.db as { query: Query };
    const original: Query = db.query.bind(orch.db);
    db.query = (async (sql: string, params?: readonly unknown[]) => {
      const result = await original(sql, params);
      this.note(result.rows[0]);
      return result;
    }) as Query;
  }

  /** When the claim of `taskId` in `runId` came back, or undefined if it was never seen. */
  claimedAt(runId: string, taskId: string): number | undefined {
    return this.returnedAt.get(`${runId}:${taskId}`);
  }

  /** Forgets a finished run's claims. */
  forget(runId: string): void {
    for (const key of this.returnedAt.keys()) {
      if (key.startsWith(`${runId}:`)) {
        this.returnedAt.delete(key);
      }
    }
  }

  /** start_run and settle_task answer `{ claimed: [...] }`; claim_tasks answers the list itself. */
  private note(row: unknown): void {
    const value = (row as { r?: unknown } | undefined)?.r;
    const claimed = Array.isArray(value) ? value : (value as { claimed?: unknown } | undefined)?.claimed;
    if (!Array.isArray(claimed)) {
      return;
    }
    const now = performance.now();
    for (const task of claimed as { runId?: unknown; taskId?: unknown }[]) {
      if (typeof task?.runId === "string" && typeof task.taskId === "string") {
        this.returnedAt.set(`${task.runId}:${task.taskId}`, now);
      }
    }
  }
}
