/**
 * The span of each LLM call, with the GenAI semantic conventions, and its tokens counted: through
 * the real OpenAI and Anthropic SDKs against the local LLM test server.
 */
import { SpanKind } from "@opentelemetry/api";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { GOOD_PLAN, PROVIDERS, planned, testDecomposer } from "../helpers/llm-fixtures.js";
import { startLlmServer, type LlmTestServer } from "../helpers/llm-server.js";
import { useOrchestrator } from "../helpers/stores.js";
import { parentOf, registerTestTelemetry, type TestTelemetry } from "../helpers/telemetry.js";

let server: LlmTestServer;
let otel: TestTelemetry;
beforeAll(async () => {
  otel = registerTestTelemetry();
  server = await startLlmServer();
});
afterAll(async () => {
  await server.close();
  await otel.shutdown();
});
beforeEach(() => otel.exporter.reset());

const steps = { get_weather: () => ({ summary: "sunny" }), send_email: () => null };

describe.each(PROVIDERS)("LLM calls of %s", (provider) => {
  const orch = useOrchestrator("postgres", { telemetry: true });

  it("each gets a span under htdag.decompose with the GenAI attributes, and its tokens are counted", async () => {
    // The first answer is invalid (an unknown step): the decomposer re-asks, a second call.
    const invalid = { tasks: [planned("a", "no_such_step")] };
    server.script(
      { plan: invalid, inputTokens: 100, outputTokens: 10 },
      { plan: GOOD_PLAN, inputTokens: 120, outputTokens: 20 },
    );
    await orch().decomposeGoal("Email me the weather in Paris", testDecomposer(server, provider), {
      steps,
      cache: false,
    });
    const spans = otel.spans();
    const decompose = spans.find((s) => s.name === "htdag.decompose")!;
    const calls = spans.filter((s) => s.name.startsWith("chat "));
    expect(calls.map((s) => s.name)).toEqual([`chat ${provider}-test-model`, `chat ${provider}-test-model`]);
    expect(calls.map((s) => s.attributes)).toEqual([
      expect.objectContaining({
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": `${provider}-test-model`,
        "gen_ai.usage.input_tokens": 100,
        "gen_ai.usage.output_tokens": 10,
      }),
      expect.objectContaining({ "gen_ai.usage.input_tokens": 120, "gen_ai.usage.output_tokens": 20 }),
    ]);
    for (const call of calls) {
      expect(call.kind).toBe(SpanKind.CLIENT);
      expect(parentOf(call)).toBe(decompose.spanContext().spanId);
    }
    // The Anthropic SDK traces its own API calls: each such span is a child of htdag's.
    const sdkCalls = spans.filter((s) => s.instrumentationScope.name.startsWith("com.anthropic"));
    expect(sdkCalls.map(parentOf)).toEqual(provider === "anthropic" ? calls.map((c) => c.spanContext().spanId) : []);
    const tokens = (await otel.points("htdag.llm.tokens")).filter(
      (p) => p.attributes["gen_ai.provider.name"] === provider,
    );
    expect(Object.fromEntries(tokens.map((p) => [p.attributes["gen_ai.token.type"], p.value]))).toEqual({
      input: 220,
      output: 30,
    });
  });

  it("records a failed call's error on its span", async () => {
    server.script({ status: 400, body: { error: { type: "invalid_request_error", message: "bad request" } } });
    const failed = await orch()
      .decomposeGoal("Email me the weather in Paris", testDecomposer(server, provider), { steps, cache: false })
      .then(
        () => null,
        (error: unknown) => error,
      );
    expect(failed).toBeInstanceOf(Error);
    const call = otel.spans().find((s) => s.name.startsWith("chat "))!;
    expect(call.attributes["error.type"]).toMatch(/Error$/);
    expect(call.events.map((e) => e.name)).toEqual(["exception"]);
    expect(otel.spans().find((s) => s.name === "htdag.decompose")!.status.code).toBe(2);
  });
});
