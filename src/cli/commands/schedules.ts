/**
 * `htdag schedules [ls] [--json]`, `htdag schedules add <name> --cron … --workflow … --graph file` and
 * `htdag schedules rm <name>`: recurring runs (docs/waits-and-flow-control.md#schedules), fired by any
 * running worker of their workflow, once per tick across the cluster.
 */
import type { Command } from "commander";
import { loadGraphFile } from "../../graph/file.js";
import type { ScheduleInfo } from "../../orchestrator/schedule-options.js";
import { flagChoice, flagJson } from "../arguments.js";
import { EXIT, type CliIo } from "../io.js";
import { withOrchestrator } from "../session.js";

const OVERLAPS = ["allow", "skip"] as const;

interface AddFlags {
  cron: string;
  timezone?: string;
  workflow: string;
  graph: string;
  input?: string;
  overlap?: string;
}

/** One schedule as a line of `htdag schedules`. */
export function describeSchedule(schedule: ScheduleInfo): string {
  const last = schedule.lastTickAt
    ? `last ${schedule.lastTickAt}${schedule.lastRunId ? ` (run ${schedule.lastRunId})` : " (skipped)"}`
    : "never fired";
  return (
    `${schedule.name}  ${JSON.stringify(schedule.cron)} ${schedule.timezone}  workflow ${schedule.workflow}  ` +
    `overlap ${schedule.overlap}  next ${schedule.nextTickAt}  ${last}`
  );
}

export function registerSchedules(program: Command, io: CliIo): void {
  const list = async (flags: { json?: boolean }) => {
    await withOrchestrator(program, async (orch) => {
      const schedules = await orch.listSchedules();
      if (flags.json) {
        return io.out(JSON.stringify(schedules));
      }
      if (schedules.length === 0) {
        return io.out("no schedules; add one with: htdag schedules add <name> --cron … --workflow … --graph <file>");
      }
      for (const schedule of schedules) {
        io.out(describeSchedule(schedule));
      }
    });
  };
  const schedules = program
    .command("schedules")
    .description("list the schedules (recurring runs); `schedules add` and `schedules rm` change them")
    .option("--json", "print the schedules as a JSON array")
    .action(list);

  schedules
    .command("ls")
    .description("list the schedules, by name")
    .option("--json", "print the schedules as a JSON array")
    // `schedules ls --json`: the parent command takes the flag it also has, so read both.
    .action((flags: { json?: boolean }) => list({ ...schedules.opts<{ json?: boolean }>(), ...flags }));

  schedules
    .command("add")
    .description(
      "store (or replace) a schedule: each tick of --cron starts a run of --graph, by a worker of --workflow",
    )
    .argument("<name>", "the schedule's name; a run a tick starts has idempotency key schedule:<name>:<tick>")
    .requiredOption("--cron <expression>", 'when: 5 fields (minute first, e.g. "0 2 * * *") or 6 (seconds first)')
    .option("--timezone <zone>", "the IANA time zone the cron is read in, e.g. Europe/Berlin (default UTC)")
    .requiredOption("--workflow <name>", "the workflow of the runs: a worker of it runs them")
    .requiredOption("--graph <file>", "the graph each tick runs (.json, .yaml, .yml)")
    .option("--input <json>", "each run's input, as JSON")
    .option("--overlap <mode>", "allow: every tick starts a run; skip: not while the previous run is running", "allow")
    .action(async (name: string, flags: AddFlags) => {
      const overlap = flagChoice("--overlap", flags.overlap ?? "allow", OVERLAPS, "skip");
      const input = flags.input === undefined ? undefined : flagJson("--input", flags.input, '{"region": "eu"}');
      const graph = await loadGraphFile(flags.graph);
      await withOrchestrator(program, async (orch) => {
        const stored = await orch.schedule(name, {
          cron: flags.cron,
          workflow: flags.workflow,
          graph,
          overlap,
          ...(flags.timezone === undefined ? {} : { timezone: flags.timezone }),
          ...(input === undefined ? {} : { input }),
        });
        io.out(`schedule ${stored.name} stored; next tick ${stored.nextTickAt}`);
        io.out(describeSchedule(stored));
      });
    });

  schedules
    .command("rm")
    .description("remove a schedule; runs it started go on")
    .argument("<name>", "the schedule's name, as `htdag schedules` lists it")
    .action(async (name: string) => {
      await withOrchestrator(program, async (orch) => {
        if (await orch.unschedule(name)) {
          return io.out(`schedule ${name} removed`);
        }
        io.err(`htdag: no schedule named ${JSON.stringify(name)}; \`htdag schedules\` lists them`);
        io.exitCode = EXIT.failure;
      });
    });
}
