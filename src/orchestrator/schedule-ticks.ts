/**
 * Tick arithmetic of schedules, with croner: parsing a cron in its time zone, the first tick after a
 * moment, and the tick due at a moment (the latest at or before it: missed ticks fire once). Pure.
 */
import { Cron } from "croner";
import { InvalidOptionError } from "../errors.js";

/** A parsed cron in its time zone. */
export interface CronSchedule {
  readonly cron: string;
  readonly timezone: string;
  /** The first tick strictly after `moment`, or null when the cron never fires again. */
  nextAfter(moment: Date): Date | null;
  /** The latest tick at or before `moment`, or null when there is none. */
  latestAtOrBefore(moment: Date): Date | null;
}

/** What a due schedule fires, and where it goes next. */
export interface DueTick {
  /** The tick to fire: the latest at or before now (never before the tick that was due). */
  tick: Date;
  /** The first tick after now (and after `tick`). */
  next: Date;
}

/** Most ticks walked forward when croner's look-back is checked (it can miss near a DST change). */
const MAX_WALK = 1_000;

/**
 * Parses `cron` (5 fields, or 6 with seconds first; nicknames such as `@daily`) read in `timezone`.
 * Throws an InvalidOptionError naming `timezone` or `cron`, with what was expected and an example.
 */
export function parseCron(cron: string, timezone: string, where = "schedule"): CronSchedule {
  if (!isTimeZone(timezone)) {
    throw new InvalidOptionError(
      "timezone",
      'an IANA time zone such as "Europe/Berlin" or "UTC"',
      timezone,
      where,
      "List them with Intl.supportedValuesOf('timeZone').",
    );
  }
  let parsed: Cron;
  try {
    parsed = new Cron(cron, { timezone, mode: "5-or-6-parts" });
  } catch (error) {
    throw new InvalidOptionError(
      "cron",
      'a cron expression of 5 fields (minute hour day month weekday), or 6 with seconds first, e.g. "0 2 * * *" ' +
        `or "*/5 * * * * *" (${error instanceof Error ? error.message : String(error)})`,
      cron,
      where,
    );
  }
  const nextAfter = (moment: Date): Date | null => parsed.nextRun(moment);
  if (nextAfter(new Date()) === null) {
    throw new InvalidOptionError(
      "cron",
      'a cron expression that fires again, e.g. "0 2 * * *" (02:00 daily)',
      cron,
      where,
      "A date that never comes (such as February 30) never fires.",
    );
  }
  return {
    cron,
    timezone,
    nextAfter,
    latestAtOrBefore: (moment) => {
      // previousRuns is strictly before its reference, to the second: the reference is the next second.
      const reference = new Date(Math.floor(moment.getTime() / 1000) * 1000 + 1000);
      const candidate = parsed.previousRuns(3, reference).find((tick) => tick.getTime() <= moment.getTime());
      return candidate ? walkForward(nextAfter, candidate, moment) : null;
    },
  };
}

/**
 * The tick a schedule due since `seen` fires at `now`: the latest tick at or before now (missed ticks
 * fire once, the latest), never before `seen`; and the first tick after it and after now. Null when
 * the cron never fires again.
 */
export function dueTick(schedule: CronSchedule, seen: Date, now: Date): DueTick | null {
  const latest = schedule.latestAtOrBefore(now);
  const from = latest !== null && latest.getTime() > seen.getTime() ? latest : seen;
  const tick = walkForward(schedule.nextAfter, from, now);
  const next = schedule.nextAfter(new Date(Math.max(now.getTime(), tick.getTime())));
  return next === null ? null : { tick, next };
}

/** From tick `from`, the last tick at or before `moment` found with nextAfter (croner's reference). */
function walkForward(nextAfter: (moment: Date) => Date | null, from: Date, moment: Date): Date {
  let tick = from;
  for (let step = 0; step < MAX_WALK; step++) {
    const next = nextAfter(tick);
    if (next === null || next.getTime() > moment.getTime()) {
      return tick;
    }
    tick = next;
  }
  return tick;
}

function isTimeZone(timezone: string): boolean {
  if (typeof timezone !== "string" || timezone.length === 0) {
    return false;
  }
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: timezone });
    return true;
  } catch {
    // A RangeError is how Intl says the zone is unknown: the caller throws an InvalidOptionError.
    return false;
  }
}
