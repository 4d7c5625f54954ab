/** startWorker: builds a Worker for this orchestrator, with a per-run environment cache. */
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { AttemptEnvironment } from "../composer/attempt.js";
import { isStep } from "../composer/steps.js";
import { Worker, type WorkerOptions } from "../composer/worker.js";
import { InvalidOptionError } from "../errors.js";
import type { Db } from "../store/db.js";
import type { RunQueries } from "../store/runs.js";
import type { TaskQueries } from "../store/tasks.js";
import type { RunService } from "./runs.js";

export interface StartWorkerDeps {
  db: Db;
  tasks: TaskQueries;
  runs: RunQueries;
  runService: RunService;
  leaseMs: number;
  maxOutputBytes: number;
  channel: string | null;
  onError(error: unknown): void;
}

/** Validates the options, starts the worker and returns it. */
export async function startWorker(options: WorkerOptions, deps: StartWorkerDeps): Promise<Worker> {
  checkWorkerOptions(options);
  if (options.queues) {
    await deps.db.transaction((tx) => deps.runs.setQueueLimits(tx, options.queues!));
  }
  const environments = new Map<string, Promise<AttemptEnvironment | null>>();
  const environmentFor = (runId: string, workflow: string): Promise<AttemptEnvironment | null> => {
    const steps = options.workflows[workflow];
    if (!steps) {
      return Promise.resolve(null);
    }
    let env = environments.get(runId);
    if (!env) {
      const decomposer = options.decomposers?.[workflow];
      env = deps.runs.getRun(runId).then((run) => (run ? deps.runService.environment(run, steps, decomposer) : null));
      // Failed lookups are not cached: the next attempt asks again.
      env.catch(() => environments.delete(runId));
      if (environments.size > 1000) {
        environments.delete(environments.keys().next().value!);
      }
      environments.set(runId, env);
    }
    return env;
  };
  const worker = new Worker(
    {
      db: deps.db,
      tasks: deps.tasks,
      leaseMs: deps.leaseMs,
      maxOutputBytes: deps.maxOutputBytes,
      channel: deps.channel,
      environmentFor,
      onError: deps.onError,
      workerId: `${hostname()}:${process.pid}:w-${randomUUID().slice(0, 8)}`,
    },
    options,
  );
  await worker.start();
  return worker;
}

function checkWorkerOptions(options: WorkerOptions): void {
  if (
    !options ||
    typeof options.workflows !== "object" ||
    options.workflows === null ||
    Object.keys(options.workflows).length === 0
  ) {
    throw new InvalidOptionError(
      "workflows",
      "an object of steps by workflow name, e.g. { audit: { scan, report } }",
      options?.workflows,
      "startWorker",
    );
  }
  for (const [workflow, steps] of Object.entries(options.workflows)) {
    for (const [name, step] of Object.entries(steps ?? {})) {
      if (!isStep(step)) {
        throw new InvalidOptionError(
          `workflows.${workflow}.${name}`,
          "a function or a defineStep({...}) result",
          step,
          "startWorker",
        );
      }
    }
  }
  for (const [workflow, decomposer] of Object.entries(options.decomposers ?? {})) {
    const valid =
      typeof decomposer === "function" ||
      (decomposer !== null && typeof decomposer === "object" && typeof decomposer.decompose === "function");
    if (!valid) {
      throw new InvalidOptionError(
        `decomposers.${workflow}`,
        "a decomposer: a function or an object with a decompose method (ruleDecomposer, llmDecomposer…)",
        decomposer,
        "startWorker",
      );
    }
  }
  for (const key of ["concurrency", "batchSize", "pollIntervalMs", "reapIntervalMs", "stopTimeoutMs"] as const) {
    const value = options[key];
    if (value !== undefined && !(Number.isInteger(value) && value >= 1)) {
      throw new InvalidOptionError(key, "a positive integer", value, "startWorker");
    }
  }
}
