import { describe, expect, it } from "vitest";
import pg from "pg";
import { createOrchestrator } from "../../src/create-orchestrator.js";
import { DatabaseConnectionError, InvalidOptionError, MigrationError } from "../../src/errors.js";
import { migrate, migrationStatus, loadMigrations } from "../../src/store/migrator.js";
import { openPgliteDb } from "../../src/store/pglite-driver.js";
import { openPgDb } from "../../src/store/pg-driver.js";
import { createTaskQueries } from "../../src/store/tasks.js";
import { validateGraph } from "../../src/graph/validate.js";
import { createEmptyDatabase } from "../helpers/postgres.js";
import { STORES, useOrchestrator } from "../helpers/stores.js";

describe.each(STORES)("store on %s", (kind) => {
  const orch = useOrchestrator(kind);

  it("has every table of the schema after createOrchestrator", async () => {
    const { rows } = await orch().db.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'htdag' ORDER BY table_name`,
    );
    expect(rows.map((r) => r.table_name)).toEqual(
      expect.arrayContaining([
        "attempts",
        "decomposition_cache",
        "decompositions",
        "events",
        "graphs",
        "migrations",
        "patterns",
        "queues",
        "runs",
        "task_edges",
        "tasks",
        "workers",
        "workflows",
      ]),
    );
  });

  it("records every migration as applied", async () => {
    const status = await migrationStatus(orch().db, "htdag");
    const files = await loadMigrations();
    expect(status.map((s) => s.version)).toEqual(files.map((f) => f.version));
    expect(status.every((s) => s.appliedAt instanceof Date)).toBe(true);
  });

  it("migrating again applies nothing", async () => {
    expect(await migrate(orch().db, "htdag")).toEqual([]);
  });

  it("rejects a task status outside the state machine with the named check constraint", async () => {
    const db = orch().db;
    await db.query(`INSERT INTO htdag.workflows (name) VALUES ('w') ON CONFLICT DO NOTHING`);
    await expect(
      db.query(
        `INSERT INTO htdag.runs (id, workflow, goal, status, max_parallel, total_tasks, remaining_tasks)
         VALUES (gen_random_uuid(), 'w', 'g', 'exploded', 1, 0, 0)`,
      ),
    ).rejects.toThrow(/runs_status_check/);
  });

  it("rolls back a transaction that throws and keeps what committed before", async () => {
    const db = orch().db;
    await db.query(`INSERT INTO htdag.workflows (name) VALUES ('kept')`);
    await expect(
      db.transaction(async (tx) => {
        await tx.query(`INSERT INTO htdag.workflows (name) VALUES ('lost')`);
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    const { rows } = await db.query<{ name: string }>(
      `SELECT name FROM htdag.workflows WHERE name IN ('kept', 'lost') ORDER BY name`,
    );
    expect(rows.map((r) => r.name)).toEqual(["kept"]);
  });

  it("delivers a NOTIFY to a dedicated listener after commit", async () => {
    const db = orch().db;
    const received: string[] = [];
    let resolve!: () => void;
    const arrived = new Promise<void>((r) => (resolve = r));
    const listener = await db.listen("htdag_store_test", {
      onNotify: (payload) => {
        received.push(payload);
        resolve();
      },
    });
    await db.transaction(async (tx) => {
      await tx.query(`SELECT pg_notify('htdag_store_test', 'hello')`);
      expect(received).toEqual([]);
    });
    await arrived;
    await listener.close();
    expect(received).toEqual(["hello"]);
  });
});

describe("migrations on Postgres", () => {
  it("two migrators on one fresh database at the same moment apply each file once", async () => {
    const database = await createEmptyDatabase();
    const [a, b] = await Promise.all([openPgDb(database.url), openPgDb(database.url)]);
    try {
      const [appliedA, appliedB] = await Promise.all([migrate(a, "htdag"), migrate(b, "htdag")]);
      const files = await loadMigrations();
      expect([...appliedA, ...appliedB].sort()).toEqual(files.map((f) => f.version));
      const { rows } = await a.query<{ n: string }>(`SELECT count(*) AS n FROM htdag.migrations`);
      expect(Number(rows[0]?.n)).toBe(files.length);
    } finally {
      await a.close();
      await b.close();
      await database.drop();
    }
  });

  it("a schema option keeps two installations apart in one database", async () => {
    const database = await createEmptyDatabase();
    const one = await createOrchestrator({ database: database.url, schema: "team_one" });
    const two = await createOrchestrator({ database: database.url, schema: "team_two" });
    try {
      await one.db.query(`INSERT INTO team_one.workflows (name) VALUES ('only_here')`);
      const { rows } = await two.db.query(`SELECT * FROM team_two.workflows`);
      expect(rows).toEqual([]);
    } finally {
      await one.close();
      await two.close();
      await database.drop();
    }
  });

  it("two schemas whose names share 60 characters claim and settle on one shared connection", async () => {
    // Postgres cuts prepared statements' names at 63 bytes: names built from the schema would collide.
    const prefix = "tenant_".padEnd(60, "x");
    const schemas = [`${prefix}_aa`, `${prefix}_bb`];
    const database = await createEmptyDatabase();
    const pool = new pg.Pool({ connectionString: database.url, max: 1 });
    const [one, two] = await Promise.all(schemas.map((schema) => createOrchestrator({ database: pool, schema })));
    try {
      const graph = validateGraph({
        goal: "two steps",
        tasks: [{ id: "a" }, { id: "b", dependsOn: ["a"] }],
      });
      const steps = { a: async () => 1, b: async ({ deps }: { deps: Record<string, unknown> }) => Number(deps.a) + 1 };
      for (const [orch, schema] of [
        [one!, schemas[0]!],
        [two!, schemas[1]!],
        [one!, schemas[0]!],
      ] as const) {
        const result = await orch.composeFromTaskGraph(graph, steps, { workflow: "shared" });
        expect({ schema, status: result.status, b: result.outputs.b }).toEqual({ schema, status: "completed", b: 2 });
        expect(await createTaskQueries(orch.db, schema).claim(null, ["shared"], "w", 1, 1000, null)).toEqual({
          claimed: [],
          busy: false,
        });
      }
    } finally {
      await one?.close();
      await two?.close();
      await pool.end();
      await database.drop();
    }
  });

  it("a failing migration is rolled back whole and named", async () => {
    const database = await createEmptyDatabase();
    const db = await openPgDb(database.url);
    const { mkdtemp, writeFile } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    const dir = await mkdtemp(`${tmpdir()}/htdag-mig-`);
    await writeFile(`${dir}/0001_ok.sql`, "CREATE TABLE :HTDAG_SCHEMA.a (x int);");
    await writeFile(`${dir}/0002_bad.sql`, "CREATE TABLE :HTDAG_SCHEMA.b (x int); SELECT no_such_function();");
    try {
      await expect(migrate(db, "htdag", dir)).rejects.toThrow(MigrationError);
      await expect(migrate(db, "htdag", dir)).rejects.toThrow(/0002_bad\.sql.*no_such_function/);
      const { rows } = await db.query<{ b: string | null }>(`SELECT to_regclass('htdag.b')::text AS b`);
      expect(rows[0]?.b).toBeNull();
      expect((await migrationStatus(db, "htdag", dir)).map((s) => s.appliedAt !== null)).toEqual([true, false]);
    } finally {
      await db.close();
      await database.drop();
    }
  });
});

describe("createOrchestrator options and connection errors", () => {
  it("names the option, what was expected and what was given", async () => {
    await expect(createOrchestrator({ defaults: { maxAttempts: 0 } })).rejects.toThrow(InvalidOptionError);
    await expect(createOrchestrator({ defaults: { maxAttempts: 0 } })).rejects.toThrow(
      "invalid option `defaults.maxAttempts` in createOrchestrator: expected an integer of at least 1, received number 0",
    );
    await expect(createOrchestrator({ channel: "events; DROP TABLE x" })).rejects.toThrow(
      /`channel`.*identifier.*received the string "events; DROP TABLE x"/,
    );
    await expect(createOrchestrator({ poolSise: 3 } as never)).rejects.toThrow(/`poolSise`.*unknown/);
    await expect(createOrchestrator({ database: 42 } as never)).rejects.toThrow(/`database`/);
  });

  it("an unreachable database names the URL with the password redacted and what to check", async () => {
    const error = await createOrchestrator({ database: "postgres://app:s3cret@127.0.0.1:1/nowhere" }).catch((e) => e);
    expect(error).toBeInstanceOf(DatabaseConnectionError);
    expect(error.message).toContain("postgres://app:***@127.0.0.1:1/nowhere");
    expect(error.message).not.toContain("s3cret");
    expect(error.message).toMatch(/Check that PostgreSQL is running/);
  });

  it("accepts a pg.Pool and leaves it open on close", async () => {
    const database = await createEmptyDatabase();
    const pool = new pg.Pool({ connectionString: database.url, max: 2 });
    const orch = await createOrchestrator({ database: pool });
    expect(orch.db.kind).toBe("postgres");
    await orch.close();
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM htdag.migrations`);
    expect(rows[0].n).toBeGreaterThan(0);
    await pool.end();
    await database.drop();
  });

  it("uses PGlite for memory:// and a data dir that survives a reopen", async () => {
    const { mkdtemp } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    const dir = await mkdtemp(`${tmpdir()}/htdag-pglite-`);
    const first = await createOrchestrator({ database: `pglite:${dir}` });
    expect(first.db.kind).toBe("pglite");
    await first.db.query(`INSERT INTO htdag.workflows (name) VALUES ('durable')`);
    await first.close();
    const db = await openPgliteDb(dir);
    const { rows } = await db.query<{ name: string }>(`SELECT name FROM htdag.workflows`);
    await db.close();
    expect(rows.map((r) => r.name)).toEqual(["durable"]);
  });
});
