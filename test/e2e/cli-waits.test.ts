/**
 * Waits, signals, plan approval and schedules (docs/waits-and-flow-control.md) from the built CLI, against
 * real Postgres: `htdag signal` delivers to a waiting task, keeps a signal sent before the wait, and
 * refuses one no wait takes (SIGNAL_NOT_AWAITED, exit 1); `htdag show` marks the waiting task and the
 * plan awaiting approval; `htdag approve` starts a run as planned, with an edited graph file, or
 * `--reject`s it; `htdag schedules` adds, lists and removes; `htdag events` says all of it in words.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createOrchestrator } from "../../src/create-orchestrator.js";
import type { Orchestrator, RunResult, TaskSpec } from "../../src/index.js";
import { validateGraph } from "../../src/graph/validate.js";
import { createTestDatabase } from "../helpers/postgres.js";
import { gate, waitFor } from "../helpers/wait.js";
import { htdag } from "./htdag-process.js";

let database: { url: string; drop: () => Promise<void> };
let orch: Orchestrator;
let dir: string;

/** `htdag args… --database <the test's>`. */
const cli = (...args: string[]) => htdag([...args, "--database", database.url]);

beforeAll(async () => {
  database = await createTestDatabase();
  orch = await createOrchestrator({ database: database.url, defaults: { maxAttempts: 1 } });
  dir = await mkdtemp(join(tmpdir(), "htdag-cli-waits-"));
});

afterAll(async () => {
  await orch?.close();
  await database?.drop();
  if (dir) {
    await rm(dir, { recursive: true, force: true });
  }
});

/** draft → approve (waits for the signal "approval") → publish, which returns what the signal carried. */
const waitGraph = (goal: string) => ({
  goal,
  tasks: [
    { id: "draft" },
    { id: "approve", dependsOn: ["draft"], wait: { signal: "approval", timeoutMs: 60_000 } },
    { id: "publish", dependsOn: ["approve"] },
  ],
});

/** Starts `graph` in this process (a run of `workflow`) and returns its id and its result to come. */
async function start(
  workflow: string,
  graph: { goal: string; tasks: TaskSpec[] },
  steps: Record<string, () => unknown>,
): Promise<{ runId: string; result: Promise<RunResult> }> {
  const result = orch.composeFromTaskGraph(validateGraph(graph), steps, { workflow });
  let runId = "";
  await waitFor(async () => {
    runId = (await orch.listRuns({ workflow, limit: 1 }))[0]?.runId ?? "";
    return runId !== "";
  });
  return { runId, result };
}

async function taskStatus(runId: string, taskId: string): Promise<string | undefined> {
  return (await orch.getRun(runId)).tasks.find((t) => t.id === taskId)?.status;
}

