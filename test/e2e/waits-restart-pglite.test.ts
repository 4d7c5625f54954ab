/**
 * Waits are durable on the embedded store too (issue 22, docs/waits-and-flow-control.md): a run with a
 * signal wait and a forMs wait, both started, survives closing its orchestrator; one opened again on
 * the same PGlite data dir ends the forMs wait that came due meanwhile and takes the signal.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { describe, expect, it } from "vitest";
import { createOrchestrator } from "../../src/create-orchestrator.js";
import { validateGraph } from "../../src/graph/validate.js";
import { historyViolations, stateViolations } from "../helpers/invariants.js";
import { waitFor } from "../helpers/wait.js";

const plan = validateGraph({
  goal: "draft, approve, cool off, publish",
  tasks: [
    { id: "draft", step: "draft" },
    { id: "approve", dependsOn: ["draft"], wait: { signal: "approval" } },
    { id: "cool", dependsOn: ["draft"], wait: { forMs: 400 } },
    { id: "publish", step: "publish", dependsOn: ["approve", "cool"] },
  ],
});

describe("waits survive closing an embedded store and opening it again (PGlite)", () => {
  it("a fresh orchestrator on the same data dir ends the due forMs wait and takes the signal", async () => {
    const dir = mkdtempSync(`${tmpdir()}/htdag-waits-pglite-`);
    const ran: string[] = [];
    const step = (name: string, who: string) => () => {
      ran.push(`${name} ${who}`);
      return name;
    };
    const steps = (who: string) => ({ draft: step("draft", who), publish: step("publish", who) });
    try {
      const first = await createOrchestrator({ database: `pglite:${dir}` });
      await first.startWorker({ workflows: { waits_restart: steps("first") }, pollIntervalMs: 50 });
      const { runId } = await first.submit(plan, { workflow: "waits_restart" });
      let until = "";
      await waitFor(
        async () => {
          const { rows } = await first.db.query<{ task_id: string; until: string | null }>(
            "SELECT task_id, payload ->> 'until' AS until FROM htdag.events WHERE run_id = $1 AND type = 'task:waiting'",
            [runId],
          );
          until = rows.find((r) => r.task_id === "cool")?.until ?? "";
          return rows.length === 2;
        },
        20_000,
        "both waits to start",
      );
      await first.close();
      // Closed while the forMs wait comes due.
      await waitFor(() => Date.now() > Date.parse(until), 10_000, "the forMs wait to come due");

      const second = await createOrchestrator({ database: `pglite:${dir}` });
      try {
        await second.startWorker({ workflows: { waits_restart: steps("second") }, pollIntervalMs: 50 });
        await waitFor(
          async () => (await second.getRun(runId)).tasks.find((t) => t.id === "cool")?.status === "completed",
          20_000,
          "the reopened store to end the due forMs wait",
        );
        expect(await second.signal(runId, "approval", { by: "ana" })).toEqual({ delivered: true, taskId: "approve" });
        const result = await second.waitForRun(runId, { timeoutMs: 20_000 });
        expect(result.status).toBe("completed");
        expect(ran).toEqual(["draft first", "publish second"]);
        expect(result.tasks.map((t) => t.attempts)).toEqual([1, 1, 1, 1]);
        expect(await stateViolations(second, runId)).toEqual([]);
        expect(await historyViolations(second, runId)).toEqual([]);
      } finally {
        await second.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
