/**
 * Evaluation of re-planning (design.md §13, issue 20) on TaskBench "Daily Life APIs" (dev split): each
 * multi-task gold graph runs as a goal-driven run with the LLM decomposer, through the real SDKs
 * against the local test server, whose first answer is the gold plan. The tool of one task (the middle
 * one in plan order) fails for good (NonRetryableError); when asked for a revision the server answers
 * the gold plan with that task replaced by another catalogue tool that does the job (substitutes.ts),
 * its dependants re-pointed at it. Each goal runs twice, with `replan: { onFailure: true,
 * maxRevisions: 2 }` and without, on one store. Reported: the share of goals completed, revisions and
 * LLM calls per goal, and the proof that no kept task ran twice (step executions counted in the steps,
 * attempts read from the store) and that each revision request quoted the failed task's error.
 *
 * Run: npm run eval:replan [-- --store pglite] [-- --json]
 */
import { pathToFileURL } from "node:url";
import { createOrchestrator } from "../../src/create-orchestrator.js";
import { llmDecomposer } from "../../src/decomposers/llm/decomposer.js";
import type { LlmProvider } from "../../src/decomposers/llm/options.js";
import { promptOf } from "../helpers/llm-fixtures.js";
import { startLlmServer, type RecordedRequest, type Scripted } from "../helpers/llm-server.js";
import { createEmptyDatabase } from "../helpers/postgres.js";
import { loadCatalogue, loadRecords, type TaskBenchRecord } from "./taskbench.js";
import { keptTaskProblems, llmCallsInStore } from "./replan-store.js";
import { catalogueSteps, completedIn, scenarioOf, type Scenario } from "./replan-scenario.js";

export type StoreKind = "postgres" | "pglite";
export type Mode = "replan" | "no replan";

/** What happened to one goal in one mode. */
export interface GoalOutcome {
  id: string;
  mode: Mode;
  provider: LlmProvider;
  tasks: number;
  failedTask: string;
  substitute: string;
  status: string;
  revisions: number;
  /** LLM requests the server received for the run. */
  llmCalls: number;
  /** LLM calls recorded in the decompositions table for the run (first plan and revisions). */
  llmCallsInStore: number;
  /** LLM calls of the revisions, from getRun().revisions[].decomposition. */
  revisionLlmCalls: number;
  stepExecutions: number;
  /** The most executions of one task's step in the run (1: no task ran twice). */
  maxExecutionsPerTask: number;
  /** Tasks completed when the revision was asked for (as the revision request listed them). */
  keptTasks: string[];
  /** Kept tasks whose step ran more than once, or whose attempts in the store are not exactly one completed. */
  keptRanTwice: string[];
  /** Whether every revision request quoted the failed task's error. */
  errorQuoted: boolean;
}

/** Figures of one mode over the goals. */
export interface ModeRow {
  mode: Mode;
  goals: number;
  completed: number;
  completedShare: number;
  revisionsPerGoal: number;
  llmCallsPerGoal: number;
  stepExecutionsPerGoal: number;
  keptTasks: number;
  keptRanTwice: number;
  revisionRequestsQuotingError: number;
}

export interface ReplanReport {
  store: StoreKind;
  rows: ModeRow[];
  goals: GoalOutcome[];
  /** Every broken promise: a kept task run twice, a request that did not quote the error, counts that disagree. */
  violations: string[];
}

export interface ReplanEvalOptions {
  /** @default every record of the dev split with two tasks or more */
  records?: TaskBenchRecord[];
  /** @default "postgres" (a fresh database on the test server, dropped at the end) */
  store?: StoreKind;
  /** The Postgres database to use instead of a fresh one. @default none */
  database?: string;
  /** Providers, taken in turn goal by goal. @default ["openai", "anthropic"] */
  providers?: LlmProvider[];
}

/** The multi-task records of the dev split. */
export function multiTaskRecords(): TaskBenchRecord[] {
  return loadRecords().filter((record) => record.nodes.length >= 2);
}

