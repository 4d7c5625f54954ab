import { describe, expect, it } from "vitest";
import { InvalidOptionError } from "../../src/errors.js";
import { dueTick, parseCron } from "../../src/orchestrator/schedule-ticks.js";

const at = (iso: string) => new Date(iso);

describe("schedule tick arithmetic", () => {
  it("the latest tick at or before a moment, and the first tick after it (seconds cron)", () => {
    const everySecond = parseCron("* * * * * *", "UTC");
    expect(everySecond.latestAtOrBefore(at("2026-01-01T00:00:05.000Z"))).toEqual(at("2026-01-01T00:00:05.000Z"));
    expect(everySecond.latestAtOrBefore(at("2026-01-01T00:00:05.999Z"))).toEqual(at("2026-01-01T00:00:05.000Z"));
    expect(everySecond.nextAfter(at("2026-01-01T00:00:05.000Z"))).toEqual(at("2026-01-01T00:00:06.000Z"));
    const everyFive = parseCron("*/5 * * * * *", "UTC");
    expect(everyFive.latestAtOrBefore(at("2026-01-01T00:00:09.400Z"))).toEqual(at("2026-01-01T00:00:05.000Z"));
  });

  it("a due schedule fires the latest missed tick once and moves past now", () => {
    const hourly = parseCron("0 * * * *", "UTC");
    const due = dueTick(hourly, at("2026-01-01T03:00:00Z"), at("2026-01-01T08:20:00Z"));
    expect(due).toEqual({ tick: at("2026-01-01T08:00:00Z"), next: at("2026-01-01T09:00:00Z") });
  });

  it("a tick due a moment after the clock that read it fires that tick, not an earlier one", () => {
    const everySecond = parseCron("* * * * * *", "UTC");
    const due = dueTick(everySecond, at("2026-01-01T00:00:06Z"), at("2026-01-01T00:00:05.999Z"));
    expect(due).toEqual({ tick: at("2026-01-01T00:00:06Z"), next: at("2026-01-01T00:00:07Z") });
  });

  it("reads the cron in its time zone, across a change to summer time", () => {
    const berlin = parseCron("0 2 * * *", "Europe/Berlin");
    // 02:00 in Berlin: 01:00 UTC in winter, 00:00 UTC in summer.
    expect(berlin.nextAfter(at("2026-01-10T12:00:00Z"))).toEqual(at("2026-01-11T01:00:00Z"));
    expect(berlin.nextAfter(at("2026-07-10T12:00:00Z"))).toEqual(at("2026-07-11T00:00:00Z"));
    // 02:30 does not exist in Berlin on 2026-03-29; the tick due before that morning is the day before's.
    const halfPast = parseCron("30 2 * * *", "Europe/Berlin");
    expect(halfPast.latestAtOrBefore(at("2026-03-29T01:08:24Z"))).toEqual(at("2026-03-28T01:30:00Z"));
  });

  it("a weekly cron's latest tick is found days back", () => {
    const sundays = parseCron("15 1 * * 0", "UTC");
    expect(sundays.latestAtOrBefore(at("2026-03-26T16:50:15Z"))).toEqual(at("2026-03-22T01:15:00Z"));
  });

  it.each([
    ["every day", "cron"],
    ["61 * * * *", "cron"],
    ["* * * * * * *", "cron"],
    ["0 0 30 2 *", "cron"],
  ])("refuses the cron %j, naming the option", (cron, option) => {
    expect(() => parseCron(cron, "UTC")).toThrow(InvalidOptionError);
    try {
      parseCron(cron, "UTC");
    } catch (error) {
      expect((error as InvalidOptionError).option).toBe(option);
    }
  });

  it("refuses an unknown time zone, naming the option", () => {
    expect(() => parseCron("* * * * *", "Mars/Olympus")).toThrow(
      /invalid option `timezone` in schedule: expected an IANA time zone such as "Europe\/Berlin" or "UTC", received/,
    );
  });
});
