/**
 * Issue 17: leases belong to attempts. The heartbeat of a process renews exactly the attempts it
 * executes, not every running task that carries its worker id: a task it no longer executes (an
 * attempt it lost track of) must be left to expire, so the reaper can hand it to a live process.
 */
import { describe, expect, it } from "vitest";
import { validateGraph, type Steps } from "../../src/index.js";
import { STORES, useOrchestrator } from "../helpers/stores.js";
import { gate, waitFor } from "../helpers/wait.js";

describe.each(STORES)("in-process leases on %s", (kind) => {
  const orch = useOrchestrator(kind, { leaseMs: 1000 });

  it("the heartbeat renews the attempts this process runs, and no other task under its name", async () => {
    const release = gate();
    const started = gate();
    const steps: Steps = {
      busy: async () => {
        started.open();
        await release.promise;
        return "done";
      },
      other: async () => "other",
    };
    const graph = validateGraph({
      goal: "leases of attempts",
      tasks: [{ id: "busy" }, { id: "other", dependsOn: ["busy"] }],
    });
    const pending = orch().composeFromTaskGraph(graph, steps, { workflow: "leases" });
    await started.promise;
    const lease = async (id: string) => {
      const { rows } = await orch().db.query<{ owner: string | null; expires: Date | null }>(
        `SELECT t.lease_owner AS owner, t.lease_expires_at AS expires FROM htdag.tasks t
           JOIN htdag.runs r ON r.id = t.run_id WHERE r.workflow = 'leases' AND t.id = $1`,
        [id],
      );
      return rows[0]!;
    };
    const busy = await lease("busy");
    // A task no attempt of this process runs, left `running` under the process's name (as a lost
    // attempt would be), with a lease that ends soon.
    const strayExpiry = new Date(Date.now() + 5_000);
    await orch().db.query(
      `UPDATE htdag.tasks t SET status = 'running', attempts = 1, lease_owner = $1, lease_expires_at = $2
         FROM htdag.runs r WHERE r.id = t.run_id AND r.workflow = 'leases' AND t.id = 'other'`,
      [busy.owner, strayExpiry],
    );
    // Two heartbeats (every leaseMs / 3) renew `busy`...
    await waitFor(async () => (await lease("busy")).expires!.getTime() > busy.expires!.getTime() + 500, 5_000);
    // ...and leave the stray task's lease as it was.
    expect((await lease("other")).expires?.getTime()).toBe(strayExpiry.getTime());
    await orch().db.query(
      `UPDATE htdag.tasks t SET status = 'pending', attempts = 0, lease_owner = NULL, lease_expires_at = NULL
         FROM htdag.runs r WHERE r.id = t.run_id AND r.workflow = 'leases' AND t.id = 'other'`,
    );
    release.open();
    expect((await pending).status).toBe("completed");
  });
});

describe.each(STORES)("in-process reaping on %s", (kind) => {
  const orch = useOrchestrator(kind, { leaseMs: 1000 });

  it("a task claimed under this process's name that nothing runs (a lost claim reply) is reaped and run", async () => {
    const release = gate();
    const started = gate();
    const runs: string[] = [];
    const steps: Steps = {
      first: async (ctx) => {
        runs.push(`${ctx.task.id}#${ctx.attempt}`);
        started.open();
        await release.promise;
        return 1;
      },
      second: async (ctx) => {
        runs.push(`${ctx.task.id}#${ctx.attempt}`);
        return 2;
      },
    };
    const graph = validateGraph({ goal: "lost claim", tasks: [{ id: "first" }, { id: "second" }] });
    // maxParallel 1: `second` waits, ready, while `first` runs.
    const pending = orch().composeFromTaskGraph(graph, steps, { workflow: "lost_claim", maxParallel: 1 });
    await started.promise;
    // What a claim whose reply was lost leaves: `second` running under this process, with no executor.
    await orch().db.query(
      `WITH mine AS (SELECT t.lease_owner FROM htdag.tasks t JOIN htdag.runs r ON r.id = t.run_id
                      WHERE r.workflow = 'lost_claim' AND t.id = 'first')
       UPDATE htdag.tasks t SET status = 'running', attempts = 1, started_at = now(),
              lease_owner = (SELECT lease_owner FROM mine), lease_expires_at = now() + interval '300 milliseconds'
         FROM htdag.runs r WHERE r.id = t.run_id AND r.workflow = 'lost_claim' AND t.id = 'second'`,
    );
    await orch().db.query(
      `INSERT INTO htdag.attempts (run_id, task_id, attempt, workflow, step, worker_id)
       SELECT t.run_id, t.id, 1, r.workflow, 'second', t.lease_owner FROM htdag.tasks t JOIN htdag.runs r ON r.id = t.run_id
        WHERE r.workflow = 'lost_claim' AND t.id = 'second'`,
    );
    release.open();
    const result = await pending;
    expect(result.status).toBe("completed");
    expect(runs).toEqual(["first#1", "second#2"]);
    const { rows } = await orch().db.query<{ attempt: number; status: string }>(
      `SELECT a.attempt, a.status FROM htdag.attempts a WHERE a.run_id = $1 AND a.task_id = 'second' ORDER BY attempt`,
      [result.runId],
    );
    expect(rows).toEqual([
      { attempt: 1, status: "lost" },
      { attempt: 2, status: "completed" },
    ]);
    // The reaper's event reaches readers: a `task:retried` whose outcome is `lost` (it was refused by
    // the catalogue, so subscribers and getRecentEvents dropped it).
    const retried = await orch().notifications.getRecentEvents({ runId: result.runId, types: ["task:retried"] });
    expect(retried.map((e) => [e.taskId, (e.payload as { outcome: string }).outcome])).toEqual([["second", "lost"]]);
  }, 20_000);
});