/** Runs every goal with and without re-planning and reports the figures. */
export async function evaluateReplanning(options: ReplanEvalOptions = {}): Promise<ReplanReport> {
  const records = options.records ?? multiTaskRecords();
  const providers = options.providers ?? ["openai", "anthropic"];
  const store = options.store ?? "postgres";
  const catalogue = loadCatalogue();
  const server = await startLlmServer();
  let scenario: Scenario | undefined;
  server.setFallback((request: RecordedRequest): Scripted => {
    const prompt = promptOf(request);
    if (!scenario) {
      return { status: 500, body: { error: { message: "no goal is being run" } } };
    }
    if (prompt.includes("needs revision")) {
      scenario.revisionPrompts.push(prompt);
      return { plan: scenario.revised };
    }
    return { plan: scenario.gold };
  });
  const created = store === "postgres" && !options.database ? await createEmptyDatabase() : undefined;
  const database = store === "pglite" ? "memory://" : (options.database ?? created!.url);
  const executions = new Map<string, number>();
  const orch = await createOrchestrator({ database });
  const steps = catalogueSteps(catalogue, executions, () => scenario);
  const goals: GoalOutcome[] = [];
  try {
    const decomposers = new Map(
      providers.map((provider) => [
        provider,
        llmDecomposer({
          provider,
          model: "eval",
          apiKey: "eval-key",
          maxRetries: 0,
          cache: false,
          baseURL: provider === "openai" ? server.openaiBaseURL : server.anthropicBaseURL,
        }),
      ]),
    );
    for (const [index, record] of records.entries()) {
      const provider = providers[index % providers.length] as LlmProvider;
      for (const mode of ["replan", "no replan"] as const) {
        scenario = scenarioOf(record);
        const requestsBefore = server.requests.length;
        const lastDecomposition = await llmCallsInStore(orch, record.user_request, null);
        const result = await orch.composeFromGoal(record.user_request, decomposers.get(provider)!, steps, {
          decompose: { cache: false, catalogue },
          ...(mode === "replan" ? { replan: { onFailure: true, maxRevisions: 2 } } : {}),
        });
        const run = await orch.getRun(result.runId);
        const runExecutions = [...executions.entries()]
          .filter(([key]) => key.startsWith(`${result.runId}/`))
          .map(([, count]) => count);
        const keptTasks = scenario.revisionPrompts.flatMap(completedIn);
        const ranTwice = [
          ...keptTasks.filter((task) => executions.get(`${result.runId}/${task}`) !== 1),
          ...(await keptTaskProblems(orch, result.runId, keptTasks, run.revisions[0]?.at)),
        ];
        goals.push({
          id: record.id,
          mode,
          provider,
          tasks: record.nodes.length,
          failedTask: scenario.failedTask,
          substitute: scenario.substitute,
          status: run.status,
          revisions: run.revisions.length,
          llmCalls: server.requests.length - requestsBefore,
          llmCallsInStore: (await llmCallsInStore(orch, record.user_request, lastDecomposition.lastId)).calls,
          revisionLlmCalls: run.revisions.reduce((sum, r) => sum + Number(r.decomposition.llmCalls ?? 0), 0),
          stepExecutions: runExecutions.reduce((sum, count) => sum + count, 0),
          maxExecutionsPerTask: Math.max(0, ...runExecutions),
          keptTasks,
          keptRanTwice: [...new Set(ranTwice)],
          errorQuoted: scenario.revisionPrompts.every(
            (prompt) =>
              prompt.includes(`- task: ${scenario!.failedTask}`) &&
              prompt.includes(`- error: NonRetryableError: ${scenario!.error}`),
          ),
        });
      }
    }
  } finally {
    scenario = undefined;
    await orch.close();
    await server.close();
    await created?.drop();
  }
  return {
    store,
    rows: (["replan", "no replan"] as const).map((m) => summarise(m, goals)),
    goals,
    violations: violationsOf(goals),
  };
}

