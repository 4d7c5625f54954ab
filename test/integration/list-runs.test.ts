/** orch.listRuns validates its options: a bad filter or limit is an InvalidOptionError naming it. */
import { describe, expect, it } from "vitest";
import { InvalidOptionError } from "../../src/errors.js";
import { validateGraph } from "../../src/graph/validate.js";
import { useOrchestrator } from "../helpers/stores.js";

describe("listRuns options (PGlite)", () => {
  const orch = useOrchestrator("pglite");

  it("filters and limits the runs, newest first", async () => {
    const graph = validateGraph({ goal: "list me", tasks: [{ id: "a", step: "noop" }] });
    for (let i = 0; i < 2; i++) {
      await orch().composeFromTaskGraph(graph, { noop: async () => null }, { workflow: "listed" });
    }
    const runs = await orch().listRuns({ workflow: "listed", status: "completed", limit: 1 });
    expect(runs).toHaveLength(1);
    expect(await orch().listRuns({ workflow: "listed" })).toHaveLength(2);
  });

  it.each([
    ["limit", { limit: 0 }],
    ["limit", { limit: "5" }],
    ["limit", { limit: 1.5 }],
    ["limit", { limit: 1001 }],
    ["status", { status: "nope" }],
    ["workflow", { workflow: "" }],
    ["colour", { colour: "red" }],
  ])("rejects a bad `%s`: %j", async (option, options) => {
    const error = await orch()
      .listRuns(options as never)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as InvalidOptionError).option).toBe(option);
    expect((error as Error).message).toContain(`\`${option}\``);
    expect((error as Error).message).toContain("listRuns");
  });
});
