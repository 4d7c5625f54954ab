import { describe, expect, it } from "vitest";
import { isTransientDbError, retryTransient } from "../../src/composer/transient.js";

describe("transient database errors", () => {
  it.each([
    ["a deadlock", "40P01"],
    ["a serialization failure", "40001"],
    ["an administrator's shutdown", "57P01"],
    ["a connection failure", "08006"],
    ["a refused connection", "ECONNREFUSED"],
  ])("retries %s (%s)", (_what, code) => {
    expect(isTransientDbError(Object.assign(new Error("x"), { code }))).toBe(true);
  });

  it.each([
    ["a check violation", "23514"],
    ["a unique violation", "23505"],
    ["a syntax error", "42601"],
  ])("does not retry %s (%s)", (_what, code) => {
    expect(isTransientDbError(Object.assign(new Error("x"), { code }))).toBe(false);
  });

  it("runs the call again after a deadlock, and returns what it returns then", async () => {
    let calls = 0;
    const result = await retryTransient(async () => {
      calls++;
      if (calls === 1) {
        throw Object.assign(new Error("deadlock detected"), { code: "40P01" });
      }
      return "settled";
    }, 5_000);
    expect({ result, calls }).toEqual({ result: "settled", calls: 2 });
  });
});
