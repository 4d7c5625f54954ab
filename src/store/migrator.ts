/**
 * The migrator: applies `migrations/NNNN_name.sql` in order, each in one transaction under
 * `pg_advisory_xact_lock`, recording the version and the file's SHA-256 in the same transaction. Two
 * processes migrating the same database at once both succeed and each file is applied once. An
 * applied file that was edited since, or a database of an earlier layout, is refused before anything
 * is applied (`MigrationMismatchError`).
 */
import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { MigrationError, MigrationMismatchError } from "../errors.js";
import type { Db, Queryable } from "./db.js";
import { quoteIdentifier } from "./identifiers.js";

/** The folder of migration files shipped with the package (…/migrations beside src/ and dist/). */
export const MIGRATIONS_DIR = fileURLToPath(new URL("../../migrations/", import.meta.url));

const MIGRATION_FILE = /^(\d{4})_([a-z0-9_]+)\.sql$/;

/** One migration file. */
export interface Migration {
  version: number;
  name: string;
  file: string;
  sql: string;
  /** SHA-256 of the file's text, hex. */
  checksum: string;
}

/** What `migrationStatus` reports per file. */
export interface MigrationState {
  version: number;
  name: string;
  appliedAt: Date | null;
}

/** Reads and orders the migration files of a folder. */
export async function loadMigrations(dir: string = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith(".sql")).sort();
  const migrations: Migration[] = [];
  for (const file of files) {
    const match = MIGRATION_FILE.exec(file);
    if (!match) {
      throw new MigrationError(file, { cause: new Error("file names must look like 0001_name.sql") });
    }
    const sql = await readFile(`${dir}/${file}`, "utf8");
    const checksum = createHash("sha256").update(sql).digest("hex");
    migrations.push({ version: Number(match[1]), name: match[2] ?? "", file, sql, checksum });
  }
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) {
      throw new MigrationError(m.file, {
        cause: new Error(`expected version ${i + 1}: migrations are numbered without gaps`),
      });
    }
  });
  return migrations;
}

/** A lock key per schema, so two installations in one database do not block each other. */
function lockSql(): string {
  return `SELECT pg_advisory_xact_lock(hashtext('htdag:migrate:' || $1))`;
}

async function ensureMigrationsTable(db: Db, schema: string): Promise<void> {
  const s = quoteIdentifier(schema);
  await db.transaction(async (tx) => {
    await tx.query(lockSql(), [schema]);
    await tx.exec(
      `CREATE SCHEMA IF NOT EXISTS ${s};
       CREATE TABLE IF NOT EXISTS ${s}.migrations (
         version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now());`,
    );
  });
}

/** One row of the migrations table. */
interface AppliedMigration {
  version: number;
  name: string;
  checksum: string;
  appliedAt: Date;
}

async function appliedMigrations(q: Queryable, schema: string): Promise<Map<number, AppliedMigration>> {
  const { rows } = await q.query<{ version: number; name: string; checksum: string; applied_at: Date }>(
    `SELECT version, name, checksum, applied_at FROM ${quoteIdentifier(schema)}.migrations ORDER BY version`,
  );
  return new Map(rows.map((r) => [r.version, { ...r, appliedAt: r.applied_at }]));
}

/** How to start over, for a database whose recorded migrations cannot be followed. */
function resetAdvice(db: Db, schema: string): string {
  return db.kind === "pglite"
    ? `Reset the embedded store: delete its folder (${db.target}; ./.htdag by default) and run again.`
    : `Reset it: DROP SCHEMA ${quoteIdentifier(schema)} CASCADE on ${db.target}, then run again (or use another schema).`;
}

/** Throws unless the database's migrations table and applied files agree with `migrations`. */
async function checkApplied(db: Db, schema: string, migrations: readonly Migration[]): Promise<void> {
  const { rows } = await db.query<{ columns: number }>(
    `SELECT count(*)::int AS columns FROM information_schema.columns
      WHERE table_schema = $1 AND table_name = 'migrations' AND column_name = 'checksum'`,
    [schema],
  );
  if ((rows[0]?.columns ?? 0) === 0) {
    throw new MigrationMismatchError(
      `${db.target} holds htdag's schema "${schema}" of an earlier, unreleased layout (migrations without checksums)`,
      resetAdvice(db, schema),
    );
  }
  for (const applied of (await appliedMigrations(db, schema)).values()) {
    const file = migrations[applied.version - 1];
    if (!file || file.name !== applied.name) {
      throw new MigrationMismatchError(
        `${db.target} has migration ${String(applied.version).padStart(4, "0")}_${applied.name} applied, ` +
          `which this htdag does not ship${file ? ` (its ${file.file} takes that number)` : ""}`,
        `Use the htdag that created this schema, or start over. ${resetAdvice(db, schema)}`,
      );
    }
    if (file.checksum !== applied.checksum) {
      throw new MigrationMismatchError(
        `migration ${file.file} was edited after it was applied to ${db.target}`,
        "Migrations are append-only once applied: restore the file and put the change in a new one. " +
          `A store made by an unreleased htdag whose baseline changed since cannot be upgraded: ${resetAdvice(db, schema)}`,
      );
    }
  }
}

/** Applies every pending migration; returns the versions this call applied. */
export async function migrate(db: Db, schema: string, dir: string = MIGRATIONS_DIR): Promise<number[]> {
  const migrations = await loadMigrations(dir);
  await ensureMigrationsTable(db, schema);
  await checkApplied(db, schema, migrations);
  const applied: number[] = [];
  for (const migration of migrations) {
    const didApply = await db
      .transaction(async (tx) => {
        await tx.query(lockSql(), [schema]);
        // GUARD: re-read under the lock; another process may have applied it meanwhile.
        if ((await appliedMigrations(tx, schema)).has(migration.version)) {
          return false;
        }
        await tx.exec(migration.sql.replaceAll(":HTDAG_SCHEMA", quoteIdentifier(schema)));
        await tx.query(
          `INSERT INTO ${quoteIdentifier(schema)}.migrations (version, name, checksum) VALUES ($1, $2, $3)`,
          [migration.version, migration.name, migration.checksum],
        );
        return true;
      })
      .catch((error: unknown) => {
        throw new MigrationError(migration.file, { cause: error });
      });
    if (didApply) {
      applied.push(migration.version);
    }
  }
  return applied;
}

/** Lists every migration file with the time it was applied, or null if it is pending. */
export async function migrationStatus(db: Db, schema: string, dir: string = MIGRATIONS_DIR): Promise<MigrationState[]> {
  const migrations = await loadMigrations(dir);
  const { rows } = await db.query<{ exists: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS exists`, [
    `${quoteIdentifier(schema)}.migrations`,
  ]);
  if (rows[0]?.exists) {
    await checkApplied(db, schema, migrations);
  }
  const applied = rows[0]?.exists ? await appliedMigrations(db, schema) : new Map<number, AppliedMigration>();
  return migrations.map((m) => ({
    version: m.version,
    name: m.name,
    appliedAt: applied.get(m.version)?.appliedAt ?? null,
  }));
}
