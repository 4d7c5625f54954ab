/** How the docs test reads fenced blocks: languages, flags, no-run reasons, shell lines, expectations. */
import { describe, expect, it } from "vitest";
import { extractBlocks, shellCommands, tsExpectations } from "./code-blocks.js";

const markdown = [
  "# Title",
  "```ts",
  "console.log(1); // → 1",
  "```",
  "text",
  "```sh embedded",
  "npx htdag runs   # → no runs",
  "htdag show <runId> \\",
  "  --json",
  "# a comment",
  "```",
  "````ts no-run: needs a second machine",
  "```inner```",
  "````",
  "```",
  "plain",
  "```",
].join("\n");

describe("code blocks of the docs", () => {
  it("finds each fence with its line, language, flags and no-run reason", () => {
    const blocks = extractBlocks("x.md", markdown);
    expect(blocks.map(({ line, language, flags, noRun }) => ({ line, language, flags, noRun }))).toEqual([
      { line: 2, language: "ts", flags: [], noRun: undefined },
      { line: 6, language: "sh", flags: ["embedded"], noRun: undefined },
      { line: 12, language: "ts", flags: [], noRun: "needs a second machine" },
      { line: 15, language: "", flags: [], noRun: undefined },
    ]);
    expect(blocks[2]?.code).toBe("```inner```");
  });

  it("turns a shell block into commands, with `npx htdag` as the built CLI and expected output", () => {
    expect(shellCommands(extractBlocks("x.md", markdown)[1]?.code ?? "")).toEqual([
      { command: "htdag runs   # → no runs", expect: "no runs" },
      { command: "htdag show <runId> --json" },
    ]);
  });

  it("reads `// →` expectations of a program", () => {
    expect(tsExpectations("a(); // → one two\nb();\n// → three")).toEqual(["one two", "three"]);
  });
});
