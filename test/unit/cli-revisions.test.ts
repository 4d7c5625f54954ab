/** Revisions of a plan in the CLI: the `revisions:` section, its cost line, and the live view of a revision. */
import { describe, expect, it } from "vitest";
import { ProgressDisplay } from "../../src/cli/progress.js";
import { describeTasks } from "../../src/cli/run-view.js";
import { describeCost, describeRevisions } from "../../src/cli/revisions-view.js";
import { renderDot } from "../../src/cli/render.js";
import type { HtdagEvent } from "../../src/notifications/catalogue.js";
import type { RunRevision } from "../../src/store/revisions.js";

const revision: RunRevision = {
  revision: 1,
  reason: "the v1 format is gone",
  taskId: "parse_v1",
  added: ["parse_v2"],
  removed: ["parse_v1"],
  changed: [],
  at: new Date("2026-01-02T03:04:05Z"),
  decomposition: { decomposer: "llm", llmCalls: 2, inputTokens: 1200, outputTokens: 340, latencyMs: 812.4 },
};

describe("revisions in htdag show", () => {
  it("lists each revision: number, time, reason, the task that asked, the ids it touched, its LLM cost", () => {
    expect(
      describeRevisions([revision, { ...revision, revision: 2, taskId: null, removed: [], decomposition: {} }]),
    ).toEqual([
      "revisions (2):",
      "  revision 1  2026-01-02T03:04:05.000Z  the v1 format is gone",
      "    asked by parse_v1; added parse_v2; removed parse_v1",
      "    cost: 2 LLM calls, 1200 in / 340 out tokens, 812ms",
      "  revision 2  2026-01-02T03:04:05.000Z  the v1 format is gone",
      "    added parse_v2",
    ]);
    expect(describeRevisions([])).toEqual([]);
  });

  it("says nothing of the cost of a decomposition without LLM calls", () => {
    expect(describeCost({ decomposer: "scripted", latencyMs: 3 })).toBe("");
    expect(describeCost({ llmCalls: 1 })).toBe("1 LLM call");
  });

  it("draws a superseded task dashed in DOT", () => {
    const dot = renderDot("g", [{ id: "old", dependsOn: [], description: "", status: "superseded" }]);
    expect(dot).toContain(
      '"old" [label="old\\nsuperseded", fillcolor="#fafafa", color="#9e9e9e", style="rounded,filled,dashed", fontcolor="#757575"];',
    );
  });
});

describe("a revision in the live view of htdag run", () => {
  const event = (type: string, taskId: string, payload: Record<string, unknown>): HtdagEvent =>
    ({ id: "1", type, runId: "r", taskId, workflow: "w", createdAt: new Date(0), payload }) as HtdagEvent;

  it("moves removed tasks under the superseded legend, makes changed ones pending and adds new ones", () => {
    const display = new ProgressDisplay(
      [
        { id: "fetch", dependsOn: [], description: "" },
        { id: "parse_v1", dependsOn: ["fetch"], description: "" },
        { id: "report", dependsOn: ["parse_v1"], description: "" },
      ],
      "tty",
      () => {},
      () => 0,
    );
    display.handle(event("task:completed", "fetch", { status: "completed" }));
    display.handle(event("task:failed", "parse_v1", { status: "failed" }));
    display.handle(
      event("plan:revised", "parse_v1", {
        revision: 1,
        reason: "x",
        taskId: "parse_v1",
        added: ["parse_v2"],
        removed: ["parse_v1"],
        changed: ["report"],
      }),
    );
    expect(display.frame()).toEqual([
      "✔ fetch            completed",
      "· report           pending",
      "· parse_v2         pending",
      "superseded (dropped by a revision of the plan, kept for history):",
      "⊖ parse_v1         superseded",
    ]);
  });
});

describe("superseded tasks in the tree of htdag show", () => {
  it("draws them apart under the legend, a superseded child of a live composite included", () => {
    expect(
      describeTasks([
        { id: "build", dependsOn: [], description: "", kind: "composite", status: "completed" },
        { id: "compile_v1", dependsOn: [], description: "", parentId: "build", status: "superseded" },
        { id: "compile_v2", dependsOn: [], description: "", parentId: "build", status: "completed" },
      ]),
    ).toEqual([
      "└─ completed build",
      "│  └─ completed compile_v2",
      "superseded (dropped by a revision of the plan, kept for history):",
      "  └─ superseded compile_v1",
    ]);
  });
});
