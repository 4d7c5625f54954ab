/** Usage as `htdag show` and `htdag runs` print it (design.md §14). */
import { describe, expect, it } from "vitest";
import type { RunResult } from "../../src/orchestrator/run-result.js";
import { describeRun, runView } from "../../src/cli/run-view.js";
import { describeUsage, spentAnything } from "../../src/cli/usage-view.js";

describe("usage in the CLI", () => {
  it("says tokens, calls and the cost when one is known, compactly past 10,000", () => {
    expect(describeUsage({ llmCalls: 1, inputTokens: 900, outputTokens: 100, costUsd: 0 })).toBe(
      "1000 tokens (900 in, 100 out), 1 LLM call",
    );
    expect(describeUsage({ llmCalls: 4, inputTokens: 10_100, outputTokens: 2200, costUsd: 0.0123 })).toBe(
      "12.3k tokens (10.1k in, 2200 out), 4 LLM calls, $0.01",
    );
    expect(describeUsage({ llmCalls: 2, inputTokens: 1_500_000, outputTokens: 0, costUsd: 0.004 })).toBe(
      "1.5M tokens (1.5M in, 0 out), 2 LLM calls, $0.0040",
    );
    expect(spentAnything({ llmCalls: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 })).toBe(false);
    expect(spentAnything(undefined)).toBe(false);
  });

  it("prints the run's usage under its header and each task's after its facts", () => {
    const result: RunResult = {
      runId: "r1",
      workflow: "w",
      goal: "g",
      status: "completed",
      durationMs: 10,
      revisions: [],
      usage: { llmCalls: 3, inputTokens: 300, outputTokens: 30, costUsd: 0.5 },
      outputs: {},
      tasks: [
        {
          id: "ask",
          parentId: null,
          kind: "atomic",
          step: "*",
          status: "completed",
          attempts: 1,
          durationMs: 5,
          usage: { llmCalls: 1, inputTokens: 100, outputTokens: 10, costUsd: 0 },
        },
        { id: "plain", parentId: null, kind: "atomic", step: "plain", status: "completed", attempts: 1, durationMs: 5 },
      ],
    };
    const lines = describeRun(runView(result, [])).join("\n");
    expect(lines).toContain("usage: 330 tokens (300 in, 30 out), 3 LLM calls, $0.50");
    expect(lines).toMatch(/ask.*attempts 1, 5ms, 110 tokens \(100 in, 10 out\), 1 LLM call/);
    expect(lines).not.toMatch(/plain.*LLM call/);
  });
});
