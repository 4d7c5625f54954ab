/**
 * Task graphs in files (docs/concepts.md): JSON or YAML holding `goal` and `tasks` as a user would
 * write them, with the other fields optional. Loading validates; saving writes only what a user
 * would write (no empty `dependsOn`, no empty `description`), so that loading a saved graph
 * gives back an equal graph.
 */
import { readFile, writeFile } from "node:fs/promises";
import { extname } from "node:path";
import { Document, isSeq, parseDocument } from "yaml";
import { GraphValidationError, HtdagError } from "../errors.js";
import type { Task, TaskGraph } from "./task-graph.js";
import { validateGraph, type ValidateOptions } from "./validate.js";

/** File formats a graph can be stored in. */
export type GraphFileFormat = "json" | "yaml";

/**
 * Parse the text of a graph file into plain data (not yet validated).
 *
 * @throws GraphValidationError with one `parse_error` issue at path `$` naming the line
 */
export function parseGraphText(text: string, format: GraphFileFormat): unknown {
  return format === "json" ? parseJson(text) : parseYaml(text);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    const position = /position (\d+)/.exec(detail);
    const offset = position === null ? text.length : Number(position[1]);
    const { line, col } = lineAndColumn(text, offset);
    throw parseError(`invalid JSON at line ${line}, column ${col}: ${detail}`);
  }
}

function parseYaml(text: string): unknown {
  const document = parseDocument(text, { prettyErrors: false });
  const problem = document.errors[0];
  if (problem !== undefined) {
    const at = problem.linePos?.[0] ?? lineAndColumn(text, problem.pos[0]);
    throw parseError(`invalid YAML at line ${at.line}, column ${at.col}: ${problem.message}`);
  }
  try {
    return yamlToJs(document);
  } catch (error) {
    throw parseError((error as Error).message);
  }
}

/**
 * Most alias expansions a YAML file may make, counted as the `yaml` library counts them (each
 * alias times the aliases inside what it points at). A "billion laughs" file, nine aliases of
 * nine aliases of… to a billion nodes, is refused before it expands.
 */
export const YAML_MAX_ALIAS_COUNT = 100;

/**
 * The plain data of a parsed YAML document, with aliases expanded up to {@link YAML_MAX_ALIAS_COUNT}.
 *
 * @throws Error naming the limit when the document expands more (the caller wraps it in its own typed error)
 */
export function yamlToJs(document: { toJS(options: { maxAliasCount: number }): unknown }): unknown {
  try {
    return document.toJS({ maxAliasCount: YAML_MAX_ALIAS_COUNT });
  } catch (error) {
    if (error instanceof ReferenceError && /alias/i.test(error.message)) {
      throw new Error(
        `its aliases (*name) expand to too much data (more than ${YAML_MAX_ALIAS_COUNT} alias expansions, ` +
          `as a "billion laughs" attack does); write the values out, or use fewer aliases`,
        { cause: error },
      );
    }
    throw error;
  }
}

/** 1-based line and column of a character offset. */
function lineAndColumn(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, offset);
  return { line: before.split("\n").length, col: offset - before.lastIndexOf("\n") };
}

function parseError(message: string): GraphValidationError {
  return new GraphValidationError([
    { code: "parse_error", path: "$", message: `${message}; fix the file and try again` },
  ]);
}

/** The format a file's extension names: `.json`, `.yaml` or `.yml` (any case). */
export function graphFileFormat(path: string): GraphFileFormat {
  const extension = extname(path).toLowerCase();
  if (extension === ".json") {
    return "json";
  }
  if (extension === ".yaml" || extension === ".yml") {
    return "yaml";
  }
  throw new GraphValidationError(
    [
      {
        code: "unsupported_format",
        path: "$",
        message: `cannot tell the format of ${JSON.stringify(path)} from its extension ${JSON.stringify(extension)}; name the file *.json, *.yaml or *.yml`,
      },
    ],
    path,
  );
}

/**
 * Load and validate a graph file; the format follows the extension.
 *
 * @param options as for `validateGraph`; `defaults.source` is "file" unless given
 * @throws GraphValidationError for an unknown extension, a parse error or an invalid graph
 * @throws HtdagError with code `GRAPH_FILE_UNREADABLE` if the file cannot be read
 */
export async function loadGraphFile(path: string, options: ValidateOptions = {}): Promise<TaskGraph> {
  const format = graphFileFormat(path);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new HtdagError("GRAPH_FILE_UNREADABLE", `cannot read graph file ${JSON.stringify(path)}: ${reason}`, {
      cause: error,
    });
  }
  try {
    const data = parseGraphText(text, format);
    return validateGraph(data, { ...options, defaults: { source: "file", ...options.defaults } });
  } catch (error) {
    // Re-throw with the file name in the message; the issues stay the same.
    if (error instanceof GraphValidationError) {
      throw new GraphValidationError(error.issues, path);
    }
    throw error;
  }
}

/** Field order of a saved task: identity and structure first, then behaviour. */
const TASK_FIELD_ORDER: readonly (keyof Task)[] = [
  "id",
  "description",
  "kind",
  "parentId",
  "dependsOn",
  "step",
  "input",
];

/** A graph as a user would write it: metadata and tasks without empty defaults. */
export function graphToDocument(graph: TaskGraph): Record<string, unknown> {
  return {
    id: graph.id,
    goal: graph.goal,
    decomposer: graph.decomposer,
    source: graph.source,
    decomposedAt: graph.decomposedAt,
    tasks: graph.tasks.map(taskToDocument),
  };
}

/** A task as a user would write it: identity and structure first, without an empty `description` or `dependsOn`. */
export function taskToDocument(task: Task): Record<string, unknown> {
  const document: Record<string, unknown> = {};
  const rest = Object.keys(task).filter((key) => !TASK_FIELD_ORDER.includes(key as keyof Task)) as (keyof Task)[];
  for (const key of [...TASK_FIELD_ORDER, ...rest]) {
    const value = task[key];
    if (value === undefined) {
      continue;
    }
    if (key === "description" && value === "") {
      continue;
    }
    if (key === "dependsOn" && Array.isArray(value) && value.length === 0) {
      continue;
    }
    document[key] = value;
  }
  return document;
}

/** The graph as YAML text, in the shape of {@link graphToDocument}, with `dependsOn: [a, b]` on one line. */
export function graphToYaml(graph: TaskGraph): string {
  const document = new Document(graphToDocument(graph), { aliasDuplicateObjects: false });
  graph.tasks.forEach((_, index) => {
    const dependsOn = document.getIn(["tasks", index, "dependsOn"], true);
    if (isSeq(dependsOn)) {
      dependsOn.flow = true;
    }
  });
  return document.toString({ lineWidth: 0, flowCollectionPadding: false });
}

/** The graph as JSON text (two-space indent, final newline), in the shape of {@link graphToDocument}. */
export function graphToJson(graph: TaskGraph): string {
  return `${JSON.stringify(graphToDocument(graph), null, 2)}\n`;
}

/**
 * Save a graph to a file; the format follows the extension (`.json`, `.yaml`, `.yml`).
 * `loadGraphFile` on the result gives back an equal graph.
 */
export async function saveGraphFile(graph: TaskGraph, path: string): Promise<void> {
  const text = graphFileFormat(path) === "json" ? graphToJson(graph) : graphToYaml(graph);
  await writeFile(path, text, "utf8");
}
