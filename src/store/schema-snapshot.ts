/**
 * Query family: a text snapshot of htdag's schema as the database holds it: every table with its
 * columns, constraints, indexes and triggers, and every function with its definition (`pg_get_functiondef`).
 * The committed copy (`migrations/schema.snapshot`) makes every change to the SQL a visible diff;
 * test/integration/schema-snapshot.test.ts compares the two.
 */
import type { Queryable } from "./db.js";

/** The schema `schema` as sorted, stable text, with the schema's name written as `:HTDAG_SCHEMA`. */
export async function schemaSnapshot(db: Queryable, schema: string): Promise<string> {
  const sections = [...(await tables(db, schema)), ...(await functions(db, schema))];
  return sections.join("\n\n").replaceAll(`${schema}.`, ":HTDAG_SCHEMA.") + "\n";
}

async function tables(db: Queryable, schema: string): Promise<string[]> {
  const { rows } = await db.query<{ name: string; oid: number }>(
    `SELECT c.relname AS name, c.oid::int AS oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind = 'r' AND c.relname <> 'migrations' ORDER BY c.relname`,
    [schema],
  );
  const out: string[] = [];
  for (const table of rows) {
    const columns = await db.query<{ line: string }>(
      `SELECT format('  %s %s%s%s', a.attname, format_type(a.atttypid, a.atttypmod),
                     CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END,
                     COALESCE(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '')) AS line
         FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
      [table.oid],
    );
    const constraints = await db.query<{ line: string }>(
      `SELECT format('  CONSTRAINT %s %s', conname, pg_get_constraintdef(oid)) AS line
         FROM pg_constraint WHERE conrelid = $1 ORDER BY conname`,
      [table.oid],
    );
    const indexes = await db.query<{ line: string }>(
      `SELECT pg_get_indexdef(indexrelid) AS line FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = $1 ORDER BY c.relname`,
      [table.oid],
    );
    const triggers = await db.query<{ line: string }>(
      `SELECT pg_get_triggerdef(oid) AS line FROM pg_trigger WHERE tgrelid = $1 AND NOT tgisinternal ORDER BY tgname`,
      [table.oid],
    );
    out.push(
      [
        `TABLE ${schema}.${table.name}`,
        ...columns.rows.map((r) => r.line),
        ...constraints.rows.map((r) => r.line),
        ...indexes.rows.map((r) => r.line),
        ...triggers.rows.map((r) => r.line),
      ].join("\n"),
    );
  }
  return out;
}

async function functions(db: Queryable, schema: string): Promise<string[]> {
  const { rows } = await db.query<{ definition: string }>(
    `SELECT pg_get_functiondef(p.oid) AS definition FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE n.nspname = $1 ORDER BY p.proname, pg_get_function_identity_arguments(p.oid)`,
    [schema],
  );
  return rows.map((r) => r.definition.trimEnd());
}
