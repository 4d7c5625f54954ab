/**
 * Run listing and control: `htdag runs`, `htdag retry <runId> [--from task]`, `htdag cancel <runId>`,
 * `htdag pause <runId> [--reason r]`. Retry runs the built-in catalogue's steps. (`show` is show.ts.)
 */
import { describeUsage, spentAnything } from "../usage-view.js";
import type { Command } from "commander";
import { RUN_STATUSES } from "../../composer/state-machine.js";
import { LIST_RUNS_MAX_LIMIT } from "../../defaults.js";
import { flagChoice, flagWholeNumber } from "../arguments.js";
import { EXIT, type CliIo } from "../io.js";
import { formatElapsed } from "../progress.js";
import { fallbackSteps, withOrchestrator } from "../session.js";

export function registerRuns(program: Command, io: CliIo): void {
  program
    .command("runs")
    .description("list recent runs, newest first")
    .option("--status <status>", `only runs in this status: ${RUN_STATUSES.join(", ")}`)
    .option("--workflow <name>", "only runs of this workflow")
    .option("--limit <n>", "how many runs", "20")
    .option("--json", "print the runs as a JSON array")
    .action(async (flags: { status?: string; workflow?: string; limit: string; json?: boolean }) => {
      const limit = flagWholeNumber("--limit", flags.limit, { min: 1, max: LIST_RUNS_MAX_LIMIT, example: 50 });
      const status = flags.status === undefined ? undefined : flagChoice("--status", flags.status, RUN_STATUSES);
      await withOrchestrator(program, async (orch) => {
        const runs = await orch.listRuns({
          limit,
          ...(status ? { status } : {}),
          ...(flags.workflow ? { workflow: flags.workflow } : {}),
        });
        if (flags.json) {
          return io.out(
            JSON.stringify(
              runs.map((r) => ({
                id: r.runId,
                workflow: r.workflow,
                goal: r.goal,
                status: r.status,
                totalTasks: r.totalTasks,
                remainingTasks: r.totalTasks - r.finishedTasks,
                failedTasks: r.failedTasks,
                revision: r.revision,
                usage: r.usage,
                createdAt: r.createdAt,
                finishedAt: r.finishedAt,
              })),
            ),
          );
        }
        if (runs.length === 0) {
          return io.out("no runs");
        }
        for (const r of runs) {
          const took = r.finishedAt && r.durationMs !== null ? formatElapsed(r.durationMs) : "-";
          // A revised plan says so; its task counts leave out the tasks revisions superseded.
          const revised = r.revision > 0 ? `  rev ${r.revision}` : "";
          const spent = spentAnything(r.usage) ? `  ${describeUsage(r.usage)}` : "";
          io.out(
            `${r.runId}  ${r.status.padEnd(9)}  ${r.workflow.padEnd(18)}  ${r.finishedTasks}/${r.totalTasks} tasks${revised}${spent}  ` +
              `${took.padStart(6)}  ${r.createdAt.toISOString()}  ${r.goal}`,
          );
        }
      });
    });

  program
    .command("retry")
    .description(
      "re-run a final run's failed and cancelled tasks (or --from a task and what follows) with the built-in steps",
    )
    .argument("<runId>")
    .option("--from <task>", "re-run this task and everything downstream of it")
    .action(async (runId: string, flags: { from?: string }) => {
      await withOrchestrator(program, async (orch, settings) => {
        const result = await orch.retryRun(runId, {
          // The fallback re-runs free-form tasks of an LLM-planned run (docs/cli.md).
          steps: fallbackSteps(settings),
          ...(flags.from ? { fromTask: flags.from } : {}),
        });
        io.out(`run ${runId} ${result.status} in ${formatElapsed(result.durationMs)}`);
        if (result.status !== "completed") {
          io.exitCode = EXIT.failure;
        }
      });
    });

  program
    .command("cancel")
    .description("cancel a run: running steps are aborted, nothing else starts")
    .argument("<runId>")
    .option("--reason <text>", "why, recorded with the run")
    .action(async (runId: string, flags: { reason?: string }) => {
      await withOrchestrator(program, async (orch) => {
        await orch.cancelRun(runId, flags.reason);
        io.out(`run ${runId} cancelled`);
      });
    });

  program
    .command("pause")
    .description("pause a run: running steps finish, nothing new starts until `htdag resume`")
    .argument("<runId>")
    .option("--reason <text>", "why, recorded with the run")
    .action(async (runId: string, flags: { reason?: string }) => {
      await withOrchestrator(program, async (orch) => {
        await orch.pauseRun(runId, flags.reason);
        io.out(`run ${runId} paused`);
      });
    });
}
