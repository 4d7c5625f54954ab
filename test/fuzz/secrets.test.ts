/**
 * Secrets never reach the store, the events, the logs or the output (design.md §12): a planted API
 * key (handed to the LLM decomposer's SDK clients, echoed back by a hostile wire server) and a
 * planted database password (in the URL htdag connects with; trust auth ignores it, htdag still
 * sees it) go through decompositions, failing steps and LLM errors, in this process and in the
 * CLI's; then every stored row of every table, every event, every log line, every error message
 * and everything written to stdout and stderr is searched for both. Zero hits.
 */
import { randomBytes } from "node:crypto";
import { formatWithOptions } from "node:util";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LlmProviderError } from "../../src/decomposers/llm/errors.js";
import { REDACTED } from "../../src/store/redact.js";
import {
  createOrchestrator,
  llmDecomposer,
  NonRetryableError,
  type Orchestrator,
  type Steps,
} from "../../src/index.js";
import { planned } from "../helpers/llm-fixtures.js";
import { startLlmServer, type LlmTestServer, type RecordedRequest, type Scripted } from "../helpers/llm-server.js";
import { createTestDatabase, withAdmin } from "../helpers/postgres.js";
import { htdag } from "../e2e/htdag-process.js";
import { dumpStore } from "./store-dump.js";

const API_KEY = `sk-test-PLANTED${randomBytes(12).toString("hex")}`;
const DB_PASSWORD = `pw-PLANTED-${randomBytes(12).toString("hex")}`;
const ROLE = `htdag_secret_${randomBytes(4).toString("hex")}`;
/** Each secret, and the forms a careless message would quote it in. */
const NEEDLES = [API_KEY, DB_PASSWORD, API_KEY.slice(8), DB_PASSWORD.slice(3), encodeURIComponent(DB_PASSWORD)];

let database: { url: string; drop: () => Promise<void> };
let secretUrl: string;
let llm: LlmTestServer;
let orch: Orchestrator;
/** Everything this process wrote to stdout and stderr while the test ran. */
const captured: string[] = [];
/** Every error message the test saw, thrown or returned. */
const messages: string[] = [];
const restore: (() => void)[] = [];

/** Writes through while keeping a copy. */
function capture(stream: NodeJS.WriteStream): void {
  const write = stream.write.bind(stream);
  stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    captured.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
    return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof stream.write;
  restore.push(() => void (stream.write = write));
}

/** The console too: vitest routes it around process.stdout. */
function captureConsole(): void {
  for (const method of ["log", "info", "warn", "error", "debug"] as const) {
    const original = console[method];
    console[method] = (...args: unknown[]) => {
      captured.push(`${formatWithOptions({ depth: 10 }, ...args)}\n`);
      original(...args);
    };
    restore.push(() => void (console[method] = original));
  }
}

/** The key as a hostile server quotes it back: from the request's own headers. */
function keyOf(request: RecordedRequest): string {
  const header = request.headers["x-api-key"] ?? request.headers.authorization;
  return String(Array.isArray(header) ? header[0] : header);
}

/** Error answers that echo the credentials they were sent, as some proxies and providers do. */
const echo401: Scripted | ((r: RecordedRequest) => Scripted) = (request) => ({
  status: 401,
  body: { error: { message: `Incorrect API key provided: ${keyOf(request)}`, type: "invalid_request_error" } },
});
const echo500 = (request: RecordedRequest): Scripted => ({
  status: 500,
  body: { error: { message: `upstream failed for ${keyOf(request)} (db ${secretUrl})`, type: "server_error" } },
});
const echo400 = (request: RecordedRequest): Scripted => ({
  status: 400,
  body: { error: { message: `model unknown for key ${keyOf(request)}`, type: "invalid_request_error" } },
});

const PLAN = {
  tasks: [
    planned("connect", "connect"),
    planned("call_api", "call_api"),
    planned("configure", "configure"),
    planned("report", "report", ["connect"]),
  ],
};
const CATALOGUE = ["connect", "call_api", "configure", "report"].map((name) => ({
  name,
  description: `Do ${name}`,
}));

