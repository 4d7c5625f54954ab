/**
 * Plan approval (docs/waits-and-flow-control.md) from the built CLI, against real Postgres: `htdag show` and
 * `htdag runs` show a plan awaiting approval and how to answer it, `--print-plan` prints it as YAML,
 * `htdag approve` starts the run as planned or with an edited graph file (an invalid file answers
 * nothing), `--reject` cancels it, a second answer is refused, and `htdag events` says it in words.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createOrchestrator } from "../../src/create-orchestrator.js";
import type { Orchestrator, RunResult, TaskSpec } from "../../src/index.js";
import { createTestDatabase } from "../helpers/postgres.js";
import { waitFor } from "../helpers/wait.js";
import { htdag } from "./htdag-process.js";

let database: { url: string; drop: () => Promise<void> };
let orch: Orchestrator;
let dir: string;

/** `htdag args… --database <the test's>`. */
const cli = (...args: string[]) => htdag([...args, "--database", database.url]);

beforeAll(async () => {
  database = await createTestDatabase();
  orch = await createOrchestrator({ database: database.url, defaults: { maxAttempts: 1 } });
  dir = await mkdtemp(join(tmpdir(), "htdag-cli-approve-"));
});

afterAll(async () => {
  await orch?.close();
  await database?.drop();
  if (dir) {
    await rm(dir, { recursive: true, force: true });
  }
});

describe("htdag approve", () => {
  const plan: TaskSpec[] = [
    { id: "research", description: "find the facts" },
    { id: "write", dependsOn: ["research"] },
  ];
  const steps = { research: () => "facts", write: () => "text", review: () => "reviewed" };

  /** Plans `goal` for approval in this process; resolves once the run awaits it. */
  async function planned(workflow: string): Promise<{ runId: string; result: Promise<RunResult> }> {
    const result = orch.composeFromGoal(`write about ${workflow}`, { name: "scripted", decompose: () => plan }, steps, {
      workflow,
      approvePlan: true,
    });
    let runId = "";
    await waitFor(async () => {
      runId = (await orch.listRuns({ workflow, status: "awaiting_approval", limit: 1 }))[0]?.runId ?? "";
      return runId !== "";
    });
    return { runId, result };
  }

  it("shows the plan awaiting approval with the hint, prints it as YAML, and approves it as planned", async () => {
    const { runId, result } = await planned("cli-approve");
    const [shown, listed, printed] = await Promise.all([
      cli("show", runId),
      cli("runs", "--status", "awaiting_approval", "--workflow", "cli-approve"),
      cli("approve", runId, "--print-plan"),
    ]);
    expect(shown.stdout).toContain(`run ${runId}  awaiting_approval  workflow cli-approve`);
    expect(shown.stdout).toContain(`  approve it: htdag approve ${runId}`);
    expect(shown.stdout).toContain(`  reject it:  htdag approve ${runId} --reject "<reason>"`);
    expect(listed.stdout).toMatch(new RegExp(`^${runId} +awaiting_approval +cli-approve `, "m"));
    expect(printed.stderr).toBe("");
    expect(printed.stdout).toMatch(/^goal: write about cli-approve\ntasks:\n {2}- id: research\n/);
    expect(printed.stdout).toContain("dependsOn: [research]");

    const approved = await cli("approve", runId);
    expect(approved.stderr).toBe("");
    expect(approved.stdout.trim()).toBe(`run ${runId} approved; it runs now`);
    const done = await result;
    expect(done.status).toBe("completed");
    expect(done.outputs).toMatchObject({ research: "facts", write: "text" });
    const events = await cli("events", "--run", runId, "--type", "plan:awaiting_approval", "plan:approved");
    expect(events.stdout.trim().split("\n")).toEqual([
      expect.stringMatching(
        new RegExp(
          `^\\S+Z plan:awaiting_approval run=${runId} the plan \\(2 tasks\\) awaits approval: ` +
            `htdag approve ${runId} \\[--graph file\\] \\| --reject <reason>$`,
        ),
      ),
      expect.stringMatching(new RegExp(`^\\S+Z plan:approved run=${runId} the plan was approved \\(2 tasks\\)$`)),
    ]);
  }, 20_000);

  it("approves with an edited graph file, and refuses an invalid one without answering", async () => {
    const { runId, result } = await planned("cli-approve-edited");
    const broken = join(dir, "broken.yaml");
    await writeFile(broken, "goal: edited\ntasks:\n  - id: write\n    dependsOn: [nowhere]\n");
    const refused = await cli("approve", runId, "--graph", broken);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/broken\.yaml: task graph has 1 problem:\n {2}- tasks\[0\]\.dependsOn\[0\]: /);
    expect((await orch.getRun(runId)).status).toBe("awaiting_approval");

    const edited = join(dir, "edited.yaml");
    await writeFile(
      edited,
      "goal: write about cli-approve-edited\ntasks:\n  - id: research\n  - id: write\n    dependsOn: [research]\n" +
        "  - id: review\n    dependsOn: [write]\n",
    );
    const approved = await cli("approve", runId, "--graph", edited);
    expect(approved.stderr).toBe("");
    expect(approved.stdout.trim()).toBe(`run ${runId} approved with the plan in ${edited} (3 tasks); it runs now`);
    const done = await result;
    expect(done.status).toBe("completed");
    expect(done.outputs).toMatchObject({ research: "facts", write: "text", review: "reviewed" });
  }, 20_000);

  it("--reject cancels the run with the reason; a second answer is refused", async () => {
    const { runId, result } = await planned("cli-reject");
    const rejected = await cli("approve", runId, "--reject", "too risky");
    expect(rejected.stderr).toBe("");
    expect(rejected.stdout.trim()).toBe(`run ${runId} rejected (cancelled): too risky`);
    expect((await result).status).toBe("cancelled");
    const [again, events] = await Promise.all([
      cli("approve", runId),
      cli("events", "--run", runId, "--type", "plan:rejected"),
    ]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^htdag: .*cancelled/);
    expect(events.stdout.trim()).toMatch(
      new RegExp(`^\\S+Z plan:rejected run=${runId} the plan was rejected: "too risky"$`),
    );
  }, 20_000);
});
