/**
 * The migrator: applies `migrations/NNNN_name.sql` in order, each in one transaction under
 * `pg_advisory_xact_lock`, recording the version in the same transaction. Two processes migrating
 * the same database at once both succeed and each file is applied once.
 */
import { readdir, readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { MigrationError } from "../errors.js";
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
    migrations.push({
      version: Number(match[1]),
      name: match[2] ?? "",
      file,
      sql: await readFile(`${dir}/${file}`, "utf8"),
    });
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
         version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());`,
    );
  });
}

async function appliedVersions(q: Queryable, schema: string): Promise<Map<number, Date>> {
  const { rows } = await q.query<{ version: number; applied_at: Date }>(
    `SELECT version, applied_at FROM ${quoteIdentifier(schema)}.migrations ORDER BY version`,
  );
  return new Map(rows.map((r) => [r.version, r.applied_at]));
}

/** Applies every pending migration; returns the versions this call applied. */
export async function migrate(db: Db, schema: string, dir: string = MIGRATIONS_DIR): Promise<number[]> {
  const migrations = await loadMigrations(dir);
  await ensureMigrationsTable(db, schema);
  const applied: number[] = [];
  for (const migration of migrations) {
    const didApply = await db
      .transaction(async (tx) => {
        await tx.query(lockSql(), [schema]);
        // GUARD: re-read under the lock; another process may have applied it meanwhile.
        if ((await appliedVersions(tx, schema)).has(migration.version)) {
          return false;
        }
        await tx.exec(migration.sql.replaceAll(":HTDAG_SCHEMA", quoteIdentifier(schema)));
        await tx.query(`INSERT INTO ${quoteIdentifier(schema)}.migrations (version, name) VALUES ($1, $2)`, [
          migration.version,
          migration.name,
        ]);
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
  const applied = rows[0]?.exists ? await appliedVersions(db, schema) : new Map<number, Date>();
  return migrations.map((m) => ({ version: m.version, name: m.name, appliedAt: applied.get(m.version) ?? null }));
}
