import { spawn, execFile, type ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createOrchestrator } from "../../src/create-orchestrator.js";
import type { Orchestrator } from "../../src/orchestrator/orchestrator.js";
import { validateGraph } from "../../src/graph/validate.js";
import { createTestDatabase } from "../helpers/postgres.js";
import { startPrivatePostgres, type PrivatePostgres } from "../helpers/private-postgres.js";
import { waitFor } from "../helpers/wait.js";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** Starts `htdag worker` as its own process (the built CLI; npm test builds dist/ first). */
function startWorkerProcess(url: string, log: string, extra: string[] = []): ChildProcess {
  const child = spawn(
    "node",
    ["bin/htdag.js", "worker", "--workflows", "test/fixtures/workflows.mjs", "--database", url, ...extra],
    { cwd: root, env: { ...process.env, HTDAG_TEST_STEP_LOG: log }, stdio: ["ignore", "pipe", "pipe"] },
  );
  child.stderr?.on("data", () => undefined);
  child.stdout?.on("data", () => undefined);
  return child;
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return;
  }
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  await exited;
}

/** 30 tasks in 3 chains of 10 (task i waits for task i-3). */
const thirtyTasks = (sleepMs: number) =>
  validateGraph({
    goal: "thirty",
    tasks: Array.from({ length: 30 }, (_, i) => ({
      id: `t${String(i).padStart(2, "0")}`,
      step: "work",
      input: { sleepMs },
      ...(i >= 3 ? { dependsOn: [`t${String(i - 3).padStart(2, "0")}`] } : {}),
    })),
  });

const stepLog = (path: string) =>
  readFileSync(path, "utf8")
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((line) => line.split(" ") as [string, string]);

