/**
 * A run's, a task's and an attempt's spend (docs/usage-and-budgets.md) as the dashboard sends it: the usage
 * columns read back (pg returns bigint and numeric as strings), the budget of `runs.options`, and
 * whether a failed run stopped at its budget. Pure.
 */
import { z } from "zod";
import type { BudgetView, UsageView } from "./types.js";

/** The usage columns of a run, an attempt or a task's attempts summed, as either driver returns them. */
export interface UsageColumns {
  llm_calls?: unknown;
  input_tokens?: unknown;
  output_tokens?: unknown;
  cost_usd?: unknown;
}

const count = (value: unknown): number => {
  const number = Number(value ?? 0);
  return Number.isFinite(number) ? number : 0;
};

/** The spend in `row`'s usage columns; zeros for columns that are absent or null. */
export function toUsage(row: UsageColumns): UsageView {
  return {
    llmCalls: count(row.llm_calls),
    inputTokens: count(row.input_tokens),
    outputTokens: count(row.output_tokens),
    costUsd: count(row.cost_usd),
  };
}

/** True when nothing was spent: no call, no token, no cost. */
export function isZeroUsage(usage: UsageView): boolean {
  return usage.llmCalls === 0 && usage.inputTokens === 0 && usage.outputTokens === 0 && usage.costUsd === 0;
}

/** The spend, or null when nothing was spent (tasks and attempts that called no LLM). */
export function toSpentUsage(row: UsageColumns): UsageView | null {
  const usage = toUsage(row);
  return isZeroUsage(usage) ? null : usage;
}

const limit = z.number().finite().nonnegative().optional();
const budgetSchema = z.object({ tokens: limit, costUsd: limit, llmCalls: limit });

/** The budget a run was started with (`runs.options.budget`), or null when it has none (or none readable). */
export function toBudget(options: unknown): BudgetView | null {
  if (options === null || typeof options !== "object") {
    return null;
  }
  const parsed = budgetSchema.safeParse((options as { budget?: unknown }).budget);
  if (!parsed.success) {
    return null;
  }
  const { tokens, costUsd, llmCalls } = parsed.data;
  const budget: BudgetView = {
    ...(tokens === undefined ? {} : { tokens }),
    ...(costUsd === undefined ? {} : { costUsd }),
    ...(llmCalls === undefined ? {} : { llmCalls }),
  };
  return Object.keys(budget).length > 0 ? budget : null;
}

/** Which limits of `budget` the spend reached (tokens count input plus output, as the budget check does). */
export function reachedLimits(usage: UsageView, budget: BudgetView | null): (keyof BudgetView)[] {
  if (!budget) {
    return [];
  }
  const spent: Required<BudgetView> = {
    tokens: usage.inputTokens + usage.outputTokens,
    costUsd: usage.costUsd,
    llmCalls: usage.llmCalls,
  };
  return (Object.keys(budget) as (keyof BudgetView)[]).filter(
    (key) => budget[key] !== undefined && spent[key] >= budget[key]!,
  );
}

/**
 * Whether a failed run stopped at its budget: its error says BUDGET_EXCEEDED, or (an error written
 * without its code) the spend reached a limit.
 */
export function isBudgetExceeded(
  status: string,
  error: { code?: unknown; name?: unknown } | null,
  usage: UsageView,
  budget: BudgetView | null,
): boolean {
  if (status !== "failed") {
    return false;
  }
  if (error?.code === "BUDGET_EXCEEDED" || error?.name === "BudgetExceededError") {
    return true;
  }
  return reachedLimits(usage, budget).length > 0;
}
