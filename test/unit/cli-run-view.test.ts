/** A stored run drawn with its statuses: the join of summaries and graph, the tree of `htdag show`, each format. */
import { describe, expect, it } from "vitest";
import type { RunResult } from "../../src/orchestrator/run-result.js";
import { describeRun, renderRun, runView } from "../../src/cli/run-view.js";

const result: RunResult = {
  runId: "r1",
  workflow: "builtin.csv",
  goal: "summarise x.csv",
  status: "failed",
  durationMs: 1200,
  revisions: [],
  usage: { llmCalls: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 },
  outputs: { read: { columns: ["a"] } },
  error: { message: "boom", taskId: "profile" },
  tasks: [
    { id: "read", parentId: null, kind: "atomic", step: "csv.read", status: "completed", attempts: 1, durationMs: 40 },
    {
      id: "profile",
      parentId: null,
      kind: "atomic",
      step: "csv.profile_column",
      status: "failed",
      attempts: 3,
      durationMs: 900,
      error: { message: "boom" },
    },
    {
      id: "summary",
      parentId: null,
      kind: "atomic",
      step: "csv.summarise",
      status: "cancelled",
      attempts: 0,
      durationMs: null,
    },
  ],
};
const graph = [
  { id: "read", dependsOn: [], description: "read it", startedAt: new Date(0), finishedAt: new Date(40) },
  {
    id: "profile",
    dependsOn: ["read"],
    forEach: { from: "read", path: "columns" },
    description: "",
    startedAt: new Date(40),
    finishedAt: null,
  },
  { id: "summary", dependsOn: ["profile"], description: "", startedAt: null, finishedAt: null },
];

describe("run view", () => {
  const view = runView(result, graph);

  it("joins each task's summary with its dependencies and times", () => {
    expect(view.tasks[1]).toMatchObject({
      id: "profile",
      dependsOn: ["read"],
      status: "failed",
      attempts: 3,
      startedAt: "1970-01-01T00:00:00.040Z",
      finishedAt: null,
    });
    expect(runView(result, []).tasks[2]).toMatchObject({ id: "summary", dependsOn: [], description: "" });
  });

  it("the tree shows status, step, dependencies, attempts, duration and error, then outputs", () => {
    expect(describeRun(view)).toEqual([
      "run r1  failed  workflow builtin.csv  1.2s",
      "goal: summarise x.csv",
      "error: task profile: boom",
      [
        "├─ completed read  [csv.read]  - attempts 1, 40ms",
        "├─ failed    profile  [csv.profile_column]  after read  - attempts 3, 900ms, error: boom",
        "└─ cancelled summary  [csv.summarise]  after profile  - attempts 0",
      ].join("\n"),
      "outputs:",
      '  read: {"columns":["a"]}',
    ]);
  });

  it("names the tasks merged into a task", () => {
    const merged = runView(
      result,
      graph.map((t) => (t.id === "summary" ? { ...t, merged: ["stats", "format"] } : t)),
    );
    expect(describeRun(merged)[3]).toContain(
      "└─ cancelled summary  [csv.summarise]  after profile  - attempts 0, runs stats, format first (merged)",
    );
  });

  it("Mermaid, DOT and JSON carry the statuses and the edges", () => {
    const mermaid = renderRun(view, "mermaid");
    expect(mermaid).toMatch(/^flowchart TD\n {2}%% run r1 \(failed\): summarise x\.csv/);
    expect(mermaid).toContain("t_read --> t_profile");
    expect(mermaid).toContain("class t_profile failed");
    const dot = renderRun(view, "dot");
    expect(dot).toContain('"profile" -> "summary";');
    expect(dot).toMatch(/"summary" \[label="summary\\ncsv\.summarise\\ncancelled", fillcolor="#e0e0e0"/);
    const json = JSON.parse(renderRun(view, "json")) as { status: string; tasks: { dependsOn: string[] }[] };
    expect(json.status).toBe("failed");
    expect(json.tasks.map((t) => t.dependsOn)).toEqual([[], ["read"], ["profile"]]);
  });
});
