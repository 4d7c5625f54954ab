/**
 * `htdag optimize` as a real process on a PGlite directory: refuses a workflow that never ran, then
 * after five runs of a built-in workflow prints the changes with their evidence, says aggressive
 * falls back below 100 runs, stores a tuning with --apply that the next `htdag run` applies (as
 * its optimization:completed event shows), and removes it with --reset.
 */
import { copyFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fixture, htdag } from "./htdag-process.js";

let work: string;
let database: string;
let csv: string;
const WORKFLOW = "builtin.csv";

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "htdag-optimize-"));
  database = `pglite:${join(work, "store")}`;
  csv = join(work, "people.csv");
  await copyFile(fixture("people.csv"), csv);
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

interface OptimizeJson {
  level: string;
  changes: {
    taskId?: string;
    field: string;
    from: unknown;
    to: unknown;
    evidence: { samples: number; statistic: string; value: number };
    confidence: number;
  }[];
  recommendations: OptimizeJson["changes"];
  notes: string[];
  stored: { changes: number } | null;
}

async function run(): Promise<string> {
  const { code, stdout, stderr } = await htdag(["run", `summarise ${csv}`, "--json", "--database", database]);
  expect(stderr).toBe("");
  expect(code).toBe(0);
  const result = stdout
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as { type: string; runId?: string })
    .find((e) => e.type === "result");
  return result?.runId ?? "";
}

describe("htdag optimize", () => {
  it("refuses a workflow without runs, naming the fix", async () => {
    const { code, stderr } = await htdag(["optimize", WORKFLOW, "--database", database]);
    expect(code).toBe(1);
    expect(stderr).toMatch(
      /<workflow>.*a workflow with at least one run \(list them with `htdag runs`\).*builtin\.csv/,
    );
  }, 60_000);

  it("tunes from history, prints evidence, applies a stored tuning to the next run, and resets it", async () => {
    for (let i = 0; i < 5; i++) {
      await run();
    }

    const aggressive = await htdag(["optimize", WORKFLOW, "--level", "aggressive", "--json", "--database", database]);
    expect(aggressive.code).toBe(0);
    const fallback = JSON.parse(aggressive.stdout) as OptimizeJson;
    expect(fallback.notes).toContain(
      "aggressive needs ≥ 100 finished runs of the workflow, found 5: fell back to advanced",
    );
    // Every task succeeded five times: advanced finds priorities from the critical path, each with its evidence,
    // at confidence 5/6 = 0.83: under the 0.85 threshold, so recommended, not applied.
    expect(fallback.changes).toEqual([]);
    const priorities = fallback.recommendations.filter((c) => c.field === "priority");
    expect(priorities.length).toBeGreaterThan(0);
    for (const change of priorities) {
      expect(change.evidence).toMatchObject({ samples: 5, statistic: "remainingPathP50Ms" });
      expect(change.confidence).toBeCloseTo(5 / 6, 6);
    }
    expect(fallback.stored).toBeNull();

    const table = await htdag(["optimize", WORKFLOW, "--database", database]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(
      /^workflow builtin\.csv \(graph of run \S+\), level advanced: \d+ change\(s\) applied, \d+ recommendation\(s\)/,
    );
    expect(table.stdout).toMatch(/^target +field +from +to +applied +samples +statistic +value +confidence$/m);
    expect(table.stdout).toMatch(/^\S+ +priority +- +\d+ +no +5 +remainingPathP50Ms +[\d.]+ +0\.83$/m);

    for (let i = 0; i < 5; i++) {
      await run();
    }
    const applied = await htdag(["optimize", WORKFLOW, "--level", "advanced", "--apply", "--database", database]);
    expect(applied.code).toBe(0);
    expect(applied.stdout).toMatch(/^\S+ +priority +- +\d+ +yes +10 +remainingPathP50Ms +[\d.]+ +0\.91$/m);
    const stored = Number(
      /stored (\d+) change\(s\) as the tuning of builtin\.csv: its next runs use them/.exec(applied.stdout)?.[1],
    );
    expect(stored).toBeGreaterThan(0);

    const runId = await run();
    const events = await htdag([
      "events",
      "--run",
      runId,
      "--type",
      "optimization:completed",
      "--json",
      "--database",
      database,
    ]);
    expect(events.code).toBe(0);
    const completed = JSON.parse(events.stdout.trim().split("\n")[0] ?? "{}") as {
      payload: { level: string; changes: number; stored: { level: string } };
    };
    expect(completed.payload).toMatchObject({ level: "advanced", changes: stored, stored: { level: "advanced" } });

    const reset = await htdag(["optimize", WORKFLOW, "--reset", "--database", database]);
    expect(reset.stdout.trim()).toBe("removed the stored tuning of builtin.csv");
    const again = await htdag(["optimize", WORKFLOW, "--reset", "--json", "--database", database]);
    expect(JSON.parse(again.stdout)).toEqual({ workflow: WORKFLOW, reset: false });

    // basic finds nothing to change in a workflow whose tasks all succeed quickly: --apply stores nothing.
    const nothing = await htdag(["optimize", WORKFLOW, "--level", "basic", "--apply", "--database", database]);
    expect(nothing.code).toBe(0);
    expect(nothing.stdout).toContain("nothing to change: the history gives no rule enough evidence");
    expect(nothing.stdout).toContain(
      "nothing applied, so nothing stored: any earlier tuning of builtin.csv stays as it is",
    );
  }, 300_000);

  it("rejects an unknown level with the choices", async () => {
    const { code, stderr } = await htdag(["optimize", WORKFLOW, "--level", "turbo", "--database", database]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/--level.*basic, advanced, aggressive.*turbo/);
  }, 60_000);
});