/** Steps that fail the way real ones do: quoting the config they were given. */
function leakySteps(): Steps {
  return {
    connect: async (ctx) => {
      ctx.log(`connecting to ${secretUrl}`, { url: secretUrl, password: DB_PASSWORD });
      if (ctx.attempt === 1) {
        throw new Error(`connect ECONNREFUSED: could not reach ${secretUrl}`);
      }
      // Only the known value gives this one away: no pattern would.
      throw new Error(`password ${DB_PASSWORD} was refused`);
    },
    call_api: async () => {
      const client = new OpenAI({ apiKey: API_KEY, baseURL: llm.openaiBaseURL, maxRetries: 0 });
      llm.script(echo401);
      await client.chat.completions.create({ model: "m", messages: [{ role: "user", content: "hi" }] });
      return "unreachable";
    },
    configure: async (ctx) => {
      ctx.log("config", { openai: { apiKey: API_KEY }, database: { connectionString: secretUrl } });
      const config = { apiKey: API_KEY, database: { user: ROLE, password: DB_PASSWORD } };
      throw new NonRetryableError(`invalid config ${JSON.stringify(config)}`);
    },
    report: async () => "done",
  };
}

function openai(options: { client?: boolean } = {}) {
  return llmDecomposer({
    provider: "openai",
    model: "gpt-test",
    maxRetries: 0,
    cache: false,
    ...(options.client
      ? { client: new OpenAI({ apiKey: API_KEY, baseURL: llm.openaiBaseURL, maxRetries: 0 }) }
      : { apiKey: API_KEY, baseURL: llm.openaiBaseURL }),
  });
}

function anthropic() {
  return llmDecomposer({
    provider: "anthropic",
    model: "claude-test",
    maxRetries: 0,
    cache: false,
    client: new Anthropic({ apiKey: API_KEY, baseURL: llm.anthropicBaseURL, maxRetries: 0 }),
  });
}

/** Runs `fn`, keeping the message of whatever it throws. */
async function keepError(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    return await fn();
  } catch (error) {
    messages.push(String((error as Error)?.message ?? error), String(error));
    return error;
  }
}

beforeAll(async () => {
  database = await createTestDatabase();
  await withAdmin((c) => c.query(`CREATE ROLE ${ROLE} LOGIN SUPERUSER PASSWORD '${DB_PASSWORD}'`));
  const url = new URL(database.url);
  url.username = ROLE;
  url.password = DB_PASSWORD;
  secretUrl = url.toString();
  llm = await startLlmServer();
  capture(process.stdout);
  capture(process.stderr);
  captureConsole();
  orch = await createOrchestrator({ database: secretUrl, defaults: { backoff: { kind: "constant", baseMs: 1 } } });
});

afterAll(async () => {
  for (const undo of restore) {
    undo();
  }
  await orch?.close();
  await llm?.close();
  await database?.drop();
  await withAdmin((c) => c.query(`DROP ROLE IF EXISTS ${ROLE}`));
});

/** Every place a secret could land, as text: stored rows, events, error messages, captured output. */
async function haystacks(extra: Record<string, string> = {}): Promise<Record<string, string>> {
  const stored = await dumpStore(orch);
  const events = await orch.notifications.getRecentEvents({ limit: 10_000 });
  return {
    ...Object.fromEntries(Object.entries(stored).map(([table, rows]) => [`table ${table}`, rows.join("\n")])),
    events: JSON.stringify(events),
    "error messages": messages.join("\n"),
    "stdout and stderr": captured.join(""),
    ...extra,
  };
}

/** Where each secret was found, with the text around it. */
function hits(where: Record<string, string>): string[] {
  return Object.entries(where).flatMap(([place, text]) =>
    NEEDLES.filter((needle) => text.includes(needle)).map((needle) => `${place}: ${excerpt(text, needle)}`),
  );
}

