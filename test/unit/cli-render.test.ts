/** Pure parts of the CLI: plan rendering, settings precedence, the progress frame, output summaries. */
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import type { HtdagEvent } from "../../src/notifications/catalogue.js";
import { sinkTasks } from "../../src/cli/outputs.js";
import { ProgressDisplay, formatElapsed } from "../../src/cli/progress.js";
import { STATUS_STYLES, renderDot, renderMermaid, renderTree, type PlanNode } from "../../src/cli/render.js";
import { envSettings, mergeSettings, parseSettings } from "../../src/cli/settings.js";

const tasks: PlanNode[] = [
  { id: "c", dependsOn: ["b"], description: "", step: "s" },
  { id: "a", dependsOn: [], description: "first", step: "s" },
  { id: "b", dependsOn: ["a"], description: "", kind: "composite" },
  {
    id: "b1",
    dependsOn: [],
    description: "",
    parentId: "b",
    step: "s",
    forEach: { from: "a", path: "items", batchSize: 5 },
  },
];

describe("render", () => {
  it("a tree in run order with children nested", () => {
    expect(renderTree("g", tasks)).toBe(
      [
        "goal: g",
        "├─ a  [s]  - first",
        "├─ b  after a",
        "│  └─ b1  [s]  forEach a.items ×5",
        "└─ c  [s]  after b",
      ].join("\n"),
    );
  });

  it("Mermaid with a subgraph per composite and DOT with a cluster whose edges reach the cluster", () => {
    const mermaid = renderMermaid("g", tasks);
    expect(mermaid).toContain('  subgraph t_b["b"]\n    t_b1["b1<br/>s"]\n  end');
    expect(mermaid).toContain("t_a --> t_b");
    expect(mermaid).not.toContain("classDef");
    const dot = renderDot("g", tasks);
    expect(dot).toContain('  subgraph "cluster_b" {\n    label="b";\n    "b1" [label="b1\\ns"];\n  }');
    expect(dot).toContain('"a" -> "b1" [lhead="cluster_b"];');
    expect(dot).toContain('"b1" -> "c" [ltail="cluster_b"];');
    expect(dot).not.toMatch(/^ {2}"b" \[/m);
  });

  it("statuses: a Mermaid classDef per state used and each task in its class; DOT fill colours", () => {
    const statuses = ["completed", "failed", "completed", "cancelled"];
    const run = tasks.map((t, i) => ({ ...t, status: statuses[i] }));
    const mermaid = renderMermaid("g", run);
    expect(mermaid.split("\n").filter((l) => l.includes("classDef"))).toEqual([
      `  classDef completed fill:${STATUS_STYLES.completed?.fill},stroke:${STATUS_STYLES.completed?.stroke}`,
      `  classDef failed fill:${STATUS_STYLES.failed?.fill},stroke:${STATUS_STYLES.failed?.stroke}`,
      `  classDef cancelled fill:${STATUS_STYLES.cancelled?.fill},stroke:${STATUS_STYLES.cancelled?.stroke}`,
    ]);
    expect(mermaid).toContain("  class t_c,t_b completed");
    expect(mermaid).toContain("  class t_a failed");
    expect(mermaid).toContain('t_a["a<br/>s<br/>failed"]');
    const dot = renderDot("g", run);
    expect(dot).toContain(
      `"a" [label="a\\ns\\nfailed", fillcolor="${STATUS_STYLES.failed?.fill}", color="${STATUS_STYLES.failed?.stroke}"];`,
    );
    expect(dot).toContain(
      `label="b\\ncompleted";\n    style="rounded,filled"; fillcolor="${STATUS_STYLES.completed?.fill}"`,
    );
  });

  it.skipIf(spawnSync("dot", ["-V"]).status !== 0)(
    "Graphviz accepts the DOT of a run: every node and the cluster are drawn",
    () => {
      const run = [
        ...tasks,
        { id: "b/x-2", dependsOn: ["b1"], description: "", parentId: "b", step: "s.t", status: "timed_out" },
      ].map((t) => ({ status: "completed", ...t }));
      const svg = spawnSync("dot", ["-Tsvg"], { input: renderDot('goal "quoted"', run), encoding: "utf8" });
      expect(svg.stderr).toBe("");
      expect(svg.status).toBe(0);
      expect(svg.stdout.match(/<g id="node/g)).toHaveLength(4);
      expect(svg.stdout.match(/<g id="clust/g)).toHaveLength(1);
    },
  );

  it("sinks are the tasks nothing depends on", () => {
    expect(sinkTasks(tasks)).toEqual(["c"]);
  });
});

describe("settings", () => {
  it("flags beat env beat the config file beat defaults", () => {
    const file = parseSettings(
      { database: "pglite:./file", maxParallel: 2, decomposer: "hybrid", model: "m-file" },
      "htdag.config.json",
    );
    const env = envSettings({ HTDAG_DATABASE_URL: "postgres://env", HTDAG_MAX_PARALLEL: "3" });
    const flags = parseSettings({ maxParallel: "7" }, "flags");
    expect(mergeSettings([file, env, flags])).toEqual({
      database: "postgres://env",
      maxParallel: 7,
      decomposer: "hybrid",
      provider: "openai",
      model: "m-file",
    });
    expect(mergeSettings([])).toEqual({
      maxParallel: 10,
      decomposer: "rules",
      provider: "openai",
      model: "gpt-4.1-mini",
    });
    expect(mergeSettings([], { ANTHROPIC_API_KEY: "k" })).toMatchObject({
      provider: "anthropic",
      model: "claude-sonnet-4-5",
    });
  });

  it("a bad value is a sentence naming the setting as its source spells it, the value, the expectation and a fix", () => {
    const messageOf = (parse: () => unknown) => {
      try {
        parse();
      } catch (error) {
        return (error as Error).message;
      }
      throw new Error("expected the settings to be refused");
    };
    expect(messageOf(() => parseSettings({ decomposer: "magic" }, "htdag.config.yaml"))).toBe(
      'invalid option `decomposer` in htdag.config.yaml: expected one of "rules", "llm", "hybrid", received the ' +
        'string "magic". Try decomposer: "hybrid".',
    );
    expect(messageOf(() => parseSettings({ maxParallel: 0 }, "htdag.config.json"))).toBe(
      "invalid option `maxParallel` in htdag.config.json: expected a whole number from 1 to 10000, received number 0. " +
        'Try "maxParallel": 4.',
    );
    expect(messageOf(() => parseSettings({ colour: "red" }, "htdag.config.json"))).toBe(
      "invalid option `colour` in htdag.config.json: expected only known options (unknown: colour), received the " +
        'string "red". The settings are database, schema, maxParallel, decomposer, provider, model.',
    );
    // Was: "expected Invalid input: expected number, received NaN" (z.coerce turned "abc" into NaN).
    expect(messageOf(() => parseSettings({ maxParallel: "abc" }, "flags"))).toBe(
      'invalid option `--max-parallel`: expected a whole number from 1 to 10000, received the string "abc". ' +
        "Try `--max-parallel 4`.",
    );
    for (const text of ["0x10", "1e1", "1.5", "-1", ""]) {
      expect(() => parseSettings({ maxParallel: text }, "flags")).toThrow(/`--max-parallel`: expected a whole number/);
    }
    expect(messageOf(() => envSettings({ HTDAG_PROVIDER: "azure" }))).toBe(
      'invalid option `HTDAG_PROVIDER` in the environment: expected one of "openai", "anthropic", received the ' +
        'string "azure". Try HTDAG_PROVIDER=anthropic, or unset it.',
    );
  });
});

describe("progress", () => {
  const event = (type: string, taskId: string, payload: Record<string, unknown>): HtdagEvent =>
    ({ id: "1", type, runId: "r", taskId, workflow: "w", createdAt: new Date(0), payload }) as HtdagEvent;

  it("the TTY frame shows each task's state, elapsed time, attempt and progress", () => {
    let now = 0;
    const display = new ProgressDisplay(
      [
        { id: "a", dependsOn: [], description: "" },
        { id: "b", dependsOn: ["a"], description: "" },
      ],
      "tty",
      () => {},
      () => now,
    );
    display.handle(event("task:started", "a", { attempt: 1, step: "s" }));
    now = 1500;
    display.handle(event("task:retried", "a", { attempt: 1 }));
    display.handle(event("task:started", "a", { attempt: 2, step: "s" }));
    display.handle(event("task:progress", "a", { attempt: 2, done: 3, total: 10 }));
    now = 2000;
    expect(display.frame()).toEqual([
      "▶ a                running     2.0s attempt 2 3/10",
      "· b                pending",
    ]);
    display.handle(event("task:completed", "a", { status: "completed" }));
    now = 9000;
    expect(display.frame()[0]).toBe("✔ a                completed   2.0s attempt 2");
  });

  it("plain mode writes one line per event", () => {
    const lines: string[] = [];
    const display = new ProgressDisplay([], "lines", (line) => lines.push(line));
    display.handle(event("task:started", "a", { attempt: 1, step: "s" }));
    expect(lines).toEqual(["1970-01-01T00:00:00.000Z task:started run=r task=a attempt=1 step=s"]);
  });

  it("formats elapsed time", () =>
    expect([formatElapsed(850), formatElapsed(1234), formatElapsed(125_000)]).toEqual(["850ms", "1.2s", "2m05s"]));
});
