import { describe, expect, it } from "vitest";
import { statementName } from "../../src/store/identifiers.js";

describe("prepared statements' names", () => {
  const long = "tenant_".padEnd(60, "x");

  it("stay within Postgres's 63 bytes, whatever the schema's length", () => {
    for (const schema of ["htdag", `${long}_aa`, "a".repeat(63)]) {
      expect(Buffer.byteLength(statementName(schema, "SELECT 1"))).toBeLessThanOrEqual(63);
    }
  });

  it("differ for schemas that share a long prefix, and for different statements", () => {
    const names = new Set([
      statementName(`${long}_aa`, "SELECT 1"),
      statementName(`${long}_bb`, "SELECT 1"),
      statementName(`${long}_aa`, "SELECT 2"),
      statementName("htdag", "SELECT 1"),
    ]);
    expect(names.size).toBe(4);
  });

  it("are the same for the same schema and statement", () => {
    expect(statementName("htdag", "SELECT 1")).toBe(statementName("htdag", "SELECT 1"));
  });
});
