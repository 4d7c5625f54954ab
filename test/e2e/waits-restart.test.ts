/**
 * Waits are durable (issue 22, docs/waits-and-flow-control.md): a run with a signal wait and a forMs
 * wait, both started by a worker process that is then killed (kill -9), goes on in a fresh worker
 * process: the forMs wait that came due while no process ran completes, the signal sent from
 * another process completes the other, and nothing runs twice. (PGlite: waits-restart-pglite.test.ts.)
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createOrchestrator } from "../../src/create-orchestrator.js";
import type { Orchestrator } from "../../src/orchestrator/orchestrator.js";
import { validateGraph } from "../../src/graph/validate.js";
import { historyViolations, stateViolations } from "../helpers/invariants.js";
import { createTestDatabase } from "../helpers/postgres.js";
import { waitFor } from "../helpers/wait.js";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** Starts waits-worker-child.ts as its own process; resolves once its worker runs. */
async function startChild(url: string, log: string): Promise<ChildProcess> {
  const child = spawn("node", ["--import", "tsx", "test/e2e/waits-worker-child.ts", url, log], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (chunk) => (output += String(chunk)));
  child.stderr?.on("data", () => undefined);
  await waitFor(() => output.includes("ready"), 30_000, "the worker process to start");
  return child;
}

async function kill(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return;
  }
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill(signal);
  await exited;
}

const plan = validateGraph({
  goal: "draft, approve, cool off, publish",
  tasks: [
    { id: "draft", step: "draft" },
    { id: "approve", dependsOn: ["draft"], wait: { signal: "approval" } },
    { id: "cool", dependsOn: ["draft"], wait: { forMs: 400 } },
    { id: "publish", step: "publish", dependsOn: ["approve", "cool"] },
  ],
});

describe("waits survive a restart of every process", () => {
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

  it("kill -9 while both wait: a fresh worker ends the due forMs, the signal ends the other, nothing runs twice", async () => {
    const log = `${tmpdir()}/htdag-waits-restart-${process.pid}-${Date.now()}.log`;
    writeFileSync(log, "");
    const children: ChildProcess[] = [];
    try {
      const first = await startChild(database.url, log);
      children.push(first);
      const { runId } = await orch.submit(plan, { workflow: "waits_restart" });
      const waiting = async () => {
        const { rows } = await orch.db.query<{ task_id: string }>(
          "SELECT task_id FROM htdag.events WHERE run_id = $1 AND type = 'task:waiting' ORDER BY task_id",
          [runId],
        );
        return rows.map((r) => r.task_id);
      };
      await waitFor(async () => (await waiting()).length === 2, 20_000, "both waits to start");
      await kill(first, "SIGKILL");

      // No process runs while the forMs wait comes due.
      await waitFor(
        async () => {
          const { rows } = await orch.db.query<{ due: boolean }>(
            "SELECT available_at <= now() AS due FROM htdag.tasks WHERE run_id = $1 AND id = 'cool'",
            [runId],
          );
          return rows[0]?.due === true;
        },
        10_000,
        "the forMs wait to come due",
      );
      expect((await orch.getRun(runId)).tasks.map((t) => [t.id, t.status])).toEqual([
        ["draft", "completed"],
        ["approve", "waiting"],
        ["cool", "waiting"],
        ["publish", "pending"],
      ]);

      const second = await startChild(database.url, log);
      children.push(second);
      await waitFor(
        async () => (await orch.getRun(runId)).tasks.find((t) => t.id === "cool")?.status === "completed",
        20_000,
        "the fresh worker to end the due forMs wait",
      );
      expect(await orch.signal(runId, "approval", { by: "ana" })).toEqual({ delivered: true, taskId: "approve" });
      const result = await orch.waitForRun(runId, { timeoutMs: 20_000 });
      expect(result.status).toBe("completed");
      expect(result.outputs).toMatchObject({ approve: { by: "ana" }, publish: "publish" });

      // Each step ran once, each by the worker that was alive then; each wait started once.
      const lines = readFileSync(log, "utf8").trim().split("\n");
      expect(lines).toEqual([`draft ${first.pid}`, `publish ${second.pid}`]);
      expect(await waiting()).toEqual(["approve", "cool"]);
      expect(result.tasks.map((t) => [t.id, t.attempts])).toEqual([
        ["draft", 1],
        ["approve", 1],
        ["cool", 1],
        ["publish", 1],
      ]);
      expect(await stateViolations(orch, runId)).toEqual([]);
      expect(await historyViolations(orch, runId)).toEqual([]);
    } finally {
      await Promise.all(children.map((child) => kill(child, "SIGTERM")));
      rmSync(log, { force: true });
    }
  });
});
