import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, expectTypeOf, it } from "vitest";
import { z } from "zod";
import { BenchDatabaseError } from "../../src/bench/databases.js";
import { MissingApiKeyError } from "../../src/cli/session.js";
import {
  DashboardListenError,
  DashboardNotBuiltError,
  DashboardRequestError,
  DashboardTokenRequiredError,
} from "../../src/dashboard/errors.js";
import { LlmProviderError, LlmRefusalError } from "../../src/decomposers/llm/errors.js";
import { RulesFileError } from "../../src/decomposers/rules-file.js";
import { RuleMatchTimeoutError } from "../../src/decomposers/rule-safety.js";
import {
  DatabaseConnectionError,
  DecompositionError,
  GraphValidationError,
  HTDAG_ERROR_CODES,
  HtdagError,
  IllegalTransitionError,
  InvalidOptionError,
  LeaseExpiredError,
  MigrationError,
  MigrationMismatchError,
  NonJsonOutputError,
  NonRetryableError,
  ReplanError,
  OutputTooLargeError,
  RunNotFoundError,
  SeedLoadError,
  SignalError,
  SignalTimeoutError,
  StepTimeoutError,
  UnstorableOutputError,
  WaitTimeoutError,
  type HtdagErrorCode,
} from "../../src/errors.js";
import { loadGraphFile } from "../../src/graph/file.js";
import * as api from "../../src/index.js";
import {
  CatchUpError,
  EventHandlerError,
  InvalidEventError,
  ListenConnectionError,
} from "../../src/notifications/errors.js";

const cause = new Error("boom");
const issue = { code: "cycle", path: "tasks[0]", message: "a depends on itself" };

/** One instance of every concrete error class, with the code it must carry. */
const EXAMPLES: [HtdagError, HtdagErrorCode][] = [
  [new GraphValidationError([issue]), "GRAPH_INVALID"],
  [new DecompositionError("goal", "no rule matched"), "DECOMPOSITION_FAILED"],
  [new NonRetryableError("bad configuration"), "NON_RETRYABLE"],
  [new NonRetryableError("bad configuration", { cause }), "NON_RETRYABLE"],
  [new InvalidOptionError("maxAttempts", "an integer", 0, "test"), "INVALID_OPTION"],
  [new RunNotFoundError("r1"), "RUN_NOT_FOUND"],
  [new IllegalTransitionError("run", "r1", "completed", "running"), "ILLEGAL_TRANSITION"],
  [new DatabaseConnectionError("postgres://127.0.0.1:1/x", "refused", { cause }), "DATABASE_UNREACHABLE"],
  [new MigrationError("0001_baseline.sql", { cause }), "MIGRATION_FAILED"],
  [new MigrationMismatchError("0001_a.sql was edited", "Restore it."), "MIGRATION_MISMATCH"],
  [new SeedLoadError("dist/store/pglite-seed/data.tar.gz", { cause }), "SEED_LOAD_FAILED"],
  [new NonJsonOutputError("a", "a function"), "NON_JSON_OUTPUT"],
  [new UnstorableOutputError("a", "a NUL character (\\u0000) at output"), "UNSTORABLE_OUTPUT"],
  [new OutputTooLargeError("a", 2048, 1024), "OUTPUT_TOO_LARGE"],
  [new StepTimeoutError("a", 10), "STEP_TIMEOUT"],
  [new WaitTimeoutError("r1", "running", 10), "WAIT_TIMEOUT"],
  [new LeaseExpiredError("w1", { runId: "r1", taskId: "a", attempt: 1 }, 65), "LEASE_EXPIRED"],
  [new RulesFileError("rules.yaml", ["rules.0.match: missing"]), "RULES_FILE_INVALID"],
  [new RuleMatchTimeoutError("weather", "/(a+)+$/", 31, 100), "RULE_MATCH_TIMEOUT"],
  [new LlmProviderError("goal", "openai", "rate_limit", "429", { status: 429, cause }), "LLM_PROVIDER_ERROR"],
  [new LlmRefusalError("goal", "I cannot help with that"), "LLM_REFUSED"],
  [new InvalidEventError({ id: 1, type: "x" }, new z.ZodError([])), "EVENT_INVALID"],
  [new EventHandlerError("handler", { id: "1", type: "run:created" }, cause), "EVENT_HANDLER_FAILED"],
  [new ListenConnectionError("htdag_events", cause), "LISTEN_CONNECTION_LOST"],
  [new CatchUpError("htdag_events", cause), "EVENT_CATCH_UP_FAILED"],
  [new DashboardTokenRequiredError("0.0.0.0"), "DASHBOARD_TOKEN_REQUIRED"],
  [new DashboardNotBuiltError(["/nowhere"]), "DASHBOARD_NOT_BUILT"],
  [new DashboardListenError("127.0.0.1", 80, cause), "DASHBOARD_LISTEN_FAILED"],
  [new DashboardRequestError(404, "NOT_FOUND", "no route"), "NOT_FOUND"],
  [new BenchDatabaseError("cannot create", { cause }), "BENCH_DATABASE"],
  [new MissingApiKeyError("llm", "openai", "OPENAI_API_KEY"), "MISSING_API_KEY"],
  [new ReplanError("the v1 API is gone"), "REPLAN_REQUESTED"],
  [new SignalError("r1", "approval", "the run is completed"), "SIGNAL_NOT_AWAITED"],
  [new SignalTimeoutError("approve", "approval", 100), "SIGNAL_TIMEOUT"],
];

