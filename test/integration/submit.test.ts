/**
 * submit() is one transaction: the run, its tasks, edges and first events are recorded and the run
 * started by one call of the SQL function submit_run. A lost connection or a failing start at any
 * statement leaves either nothing (a resubmit creates and starts the run) or the whole started run,
 * never a `pending` run that an idempotent resubmit would return forever.
 */
import { describe, expect, it } from "vitest";
import { validateGraph } from "../../src/graph/validate.js";
import type { Db, Queryable, QueryOptions } from "../../src/store/db.js";
import { STORES, useOrchestrator } from "../helpers/stores.js";

const oneTask = (goal: string) => validateGraph({ goal, tasks: [{ id: "only", step: "noop" }] });

type Loss = "before" | "after";

/**
 * Makes statement number `at` of those `db` sends (transactions' statements included) fail once as
 * a lost connection does: `before` it reaches the server, or `after` the server ran it (the reply
 * was lost). `statements()` counts what was sent; `restore()` puts the driver back.
 */
function loseConnectionAt(db: Db, at: number, loss: Loss): { statements(): number; restore(): void } {
  let sent = 0;
  const through = async <T>(send: () => Promise<T>): Promise<T> => {
    sent++;
    if (sent !== at) {
      return send();
    }
    if (loss === "after") {
      await send();
    }
    throw new Error("Connection terminated unexpectedly");
  };
  const wrap = (q: Queryable): Queryable => ({
    query: <Row>(sql: string, params?: readonly unknown[], options?: QueryOptions) =>
      through(() => q.query<Row>(sql, params, options)),
    exec: (sql) => through(() => q.exec(sql)),
  });
  const plain = { query: db.query.bind(db), exec: db.exec.bind(db) };
  const transaction = db.transaction.bind(db);
  Object.assign(db, {
    ...wrap(plain),
    transaction: <T>(fn: (tx: Queryable) => Promise<T>) => transaction((tx) => fn(wrap(tx))),
  });
  return {
    statements: () => sent,
    restore: () => {
      for (const key of ["query", "exec", "transaction"]) {
        Reflect.deleteProperty(db, key);
      }
    },
  };
}

describe.each(STORES)("submit on %s", (kind) => {
  const orch = useOrchestrator(kind);

  const runOf = async (runId: string) => {
    const { rows } = await orch().db.query<{ status: string; tasks: string[]; started: number }>(
      `SELECT r.status,
              (SELECT array_agg(t.status ORDER BY t.id) FROM htdag.tasks t WHERE t.run_id = r.id) AS tasks,
              (SELECT count(*)::int FROM htdag.events e WHERE e.run_id = r.id AND e.type = 'execution:started') AS started
         FROM htdag.runs r WHERE r.id = $1`,
      [runId],
    );
    return rows[0];
  };

  it("a connection lost at any statement leaves nothing or the whole started run", async () => {
    const graph = oneTask("lossy submit");
    // A workflow this process never submitted: its first submit also reads the stored tuning (later
    // ones of it send submit_run alone, the last of these statements).
    const counting = loseConnectionAt(orch().db, Number.POSITIVE_INFINITY, "before");
    await orch().submit(graph, { workflow: "lossy-count", idempotencyKey: `lossy-${kind}-count` });
    counting.restore();
    const statements = counting.statements();
    for (let at = 1; at <= statements; at++) {
      for (const loss of ["before", "after"] as const) {
        const key = `lossy-${kind}-${at}-${loss}`;
        const lost = loseConnectionAt(orch().db, at, loss);
        const failed = await orch()
          .submit(graph, { workflow: key, idempotencyKey: key })
          .then(
            () => null,
            (error: Error) => error,
          );
        lost.restore();
        expect(failed?.message).toBe("Connection terminated unexpectedly");
        const again = await orch().submit(graph, { workflow: key, idempotencyKey: key });
        expect({ at, loss, run: await runOf(again.runId) }).toEqual({
          at,
          loss,
          run: { status: "running", tasks: ["ready"], started: 1 },
        });
      }
    }
  });

  it("a start that raises leaves no run behind; the resubmit creates and starts it", async () => {
    // A trigger makes the run's start fail (its execution:started event), after its rows went in.
    await orch().db.exec(`
      CREATE FUNCTION htdag.refuse_start() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.type = 'execution:started' AND NEW.workflow = 'refused' THEN
          RAISE EXCEPTION 'start refused by the test';
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER refuse_start BEFORE INSERT ON htdag.events FOR EACH ROW EXECUTE FUNCTION htdag.refuse_start();`);
    const graph = oneTask("refused start");
    const key = `refused-${kind}`;
    try {
      await expect(orch().submit(graph, { workflow: "refused", idempotencyKey: key })).rejects.toThrow(
        "start refused by the test",
      );
    } finally {
      await orch().db.exec(`DROP TRIGGER refuse_start ON htdag.events; DROP FUNCTION htdag.refuse_start();`);
    }
    const { rows } = await orch().db.query<{ runs: number }>(
      `SELECT count(*)::int AS runs FROM htdag.runs WHERE idempotency_key = $1`,
      [key],
    );
    expect(rows[0]?.runs).toBe(0);
    const again = await orch().submit(graph, { workflow: "refused", idempotencyKey: key });
    expect(await runOf(again.runId)).toEqual({ status: "running", tasks: ["ready"], started: 1 });
  });

  it("a one-task graph is submitted in at most 2 round trips, with or without an idempotency key", async () => {
    const graph = oneTask("cheap submit");
    const trips: number[] = [];
    for (const idempotencyKey of [undefined, `cheap-${kind}`, `cheap-${kind}`]) {
      const before = orch().db.stats.roundTrips;
      await orch().submit(graph, { workflow: "cheap", ...(idempotencyKey ? { idempotencyKey } : {}) });
      trips.push(orch().db.stats.roundTrips - before);
    }
    console.log(`submit round trips on ${kind} (new, new with key, existing key): ${trips.join(", ")}`);
    expect(trips.every((n) => n <= 2)).toBe(true);
  });

  it("two concurrent submits with one key return one run, started once", async () => {
    const graph = oneTask("twice at once");
    const key = `twice-${kind}`;
    const [x, y] = await Promise.all([
      orch().submit(graph, { workflow: "twice", idempotencyKey: key }),
      orch().submit(graph, { workflow: "twice", idempotencyKey: key }),
    ]);
    expect(x.runId).toBe(y.runId);
    const { rows } = await orch().db.query<{ runs: number }>(
      `SELECT count(*)::int AS runs FROM htdag.runs WHERE workflow = 'twice'`,
    );
    expect(rows[0]?.runs).toBe(1);
    expect(await runOf(x.runId)).toEqual({ status: "running", tasks: ["ready"], started: 1 });
  });
});
