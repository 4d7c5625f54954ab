/**
 * The hot calls commit their work before they NOTIFY (migrations/0003_notify_after_commit.sql).
 * PostgreSQL holds one server-wide lock from a NOTIFYing transaction's queue write to the end of its
 * commit. Here another session holds it for as long as the test wants: a private cluster names a
 * synchronous standby that never connects, so that session's commit (synchronous_commit on) waits
 * inside the lock. htdag's sessions commit locally (the database's default here). Before 0003, a
 * submit's commit queued behind that lock, so the run stayed invisible; now the run commits at once
 * and only its notifications wait.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createOrchestrator, validateGraph } from "../../src/index.js";
import { startPrivatePostgres, type PrivatePostgres } from "../helpers/private-postgres.js";
import { waitFor } from "../helpers/wait.js";

/** Ends the holder's wait for its standby, which releases the NOTIFY lock. */
async function releaseHolder(reader: pg.Client): Promise<void> {
  await reader.query("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE wait_event = 'SyncRep'");
}

describe("notifications after the commit", () => {
  let server: PrivatePostgres;
  beforeAll(async () => {
    server = startPrivatePostgres({ synchronous_standby_names: "ghost" });
    const admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
    await admin.query("SET synchronous_commit = local");
    await admin.query("ALTER DATABASE postgres SET synchronous_commit = local");
    await admin.end();
  });
  afterAll(() => server.stop());

  it("a submit commits while another session holds PostgreSQL's NOTIFY lock; its NOTIFY follows", async () => {
    const orch = await createOrchestrator({ database: server.url });
    const listener = new pg.Client({ connectionString: server.url });
    const holder = new pg.Client({ connectionString: server.url });
    const reader = new pg.Client({ connectionString: server.url });
    await Promise.all([listener.connect(), holder.connect(), reader.connect()]);
    try {
      const heard: { type: string; runId: string }[] = [];
      listener.on("notification", (n) => heard.push(JSON.parse(n.payload!) as { type: string; runId: string }));
      await listener.query("LISTEN htdag_events");
      // The holder's commit waits for the ghost standby after taking the NOTIFY lock.
      await holder.query("SET synchronous_commit = on");
      await holder.query("BEGIN");
      await holder.query("CREATE TABLE lock_holder (x integer)");
      await holder.query("NOTIFY holder");
      const held = holder.query("COMMIT").catch((error: unknown) => error);
      await waitFor(
        async () => (await reader.query("SELECT 1 FROM pg_stat_activity WHERE wait_event = 'SyncRep'")).rowCount === 1,
        10_000,
        "the holder to wait for its standby",
      );

      const graph = validateGraph({ goal: "one task", tasks: [{ id: "only", step: "noop" }] });
      const submitted = orch.submit(graph, { workflow: "after-commit" });
      await waitFor(
        async () => (await reader.query("SELECT 1 FROM htdag.runs WHERE workflow = 'after-commit'")).rowCount === 1,
        10_000,
        "the run to be committed while the lock is held",
      );
      expect(heard).toEqual([]);

      // The holder gives up its wait (its transaction stays committed locally): the NOTIFY follows.
      await releaseHolder(reader);
      await held;
      const { runId } = await submitted;
      await waitFor(() => heard.some((n) => n.runId === runId), 10_000, "the run's notifications");
      const { rows } = await reader.query<{ type: string }>("SELECT type FROM htdag.events WHERE run_id = $1", [runId]);
      expect(heard.filter((n) => n.runId === runId).map((n) => n.type)).toEqual(rows.map((r) => r.type));
    } finally {
      await releaseHolder(reader);
      await Promise.all([listener.end(), holder.end(), reader.end()]);
      await orch.close();
    }
  });
});