describe("htdag signal and a waiting task in htdag show", () => {
  it("delivers a signal to the waiting task, whose output it becomes; show marks the wait first", async () => {
    const { runId, result } = await start("cli-signal", waitGraph("publish the post"), {
      draft: () => "draft",
      publish: () => "published",
    });
    await waitFor(async () => (await taskStatus(runId, "approve")) === "waiting", 10_000, "the wait to start");

    const shown = await cli("show", runId);
    expect(shown.stderr).toBe("");
    expect(shown.stdout).toMatch(
      /waiting +approve .*waits for signal "approval" until \d{4}-\d\d-\d\dT\S+Z since \d{4}-\d\d-\d\dT\S+Z/,
    );
    const bad = await cli("signal", runId, "approval", "--data", "{approved: yes}");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/invalid option `--data`: expected a JSON value .*Try `--data '\{"approved": true\}'`/);

    const sent = await cli("signal", runId, "approval", "--data", '{"approved": true, "by": "ana"}');
    expect(sent.stderr).toBe("");
    expect(sent.code).toBe(0);
    expect(sent.stdout.trim()).toBe(`signal approval delivered to task approve of run ${runId}`);
    const done = await result;
    expect(done.status).toBe("completed");
    expect(done.outputs.approve).toEqual({ approved: true, by: "ana" });

    // A final run takes no signal; neither does a name no wait of the run has.
    const [late, unknown] = await Promise.all([
      cli("signal", runId, "approval"),
      cli("signal", runId, "no_such_wait", "--json"),
    ]);
    for (const refused of [late, unknown]) {
      expect(refused.code).toBe(1);
      expect(refused.stdout).toBe("");
      expect(refused.stderr).toMatch(/^htdag: signal "(approval|no_such_wait)" to run \S+ was not delivered: /);
    }

    const events = await cli("events", "--run", runId, "--type", "task:waiting", "signal:received");
    expect(events.stdout.trim().split("\n")).toEqual([
      expect.stringMatching(
        new RegExp(
          `^\\S+Z task:waiting run=${runId} task=approve waits for signal "approval" until \\S+Z \\(attempt 1\\)$`,
        ),
      ),
      expect.stringMatching(
        new RegExp(`^\\S+Z signal:received run=${runId}( task=approve)? signal "approval" delivered to task approve$`),
      ),
    ]);
  }, 20_000);

  it("keeps a signal sent before its task waits and delivers it when the wait starts", async () => {
    const release = gate();
    const { runId, result } = await start("cli-signal-early", waitGraph("publish early"), {
      draft: async () => {
        await release.promise;
        return "draft";
      },
      publish: () => "published",
    });
    const sent = await cli("signal", runId, "approval", "--data", '"go"', "--json");
    expect(sent.stderr).toBe("");
    expect(JSON.parse(sent.stdout)).toEqual({ delivered: false, taskId: null });
    release.open();
    const done = await result;
    expect(done.status).toBe("completed");
    expect(done.outputs.approve).toBe("go");
  }, 20_000);
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

describe("htdag schedules", () => {
  it("adds a schedule, lists it (also as JSON), and removes it", async () => {
    const graph = join(dir, "audit.yaml");
    await writeFile(graph, "goal: nightly audit\ntasks:\n  - id: audit\n");
    const added = await cli(
      "schedules",
      "add",
      "nightly-audit",
      "--cron",
      "0 2 * * *",
      "--timezone",
      "Europe/Berlin",
      "--workflow",
      "audit",
      "--graph",
      graph,
      "--input",
      '{"scope": "all"}',
      "--overlap",
      "skip",
    );
    expect(added.stderr).toBe("");
    expect(added.code).toBe(0);
    expect(added.stdout).toMatch(/^schedule nightly-audit stored; next tick \d{4}-\d\d-\d\dT\S+Z\n/);
    const badOverlap = await cli(
      "schedules",
      "add",
      "x",
      "--cron",
      "* * * * *",
      "--workflow",
      "w",
      "--graph",
      graph,
      "--overlap",
      "never",
    );
    expect(badOverlap.code).toBe(1);
    expect(badOverlap.stderr).toContain("invalid option `--overlap`: expected one of allow, skip");

    const [listed, ls, json] = await Promise.all([
      cli("schedules"),
      cli("schedules", "ls"),
      cli("schedules", "ls", "--json"),
    ]);
    const line =
      /^nightly-audit {2}"0 2 \* \* \*" Europe\/Berlin {2}workflow audit {2}overlap skip {2}next \S+Z {2}never fired$/;
    expect(listed.stdout.trim()).toMatch(line);
    expect(ls.stdout.trim()).toMatch(line);
    expect(JSON.parse(json.stdout)).toEqual([
      expect.objectContaining({
        name: "nightly-audit",
        cron: "0 2 * * *",
        timezone: "Europe/Berlin",
        workflow: "audit",
        overlap: "skip",
        lastTickAt: null,
        lastRunId: null,
      }),
    ]);

    const removed = await cli("schedules", "rm", "nightly-audit");
    expect(removed.stdout.trim()).toBe("schedule nightly-audit removed");
    const [again, empty] = await Promise.all([cli("schedules", "rm", "nightly-audit"), cli("schedules", "--json")]);
    expect(again.code).toBe(1);
    expect(again.stderr.trim()).toBe('htdag: no schedule named "nightly-audit"; `htdag schedules` lists them');
    expect(JSON.parse(empty.stdout)).toEqual([]);
  }, 20_000);
});
