/**
 * The incremental reader of a streamed plan: each element of `tasks` is handed over once, in
 * order, as soon as it closes, whatever the split of the text into pieces.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { taskStream } from "../../src/decomposers/llm/task-stream.js";

/** Feeds `pieces` in order; returns the tasks handed over after each piece. */
function feed(pieces: readonly string[]): { handed: unknown[][]; broken: boolean } {
  const tasks: unknown[] = [];
  const stream = taskStream((task, index) => {
    expect(index).toBe(tasks.length);
    tasks.push(task);
  });
  const handed = pieces.map((piece) => {
    stream.write(piece);
    return [...tasks];
  });
  return { handed, broken: stream.broken };
}

/** `text` cut at `cuts` (positions in UTF-16 code units, any of them). */
function split(text: string, cuts: readonly number[]): string[] {
  const points = [...new Set([0, ...cuts.map((c) => c % (text.length + 1)), text.length])].sort((a, b) => a - b);
  return points.slice(1).map((end, i) => text.slice(points[i], end));
}

const TRICKY = {
  tasks: [
    { id: "a", input: '{"text": "a } ] \\" quote", "n": [1, {"deep": [[], {}]}]}', dependsOn: [] },
    { id: 'b"}]', description: "ünïcode ✓ 😀 \\ \n \t \u0001", input: { nested: { tasks: [{ id: "no" }] } } },
    { id: "c", dependsOn: ["a", 'b"}]'], extra: [null, true, false, -1.5e3, 0] },
  ],
  tail: { tasks: ["not", "top-level"] },
};

describe("taskStream", () => {
  it("hands over a task when its closing brace arrives, not before", () => {
    const text = JSON.stringify({ tasks: [{ id: "a" }, { id: "b" }] });
    const close = text.indexOf("}") + 1;
    const { handed } = feed([text.slice(0, close - 1), text.slice(close - 1, close), text.slice(close)]);
    expect(handed).toEqual([[], [{ id: "a" }], [{ id: "a" }, { id: "b" }]]);
  });

  it("reads escapes, unicode and nested objects and arrays in any field, and only the top-level tasks", () => {
    const text = JSON.stringify(TRICKY, null, 2);
    // One UTF-16 code unit a piece: the emoji's surrogate pair arrives in two pieces.
    const { handed, broken } = feed(text.split(""));
    expect(broken).toBe(false);
    expect(handed.at(-1)).toEqual(TRICKY.tasks);
  });

  it("hands over the same tasks, in order, whatever the split points (property)", () => {
    const tasks = fc.array(
      fc.record({
        id: fc.string({ unit: "binary" }),
        input: fc.oneof(fc.string({ unit: "grapheme" }), fc.jsonValue()),
        dependsOn: fc.array(fc.string()),
      }),
      { maxLength: 6 },
    );
    fc.assert(
      fc.property(tasks, fc.array(fc.nat(), { maxLength: 40 }), fc.boolean(), (list, cuts, pretty) => {
        const plan = { tasks: list, model: "m" };
        const text = pretty ? JSON.stringify(plan, null, 2) : JSON.stringify(plan);
        const { handed, broken } = feed(split(text, cuts));
        expect(broken).toBe(false);
        // JSON.parse, not the original: the stream's values are what a whole-text parse gives.
        expect(handed.at(-1) ?? []).toEqual((JSON.parse(text) as typeof plan).tasks);
      }),
      { numRuns: 300 },
    );
  });

  it("hands over each task before the rest of the answer arrives (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ id: fc.string(), n: fc.jsonValue() }), { minLength: 1, maxLength: 5 }),
        (list) => {
          const text = JSON.stringify({ tasks: list });
          const { handed } = feed(text.split(""));
          // After the last piece of each task's JSON, that task is there: count closings by re-serialising.
          let offset = '{"tasks":['.length;
          list.forEach((task, index) => {
            offset += JSON.stringify(task).length;
            expect(handed[offset - 1]).toHaveLength(index + 1);
            offset += 1; // the comma or the closing bracket
          });
        },
      ),
      { numRuns: 200 },
    );
  });

  it("stops handing over, without throwing, once the text is not JSON; what closed before stays handed over", () => {
    expect(feed(["```json\n", '{"tasks": [{"id": "a"}]}']).handed).toEqual([[], []]);
    expect(feed(['{"tasks": [{"id": "a"}]}', " and some prose"]).handed).toEqual([[{ id: "a" }], [{ id: "a" }]]);
    const { handed, broken } = feed(['{"tasks": [{"id": "a"}, {"id": tru', 'x}, {"id": "c"}]}']);
    expect(broken).toBe(true);
    expect(handed.at(-1)).toEqual([{ id: "a" }]);
  });

  it("hands over nothing for an answer without a top-level tasks array", () => {
    expect(feed([JSON.stringify({ plan: [{ id: "a" }] })]).handed).toEqual([[]]);
    expect(feed([JSON.stringify([{ id: "a" }])]).handed).toEqual([[]]);
  });
});
