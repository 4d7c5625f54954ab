/** A run's spend in its header: tokens in and out, calls, cost, and a bar per limit of its budget. */
import type { RunDetail } from "../../../src/dashboard/types.js";
import { budgetLines, formatCost, formatTokens } from "../format";

export function UsageSummary({ run }: { run: RunDetail }) {
  const { usage } = run;
  const lines = budgetLines(usage, run.budget);
  const spent = usage.llmCalls > 0 || usage.inputTokens > 0 || usage.outputTokens > 0 || usage.costUsd > 0;
  if (!spent && lines.length === 0) {
    return null;
  }
  return (
    <div className="usage-summary" aria-label="run usage">
      <span className="usage-figures">
        {formatTokens(usage.inputTokens)} in · {formatTokens(usage.outputTokens)} out ·{" "}
        {usage.llmCalls === 1 ? "1 LLM call" : `${usage.llmCalls} LLM calls`} · {formatCost(usage.costUsd)}
      </span>
      {lines.map((line) => (
        <span
          key={line.kind}
          className={`budget-bar${line.share >= 1 ? " reached" : line.share >= 0.8 ? " near" : ""}`}
          data-budget={line.kind}
          title={`${line.spent} of ${line.limit}`}
        >
          <span className="budget-text">{line.text}</span>
          <progress max={1} value={Math.min(1, line.share)} aria-label={`${line.kind} budget`} />
        </span>
      ))}
    </div>
  );
}