describe("a run survives its worker's death", () => {
  let database: { url: string; drop: () => Promise<void> };
  let orch: Orchestrator;
  beforeAll(async () => {
    database = await createTestDatabase();
    orch = await createOrchestrator({ database: database.url, migrate: false });
  });
  afterAll(async () => {
    await orch.close();
    await database.drop();
  });

  it("kill -9 mid-run: a second worker finishes; nothing that committed runs again; outputs intact", async () => {
    const log = `${tmpdir()}/htdag-steps-${Date.now()}.log`;
    writeFileSync(log, "");
    const first = startWorkerProcess(database.url, log, ["--lease-ms", "1000", "--concurrency", "3"]);
    const { runId } = await orch.submit(thirtyTasks(100), { workflow: "durable" });
    const completed = async () =>
      (await orch.getRun(runId)).tasks.filter((t) => t.status === "completed").map((t) => t.id);
    await waitFor(async () => (await completed()).length >= 8, 30_000, "8 committed tasks");
    first.kill("SIGKILL");
    await new Promise((resolve) => first.once("exit", resolve));
    const committedBeforeKill = await completed();
    const second = startWorkerProcess(database.url, log, ["--lease-ms", "1000", "--concurrency", "3"]);
    try {
      const result = await orch.waitForRun(runId, { timeoutMs: 60_000 });
      expect(result.status).toBe("completed");
      expect(result.tasks.every((t) => t.status === "completed")).toBe(true);
      for (const task of result.tasks) {
        expect((result.outputs[task.id] as { task: string }).task).toBe(task.id);
      }
      const starts = stepLog(log);
      for (const id of committedBeforeKill) {
        const runs = starts.filter(([task]) => task === id);
        expect(runs, `task ${id} committed before the kill and must not run again`).toEqual([[id, String(first.pid)]]);
        expect((result.outputs[id] as { pid: number }).pid).toBe(first.pid);
      }
      expect(new Set(starts.map(([task]) => task)).size).toBe(30);
    } finally {
      await stopProcess(second);
    }
  });

  it("a composeFromTaskGraph caller killed mid-run: a worker with the workflow's steps finishes the run", async () => {
    const log = `${tmpdir()}/htdag-compose-${Date.now()}.log`;
    writeFileSync(log, "");
    const caller = spawn("node", ["test/fixtures/compose.mjs", database.url], {
      cwd: root,
      env: { ...process.env, HTDAG_TEST_STEP_LOG: log },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    caller.stdout?.on("data", (chunk) => (output += String(chunk)));
    caller.stderr?.on("data", () => undefined);
    await waitFor(() => /[0-9a-f-]{36}/.test(output), 30_000, "the run id");
    const runId = /[0-9a-f-]{36}/.exec(output)![0];
    await waitFor(
      async () => (await orch.getRun(runId)).tasks.filter((t) => t.status === "completed").length >= 6,
      30_000,
      "6 tasks",
    );
    caller.kill("SIGKILL");
    await new Promise((resolve) => caller.once("exit", resolve));
    const committed = (await orch.getRun(runId)).tasks.filter((t) => t.status === "completed").map((t) => t.id);
    const worker = startWorkerProcess(database.url, log, ["--lease-ms", "1000"]);
    try {
      const result = await orch.waitForRun(runId, { timeoutMs: 60_000 });
      expect(result.status).toBe("completed");
      expect(Object.keys(result.outputs).length).toBe(30);
      const starts = stepLog(log);
      for (const id of committed) {
        expect(
          starts.filter(([task]) => task === id),
          `task ${id} ran again`,
        ).toEqual([[id, String(caller.pid)]]);
      }
    } finally {
      await stopProcess(worker);
    }
  });

  it("htdag worker takes the decomposers the workflows module exports, and expands lazy composites", async () => {
    const log = `${tmpdir()}/htdag-lazy-${process.pid}.log`;
    writeFileSync(log, "");
    const worker = startWorkerProcess(database.url, log);
    try {
      const graph = validateGraph({
        goal: "lazy in a worker process",
        tasks: [
          { id: "list" },
          { id: "process", kind: "composite", expand: "lazy", dependsOn: ["list"] },
          { id: "summary", dependsOn: ["process"] },
        ],
      });
      const { runId } = await orch.submit(graph, { workflow: "lazy" });
      const result = await orch.waitForRun(runId, { timeoutMs: 30_000 });
      expect(result.status).toBe("completed");
      expect(result.outputs.summary).toEqual({ "process/file_a": "a!", "process/file_b": "b!" });
    } finally {
      await stopProcess(worker);
    }
  });

  it("two worker processes on one queue with limit 2 never run more than 2 at once", async () => {
    const log = `${tmpdir()}/htdag-limited-${Date.now()}.log`;
    writeFileSync(log, "");
    const workers = [
      startWorkerProcess(database.url, log, ["--concurrency", "3"]),
      startWorkerProcess(database.url, log, ["--concurrency", "3"]),
    ];
    try {
      const graph = validateGraph({
        goal: "limited",
        tasks: Array.from({ length: 12 }, (_, i) => ({ id: `q${i}`, step: "call", queue: "partner_api" })),
      });
      const { runId } = await orch.submit(graph, { workflow: "limited", maxParallel: 10, queues: { partner_api: 2 } });
      expect((await orch.waitForRun(runId, { timeoutMs: 60_000 })).status).toBe("completed");
      // Sweep the start/end times: +1 at each start, -1 at each end (ends first on ties).
      const marks = readFileSync(log, "utf8")
        .trim()
        .split("\n")
        .map((line) => line.split(" "))
        .map(([kind, , , at]) => ({ at: Number(at), delta: kind === "start" ? 1 : -1 }));
      marks.sort((a, b) => a.at - b.at || a.delta - b.delta);
      let running = 0;
      let peak = 0;
      for (const mark of marks) {
        peak = Math.max(peak, (running += mark.delta));
      }
      expect(marks.filter((m) => m.delta === 1).length).toBe(12);
      expect(peak).toBe(2);
    } finally {
      await Promise.all(workers.map(stopProcess));
    }
  });

  it("two processes submitting with one idempotency key at once get one run", async () => {
    const run = promisify(execFile);
    const submit = () => run("node", ["test/fixtures/submit.mjs", database.url, "same-key"], { cwd: root });
    const [a, b] = await Promise.all([submit(), submit()]);
    expect(a.stdout.trim()).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.stdout.trim()).toBe(b.stdout.trim());
    expect((await orch.listRuns({ workflow: "durable" })).filter((r) => r.idempotencyKey === "same-key").length).toBe(
      1,
    );
  });
});

describe("a run survives a Postgres restart", () => {
  let server: PrivatePostgres;
  beforeAll(() => {
    server = startPrivatePostgres();
  });
  afterAll(() => server.stop());

  it("workers and waiters reconnect and the run completes", async () => {
    const log = `${tmpdir()}/htdag-restart-${Date.now()}.log`;
    writeFileSync(log, "");
    const orch = await createOrchestrator({ database: server.url, onError: () => undefined });
    const worker = startWorkerProcess(server.url, log, ["--concurrency", "3"]);
    try {
      const { runId } = await orch.submit(thirtyTasks(50), { workflow: "durable" });
      await waitFor(
        async () => (await orch.getRun(runId)).tasks.filter((t) => t.status === "completed").length >= 6,
        30_000,
        "6 tasks",
      );
      server.restart();
      const result = await orch.waitForRun(runId, { timeoutMs: 90_000 });
      expect(result.status).toBe("completed");
      expect(Object.keys(result.outputs).length).toBe(30);
    } finally {
      await stopProcess(worker);
      await orch.close();
    }
  });
});
