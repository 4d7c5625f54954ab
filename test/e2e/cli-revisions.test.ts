/**
 * A run whose plan was revised (design.md §13), as the built CLI shows it: `htdag show` lists the
 * revision and draws the superseded task apart (tree, Mermaid, JSON), `htdag runs` says the plan was
 * revised, `htdag events` prints `plan:revised` in words.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createOrchestrator } from "../../src/create-orchestrator.js";
import type { DecomposerContext, TaskSpec } from "../../src/index.js";
import { createTestDatabase } from "../helpers/postgres.js";
import { htdag } from "./htdag-process.js";

/** First plan: fetch → parse_v1 → report; the revision routes around parse_v1 with parse_v2. */
const revisingDecomposer = {
  name: "scripted",
  decompose(_goal: string, ctx: DecomposerContext): TaskSpec[] {
    const parser = ctx.revision ? "parse_v2" : "parse_v1";
    return [
      { id: "fetch", description: "fetch the data", dependsOn: [] },
      { id: parser, description: `parse with ${parser}`, dependsOn: ["fetch"] },
      { id: "report", description: "write the report", dependsOn: [parser] },
    ];
  },
};

let database: { url: string; drop: () => Promise<void> };
let runId: string;

beforeAll(async () => {
  database = await createTestDatabase();
  const orch = await createOrchestrator({ database: database.url, defaults: { maxAttempts: 1 } });
  try {
    const result = await orch.composeFromGoal(
      "parse the data",
      revisingDecomposer,
      {
        fetch: () => ({ rows: 3 }),
        parse_v1: () => {
          throw new Error("v1 parser crashed");
        },
        parse_v2: () => ({ parsed: 3 }),
        report: () => "done",
      },
      { workflow: "revised-cli", replan: { onFailure: true, maxRevisions: 1 } },
    );
    expect(result.status).toBe("completed");
    runId = result.runId;
  } finally {
    await orch.close();
  }
});

afterAll(async () => {
  await database?.drop();
});

describe("a revised run in the CLI", () => {
  it("htdag show lists the revision and draws the superseded task apart, under a legend", async () => {
    const { code, stdout, stderr } = await htdag(["show", runId, "--database", database.url]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const lines = stdout.split("\n");
    const legend = lines.indexOf("superseded (dropped by a revision of the plan, kept for history):");
    expect(legend).toBeGreaterThan(0);
    // The live plan above the legend, the superseded task below it, alone.
    const above = lines.slice(0, legend).join("\n");
    expect(above).toMatch(/completed +parse_v2/);
    expect(above).not.toContain("parse_v1");
    expect(lines[legend + 1]).toMatch(/^ {2}└─ superseded parse_v1 .*error: v1 parser crashed/);
    const revisions = lines.indexOf("revisions (1):");
    expect(revisions).toBeGreaterThan(legend);
    expect(lines[revisions + 1]).toMatch(
      /^ {2}revision 1 {2}\d{4}-\d\d-\d\dT\S+Z {2}task parse_v1 failed: v1 parser crashed$/,
    );
    expect(lines[revisions + 2]).toBe("    asked by parse_v1; added parse_v2; removed parse_v1; changed report");
  });

  it("htdag show --json carries the revisions; Mermaid draws the superseded task dashed", async () => {
    const json = JSON.parse((await htdag(["show", runId, "--json", "--database", database.url])).stdout) as {
      revisions: { revision: number; taskId: string; added: string[]; removed: string[] }[];
      tasks: { id: string; status: string }[];
    };
    expect(json.revisions).toEqual([
      expect.objectContaining({ revision: 1, taskId: "parse_v1", added: ["parse_v2"], removed: ["parse_v1"] }),
    ]);
    expect(json.tasks.find((t) => t.id === "parse_v1")?.status).toBe("superseded");
    const mermaid = (await htdag(["show", runId, "--format", "mermaid", "--database", database.url])).stdout;
    expect(mermaid).toContain("classDef superseded fill:#fafafa,stroke:#9e9e9e,stroke-dasharray:5 3");
    expect(mermaid).toContain("class t_parse_v1 superseded");
  });

  it("htdag runs says the plan was revised; htdag events prints plan:revised in words", async () => {
    const runs = await htdag(["runs", "--workflow", "revised-cli", "--database", database.url]);
    expect(runs.stdout).toMatch(new RegExp(`^${runId} +completed +revised-cli +3/3 tasks {2}rev 1 `, "m"));
    const listed = JSON.parse(
      (await htdag(["runs", "--json", "--workflow", "revised-cli", "--database", database.url])).stdout,
    ) as { revision: number }[];
    expect(listed.map((r) => r.revision)).toEqual([1]);
    const events = await htdag(["events", "--run", runId, "--type", "plan:revised", "--database", database.url]);
    expect(events.stdout.trim()).toMatch(
      new RegExp(
        `^\\S+Z plan:revised run=${runId} task=parse_v1 revision 1: "[^"]*v1 parser crashed[^"]*" ` +
          "added parse_v2 removed parse_v1 changed report$",
      ),
    );
  });
});
