/** llmStep's prompt: each part cut to its byte budget, the cut said; and reading structured output. */
import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  ALL_DEPENDENCIES_BYTES,
  DEPENDENCY_BYTES,
  cutText,
  stepSystemPrompt,
  stepUserPrompt,
} from "../../src/decomposers/llm/step-prompt.js";
import { outputJsonSchema, readOutput } from "../../src/decomposers/llm/step-output.js";
import type { Task } from "../../src/graph/task-graph.js";

const task = { id: "write", description: "Write it", dependsOn: [] } as unknown as Task;

describe("cutText", () => {
  it("keeps a text within its budget, and cuts a longer one at a character boundary, saying how much", () => {
    expect(cutText("hello", 5)).toBe("hello");
    expect(cutText("hello world", 5)).toBe("hello… [cut: 6 more bytes]");
    // "é" is 2 bytes: a budget of 2 falls inside the second character, which is left out whole.
    expect(cutText("aéb", 2)).toBe("a… [cut: 3 more bytes]");
  });
});

describe("stepUserPrompt", () => {
  it("cuts each dependency to its budget and all of them to theirs", () => {
    const big = "y".repeat(DEPENDENCY_BYTES * 2);
    const deps = Object.fromEntries(["a", "b", "c", "d", "e", "f"].map((id) => [id, big]));
    const prompt = stepUserPrompt({ goal: "g", task, input: null, deps });
    expect(prompt).toContain(`- a: ${"y".repeat(DEPENDENCY_BYTES)}… [cut: ${DEPENDENCY_BYTES} more bytes]`);
    const shown = ALL_DEPENDENCIES_BYTES / DEPENDENCY_BYTES;
    expect(prompt).toContain(`- e: … [cut: ${big.length} more bytes]`);
    expect(prompt.split(`${"y".repeat(DEPENDENCY_BYTES)}…`)).toHaveLength(shown + 1);
    expect(prompt).not.toContain("Input:");
  });

  it("adds the step's instructions to the system prompt", () => {
    expect(stepSystemPrompt("Be brief.", true)).toMatch(/in the JSON schema given\.\n\nBe brief\.$/);
    expect(stepSystemPrompt(undefined, false)).not.toContain("JSON schema");
  });
});

describe("structured output", () => {
  it("wraps a schema that is not an object, and unwraps the answer", () => {
    const output = z.array(z.string());
    const shape = outputJsonSchema(output);
    expect(shape.wrapped).toBe(true);
    expect(shape.jsonSchema).toMatchObject({ type: "object", required: ["result"], additionalProperties: false });
    expect(readOutput('{"result":["a","b"]}', output, shape)).toEqual({ value: ["a", "b"] });
  });

  it("takes a null for an optional property as absent, and lists issues with their paths", () => {
    const output = z.object({ title: z.string(), note: z.string().optional() });
    const shape = outputJsonSchema(output);
    expect(shape.jsonSchema).toMatchObject({ required: ["title", "note"] });
    expect(readOutput({ title: "T", note: null }, output, shape)).toEqual({ value: { title: "T" } });
    expect(readOutput({ title: 3, note: null }, output, shape)).toEqual({
      issues: [expect.stringMatching(/^\$\.title: /)],
    });
    expect(readOutput("not json", output, shape)).toEqual({ issues: [expect.stringMatching(/^\$: not JSON/)] });
  });
});
