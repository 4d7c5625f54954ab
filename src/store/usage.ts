/** Query family: usage and budgets (docs/usage-and-budgets.md). One call each: record, read, retry within budget. */
import type { Spend } from "../errors.js";
import type { Db } from "./db.js";
import { quoteIdentifier } from "./identifiers.js";

/** Where a usage record comes from (the usage_records_source_check constraint). */
export type UsageSource = "decomposition" | "revision" | "step";

/** One report of usage as record_usage stores it. */
export interface UsageEntry {
  runId: string;
  taskId: string | null;
  attempt: number | null;
  source: UsageSource;
  model: string;
  llmCalls: number;
  inputTokens: number;
  outputTokens: number;
  /** Null when unknown (no price for the model). */
  costUsd: number | null;
}

/** A run's spend against its budget, as record_usage and run_budget return it. */
export interface BudgetState {
  spent: Required<Spend>;
  budget: Spend | null;
  reached: boolean;
  runStatus: string;
}

export function createUsageQueries(db: Db, schema: string) {
  const s = quoteIdentifier(schema);
  return {
    /**
     * Stores one report against its attempt and its run, and fails the run if its budget is now
     * reached: one round trip, one transaction (record_usage). Null when there is no such run.
     */
    async record(entry: UsageEntry, channel: string | null): Promise<BudgetState | null> {
      const { rows } = await db.query<{ r: BudgetState | null }>(
        `SELECT ${s}.record_usage($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) AS r`,
        [
          entry.runId,
          entry.taskId,
          entry.attempt,
          entry.source,
          entry.model,
          entry.llmCalls,
          entry.inputTokens,
          entry.outputTokens,
          entry.costUsd,
          channel,
        ],
      );
      return rows[0]?.r ?? null;
    },

    /** The run's spend and budget (one indexed read), or null when there is no such run. */
    async budget(runId: string): Promise<BudgetState | null> {
      const { rows } = await db.query<{ r: BudgetState | null }>(`SELECT ${s}.run_budget($1) AS r`, [runId]);
      return rows[0]?.r ?? null;
    },

    /**
     * Re-opens a final run with its budget raised to `budget` (null: kept); returns the tasks reset,
     * -1 if the run is not final, -2 if its budget would still be reached (nothing changed).
     */
    async retryWithinBudget(
      runId: string,
      fromTask: string | null,
      budget: Spend | null,
      channel: string | null,
    ): Promise<number> {
      const { rows } = await db.query<{ reset: number }>(
        `SELECT ${s}.retry_run_within_budget($1, $2, $3, $4) AS reset`,
        [runId, fromTask, budget === null ? null : JSON.stringify(budget), channel],
      );
      return rows[0]?.reset ?? -1;
    },
  };
}

export type UsageQueries = ReturnType<typeof createUsageQueries>;
