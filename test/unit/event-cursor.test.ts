/** Event positions and their cursor strings: how a read moves a position, and the codec. Pure. */
import { describe, expect, it } from "vitest";
import { decodeEventCursor, encodeEventCursor } from "../../src/notifications/cursor.js";
import { positionAfterRead, positionAfterRow, type EventPosition } from "../../src/store/event-position.js";

const start: EventPosition = {
  afterId: null,
  done: "100:104:101,103",
  round: { snapshot: "100:106:103", lastId: "40" },
};

describe("positionAfterRow", () => {
  it("places every row of a read against the position the read started from", () => {
    // Phase 1: the rest of the round; the round's snapshot stays, its last id moves.
    expect(positionAfterRow(start, "105:107:", 1, "42")).toEqual({
      ...start,
      round: { snapshot: "100:106:103", lastId: "42" },
    });
    // Phase 2: the round is wholly passed and becomes `done`; the read's own snapshot is the new round.
    const after = { afterId: null, done: "100:106:103", round: { snapshot: "105:107:", lastId: "7" } };
    expect(positionAfterRow(start, "105:107:", 2, "7")).toEqual(after);
    expect(positionAfterRow(start, "105:107:", 2, "45")).toEqual({
      ...after,
      round: { snapshot: "105:107:", lastId: "45" },
    });
  });

  it("keeps a plain afterEventId floor, and ends a complete read at its snapshot", () => {
    const plain: EventPosition = { afterId: "9", done: null, round: null };
    expect(positionAfterRow(plain, "5:8:6", 2, "12")).toEqual({
      afterId: "9",
      done: null,
      round: { snapshot: "5:8:6", lastId: "12" },
    });
    expect(positionAfterRead(start, "110:110:")).toEqual({ afterId: null, done: "110:110:", round: null });
  });
});

describe("event cursors", () => {
  it("round-trip every position", () => {
    for (const position of [
      start,
      { afterId: "9", done: null, round: null },
      { afterId: null, done: "3:3:", round: null },
      { afterId: "1", done: null, round: { snapshot: "3:9:4,5,8", lastId: "77" } },
    ]) {
      const cursor = encodeEventCursor(position);
      expect(cursor).toMatch(/^c1\.[\d.:,]*$/);
      expect(decodeEventCursor(cursor)).toEqual(position);
    }
    expect(encodeEventCursor(start)).toBe("c1..100:104:101,103.100:106:103.40");
  });

  it("refuse what Postgres would not take as a snapshot, and anything else", () => {
    for (const text of [
      "12",
      "",
      "c2..1:2:..",
      "c1..9:3:..", // xmin above xmax
      "c1..0:3:..", // xmin 0 is not a transaction
      "c1..3:9:5,4..", // xips out of order
      "c1..3:9:9..", // xip at xmax
      "c1..3:9:2..", // xip below xmin
      "c1...3:9:.", // a round without its last id
      "c1....5", // a last id without its round
      "c1.x...",
      "c1.....",
      `c1..1:${"9".repeat(20)}:..`,
      `c1..1:2:${",1".repeat(5000)}..`,
    ]) {
      expect(decodeEventCursor(text), text).toBeNull();
    }
  });
});