describe("planted secrets", () => {
  it(
    "reach no stored row, event, log line, error message or output of this process",
    { timeout: 120_000 },
    async () => {
      console.error("capture check");
      const steps = leakySteps();
      // Decompositions that work, through both SDKs, then runs whose steps fail quoting their config.
      for (const decomposer of [openai(), openai({ client: true }), anthropic()]) {
        llm.script({ plan: PLAN });
        const result = await orch.composeFromGoal("Sync the billing data", decomposer, steps, {
          maxAttempts: 2,
          failFast: false,
        });
        expect(result.status).toBe("failed");
        expect(
          result.tasks
            .filter((t) => t.status === "failed")
            .map((t) => t.id)
            .sort(),
        ).toEqual(["call_api", "configure", "connect"]);
        messages.push(result.error?.message ?? "", ...result.tasks.map((t) => t.error?.message ?? ""));
      }
      // LLM errors that quote the key back: 401, 500, 400, through both SDKs, alone and in a run.
      for (const answer of [echo401, echo500, echo400]) {
        for (const decomposer of [openai(), anthropic()]) {
          llm.script(answer);
          const error = await keepError(() =>
            orch.decomposeGoal("Sync the billing data", decomposer, { catalogue: CATALOGUE }),
          );
          expect(error).toBeInstanceOf(LlmProviderError);
          llm.script(answer);
          expect(
            await keepError(() => orch.composeFromGoal("Sync the billing data", decomposer, steps)),
          ).toBeInstanceOf(LlmProviderError);
        }
      }
      for (const run of await orch.listRuns({ limit: 100 })) {
        messages.push(JSON.stringify(await orch.getRun(run.runId)));
      }
      const where = await haystacks();
      expect(where["stdout and stderr"]).toContain("capture check");
      // Each path ran and was stored, redacted: the steps' errors and logs, the SDK's 401, the providers' echoes.
      expect(where["table attempts"]).toContain(`could not reach postgres://${ROLE}:${REDACTED}@`);
      expect(where["error messages"]).toContain(`Incorrect API key provided: Bearer ${REDACTED}`);
      expect(where["error messages"]).toContain(
        `invalid config {"apiKey":"${REDACTED}","database":{"user":"${ROLE}","password":"${REDACTED}"}}`,
      );
      expect(where["error messages"]).toContain(`password ${REDACTED} was refused`);
      expect(where["table task_logs"]).toContain(`connecting to postgres://${ROLE}:***@`);
      expect(where["table decompositions"]).toMatch(
        /openai API kept failing with 500 after 0 retries: 500 upstream failed for Bearer \*\*\* \(db postgres:\/\/\w+:\*\*\*@/,
      );
      expect(where["table decompositions"]).toMatch(
        /anthropic API rejected the request \(400\): .*model unknown for key (Bearer )?\*\*\*/,
      );
      expect(where.events).toContain("decomposition:failed");
      expect(hits(where)).toEqual([]);
    },
  );

  it("reach nothing the CLI prints or stores (the built CLI: npm run build first)", { timeout: 120_000 }, async () => {
    const env = { OPENAI_API_KEY: API_KEY, OPENAI_BASE_URL: llm.openaiBaseURL, HTDAG_PROVIDER: "openai" };
    const outputs: Record<string, string> = {};
    const cli = async (name: string, args: string[], answer?: (r: RecordedRequest) => Scripted) => {
      llm.setFallback(answer);
      const { code, stdout, stderr } = await htdag(args, { env });
      outputs[`htdag ${name}`] = `${stdout}\n${stderr}`;
      return { code, stderr };
    };
    const goal = ["run", "Sync the billing data", "--decomposer", "llm", "--database", secretUrl, "--verbose"];
    // The SDK retries a 500 twice; retry-after-ms keeps that short.
    const fast = (answer: (r: RecordedRequest) => Scripted) => (r: RecordedRequest) => {
      const scripted = answer(r) as { status: number; body: unknown };
      return { ...scripted, headers: { "retry-after-ms": "1" } };
    };
    const failed500 = await cli("run (500)", goal, fast(echo500));
    expect(failed500.code).toBe(1);
    expect(failed500.stderr).toMatch(/kept failing with 500 after 2 retries: 500 upstream failed for Bearer \*\*\*/);
    const failed401 = await cli("run (401)", goal, echo401 as (r: RecordedRequest) => Scripted);
    expect(failed401.stderr).toMatch(/did not accept the credentials \(it answered 401\)/);
    const unreachable = new URL(secretUrl);
    unreachable.port = "1";
    const down = await cli("runs (unreachable)", ["runs", "--database", unreachable.toString(), "--verbose"]);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain(`${ROLE}:***@127.0.0.1:1`);
    const runId = (await orch.listRuns({ status: "failed", limit: 1 }))[0]!.runId;
    const show = await cli("show", ["show", runId, "--database", secretUrl]);
    expect(show.code).toBe(0);
    llm.setFallback(undefined);
    expect(hits(await haystacks(outputs))).toEqual([]);
  });
});

function excerpt(text: string, needle: string): string {
  const at = text.indexOf(needle);
  return text.slice(Math.max(0, at - 120), at + needle.length + 40);
}
