/**
 * `htdag worker --workflows ./workflows.js`: runs a worker until SIGINT/SIGTERM (graceful stop).
 * `htdag resume <runId> --workflows ./workflows.js`: resumes a paused run, or finishes a run whose
 * process died, by running a worker until that run is final.
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Command } from "commander";
import { createOrchestrator } from "../../create-orchestrator.js";
import type { Orchestrator } from "../../orchestrator/orchestrator.js";
import type { Steps } from "../../composer/steps.js";
import type { Decomposer } from "../../graph/decomposer.js";
import { InvalidOptionError } from "../../errors.js";
import { builtinWorkflows } from "../catalogue/index.js";
import { resolveStoreOptions } from "../config.js";
import { fallbackSteps } from "../session.js";
import { resolveSettings } from "../settings.js";
import { EXIT, type CliIo } from "../io.js";
import { wholeNumber } from "../arguments.js";

interface WorkerFlags {
  workflows?: string;
  concurrency?: number;
  pollInterval?: number;
  leaseMs?: number;
}

/** What a workflows module gives a worker. */
export interface WorkflowsModule {
  workflows: Record<string, Steps>;
  /** Its `decomposers` export: the decomposer of each workflow with lazy composites. */
  decomposers?: Record<string, Decomposer>;
}

/**
 * Loads a module whose default export (or `workflows` export) maps workflow names to steps, and
 * whose optional `decomposers` export maps workflow names to their decomposers.
 */
export async function loadWorkflows(path: string): Promise<WorkflowsModule> {
  let module: { default?: unknown; workflows?: unknown; decomposers?: unknown };
  try {
    module = (await import(pathToFileURL(resolve(path)).href)) as typeof module;
  } catch (error) {
    throw new InvalidOptionError(
      "--workflows",
      `an ES module (.js or .mjs) that can be imported (${(error as Error)?.message ?? String(error)})`,
      path,
    );
  }
  const workflows = module.workflows ?? module.default;
  if (!workflows || typeof workflows !== "object") {
    throw new InvalidOptionError(
      "--workflows",
      "a module exporting { workflowName: { stepName: fn } } as default or `workflows`",
      workflows,
    );
  }
  if (module.decomposers !== undefined && (module.decomposers === null || typeof module.decomposers !== "object")) {
    throw new InvalidOptionError(
      "decomposers",
      "an object of decomposers by workflow name, exported by the --workflows module",
      module.decomposers,
    );
  }
  return {
    workflows: workflows as Record<string, Steps>,
    ...(module.decomposers ? { decomposers: module.decomposers as Record<string, Decomposer> } : {}),
  };
}

function workerOptions(command: Command, workflowsRequired = true): Command {
  const workflows =
    "ES module exporting { workflowName: steps } (default export or `workflows`), and optionally " +
    "`decomposers` ({ workflowName: decomposer }) for lazy composites";
  return (
    workflowsRequired
      ? command.requiredOption("--workflows <module>", workflows)
      : command.option("--workflows <module>", `${workflows}; default: the built-in catalogue of \`htdag run\``)
  )
    .option("--concurrency <n>", "tasks run at once", wholeNumber("--concurrency", { min: 1, max: 10_000, example: 4 }))
    .option(
      "--poll-interval <ms>",
      "fallback poll when no NOTIFY arrives",
      wholeNumber("--poll-interval", { min: 1, max: 86_400_000, example: 1000 }),
    )
    .option(
      "--lease-ms <ms>",
      "lease of a claimed task; renewed every third",
      wholeNumber("--lease-ms", { min: 1000, max: 86_400_000, example: 30_000 }),
    );
}

async function open(program: Command, flags: WorkerFlags): Promise<Orchestrator> {
  return createOrchestrator({
    ...(await resolveStoreOptions(program)),
    ...(flags.leaseMs ? { leaseMs: flags.leaseMs } : {}),
  });
}

export function registerWorker(program: Command, io: CliIo): void {
  workerOptions(
    program.command("worker").description("run a worker for the given workflows until SIGINT or SIGTERM"),
  ).action(async (flags: WorkerFlags) => {
    const { workflows, decomposers } = await loadWorkflows(flags.workflows ?? "");
    const orch = await open(program, flags);
    let worker: Awaited<ReturnType<Orchestrator["startWorker"]>>;
    try {
      worker = await orch.startWorker({
        workflows,
        ...(decomposers ? { decomposers } : {}),
        ...(flags.concurrency ? { concurrency: flags.concurrency } : {}),
        ...(flags.pollInterval ? { pollIntervalMs: flags.pollInterval } : {}),
      });
    } catch (error) {
      // Closed, or the pool would keep the process alive after the error is printed.
      await orch.close();
      throw error;
    }
    io.out(`worker ${worker.id} running ${Object.keys(workflows).join(", ")} on ${orch.db.target}`);
    await new Promise<void>((done) => {
      const stop = (signal: string) => {
        io.out(`${signal}: stopping gracefully (running steps finish, the rest is handed back)`);
        void worker
          .stop()
          .then(() => orch.close())
          .then(done);
      };
      process.once("SIGINT", () => stop("SIGINT"));
      process.once("SIGTERM", () => stop("SIGTERM"));
    });
  });

  workerOptions(
    program
      .command("resume")
      .description("resume a paused run, or finish a run whose process died")
      .argument("<runId>"),
    false,
  ).action(async (runId: string, flags: WorkerFlags) => {
    const { workflows, decomposers } = flags.workflows
      ? await loadWorkflows(flags.workflows)
      : // The fallback finishes free-form tasks of an LLM-planned run (docs/cli.md).
        { workflows: builtinWorkflows(fallbackSteps(await resolveSettings(program.opts()))), decomposers: undefined };
    const orch = await open(program, flags);
    try {
      const run = await orch.getRun(runId);
      if (run.status === "paused") {
        await orch.resumeRun(runId);
      }
      const worker = await orch.startWorker({
        workflows,
        ...(decomposers ? { decomposers } : {}),
        ...(flags.concurrency ? { concurrency: flags.concurrency } : {}),
      });
      const result = await orch.waitForRun(runId);
      await worker.stop();
      io.out(`run ${runId} ${result.status} in ${result.durationMs} ms`);
      if (result.status !== "completed") {
        io.exitCode = EXIT.failure;
      }
    } finally {
      await orch.close();
    }
  });
}
