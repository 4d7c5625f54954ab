import { describe, expect, it } from "vitest";
import { attemptKey, HeldLeases, leaseMarginMs } from "../../src/composer/held-leases.js";

const x = { runId: "r", taskId: "x", attempt: 1 };
const y = { runId: "r", taskId: "y", attempt: 1 };

/** Leases of 1 s on a clock the test moves. */
function leases() {
  const clock = { now: 0 };
  return { clock, held: new HeldLeases(1000, () => clock.now) };
}

describe("held leases", () => {
  it("deems a lease over a margin before the length of the lease, counted from when the claim was sent", () => {
    expect(leaseMarginMs(1000)).toBe(100);
    expect(leaseMarginMs(30_000)).toBe(1000);
    const { clock, held } = leases();
    held.hold([x], 50);
    clock.now = 949;
    expect(held.expiredByMs(x)).toBe(0);
    clock.now = 1015;
    expect(held.expiredByMs(x)).toBe(65);
  });

  it("extends only the renewed attempts it still holds, never shortens one", () => {
    const { clock, held } = leases();
    held.hold([x, y], 0);
    held.release(y);
    clock.now = 800;
    held.renewed([x, y], 600);
    expect(held.list()).toEqual([x]);
    clock.now = 1400;
    expect(held.expiredByMs(x)).toBe(0);
    held.renewed([x], 100);
    clock.now = 1501;
    expect(held.expiredByMs(x)).toBe(1);
  });

  it("treats an attempt it does not hold as expired", () => {
    const { held } = leases();
    expect(held.expiredByMs(x)).toBe(Infinity);
    held.hold([x], 0);
    held.clear();
    expect(held.list()).toEqual([]);
    expect(attemptKey(x)).toBe("r/x#1");
  });
});
