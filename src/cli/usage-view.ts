/** Usage (docs/usage-and-budgets.md) as the CLI prints it: `12.3k tokens (10.1k in, 2.2k out), 4 LLM calls, $0.0123`. */
import type { Usage } from "../orchestrator/usage.js";

/** A count in thousands or millions past 10,000: `950`, `12.3k`, `1.2M`. */
function compact(n: number): string {
  if (n < 10_000) {
    return String(n);
  }
  return n < 1_000_000 ? `${(n / 1000).toFixed(1)}k` : `${(n / 1_000_000).toFixed(1)}M`;
}

/** Whether anything was spent. */
export function spentAnything(usage: Usage | undefined): usage is Usage {
  return usage !== undefined && (usage.llmCalls > 0 || usage.inputTokens + usage.outputTokens > 0 || usage.costUsd > 0);
}

/** One line of usage; the cost only when one is known. */
export function describeUsage(usage: Usage): string {
  const tokens = usage.inputTokens + usage.outputTokens;
  const parts = [
    `${compact(tokens)} tokens (${compact(usage.inputTokens)} in, ${compact(usage.outputTokens)} out)`,
    `${usage.llmCalls} LLM call${usage.llmCalls === 1 ? "" : "s"}`,
  ];
  if (usage.costUsd > 0) {
    parts.push(`$${usage.costUsd.toFixed(usage.costUsd < 0.01 ? 4 : 2)}`);
  }
  return parts.join(", ");
}
