/**
 * How the CLI words waits, signals, plan approval and schedules (docs/waits-and-flow-control.md): the six
 * events in `htdag events`, a waiting task and a plan awaiting approval in `htdag show`, and `--data`.
 */
import { describe, expect, it } from "vitest";
import { flagJson } from "../../src/cli/arguments.js";
import { describeRun, runView } from "../../src/cli/run-view.js";
import { InvalidOptionError } from "../../src/errors.js";
import { parseEvent } from "../../src/notifications/catalogue.js";
import { formatEventLine } from "../../src/notifications/format.js";
import type { RunResult } from "../../src/orchestrator/run-result.js";

const runId = "8f9c1c8e-4a57-4b1e-9d1c-0d7f3f4b2a10";
const at = new Date("2026-12-05T10:00:00.000Z");
const line = (type: string, payload: Record<string, unknown>, taskId: string | null = null) =>
  formatEventLine(parseEvent({ id: "7", type, runId, taskId, workflow: "w", createdAt: at, payload }));

describe("htdag events, in words", () => {
  it("says what a wait waits for and what became of a signal", () => {
    expect(line("task:waiting", { attempt: 1, signal: "approval", until: "2026-12-06T10:00:00.000Z" }, "ok")).toBe(
      `2026-12-05T10:00:00.000Z task:waiting run=${runId} task=ok ` +
        'waits for signal "approval" until 2026-12-06T10:00:00.000Z (attempt 1)',
    );
    expect(line("task:waiting", { attempt: 2, until: null }, "cool")).toMatch(
      /task=cool waits \(no time limit\) \(attempt 2\)$/,
    );
    expect(line("signal:received", { name: "approval", delivered: true, taskId: "ok" })).toMatch(
      / signal "approval" delivered to task ok$/,
    );
    expect(line("signal:received", { name: "approval", delivered: false, taskId: null })).toMatch(
      / signal "approval" kept until a wait for it starts$/,
    );
  });

  it("says what became of a plan and of a schedule's tick", () => {
    expect(line("plan:awaiting_approval", { tasks: 3 })).toMatch(
      new RegExp(
        `the plan \\(3 tasks\\) awaits approval: htdag approve ${runId} \\[--graph file\\] \\| --reject <reason>$`,
      ),
    );
    expect(line("plan:approved", { edited: true, tasks: 1 })).toMatch(/ the plan was approved with edits \(1 task\)$/);
    expect(line("plan:rejected", { reason: "too risky" })).toMatch(/ the plan was rejected: "too risky"$/);
    const tick = "2026-12-05T02:00:00.000Z";
    expect(line("schedule:fired", { schedule: "nightly", tick, runId, skipped: false })).toMatch(
      new RegExp(`schedule nightly fired tick ${tick}: run ${runId}$`),
    );
    expect(line("schedule:fired", { schedule: "nightly", tick, runId: null, skipped: true })).toMatch(
      /schedule nightly skipped tick \S+ \(its previous run is not final\)$/,
    );
  });
});

describe("htdag show", () => {
  const result: RunResult = {
    runId,
    workflow: "w",
    goal: "publish",
    status: "running",
    durationMs: 10,
    revisions: [],
    usage: { llmCalls: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 },
    outputs: {},
    tasks: [
      {
        id: "ok",
        parentId: null,
        kind: "atomic",
        step: null,
        status: "waiting",
        waiting: { since: "2026-12-05T10:00:00.000Z", signal: "approval", until: null },
        attempts: 1,
        durationMs: null,
      },
    ],
  };

  it("marks a waiting task with what it waits for", () => {
    const lines = describeRun(runView(result, []));
    expect(lines.join("\n")).toContain(
      '└─ waiting   ok  - attempts 1, waits for signal "approval" (no time limit) since 2026-12-05T10:00:00.000Z',
    );
  });

  it("tells how to answer a plan awaiting approval", () => {
    const lines = describeRun(runView({ ...result, status: "awaiting_approval", tasks: [] }, []));
    expect(lines.slice(2, 5)).toEqual([
      "the plan awaits approval: nothing runs until a person answers",
      `  approve it: htdag approve ${runId}   (or an edited copy: htdag approve ${runId} --graph plan.yaml)`,
      `  reject it:  htdag approve ${runId} --reject "<reason>"`,
    ]);
  });
});

describe("--data", () => {
  it("reads JSON, and names the flag and an example when it is not", () => {
    expect(flagJson("--data", '{"a": [1, null]}', "{}")).toEqual({ a: [1, null] });
    expect(flagJson("--data", '"text"', "{}")).toBe("text");
    expect(() => flagJson("--data", "{a: 1}", '{"approved": true}')).toThrow(InvalidOptionError);
    expect(() => flagJson("--data", "{a: 1}", '{"approved": true}')).toThrow(
      /^invalid option `--data`: expected a JSON value \(.+\), received the string "\{a: 1\}"\. Try `--data '\{"approved": true\}'`\.$/,
    );
  });
});
