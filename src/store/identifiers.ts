/** Validation of SQL identifiers (schema and channel names); done once, at the edge. */
import { createHash } from "node:crypto";
import { InvalidOptionError } from "../errors.js";

/** An unquoted Postgres identifier: a letter or `_`, then letters, digits or `_`, at most 63 bytes. */
export const IDENTIFIER_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;

/** Returns `name` if it is a plain lower-case identifier, else throws an error naming the option. */
export function assertIdentifier(option: string, name: unknown): string {
  if (typeof name !== "string" || !IDENTIFIER_PATTERN.test(name)) {
    throw new InvalidOptionError(
      option,
      "a lower-case SQL identifier (a letter or _, then letters, digits or _, at most 63 characters)",
      name,
    );
  }
  return name;
}

/** Quotes an identifier that `assertIdentifier` accepted. */
export function quoteIdentifier(name: string): string {
  return `"${name}"`;
}

/**
 * The name of a prepared statement: unique per (schema, statement text), and 38 bytes whatever the
 * schema's length. Postgres cuts names at 63 bytes, so a name built from the schema's name would
 * collide for two long schemas sharing a prefix on one connection (a pool passed to two orchestrators).
 */
export function statementName(schema: string, sql: string): string {
  return `htdag_${createHash("sha256").update(schema).update("\0").update(sql).digest("hex").slice(0, 32)}`;
}
