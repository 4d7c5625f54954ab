/**
 * `htdag approve <runId> [--graph file]` and `htdag approve <runId> --reject <reason>`: a person's
 * answer to a run whose plan awaits approval (`approvePlan: true`, docs/waits-and-flow-control.md). Approving
 * starts the run, with the plan as recorded or with an edited graph file (JSON or YAML, validated as
 * `htdag validate` does); rejecting cancels it with the reason.
 */
import type { Command } from "commander";
import { loadGraphFile } from "../../graph/file.js";
import type { CliIo } from "../io.js";
import { withOrchestrator } from "../session.js";

interface ApproveFlags {
  graph?: string;
  reject?: string;
}

export function registerApprove(program: Command, io: CliIo): void {
  program
    .command("approve")
    .description("approve the plan of a run awaiting approval (it starts), with --graph an edited plan; or --reject it")
    .argument("<runId>", "the run's id; `htdag runs --status awaiting_approval` lists them")
    .option("--graph <file>", "run this graph (.json, .yaml, .yml) instead of the recorded plan, e.g. an edited copy")
    .option("--reject <reason>", "reject the plan instead: the run ends cancelled, with this reason")
    .addHelpText(
      "after",
      "\nThe recorded plan: `htdag show <runId> --json`. Edit a copy, then `htdag approve <runId> --graph plan.yaml`.",
    )
    .action(async (runId: string, flags: ApproveFlags) => {
      if (flags.reject !== undefined && flags.graph !== undefined) {
        program.error("htdag: approve takes --graph or --reject, not both", { exitCode: 2 });
      }
      // The file is read and validated before the store is opened: a broken edit costs nothing.
      const graph = flags.graph === undefined ? undefined : await loadGraphFile(flags.graph);
      await withOrchestrator(program, async (orch) => {
        if (flags.reject !== undefined) {
          await orch.rejectPlan(runId, flags.reject);
          return io.out(`run ${runId} rejected (cancelled): ${flags.reject}`);
        }
        await orch.approvePlan(runId, graph ? { graph } : {});
        io.out(
          graph
            ? `run ${runId} approved with the plan in ${flags.graph} (${graph.tasks.length} tasks); it runs now`
            : `run ${runId} approved; it runs now`,
        );
      });
    });
}
