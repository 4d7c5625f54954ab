/**
 * The chaos checks find what they look for: a clean run passes them, and each planted fault of the
 * store (a step started after its task's completion committed, a second run of one attempt, an
 * output from no execution, a second task:completed event, a re-execution no fault explains) is
 * reported.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createOrchestrator, type Orchestrator } from "../../src/index.js";
import { startPrivatePostgres, type PrivatePostgres } from "../helpers/private-postgres.js";
import { checkRun, unexplainedReExecutions, type RunFindings } from "./checks.js";
import type { Fault } from "./faults.js";
import { recorderPool, recordingStep } from "./recorder.js";
import { chaosGraph, CHAOS_STEP, CHAOS_WORKFLOW, EXECUTIONS_DDL } from "./workload.js";

const shape = { layers: 2, width: 3, parents: 1, stepMs: [1, 3] as const };
/** Fails its first attempt after recording it: an execution that did not complete its task. */
const FLAKY = "L1N0";

describe("the chaos checks", () => {
  let server: PrivatePostgres;
  let orch: Orchestrator;
  let runId: string;
  let clean: RunFindings;
  beforeAll(async () => {
    server = startPrivatePostgres({ settings: { track_commit_timestamp: "on" } });
    orch = await createOrchestrator({ database: server.url });
    await orch.db.query(EXECUTIONS_DDL);
    const pool = recorderPool(server.url, 3);
    const record = recordingStep(pool);
    const worker = await orch.startWorker({
      workflows: {
        [CHAOS_WORKFLOW]: {
          [CHAOS_STEP]: async (ctx) => {
            const output = await record(ctx);
            if (ctx.task.id === FLAKY && ctx.attempt === 1) {
              throw new Error("fails once, after its execution was recorded");
            }
            return output;
          },
        },
      },
    });
    try {
      ({ runId } = await orch.submit(chaosGraph(shape, 7, 0), {
        workflow: CHAOS_WORKFLOW,
        maxAttempts: 2,
        backoff: { baseMs: 1 },
      }));
      expect((await orch.waitForRun(runId, { timeoutMs: 20_000 })).status).toBe("completed");
      clean = await checkRun(orch, runId, 6);
    } finally {
      await worker.stop();
      await pool.end();
    }
  });
  afterAll(async () => {
    await orch?.close();
    server?.stop();
  });

  it("pass a run that went well, and list its one failed execution as a re-execution", () => {
    expect(clean.violations).toEqual([]);
    expect(clean).toMatchObject({
      status: "completed",
      tasks: 6,
      completed: 6,
      executions: 7,
      duplicateCompletions: 0,
    });
    expect(clean.reExecutions).toEqual([expect.objectContaining({ taskId: FLAKY, attempt: 1, pid: process.pid })]);
  });

  it("explain a re-execution only by a fault that hit its process while its attempt was in flight", () => {
    const [execution] = clean.reExecutions;
    const fault = (kind: Fault["kind"], at: number, pid?: number): Fault => ({
      kind,
      at,
      landedAt: at,
      detail: "",
      ...(pid === undefined ? {} : { pid }),
    });
    const during = execution!.claimedAt + 1;
    expect(unexplainedReExecutions([clean], [])).toHaveLength(1);
    expect(unexplainedReExecutions([clean], [fault("kill", during, process.pid)])).toEqual([]);
    expect(unexplainedReExecutions([clean], [fault("restart", during)])).toEqual([]);
    expect(unexplainedReExecutions([clean], [fault("kill", during, process.pid + 1)])).toHaveLength(1);
    expect(unexplainedReExecutions([clean], [fault("subscriber", during)])).toHaveLength(1);
    expect(unexplainedReExecutions([clean], [fault("terminate", execution!.claimedAt - 60_000)])).toHaveLength(1);
    expect(unexplainedReExecutions([clean], [fault("terminate", execution!.endedAt! + 60_000)])).toHaveLength(1);
  });

  it("report a step started after its completion committed, an attempt run twice, an output from no execution, and a second completion", async () => {
    await orch.db.query(
      `INSERT INTO chaos.executions (run_id, task_id, attempt, pid, started_at, finished_at)
       VALUES ($1, 'L0N1', 1, 1, clock_timestamp(), clock_timestamp())`,
      [runId],
    );
    await orch.db.query(`UPDATE htdag.tasks SET output = '{"execution": "0"}' WHERE run_id = $1 AND id = 'L0N2'`, [
      runId,
    ]);
    await orch.db.query(
      `INSERT INTO htdag.events (type, channel, run_id, task_id, workflow)
       VALUES ('task:completed', 'htdag_events', $1, 'L1N1', $2)`,
      [runId, CHAOS_WORKFLOW],
    );
    const tampered = await checkRun(orch, runId, 6);
    expect(tampered.duplicateCompletions).toBe(1);
    expect(tampered.violations).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^task L0N1 started again \(attempt 1, pid 1\) \d+ ms after its completion committed$/),
        expect.stringMatching(/^attempt L0N1#1 ran 2 times/),
        expect.stringMatching(/^task L0N2 has output \{"execution": "0"\}, not a finished execution/),
        "task L1N1 has 2 task:completed events",
      ]),
    );
    expect(await checkRun(orch, runId, 7)).toMatchObject({
      violations: expect.arrayContaining(["6 of 6 tasks completed; the graph has 7"]),
    });
  });
});
