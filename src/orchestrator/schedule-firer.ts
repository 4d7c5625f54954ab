/**
 * The firing loop of schedules, one per running worker (docs/waits-and-flow-control.md, "Schedules").
 * A timer wakes it at the earliest next tick (re-read at least every `recheckMs`, so a schedule stored
 * by another process is seen); at a due schedule it pins the tick (begin_schedule_tick), submits the
 * tick's run with the idempotency key `schedule:<name>:<tick ISO>` and advances the schedule past the
 * tick (finish_schedule_tick, which writes `schedule:fired`). Every worker of the cluster may do this
 * for the same tick: the pin makes them fire the same tick, the key makes their submits one run, and
 * the guarded advance writes one event. A worker that dies between the submit and the advance leaves
 * the tick pinned; the next worker submits it again, gets the same run back, and advances.
 */
import { ScheduleFireError } from "../errors.js";
import type { SubmitOptions } from "./runs.js";
import type { TaskGraph } from "../graph/task-graph.js";
import type { DueSchedule, ScheduleQueries } from "../store/schedules.js";
import { dueTick, parseCron } from "./schedule-ticks.js";

/** How often a worker reads the schedules at least, in ms: its `pollIntervalMs` default. */
export const SCHEDULE_RECHECK_MS = 2000;

export interface ScheduleFirerDeps {
  schedules: ScheduleQueries;
  /** The normal submit path (RunService.submit): validates the graph and records the run. */
  submit(graph: TaskGraph, options: SubmitOptions): Promise<{ runId: string }>;
  channel: string | null;
  /** The longest the loop sleeps before reading the schedules again, in ms. */
  recheckMs: number;
  /** Receives a schedule that could not be fired (its tick is tried again later) or a failed read. */
  onError(error: unknown): void;
}

/** Fires due schedules until stopped. */
export class ScheduleFirer {
  private timer: NodeJS.Timeout | undefined;
  private pass: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  /** Schedules whose last firing failed, and the local time (ms) before which they are not tried again. */
  private readonly retryAt = new Map<string, number>();

  constructor(private readonly deps: ScheduleFirerDeps) {}

  /** Starts the loop: a first read at once. */
  start(): void {
    this.wake();
  }

  /** Reads the schedules now (a schedule was stored in this process), or after the pass under way. */
  wake(): void {
    if (this.stopped) {
      return;
    }
    if (this.pass) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.pass = this.firePass()
      .catch((error: unknown) => {
        this.deps.onError(error);
        return this.deps.recheckMs;
      })
      .then((delayMs) => this.sleep(delayMs))
      .finally(() => {
        this.pass = undefined;
        if (this.again) {
          this.again = false;
          this.wake();
        }
      });
  }

  /** Stops the loop and waits for the pass under way (a tick being fired is fired to its end). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.pass;
  }

  private sleep(delayMs: number): void {
    if (this.stopped) {
      return;
    }
    this.timer = setTimeout(() => this.wake(), delayMs);
    this.timer.unref?.();
  }

  /** Fires what is due; returns how long to sleep before the next read. */
  private async firePass(): Promise<number> {
    const { recheckMs } = this.deps;
    let read;
    try {
      const now = Date.now();
      for (const [name, at] of this.retryAt) {
        if (at <= now) {
          this.retryAt.delete(name);
        }
      }
      read = await this.deps.schedules.due([...this.retryAt.keys()]);
    } catch (error) {
      this.deps.onError(error);
      return recheckMs;
    }
    for (const schedule of read.due) {
      if (this.stopped) {
        return recheckMs;
      }
      try {
        await this.fire(schedule, read.now);
      } catch (error) {
        this.retryAt.set(schedule.name, Date.now() + recheckMs);
        this.deps.onError(new ScheduleFireError(schedule.name, error));
      }
    }
    if (read.due.length > 0) {
      // Read again: the schedules advanced (or wait for their retry, left out of the next read), and
      // more may be due than one read returns.
      return 0;
    }
    return this.delayUntilNextTick(read.earliest, read.now);
  }

  /**
   * Until the earliest tick (measured on the database's clock, so a skewed local clock does not move
   * it), the first retry, or the recheck, whichever comes first.
   */
  private delayUntilNextTick(earliest: Date | null, now: Date): number {
    const untilTick = earliest === null ? Infinity : earliest.getTime() - now.getTime() + 1;
    const untilRetry = Math.min(...[...this.retryAt.values()].map((at) => at - Date.now()));
    return Math.max(1, Math.min(this.deps.recheckMs, untilTick, untilRetry));
  }

  /** Fires the due tick of one schedule (or finds another worker did). */
  private async fire(schedule: DueSchedule, now: Date): Promise<void> {
    const { schedules, channel } = this.deps;
    const due = dueTick(parseCron(schedule.cron, schedule.timezone, "a stored schedule"), schedule.next_tick_at, now);
    if (due === null) {
      throw new Error(`its cron ${JSON.stringify(schedule.cron)} never fires again; unschedule it or store it anew`);
    }
    const start = await schedules.beginTick(schedule.name, schedule.next_tick_at, due.tick, due.next, channel);
    if (start.outcome !== "fire") {
      return;
    }
    const { runId } = await this.deps.submit(schedule.graph as TaskGraph, {
      workflow: schedule.workflow,
      ...(schedule.input === null ? {} : { input: schedule.input as never }),
      idempotencyKey: `schedule:${schedule.name}:${start.tick.toISOString()}`,
    });
    await schedules.finishTick(schedule.name, start.tick, due.next, runId, channel);
  }
}
