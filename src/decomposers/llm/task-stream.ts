/**
 * Reading a plan while it is written: the model's JSON answer arrives in pieces, and each element
 * of its `tasks` array is handed over as soon as that element's closing bracket arrives, long
 * before the answer ends. The parsing is @streamparser/json's (a tokenizer fed any split of the
 * text); this module only says which values matter and what a broken answer does.
 */
import { JSONParser } from "@streamparser/json";

/** A plan being read. */
export interface TaskStream {
  /** Feeds the next piece of the answer's text. */
  write(text: string): void;
  /**
   * Whether the text stopped being JSON the parser can follow (prose or code fences around it, a
   * syntax error). Nothing more is handed over then; the whole answer is still read at the end,
   * by the same parser as a non-streamed answer, which repairs it or names the problem.
   */
  readonly broken: boolean;
}

/**
 * A reader that calls `onTask` with each element of the answer's top-level `tasks` array, in
 * order, once that element is complete JSON. `onTask` must not throw.
 *
 * @example
 * const stream = taskStream((task, index) => console.log(index, task));
 * stream.write('{"tasks": [{"id": "a"}, {"i');
 * stream.write('d": "b"}]}'); // logs 0 { id: "a" } after the first write, 1 { id: "b" } after this one
 */
export function taskStream(onTask: (task: unknown, index: number) => void): TaskStream {
  const parser = new JSONParser({ paths: ["$.tasks.*"], keepStack: false });
  let broken = false;
  let count = 0;
  parser.onValue = ({ value }) => onTask(value, count++);
  parser.onError = () => {
    // Deliberately not thrown: a stream that is not plain JSON only stops early hand-overs (see `broken`).
    broken = true;
  };
  return {
    write(text) {
      // A surrogate pair split across pieces is fine: the tokenizer keeps a high surrogate for the next piece.
      if (!broken && text !== "") {
        parser.write(text);
      }
    },
    get broken() {
      return broken;
    },
  };
}
