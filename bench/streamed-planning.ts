/**
 * Streamed planning benchmark (design.md §11 and §13, docs/living-plans.md): a 10-task plan written
 * by the local LLM server at a fixed token rate, run with `streamPlan: true` against plan-then-run
 * (the same decomposer, the same answer, not streamed), through the real OpenAI and Anthropic SDKs.
 *
 * The plan is two chains of five steps (each step `BENCH_STEP_MS`, 1,000 ms, of work: a tool or
 * model call), written as an LLM writes a plan: in dependency order. The server takes the same time
 * to write the whole answer when it is not streamed (its output tokens at the same rate). Reported per provider, store and mode, as the median of `BENCH_REPEATS` (3):
 * - first step: from the compose call to the first step's start, and where that falls in the
 *   writing of the answer (0 % = the first byte, 100 % = the last);
 * - makespan: from the compose call to the result.
 * Targets: the first step starts before half the plan is written; makespan ≤ 0.7× plan-then-run.
 *
 *   npm run bench:stream          (BENCH_TOKENS_PER_SECOND=80, BENCH_STEP_MS=1000, BENCH_REPEATS=3)
 */
import { setTimeout as sleep } from "node:timers/promises";
import { createOrchestrator, type Orchestrator } from "../src/index.js";
import { planned, testDecomposer } from "../test/helpers/llm-fixtures.js";
import { startLlmServer, type LlmTestServer } from "../test/helpers/llm-server.js";
import { createBenchDatabase } from "./lib/databases.js";
import { median } from "./lib/stats.js";

const TOKENS_PER_SECOND = Number(process.env.BENCH_TOKENS_PER_SECOND ?? 80);
const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);
const STEP_MS = Number(process.env.BENCH_STEP_MS ?? 1000);
const PROVIDERS = ["openai", "anthropic"] as const;
const progress = (message: string) => process.stderr.write(`bench: ${message}\n`);

/** Two chains of five notes: a0 → a1 → … → a4 and b0 → … → b4, written chain by chain, interleaved. */
const PLAN = {
  tasks: [0, 1, 2, 3, 4].flatMap((i) =>
    ["a", "b"].map((chain) =>
      planned(`${chain}${i}`, "take_note", i === 0 ? [] : [`${chain}${i - 1}`], {
        description: `Write note ${i} of chain ${chain}, building on the previous one`,
        input: JSON.stringify({ text: `note ${chain}${i}` }),
      }),
    ),
  ),
};

interface Sample {
  firstStepMs: number;
  /** Where the first step's start fell in the writing of the answer, in % (streamed answers only). */
  firstStepInAnswer: number | null;
  makespanMs: number;
  writingMs: number;
}

async function once(
  orch: Orchestrator,
  server: LlmTestServer,
  provider: (typeof PROVIDERS)[number],
  streamed: boolean,
): Promise<Sample> {
  server.requests.length = 0;
  server.script({ plan: PLAN });
  let firstStart: number | null = null;
  const steps = {
    take_note: async ({ input }: { input: unknown }) => {
      firstStart ??= performance.now();
      await sleep(STEP_MS);
      return { noted: (input as { text: string }).text };
    },
    get_weather: () => ({}),
    send_email: () => ({}),
  };
  const began = performance.now();
  const result = await orch.composeFromGoal(
    `Write two chains of notes (${provider}, ${streamed ? "streamed" : "planned first"}, ${began})`,
    testDecomposer(server, provider, { cache: false }),
    steps,
    { streamPlan: streamed, maxParallel: 10 },
  );
  const makespanMs = performance.now() - began;
  if (result.status !== "completed") {
    throw new Error(`the run ended ${result.status}: ${result.error?.message}`);
  }
  const stream = server.requests[0]?.stream;
  const writingMs = stream?.lastByteAt ? stream.lastByteAt - stream.startedAt : Number.NaN;
  return {
    firstStepMs: firstStart! - began,
    firstStepInAnswer:
      streamed && stream?.lastByteAt
        ? (100 * (firstStart! - stream.startedAt)) / (stream.lastByteAt - stream.startedAt)
        : null,
    makespanMs,
    writingMs,
  };
}

async function measure(orch: Orchestrator, store: string, server: LlmTestServer): Promise<string[]> {
  const rows: string[] = [];
  for (const provider of PROVIDERS) {
    // Warm-up: loads the SDK and prepares the statements.
    await once(orch, server, provider, false);
    const results: Record<"planned" | "streamed", Sample[]> = { planned: [], streamed: [] };
    for (let i = 0; i < REPEATS; i++) {
      results.planned.push(await once(orch, server, provider, false));
      results.streamed.push(await once(orch, server, provider, true));
    }
    const planned = summary(results.planned);
    const streamed = summary(results.streamed);
    progress(`${store} ${provider}: done`);
    rows.push(
      `| ${store} | ${provider} | plan-then-run | ${ms(streamed.writing)} (whole) | ${ms(planned.first)} | – | ${ms(planned.makespan)} | 1.00× |`,
      `| ${store} | ${provider} | streamed | ${ms(streamed.writing)} | ${ms(streamed.first)} | ${streamed.inAnswer.toFixed(0)} % | ${ms(streamed.makespan)} | ${(streamed.makespan / planned.makespan).toFixed(2)}× |`,
    );
  }
  return rows;
}

function summary(samples: Sample[]) {
  return {
    writing: median(samples.map((s) => s.writingMs)),
    first: median(samples.map((s) => s.firstStepMs)),
    inAnswer: median(samples.map((s) => s.firstStepInAnswer ?? Number.NaN)),
    makespan: median(samples.map((s) => s.makespanMs)),
  };
}

const ms = (value: number) => (Number.isNaN(value) ? "–" : `${Math.round(value).toLocaleString("en")} ms`);

const server = await startLlmServer(undefined, { tokensPerSecond: TOKENS_PER_SECOND, wholeAnswersAtRate: true });
const rows: string[] = [];
try {
  const database = await createBenchDatabase();
  try {
    const orch = await createOrchestrator({ database: database.url });
    try {
      rows.push(...(await measure(orch, "postgres", server)));
    } finally {
      await orch.close();
    }
  } finally {
    await database.drop();
  }
  const embedded = await createOrchestrator({ database: "memory://" });
  try {
    rows.push(...(await measure(embedded, "pglite", server)));
  } finally {
    await embedded.close();
  }
} finally {
  await server.close();
}
console.log(
  `Streamed planning: a 10-task plan (two chains of 5 steps of ${STEP_MS} ms) written at ${TOKENS_PER_SECOND} tokens/s, median of ${REPEATS}\n`,
);
console.log(
  "| store | provider | mode | answer written in | first step starts | …at % of the answer | makespan | ÷ plan-then-run |",
);
console.log("|---|---|---|---|---|---|---|---|");
console.log(rows.join("\n"));