function summarise(mode: Mode, all: GoalOutcome[]): ModeRow {
  const goals = all.filter((g) => g.mode === mode);
  const perGoal = (value: (g: GoalOutcome) => number) =>
    goals.reduce((sum, g) => sum + value(g), 0) / Math.max(1, goals.length);
  const completed = goals.filter((g) => g.status === "completed").length;
  return {
    mode,
    goals: goals.length,
    completed,
    completedShare: completed / Math.max(1, goals.length),
    revisionsPerGoal: perGoal((g) => g.revisions),
    llmCallsPerGoal: perGoal((g) => g.llmCalls),
    stepExecutionsPerGoal: perGoal((g) => g.stepExecutions),
    keptTasks: goals.reduce((sum, g) => sum + g.keptTasks.length, 0),
    keptRanTwice: goals.reduce((sum, g) => sum + g.keptRanTwice.length, 0),
    revisionRequestsQuotingError: goals.filter((g) => g.revisions > 0 && g.errorQuoted).length,
  };
}

/** What the harness asserts of every goal. */
function violationsOf(goals: GoalOutcome[]): string[] {
  return goals.flatMap((g) => {
    const where = `${g.id} (${g.mode}, ${g.provider})`;
    const problems: string[] = [];
    if (g.keptRanTwice.length > 0) {
      problems.push(`${where}: kept tasks ran again: ${g.keptRanTwice.join(", ")}`);
    }
    if (g.maxExecutionsPerTask > 1) {
      problems.push(`${where}: a task's step ran ${g.maxExecutionsPerTask} times`);
    }
    if (!g.errorQuoted) {
      problems.push(`${where}: a revision request did not quote the error of ${g.failedTask}`);
    }
    if (g.llmCalls !== g.llmCallsInStore || g.llmCalls !== 1 + g.revisionLlmCalls) {
      problems.push(
        `${where}: LLM calls disagree: server ${g.llmCalls}, decompositions table ${g.llmCallsInStore}, ` +
          `1 + revisions ${1 + g.revisionLlmCalls}`,
      );
    }
    return problems;
  });
}

/** The report as a table. */
export function formatReport(report: ReplanReport): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const header = [
    "mode",
    "goals",
    "completed",
    "revisions/goal",
    "LLM calls/goal",
    "steps run/goal",
    "kept tasks",
    "kept ran twice",
    "error quoted",
  ];
  const lines = report.rows.map((r) => [
    r.mode,
    String(r.goals),
    `${r.completed} (${pct(r.completedShare)})`,
    r.revisionsPerGoal.toFixed(2),
    r.llmCallsPerGoal.toFixed(2),
    r.stepExecutionsPerGoal.toFixed(2),
    String(r.keptTasks),
    String(r.keptRanTwice),
    r.mode === "replan" ? `${r.revisionRequestsQuotingError}/${r.goals}` : "-",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const row = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  const replanned = report.goals.filter((g) => g.mode === "replan");
  const failedTools = new Set(replanned.map((g) => g.failedTask));
  const withKept = replanned.filter((g) => g.keptTasks.length > 0).length;
  return [
    `store: ${report.store}; ${report.rows[0]?.goals ?? 0} multi-task goals of the TaskBench dailylife dev split`,
    row(header),
    row(widths.map((w) => "-".repeat(w))),
    ...lines.map(row),
    "",
    `${failedTools.size} distinct tools failed, each replaced by its substitute; ` +
      `${withKept}/${replanned.length} revisions kept at least one completed task; ` +
      `violations: ${report.violations.length}`,
    ...report.violations.map((v) => `  ${v}`),
  ].join("\n");
}

/** Parses `--store pglite|postgres` and `--json`. */
function cliOptions(argv: string[]): { store: StoreKind; json: boolean } {
  const at = argv.indexOf("--store");
  const store = at >= 0 ? argv[at + 1] : "postgres";
  if (store !== "postgres" && store !== "pglite") {
    throw new Error(`--store takes postgres or pglite, not ${JSON.stringify(store)}`);
  }
  return { store, json: argv.includes("--json") };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { store, json } = cliOptions(process.argv.slice(2));
  const started = performance.now();
  const report = await evaluateReplanning({ store });
  console.log(formatReport(report));
  console.log(`(${((performance.now() - started) / 1000).toFixed(1)} s)`);
  console.log(
    JSON.stringify(json ? report : { store: report.store, rows: report.rows, violations: report.violations }, null, 2),
  );
  process.exitCode = report.violations.length === 0 ? 0 : 1;
}
