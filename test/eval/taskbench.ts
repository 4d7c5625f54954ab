/**
 * TaskBench "Daily Life APIs" records (test/fixtures/taskbench, see PROVENANCE.md there) as htdag sees
 * them: the tool catalogue, each record's gold plan in the LLM decomposer's wire format, the
 * perturbations real models make, and node/edge F1 against gold.
 */
import { readFileSync } from "node:fs";
import type { CatalogueEntry } from "../../src/graph/decomposer.js";

const DATA = new URL("../fixtures/taskbench/", import.meta.url);

export interface TaskBenchRecord {
  id: string;
  type: "single" | "chain" | "dag";
  user_request: string;
  nodes: { tool: string; arguments: { name: string; value: unknown }[] }[];
  links: { source: string; target: string }[];
}

/** A plan task in the wire format. */
export interface WireTask {
  id: string;
  description: string;
  step: string | null;
  kind: "atomic" | "composite";
  dependsOn: string[];
  input: string | null;
}

export const PERTURBATIONS = ["fences", "renamed_ids", "missing_dependency", "extra_cycle", "near_miss_tool"] as const;
export type Perturbation = (typeof PERTURBATIONS)[number];

export function loadRecords(file = "dailylife-dev.jsonl"): TaskBenchRecord[] {
  return readFileSync(new URL(file, DATA), "utf8")
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as TaskBenchRecord);
}

/** The 40 tools as a catalogue: names, descriptions and input schemas of string parameters. */
export function loadCatalogue(): CatalogueEntry[] {
  const tools = JSON.parse(readFileSync(new URL("tool_desc.json", DATA), "utf8")) as {
    nodes: { id: string; desc: string; parameters: { name: string; type: string; desc: string }[] }[];
  };
  return tools.nodes.map((tool) => ({
    name: tool.id,
    description: tool.desc,
    inputSchema: {
      type: "object",
      properties: Object.fromEntries(
        tool.parameters.map((p) => [p.name, { type: "string", description: `${p.desc} (${p.type})` }]),
      ),
      required: tool.parameters.map((p) => p.name),
    },
  }));
}

/** The record's gold graph as a model would answer it: one atomic task per tool, edges as dependsOn. */
export function goldPlan(record: TaskBenchRecord): { tasks: WireTask[] } {
  return {
    tasks: record.nodes.map((node) => ({
      id: node.tool,
      description: `Call ${node.tool}`,
      step: node.tool,
      kind: "atomic",
      dependsOn: [...new Set(record.links.filter((l) => l.target === node.tool).map((l) => l.source))],
      input: JSON.stringify(Object.fromEntries(node.arguments.map((a) => [a.name, a.value]))),
    })),
  };
}

/** The gold plan as a real model might garble it: the answer text the test server sends. */
export function perturbedAnswer(record: TaskBenchRecord, perturbation: Perturbation, seed: number): string {
  const plan = goldPlan(record);
  const tasks = plan.tasks;
  const withDependants = tasks.find((t) => tasks.some((other) => other.dependsOn.includes(t.id))) ?? tasks[0]!;
  const dependant = tasks.find((t) => t.dependsOn.length > 0);
  switch (perturbation) {
    case "fences":
      return `Here is the plan:\n\`\`\`json\n${JSON.stringify(plan, null, 2)}\n\`\`\`\nLet me know if you need changes.`;
    case "renamed_ids":
      // The task is declared as "Get-Weather" while its dependants still say "get_weather".
      withDependants.id = withDependants.id
        .split("_")
        .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
        .join("-");
      break;
    case "missing_dependency":
      // A dependency on a task the plan never declares (0/1-based index confusion).
      (dependant ?? tasks[0]!).dependsOn.push(`step_${tasks.length + 1}`);
      break;
    case "extra_cycle":
      if (dependant !== undefined) {
        tasks.find((t) => t.id === dependant.dependsOn[0])!.dependsOn.push(dependant.id);
      } else {
        tasks[0]!.dependsOn.push(tasks[0]!.id);
      }
      break;
    case "near_miss_tool": {
      const task = tasks[seed % tasks.length]!;
      task.step =
        seed % 2 === 0
          ? task
              .step!.split("_")
              .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
              .join(" ")
          : task.step!.replace(/[aeiou](?=[^aeiou]*$)/, "");
      break;
    }
  }
  return JSON.stringify(plan);
}

/** Precision, recall and F1 of a predicted set against a gold set. */
export function f1(
  predicted: ReadonlySet<string>,
  gold: ReadonlySet<string>,
): { precision: number; recall: number; f1: number; tp: number } {
  const tp = [...predicted].filter((item) => gold.has(item)).length;
  const precision = predicted.size === 0 ? (gold.size === 0 ? 1 : 0) : tp / predicted.size;
  const recall = gold.size === 0 ? 1 : tp / gold.size;
  return { precision, recall, f1: precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall), tp };
}

/** Nodes (tool names) and edges (tool → tool) of a graph, by step. */
export function nodesAndEdges(
  tasks: readonly { id: string; step?: string | undefined; dependsOn?: string[] | undefined }[],
): { nodes: Set<string>; edges: Set<string> } {
  const stepOf = new Map(tasks.map((t) => [t.id, t.step ?? t.id]));
  const edges = new Set(
    tasks.flatMap((t) => (t.dependsOn ?? []).map((d) => `${stepOf.get(d) ?? d}->${stepOf.get(t.id)}`)),
  );
  return { nodes: new Set(tasks.map((t) => t.step ?? t.id)), edges };
}

/** Gold nodes and edges of a record. */
export function goldSets(record: TaskBenchRecord): { nodes: Set<string>; edges: Set<string> } {
  return {
    nodes: new Set(record.nodes.map((n) => n.tool)),
    edges: new Set(record.links.map((l) => `${l.source}->${l.target}`)),
  };
}
