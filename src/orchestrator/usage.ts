/**
 * Usage and budgets (docs/usage-and-budgets.md), the pure part: a call's cost from its report and the
 * orchestrator's pricing, a report checked at the edge, and the error a reached budget is.
 */
import { z } from "zod";
import { BudgetExceededError, type Spend } from "../errors.js";
import { parseOptions } from "../options.js";
import type { UsageReport } from "../composer/steps.js";
import type { BudgetState } from "../store/usage.js";
import type { ModelPrice } from "./options.js";

/** What a run, or a task, spent: numbers, `costUsd` the sum of the known costs. */
export interface Usage {
  llmCalls: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

const usageReportSchema = z.strictObject({
  model: z.string().min(1).max(200),
  inputTokens: z.number().int().min(0),
  outputTokens: z.number().int().min(0),
  costUsd: z.number().min(0).finite().optional(),
  llmCalls: z.number().int().min(0).default(1),
});

/** The report, checked (a step's report is user input); throws InvalidOptionError naming the field. */
export function parseUsageReport(report: UsageReport): z.output<typeof usageReportSchema> {
  return parseOptions(usageReportSchema, report, "ctx.usage");
}

/** The cost of a call: what it reported, else its tokens × the model's price; null when neither is known. */
export function costOf(
  pricing: Readonly<Record<string, ModelPrice>> | undefined,
  model: string,
  inputTokens: number,
  outputTokens: number,
  reported?: number,
): number | null {
  if (reported !== undefined) {
    return reported;
  }
  const price = pricing?.[model];
  if (!price) {
    return null;
  }
  return (inputTokens * price.inputPerMTok + outputTokens * price.outputPerMTok) / 1_000_000;
}

/** The error of a run whose budget is reached, from its spend and budget as stored. */
export function budgetError(runId: string, state: BudgetState): BudgetExceededError {
  return new BudgetExceededError(runId, normalizeSpend(state.spent), (state.budget ?? {}) as Spend);
}

/** A spend read back from jsonb: numbers (costUsd rounded to the stored 8 decimals). */
function normalizeSpend(spent: Required<Spend>): Required<Spend> {
  return { tokens: Number(spent.tokens), costUsd: Number(spent.costUsd), llmCalls: Number(spent.llmCalls) };
}

/** A run's or an attempt's usage columns as numbers (bigint and numeric come back as strings). */
export function usageOf(row: {
  llm_calls?: number | string | null;
  input_tokens?: number | string | null;
  output_tokens?: number | string | null;
  cost_usd?: number | string | null;
}): Usage {
  return {
    llmCalls: Number(row.llm_calls ?? 0),
    inputTokens: Number(row.input_tokens ?? 0),
    outputTokens: Number(row.output_tokens ?? 0),
    costUsd: Number(row.cost_usd ?? 0),
  };
}
