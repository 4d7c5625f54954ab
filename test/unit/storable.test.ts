import { describe, expect, it } from "vitest";
import { OutputTooLargeError, UnstorableOutputError } from "../../src/errors.js";
import { serializeError } from "../../src/composer/attempt.js";
import {
  MAX_ERROR_MESSAGE_LENGTH,
  storableText,
  storedOutputBytes,
  unstorableAt,
} from "../../src/composer/storable.js";

describe("what PostgreSQL can store", () => {
  it("finds the first NUL or unpaired surrogate in a string or a key, with its path", () => {
    expect(unstorableAt({ a: [1, { b: "x\u0000" }] }, "output")).toBe("a NUL character (\\u0000) at output.a[1].b");
    expect(unstorableAt({ a: { "k\u0000": 1 } }, "output")).toBe(
      'a NUL character (\\u0000) in the key "k\\u0000" of output.a',
    );
    expect(unstorableAt(["\udc00 low first"], "output")).toBe("an unpaired UTF-16 surrogate (\\udc00) at output[0]");
    expect(unstorableAt("ends high \ud83d", "output")).toBe("an unpaired UTF-16 surrogate (\\ud83d) at output");
    // A pair is one character (😀); an escape written as text is text; undefined is left out of JSON.
    expect(unstorableAt({ emoji: "\ud83d\ude00", text: "\\u0000", gone: undefined }, "output")).toBeNull();
  });

  it("measures an output in bytes of JSON, and refuses one over the limit or with a NUL", () => {
    expect(storedOutputBytes("t", { s: "é" }, 100)).toBe(Buffer.byteLength('{"s":"é"}'));
    expect(storedOutputBytes("t", "\\u0000 as text", 100)).toBe(17);
    expect(() => storedOutputBytes("t", "x".repeat(100), 100)).toThrow(new OutputTooLargeError("t", 102, 100).message);
    const error = (() => {
      try {
        return storedOutputBytes("t", { a: "\u0000" }, 100);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(UnstorableOutputError);
    expect((error as Error).message).toBe(
      'output of task "t" contains a NUL character (\\u0000) at output.a, which PostgreSQL cannot store; ' +
        "remove it or encode the value (e.g. base64)",
    );
  });

  it("makes error text storable: NUL and unpaired surrogates replaced, a very long message cut", () => {
    expect(storableText("a\u0000b \ud83d c \ud83d\ude00")).toBe("a\ufffdb \ufffd c \ud83d\ude00");
    const long = storableText("x".repeat(MAX_ERROR_MESSAGE_LENGTH + 5));
    expect(long).toBe(`${"x".repeat(MAX_ERROR_MESSAGE_LENGTH)}… (5 more characters cut)`);
    const error = Object.assign(new Error("bad\u0000"), { name: "N\u0000", code: "C\u0000" });
    expect(serializeError(error)).toEqual({ name: "N\ufffd", message: "bad\ufffd", code: "C\ufffd" });
    expect(serializeError("thrown \u0000 string")).toEqual({ name: "Error", message: "thrown \ufffd string" });
  });
});
