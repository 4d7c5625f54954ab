import { describe, expect, it } from "vitest";
import type { HtdagEvent } from "../../src/notifications/catalogue.js";
import { HtdagEmitter } from "../../src/notifications/emitter.js";
import { EventHandlerError } from "../../src/notifications/errors.js";

const event = (id: string, type = "task:completed"): HtdagEvent =>
  ({
    id,
    type,
    runId: null,
    taskId: "a",
    workflow: null,
    payload: { status: "completed" },
    createdAt: new Date(0),
  }) as HtdagEvent;

describe("HtdagEmitter", () => {
  it("keeps calling listeners after one throws, and reports the throw", () => {
    const errors: unknown[] = [];
    const calls: string[] = [];
    const emitter = new HtdagEmitter({ onError: (e) => errors.push(e) });
    emitter.on("task:completed", () => {
      throw new Error("first broke");
    });
    emitter.on("task:completed", (e) => void calls.push(`second ${e.id}`));
    emitter.on("*", (e) => void calls.push(`any ${e.id}`));
    expect(() => emitter.safeEmit(event("1"))).not.toThrow();
    expect(calls).toEqual(["second 1", "any 1"]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(EventHandlerError);
    expect((errors[0] as Error).message).toMatch(
      /a listener of task:completed threw on event 1 \(task:completed\): first broke/,
    );
  });

  it("reports a listener's rejected promise", async () => {
    const errors: unknown[] = [];
    const emitter = new HtdagEmitter({ onError: (e) => errors.push(e) });
    emitter.on("task:completed", async () => {
      throw new Error("async broke");
    });
    emitter.safeEmit(event("2"));
    await new Promise((resolve) => setImmediate(resolve));
    expect((errors[0] as Error).message).toMatch(/async broke/);
  });

  it("calls once-listeners once, removes listeners with off, and tells when it becomes idle", () => {
    const activity: boolean[] = [];
    const calls: string[] = [];
    const emitter = new HtdagEmitter({ onActiveChange: (active) => activity.push(active) });
    const listener = (e: HtdagEvent) => void calls.push(`on ${e.id}`);
    emitter.once("custom:deployed", (e) => void calls.push(`once ${e.id}`));
    emitter.on("task:completed", listener);
    emitter.safeEmit(event("1", "custom:deployed"));
    emitter.safeEmit(event("2", "custom:deployed"));
    emitter.safeEmit(event("3"));
    emitter.off("task:completed", listener);
    emitter.safeEmit(event("4"));
    expect(calls).toEqual(["once 1", "on 3"]);
    expect(activity).toEqual([true, false]);
    expect(emitter.listenerCount()).toBe(0);
  });
});