describe("error codes", () => {
  it.each(EXAMPLES.map(([error, code]) => [error.constructor.name, error, code] as const))(
    "%s carries %s, a listed code",
    (_name, error, code) => {
      expect(error).toBeInstanceOf(HtdagError);
      expect(error.code).toBe(code);
      expect(HTDAG_ERROR_CODES).toContain(error.code);
      expect(error.name).toBe(error.constructor.name);
    },
  );

  it("reads a graph file that cannot be read as GRAPH_FILE_UNREADABLE", async () => {
    const error = await loadGraphFile("/nonexistent/graph.json").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HtdagError);
    expect((error as HtdagError).code).toBe("GRAPH_FILE_UNREADABLE");
  });

  it("subclasses keep their parent's class and their own code, as an own data property", () => {
    const json = new NonJsonOutputError("a", "a function");
    expect(json).toBeInstanceOf(NonRetryableError);
    expect(Object.getOwnPropertyDescriptor(json, "code")).toMatchObject({ value: "NON_JSON_OUTPUT" });
    const refusal = new LlmRefusalError("goal", "no");
    expect(refusal).toBeInstanceOf(DecompositionError);
    expect(refusal.goal).toBe("goal");
    expect(new NonRetryableError("x", { cause }).cause).toBe(cause);
  });

  it("lists each code once, and exactly the codes that src/ throws", async () => {
    expect(new Set(HTDAG_ERROR_CODES).size).toBe(HTDAG_ERROR_CODES.length);
    expect([...(await codesInSource())].sort()).toEqual([...HTDAG_ERROR_CODES].sort());
  });

  it("types `code` as HtdagErrorCode, and exports the list and the type", () => {
    expectTypeOf<HtdagError["code"]>().toEqualTypeOf<HtdagErrorCode>();
    expectTypeOf<NonJsonOutputError["code"]>().toEqualTypeOf<HtdagErrorCode>();
    expectTypeOf<HtdagErrorCode>().toEqualTypeOf<(typeof HTDAG_ERROR_CODES)[number]>();
    expectTypeOf<api.HtdagErrorCode>().toEqualTypeOf<HtdagErrorCode>();
    expect(api.HTDAG_ERROR_CODES).toBe(HTDAG_ERROR_CODES);
    // @ts-expect-error a code outside the list does not compile
    new HtdagError("NOT_A_CODE", "message");
  });
});

/** Every code literal in src/: `super("CODE"`, `new HtdagError("CODE"`, `new DashboardRequestError(404, "CODE"`. */
async function codesInSource(): Promise<Set<string>> {
  const root = fileURLToPath(new URL("../../src", import.meta.url));
  const files = (await readdir(root, { recursive: true })).filter((file) => file.endsWith(".ts"));
  // A code comes first (after a status for DashboardRequestError), or last after the options, or
  // as the default of a `code` parameter.
  const pattern =
    /(?:super|new HtdagError|new DashboardRequestError)\(\s*(?:\d+,\s*)?"([A-Z][A-Z_]+)"|(?:undefined|\}|HtdagErrorCode =)\s*,?\s*"([A-Z][A-Z_]+)"(?:,?\s*\)|\s*\)\s*\{)/g;
  const codes = new Set<string>();
  for (const file of files) {
    const text = await readFile(join(root, file), "utf8");
    for (const match of text.matchAll(pattern)) {
      codes.add((match[1] ?? match[2]) as string);
    }
  }
  return codes;
}
