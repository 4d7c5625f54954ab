/**
 * Waits, signals and schedules (docs/waits-and-flow-control.md) from the built CLI, against real Postgres:
 * `htdag signal` delivers to a waiting task, keeps a signal sent before the wait, and refuses one no wait
 * takes (SIGNAL_NOT_AWAITED, exit 1); `htdag show` marks the waiting task; `htdag events` says it in
 * words; `htdag schedules` adds, lists and removes. (`htdag approve`: cli-approve.test.ts.)
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

    // A bad --data is refused before the store is opened: it runs beside the show.
    const [shown, bad] = await Promise.all([
      cli("show", runId),
      cli("signal", runId, "approval", "--data", "{approved: yes}"),
    ]);
    expect(shown.stderr).toBe("");
    expect(shown.stdout).toMatch(
      /waiting +approve .*waits for signal "approval" until \d{4}-\d\d-\d\dT\S+Z since \d{4}-\d\d-\d\dT\S+Z/,
    );
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

describe("htdag schedules", () => {
  it("adds a schedule, lists it (also as JSON), and removes it", async () => {
    const graph = join(dir, "audit.yaml");
    await writeFile(graph, "goal: nightly audit\ntasks:\n  - id: audit\n");
    // A bad --overlap is refused before the store is opened: it runs beside the add.
    const [added, badOverlap] = await Promise.all([
      cli(
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
      ),
      cli("schedules", "add", "x", "--cron", "* * * * *", "--workflow", "w", "--graph", graph, "--overlap", "never"),
    ]);
    expect(added.stderr).toBe("");
    expect(added.code).toBe(0);
    expect(added.stdout).toMatch(/^schedule nightly-audit stored; next tick \d{4}-\d\d-\d\dT\S+Z\n/);
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
