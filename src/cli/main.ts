/** The `htdag` command: parses argv with commander and maps flags onto the library's options. */
import { Command, CommanderError } from "commander";
import { HtdagError } from "../errors.js";
import { registerApprove } from "./commands/approve.js";
import { registerBench } from "./commands/bench.js";
import { registerDashboard } from "./commands/dashboard.js";
import { registerEvents } from "./commands/events.js";
import { registerMigrate } from "./commands/migrate.js";
import { registerOptimize } from "./commands/optimize.js";
import { registerPlan } from "./commands/plan.js";
import { registerRun } from "./commands/run.js";
import { registerRuns } from "./commands/runs.js";
import { registerSchedules } from "./commands/schedules.js";
import { registerShow } from "./commands/show.js";
import { registerSignal } from "./commands/signal.js";
import { registerValidate } from "./commands/validate.js";
import { registerWorker } from "./commands/worker.js";
import { EXIT, type CliIo, endWhenStdoutCloses, processIo } from "./io.js";
import { packageVersion } from "./version.js";

/** Builds the command tree; `io` receives all output (tests pass their own). */
export function buildProgram(io: CliIo): Command {
  const program = new Command("htdag")
    .description("Turn goals into hierarchical task graphs and run them durably on PostgreSQL.")
    .version(packageVersion(), "-V, --version", "print htdag's version")
    .option(
      "--database <url>",
      "postgres:// URL, memory://, or pglite:<dir> (env HTDAG_DATABASE_URL or DATABASE_URL; default: embedded PGlite in ./.htdag)",
    )
    .option("--schema <name>", "Postgres schema of htdag's tables (env HTDAG_SCHEMA)", undefined)
    .option("--verbose", "print the stack of an error, not just its one-line message")
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) });
  registerMigrate(program, io);
  registerEvents(program, io);
  registerValidate(program, io);
  registerWorker(program, io);
  registerRun(program, io);
  registerPlan(program, io);
  registerRuns(program, io);
  registerBench(program, io);
  registerOptimize(program, io);
  registerDashboard(program, io);
  registerShow(program, io);
  registerSignal(program, io);
  registerApprove(program, io);
  registerSchedules(program, io);
  return program;
}

/** Runs the CLI and resolves to its exit code (see docs/cli.md for their meaning). */
export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  if (io === processIo) {
    endWhenStdoutCloses();
  }
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv);
    return io.exitCode ?? EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    const verbose = program.opts<{ verbose?: boolean }>().verbose === true;
    if (error instanceof HtdagError) {
      io.err(`htdag: ${error.message}`);
      if (verbose && error.stack) {
        io.err(error.stack);
      }
      return EXIT.failure;
    }
    const detail = error instanceof Error ? (verbose ? (error.stack ?? error.message) : error.message) : String(error);
    io.err(
      `htdag: unexpected error: ${detail}${verbose ? "" : " (run again with --verbose for the stack, and please report it)"}`,
    );
    return EXIT.internal;
  }
}
