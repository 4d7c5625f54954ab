/** Formatting of durations, times and payloads for display (all as plain text). */

export const FINAL_RUN_STATUSES = ["completed", "failed", "cancelled", "timed_out"];

export function isFinalRun(status: string): boolean {
  return FINAL_RUN_STATUSES.includes(status);
}

export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) {
    return "–";
  }
  if (ms < 1000) {
    return `${Math.round(ms)} ms`;
  }
  if (ms < 60_000) {
    return `${(ms / 1000).toFixed(1)} s`;
  }
  const seconds = Math.round(ms / 1000);
  if (seconds < 3600) {
    return `${Math.floor(seconds / 60)}m ${String(seconds % 60).padStart(2, "0")}s`;
  }
  return `${Math.floor(seconds / 3600)}h ${String(Math.floor((seconds % 3600) / 60)).padStart(2, "0")}m`;
}

export function formatTime(iso: string | null | undefined): string {
  if (!iso) {
    return "–";
  }
  const date = new Date(iso);
  const today = new Date().toDateString() === date.toDateString();
  return today ? date.toLocaleTimeString() : date.toLocaleString();
}

/** A run's duration: stored when final, counted from its start while it goes on. */
export function liveDuration(
  run: { status: string; startedAt: string | null; finishedAt: string | null; durationMs: number | null },
  now: number,
): number | null {
  if (!run.startedAt) {
    return null;
  }
  if (run.finishedAt) {
    return new Date(run.finishedAt).getTime() - new Date(run.startedAt).getTime();
  }
  if (isFinalRun(run.status)) {
    return run.durationMs;
  }
  return Math.max(0, now - new Date(run.startedAt).getTime());
}

/** JSON on one line, cut at `max` characters. */
export function compactJson(value: unknown, max = 200): string {
  const text = JSON.stringify(value) ?? "null";
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export function shortId(id: string): string {
  return id.slice(0, 8);
}

/** What LLM calls cost, as the API sends it (UsageView). */
interface Usage {
  llmCalls: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

/** A token count in short form: `950`, `12.3k`, `1.2M`. */
export function formatTokens(tokens: number): string {
  if (tokens < 1000) {
    return String(Math.round(tokens));
  }
  if (tokens < 1_000_000) {
    return `${trimZero((tokens / 1000).toFixed(tokens < 100_000 ? 1 : 0))}k`;
  }
  return `${trimZero((tokens / 1_000_000).toFixed(1))}M`;
}

const trimZero = (text: string): string => text.replace(/\.0$/, "");

/** Dollars: two decimals, more for amounts under a cent (`$0.0042`), `<$0.0001` for less. */
export function formatCost(usd: number): string {
  if (usd === 0) {
    return "$0";
  }
  if (usd < 0.0001) {
    return "<$0.0001";
  }
  return usd < 0.01 ? `$${trimZeros(usd.toFixed(4))}` : `$${usd.toFixed(2)}`;
}

const trimZeros = (text: string): string => text.replace(/0+$/, "");

/** A spend in one short line, `12.3k tok · $0.04` (the cost left out while it is 0); `–` when nothing was spent. */
export function formatUsage(usage: Usage | null | undefined): string {
  if (!usage || (usage.llmCalls === 0 && usage.inputTokens === 0 && usage.outputTokens === 0 && usage.costUsd === 0)) {
    return "–";
  }
  const tokens = `${formatTokens(usage.inputTokens + usage.outputTokens)} tok`;
  return usage.costUsd > 0 ? `${tokens} · ${formatCost(usage.costUsd)}` : tokens;
}

/** One limit of a budget against the spend, for its bar: what was spent, the limit, the share used (0–1+). */
export interface BudgetLine {
  kind: "tokens" | "costUsd" | "llmCalls";
  spent: number;
  limit: number;
  /** spent / limit; 1 or more once reached. */
  share: number;
  text: string;
}

/** Each limit of `budget` with the spend against it (tokens count input plus output, as the budget check does). */
export function budgetLines(
  usage: Usage,
  budget: { tokens?: number; costUsd?: number; llmCalls?: number } | null,
): BudgetLine[] {
  if (!budget) {
    return [];
  }
  const lines: BudgetLine[] = [];
  const add = (kind: BudgetLine["kind"], spent: number, limit: number | undefined, text: string) => {
    if (limit !== undefined) {
      lines.push({ kind, spent, limit, share: limit > 0 ? spent / limit : 1, text });
    }
  };
  const tokens = usage.inputTokens + usage.outputTokens;
  add("tokens", tokens, budget.tokens, `tokens ${formatTokens(tokens)} / ${formatTokens(budget.tokens ?? 0)}`);
  add(
    "costUsd",
    usage.costUsd,
    budget.costUsd,
    `cost ${formatCost(usage.costUsd)} / ${formatCost(budget.costUsd ?? 0)}`,
  );
  add("llmCalls", usage.llmCalls, budget.llmCalls, `LLM calls ${usage.llmCalls} / ${budget.llmCalls ?? 0}`);
  return lines;
}
