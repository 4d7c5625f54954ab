import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GraphValidationError, HtdagError } from "../../src/errors.js";
import { graphToJson, graphToYaml, loadGraphFile, parseGraphText, saveGraphFile } from "../../src/graph/file.js";
import { validateGraph } from "../../src/graph/validate.js";

let directory = "";
beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), "htdag-graph-file-"));
});
afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

const graph = validateGraph(
  {
    goal: "Publish the quarterly report",
    tasks: [
      {
        id: "fetch",
        description: "Fetch the numbers",
        step: "http.get",
        input: { url: "https://example.com/q3", retries: 2, tags: ["a", "yes", "1"] },
      },
      { id: "render", kind: "composite", dependsOn: ["fetch"] },
      {
        id: "charts",
        parentId: "render",
        backoff: { kind: "linear" },
        input: { rows: { $from: "fetch", path: "rows" } },
      },
      {
        id: "text",
        parentId: "render",
        dependsOn: ["charts"],
        input: { title: "{{ goal }}: {{ fetch.title }}", empty: null },
      },
      {
        id: "send",
        dependsOn: ["render"],
        when: { all: [{ task: "fetch", path: "ok", op: "eq", value: true }] },
        runIf: "allDone",
      },
      { id: "ns:audit/1", dependsOn: ["send", "fetch"], description: "Audit: done? #1" },
    ],
  },
  { defaults: { id: "report-1", decomposer: "manual" } },
);

/** Error thrown by `run`, which must be a GraphValidationError. */
async function validationError(run: () => unknown): Promise<GraphValidationError> {
  try {
    await run();
  } catch (error) {
    expect(error).toBeInstanceOf(GraphValidationError);
    return error as GraphValidationError;
  }
  throw new Error("expected a GraphValidationError");
}

describe("graph files", () => {
  it("round-trips through YAML", async () => {
    const path = join(directory, "report.yaml");
    await saveGraphFile(graph, path);
    expect(await loadGraphFile(path)).toEqual(graph);
  });

  it("round-trips through JSON, and .yml is YAML", async () => {
    const jsonPath = join(directory, "report.json");
    await saveGraphFile(graph, jsonPath);
    expect(await loadGraphFile(jsonPath)).toEqual(graph);
    expect(JSON.parse(await readFile(jsonPath, "utf8"))).toMatchObject({ id: "report-1", goal: graph.goal });
    const ymlPath = join(directory, "report.YML");
    await saveGraphFile(graph, ymlPath);
    expect(await loadGraphFile(ymlPath)).toEqual(graph);
  });

  it("saves tasks as a user would write them, without empty defaults", () => {
    const yaml = graphToYaml(graph);
    expect(yaml).toMatch(/^id: report-1\ngoal: Publish the quarterly report\n/);
    expect(yaml).not.toContain("dependsOn: []");
    expect(yaml).not.toContain('description: ""');
    const saved = JSON.parse(graphToJson(graph)) as { tasks: Record<string, unknown>[] };
    expect(saved.tasks[1]).toEqual({ id: "render", kind: "composite", dependsOn: ["fetch"] });
    expect(yaml).toContain('  - id: ns:audit/1\n    description: "Audit: done? #1"\n    dependsOn: [send, fetch]\n');
  });

  it("names the line of a YAML parse error", async () => {
    const text = "goal: broken\ntasks:\n  - id: a\n    dependsOn: [b\n  - id: b\n";
    const error = await validationError(() => parseGraphText(text, "yaml"));
    expect(error.issues).toHaveLength(1);
    expect(error.issues[0]).toMatchObject({ code: "parse_error", path: "$" });
    expect(error.issues[0]?.message).toMatch(/invalid YAML at line [45], column \d+/);
  });

  it("names the line of a JSON parse error", async () => {
    const text = '{\n  "goal": "broken",\n  "tasks": [\n    { "id": "a", }\n  ]\n}\n';
    const error = await validationError(() => parseGraphText(text, "json"));
    expect(error.issues[0]).toMatchObject({ code: "parse_error", path: "$" });
    expect(error.issues[0]?.message).toContain("invalid JSON at line 4");
  });

  it("names the file in a validation error of a loaded graph", async () => {
    const path = join(directory, "bad.yaml");
    await writeFile(path, "goal: g\ntasks:\n  - id: a\n    dependsOn: [ghost]\n");
    const error = await validationError(() => loadGraphFile(path));
    expect(error.message).toContain(path);
    expect(error.issues.map((issue) => issue.path)).toEqual(["tasks[0].dependsOn[0]"]);
  });

  it("rejects an unknown extension and reports an unreadable file", async () => {
    const error = await validationError(() => loadGraphFile(join(directory, "graph.txt")));
    expect(error.issues[0]).toMatchObject({ code: "unsupported_format" });
    expect(error.issues[0]?.message).toContain("name the file *.json, *.yaml or *.yml");
    await expect(loadGraphFile(join(directory, "missing.yaml"))).rejects.toMatchObject({
      code: "GRAPH_FILE_UNREADABLE",
    });
    await expect(loadGraphFile(join(directory, "missing.yaml"))).rejects.toBeInstanceOf(HtdagError);
  });

  it("loads the example graphs: release.yaml is valid, cyclic.yaml names its cycle", async () => {
    const release = await loadGraphFile(join(import.meta.dirname, "../../examples/graphs/release.yaml"), {
      stepNames: [
        "git.checkout",
        "docker.build",
        "npm.test",
        "db.migrate",
        "k8s.rollout",
        "http.smoke",
        "slack.post",
        "k8s.rollback",
      ],
    });
    expect(release.tasks).toHaveLength(9);
    expect(release.source).toBe("file");
    const error = await validationError(() =>
      loadGraphFile(join(import.meta.dirname, "../../examples/graphs/cyclic.yaml")),
    );
    expect(error.issues).toEqual([
      {
        code: "cycle",
        path: "tasks[1].dependsOn[1]",
        message: expect.stringContaining("dependency cycle: write -> publish -> review -> write"),
      },
    ]);
  });
});
