/**
 * `htdag run --decomposer hybrid|llm` with a key: a goal no rule knows is planned by the model (a
 * local server speaking OpenAI's wire format, driven through the real SDK) with the built-in catalogue.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { planned } from "../helpers/llm-fixtures.js";
import { startLlmServer, type LlmTestServer } from "../helpers/llm-server.js";
import { fixture, htdag } from "./htdag-process.js";

let server: LlmTestServer;

beforeAll(async () => {
  server = await startLlmServer();
});

afterAll(async () => {
  await server.close();
});

describe("htdag run with an LLM", () => {
  it("hybrid: rules do not know the goal, the model plans it with the built-in steps, the run does the work", async () => {
    const dir = fixture("health-repo");
    server.script({
      plan: {
        tasks: [
          planned("scan", "files.scan", [], { input: JSON.stringify({ dir }) }),
          planned("licence", "health.check_docs", ["scan"], {
            input: JSON.stringify({ root: { $from: "scan", path: "root" } }),
          }),
        ],
      },
    });
    const env = { OPENAI_API_KEY: "test-key", OPENAI_BASE_URL: server.openaiBaseURL, HTDAG_PROVIDER: "openai" };
    const { code, stdout, stderr } = await htdag(
      ["run", `which licence does ${dir} use?`, "--decomposer", "hybrid", "--database", "memory://", "--json"],
      { env },
    );
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const request = server.requests.at(-1);
    expect(JSON.stringify(request?.body)).toContain("health.check_docs");
    const lines = stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ type: "plan", workflow: "builtin", graph: { source: "llm" } });
    expect(lines.at(-1)).toMatchObject({
      type: "result",
      status: "completed",
      outputs: { licence: { licence: { file: "LICENSE", kind: "MIT" } } },
    });
  }, 60_000);

  it("llm: free-form tasks of the model's plan are done by the fallback, an llmStep with the same model", async () => {
    const plan = {
      tasks: [
        planned("idea", null, [], { kind: "atomic", description: "Name a colour" }),
        planned("poem", null, ["idea"], { kind: "atomic", description: "Write one line about the colour" }),
      ],
    };
    server.script({ plan }, { text: "Teal" }, { text: "Teal like the sea." });
    const env = { OPENAI_API_KEY: "test-key", OPENAI_BASE_URL: server.openaiBaseURL, HTDAG_PROVIDER: "openai" };
    const { code, stdout, stderr } = await htdag(
      ["run", "write a line of poetry", "--decomposer", "llm", "--model", "m-1", "--database", "memory://", "--json"],
      { env },
    );
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const [planning, idea, poem] = server.requests.slice(-3);
    expect(JSON.stringify(planning?.body)).toContain("free-form tasks allowed");
    expect(idea?.body.model).toBe("m-1");
    expect(JSON.stringify(poem?.body.messages)).toContain('- idea: {\\"text\\":\\"Teal\\"}');
    const result = JSON.parse(stdout.trim().split("\n").at(-1)!) as Record<string, unknown>;
    expect(result).toMatchObject({
      type: "result",
      status: "completed",
      outputs: { poem: { text: "Teal like the sea." } },
    });
  }, 60_000);
});
