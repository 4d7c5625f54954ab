/**
 * `htdag events [--follow] [--run id] [--type t...] [--json] [--limit n]`: prints stored events,
 * one line each, and with `--follow` keeps printing new ones until interrupted.
 * `htdag events prune --older-than 30d`: deletes events older than a duration.
 */
import type { Command } from "commander";
import type { HtdagEvent } from "../../notifications/catalogue.js";
import { formatEventJson, formatEventLine, parseDuration } from "../../notifications/format.js";
import { createNotifications, type Notifications } from "../../notifications/service.js";
import { createOrchestrator } from "../../create-orchestrator.js";
import { flagWholeNumber } from "../arguments.js";
import { resolveStoreOptions } from "../config.js";
import { signalStop, type CliIo } from "../io.js";

interface EventsFlags {
  follow?: boolean;
  run?: string;
  type?: string[];
  json?: boolean;
  limit: string;
  channel?: string;
}

/** Options of `registerEvents`. */
export interface EventsCommandOptions {
  /** Ends `--follow` (tests abort it; the CLI stops on SIGINT or SIGTERM). @default process signals */
  stop?: AbortSignal;
}

export function registerEvents(program: Command, io: CliIo, options: EventsCommandOptions = {}): void {
  const events = program
    .command("events")
    .description("print stored events, one per line (oldest first); --follow keeps printing new ones")
    .option("--follow", "keep printing events as they happen, until interrupted")
    .option("--run <id>", "only events of this run")
    .option("--type <types...>", "only events of these types, e.g. task:failed execution:completed")
    .option("--channel <name>", "LISTEN channel to follow (default: htdag_events)")
    .option("--json", "print one JSON object per line")
    .option("--limit <n>", "how many of the latest stored events to print first", "20")
    .action(async (flags: EventsFlags) => {
      await withNotifications(program, flags.channel, async (notifications) => {
        const print = (event: HtdagEvent) => io.out(flags.json ? formatEventJson(event) : formatEventLine(event));
        const limit = flagWholeNumber("--limit", flags.limit, { min: 0, example: 100 });
        const filter = { ...(flags.run ? { runId: flags.run } : {}), ...(flags.type ? { types: flags.type } : {}) };
        const recent = { ...filter, ...(flags.channel ? { channel: flags.channel } : {}) };
        if (!flags.follow) {
          if (limit > 0) {
            for (const event of await notifications.getRecentEvents({ ...recent, limit })) {
              print(event);
            }
          }
          return;
        }
        await follow(notifications, filter, recent, limit, print, options.stop ?? signalStop());
      });
    });

  events
    .command("prune")
    .description("delete events older than a duration (e.g. 30d, 12h, 15m)")
    .requiredOption("--older-than <duration>", "age of the events to delete: 30d, 12h, 15m, 90s")
    .action(async (flags: { olderThan: string }) => {
      const olderThanMs = parseDuration(flags.olderThan);
      await withNotifications(program, undefined, async (notifications) => {
        const deleted = await notifications.prune({ olderThanMs });
        io.out(`deleted ${deleted} event(s) older than ${flags.olderThan}`);
      });
    });
}

async function withNotifications(
  program: Command,
  channel: string | undefined,
  fn: (n: Notifications) => Promise<void>,
): Promise<void> {
  const orch = await createOrchestrator({ ...(await resolveStoreOptions(program)), ...(channel ? { channel } : {}) });
  const notifications = createNotifications({
    db: orch.db,
    schema: orch.options.schema,
    channel: orch.options.channel,
  });
  try {
    await fn(notifications);
  } finally {
    await notifications.close();
    await orch.close();
  }
}

/**
 * Subscribes first, then prints the latest stored events, then the subscription's events that
 * were not among them: nothing committed in between is lost or printed twice.
 */
async function follow(
  notifications: Notifications,
  filter: { runId?: string; types?: string[] },
  recent: { runId?: string; types?: string[]; channel?: string },
  limit: number,
  print: (event: HtdagEvent) => void,
  stop: AbortSignal,
): Promise<void> {
  const subscription = await notifications.listen(filter);
  // Its failure, if any, is thrown by the close in `finally` (the same promise).
  const onStop = () => void subscription.close().catch(() => undefined);
  stop.addEventListener("abort", onStop, { once: true });
  if (stop.aborted) {
    onStop();
  }
  try {
    const printed = new Set<string>();
    if (limit > 0) {
      for (const event of await notifications.getRecentEvents({ ...recent, limit })) {
        printed.add(event.id);
        print(event);
      }
    }
    for await (const event of subscription) {
      if (!printed.delete(event.id)) {
        print(event);
      }
    }
  } finally {
    stop.removeEventListener("abort", onStop);
    await subscription.close();
  }
}
