/** `htdag validate <file>`: loads a JSON or YAML graph and prints every problem, or a summary. */
import type { Command } from "commander";
import { loadGraphFile } from "../../graph/file.js";
import { GraphValidationError } from "../../errors.js";
import { EXIT, type CliIo } from "../io.js";
import { wholeNumber } from "../arguments.js";

export function registerValidate(program: Command, io: CliIo): void {
  program
    .command("validate")
    .description("check a task graph file (.json, .yaml, .yml); prints every problem and exits 1 if there is one")
    .argument("<file>", "the graph file: goal and tasks")
    .option(
      "--steps <names>",
      "comma-separated step names the graph may use; reports tasks whose step is not among them",
    )
    .option(
      "--max-depth <n>",
      "deepest parent/child nesting allowed",
      wholeNumber("--max-depth", { min: 1, max: 1000, example: 10 }),
    )
    .option("--json", "print the result as JSON")
    .action(async (file: string, flags: { steps?: string; maxDepth?: number; json?: boolean }) => {
      const stepNames = flags.steps
        ?.split(",")
        .map((s) => s.trim())
        .filter(Boolean);
      try {
        const graph = await loadGraphFile(file, {
          ...(stepNames ? { stepNames } : {}),
          ...(flags.maxDepth ? { limits: { maxDepth: flags.maxDepth } } : {}),
        });
        if (flags.json) {
          io.out(JSON.stringify({ valid: true, goal: graph.goal, tasks: graph.tasks.length }));
        } else {
          io.out(`${file}: valid, ${graph.tasks.length} tasks for goal ${JSON.stringify(graph.goal)}`);
        }
      } catch (error) {
        if (!(error instanceof GraphValidationError)) {
          throw error;
        }
        if (flags.json) {
          io.out(JSON.stringify({ valid: false, issues: error.issues }));
        } else {
          io.err(`${file}: ${error.issues.length} problem(s)`);
          for (const issue of error.issues) {
            io.err(`  ${issue.path}: ${issue.message}  [${issue.code}]`);
          }
        }
        io.exitCode = EXIT.failure;
      }
    });
}
