/** The LLM decomposer's revision prompt: what it says, and how it cuts large outputs and errors. */
import { describe, expect, it } from "vitest";
import {
  MAX_ERROR_BYTES,
  MAX_OUTPUT_BYTES,
  MAX_OUTPUTS_BYTES,
  completedIds,
  cutToBytes,
  describeError,
  outputLines,
  revisionPrompt,
} from "../../src/decomposers/llm/revision-prompt.js";
import type { PlanRevisionRequest } from "../../src/graph/decomposer.js";

/** A revision of a two-task plan whose second task failed. */
function revision(extra: Partial<PlanRevisionRequest> = {}): PlanRevisionRequest {
  return {
    number: 1,
    reason: "task email failed for good",
    taskId: "email",
    error: { name: "NonRetryableError", message: "SMTP relay refused the recipient" },
    graph: {
      goal: "Email me the weather",
      tasks: [
        { id: "weather", description: "Get the weather", step: "get_weather", input: { location: "Paris" } },
        { id: "email", description: "Email it", step: "send_email", dependsOn: ["weather"] },
      ],
    },
    statuses: { weather: "completed", email: "failed" },
    outputs: { weather: { summary: "sunny" } },
    ...extra,
  };
}

describe("cutToBytes", () => {
  it("leaves text within the budget as it is", () => {
    expect(cutToBytes("hello", 5)).toEqual({ text: "hello", keptBytes: 5 });
  });

  it("cuts at the budget and says how many bytes were left out, with thousands separators", () => {
    expect(cutToBytes("x".repeat(14_345), 2_000)).toEqual({
      text: `${"x".repeat(2_000)}… [cut: 12,345 more bytes]`,
      keptBytes: 2_000,
    });
  });

  it("never cuts inside a UTF-8 character", () => {
    // "é" is two bytes: a budget of 3 keeps one "é" (2 bytes), not half of the second.
    expect(cutToBytes("ééé", 3)).toEqual({ text: "é… [cut: 4 more bytes]", keptBytes: 2 });
    expect(cutToBytes("😀", 3)).toEqual({ text: "… [cut: 4 more bytes]", keptBytes: 0 });
  });
});

describe("outputLines", () => {
  it("shows each completed task's output as JSON, in plan order, and nothing for unfinished tasks", () => {
    expect(outputLines(revision())).toEqual(['- weather: {"summary":"sunny"}']);
    expect(outputLines(revision({ statuses: { weather: "running", email: "failed" } }))).toEqual(["(none)"]);
  });

  it("says when a completed task returned nothing", () => {
    expect(outputLines(revision({ outputs: {} }))).toEqual(["- weather: (no output)"]);
  });

  it("cuts each output to the per-output budget (2 KiB)", () => {
    const big = "a".repeat(5_000);
    const [line] = outputLines(revision({ outputs: { weather: big } }));
    const json = JSON.stringify(big); // 5,002 bytes with its quotes
    expect(line).toBe(`- weather: ${json.slice(0, MAX_OUTPUT_BYTES)}… [cut: 2,954 more bytes]`);
    expect(MAX_OUTPUT_BYTES).toBe(2_048);
  });

  it("bounds all outputs together (16 KiB): past the total, an output shows only its cut marker", () => {
    const tasks = Array.from({ length: 10 }, (_, i) => ({ id: `t${i}`, step: "take_note" }));
    const lines = outputLines({
      graph: { goal: "g", tasks },
      statuses: Object.fromEntries(tasks.map((t) => [t.id, "completed"])),
      outputs: Object.fromEntries(tasks.map((t) => [t.id, "b".repeat(3_000)])),
    });
    expect(lines).toHaveLength(10);
    const kept = lines.map((line) => line.replace(/^- t\d: /, "").replace(/… \[cut: .*$/, "").length);
    // Eight outputs fill the 16 KiB at 2 KiB each; the last two show nothing but where they were cut.
    expect(kept).toEqual([2_048, 2_048, 2_048, 2_048, 2_048, 2_048, 2_048, 2_048, 0, 0]);
    expect(kept.reduce((sum, n) => sum + n, 0)).toBe(MAX_OUTPUTS_BYTES);
    expect(lines[9]).toBe("- t9: … [cut: 3,002 more bytes]");
  });

  it("takes budgets as options", () => {
    const lines = outputLines(
      {
        graph: { goal: "g", tasks: [{ id: "a" }, { id: "b" }] },
        statuses: { a: "completed", b: "completed" },
        outputs: { a: "1234567890", b: "1234567890" },
      },
      { perOutputBytes: 8, totalBytes: 10 },
    );
    expect(lines).toEqual(['- a: "1234567… [cut: 4 more bytes]', '- b: "1… [cut: 10 more bytes]']);
  });
});

describe("describeError", () => {
  it("names a stored error by its name and message, and cuts a long message", () => {
    expect(describeError({ name: "TypeError", message: "boom", stack: "…" })).toBe("TypeError: boom");
    expect(describeError({ message: "no name" })).toBe("no name");
    const long = describeError({ name: "E", message: "m".repeat(10_000) });
    expect(long).toMatch(/^E: m+… \[cut: 7,955 more bytes\]$/);
    expect(long?.replace(/… \[cut.*$/, "")).toHaveLength(MAX_ERROR_BYTES);
  });

  it("writes anything else as JSON, and nothing for no error", () => {
    expect(describeError("timeout")).toBe('"timeout"');
    expect(describeError({ code: 7 })).toBe('{"code":7}');
    expect(describeError(null)).toBeUndefined();
  });
});

describe("revisionPrompt", () => {
  it("holds the goal, the plan with statuses, the outputs, the failure and the rules", () => {
    const prompt = revisionPrompt("Email me the weather", [{ name: "get_weather" }, { name: "send_sms" }], revision());
    expect(prompt).toContain("Goal: Email me the weather");
    expect(prompt).toContain("- send_sms");
    expect(prompt).toContain(
      '- weather [COMPLETED]: Get the weather; step: get_weather; dependsOn: []; input: {"location":"Paris"}',
    );
    expect(prompt).toContain("- email [FAILED]: Email it; step: send_email; dependsOn: [weather]");
    expect(prompt).toContain('- weather: {"summary":"sunny"}');
    expect(prompt).toContain("- task: email");
    expect(prompt).toContain("- error: NonRetryableError: SMTP relay refused the recipient");
    expect(prompt).toContain("- reason: task email failed for good");
    expect(prompt).toContain("needs revision 1");
    expect(prompt).toContain("WHOLE revised plan");
    expect(prompt).toContain("even ones you leave out");
    expect(prompt).toContain("route around the failure");
  });

  it("names a revision asked for without a failed task by its reason alone", () => {
    const prompt = revisionPrompt("g", [], revision({ taskId: null, error: null, reason: "the v1 API is gone" }));
    expect(prompt).not.toContain("- task:");
    expect(prompt).not.toContain("- error:");
    expect(prompt).toContain("- reason: the v1 API is gone");
  });
});

describe("completedIds", () => {
  it("lists the completed tasks only", () => {
    expect(completedIds(revision({ statuses: { a: "completed", b: "running", c: "failed", d: "completed" } }))).toEqual(
      ["a", "d"],
    );
  });
});
