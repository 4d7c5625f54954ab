/**
 * From the model's answer to a list of planned tasks: find the JSON (tolerating code fences and
 * prose around it), accept the plan's common dialects (a bare array, `depends_on`, `tool`), fill
 * fields the model left out where a safe default exists, and report what is still wrong as issues
 * with paths. Every tolerance applied is recorded as a repair action.
 */
import type { GraphIssue } from "../../errors.js";

/** A task as the model planned it, after parsing. `input` is still as sent (text or object). */
export interface PlannedTask {
  id: string;
  description: string;
  step: string | null;
  kind: "atomic" | "composite";
  dependsOn: string[];
  input: unknown;
}

/** The planned tasks that parsed, and the problems found. */
export interface ParsedPlan {
  tasks: PlannedTask[];
  issues: GraphIssue[];
}

type Record_ = (action: string) => void;

const TASK_LIST_ALIASES = ["tasks", "plan", "steps", "nodes", "task_nodes", "subtasks"];
const FIELD_ALIASES: Record<keyof PlannedTask, string[]> = {
  id: ["task_id", "taskId", "name"],
  description: ["desc", "title", "task", "summary"],
  step: ["tool", "action", "function"],
  kind: ["type"],
  dependsOn: ["depends_on", "dependencies", "deps", "dep", "dependsOnIds", "after"],
  input: ["inputs", "arguments", "args", "params", "parameters"],
};

/** Parses the model's answer (text or a tool call's input) into planned tasks and issues. */
export function readPlan(content: unknown, record: Record_): ParsedPlan {
  let value = content;
  if (typeof value === "string") {
    const extracted = extractJson(value, record);
    if ("issue" in extracted) {
      return { tasks: [], issues: [extracted.issue] };
    }
    value = extracted.value;
  }
  if (typeof value === "string") {
    // JSON encoded twice, or a tool input sent as a string.
    const inner = extractJson(value, record);
    if ("issue" in inner) {
      return { tasks: [], issues: [inner.issue] };
    }
    record("decoded a plan sent as a JSON string");
    value = inner.value;
  }
  const list = taskList(value, record);
  if (list === null) {
    return {
      tasks: [],
      issues: [{ code: "invalid_plan", path: "$", message: 'the answer must be an object {"tasks": [ … ]}' }],
    };
  }
  const tasks: PlannedTask[] = [];
  const issues: GraphIssue[] = [];
  list.forEach((raw, index) => {
    const parsed = readTask(raw, `tasks[${index}]`, record);
    if ("issues" in parsed) {
      issues.push(...parsed.issues);
    } else {
      tasks.push(parsed.task);
    }
  });
  if (list.length === 0) {
    issues.push({ code: "empty_plan", path: "tasks", message: "the plan has no tasks; plan at least one task" });
  }
  return { tasks, issues };
}

/** The JSON in `text`: as is, inside code fences, or between the first bracket and its last partner. */
export function extractJson(text: string, record: Record_): { value: unknown } | { issue: GraphIssue } {
  const trimmed = text.replace(/^\uFEFF/, "").trim();
  if (trimmed === "") {
    return { issue: { code: "invalid_json", path: "$", message: "the answer is empty; answer with the plan as JSON" } };
  }
  const direct = tryParse(trimmed);
  if ("value" in direct) {
    return direct;
  }
  const fenced = /```[A-Za-z]*\s*\n?([\s\S]*?)```/.exec(trimmed)?.[1];
  if (fenced !== undefined && "value" in tryParse(fenced.trim())) {
    record("stripped markdown code fences around the JSON");
    return tryParse(fenced.trim()) as { value: unknown };
  }
  const start = trimmed.search(/[[{]/);
  const end = Math.max(trimmed.lastIndexOf("}"), trimmed.lastIndexOf("]"));
  if (start >= 0 && end > start) {
    const inner = tryParse(trimmed.slice(start, end + 1));
    if ("value" in inner) {
      record("dropped text around the JSON");
      return inner;
    }
  }
  return {
    issue: {
      code: "invalid_json",
      path: "$",
      message: `the answer is not valid JSON (${direct.error}); answer with JSON only`,
    },
  };
}

function tryParse(text: string): { value: unknown } | { error: string } {
  try {
    return { value: JSON.parse(text) as unknown };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

function taskList(value: unknown, record: Record_): unknown[] | null {
  if (Array.isArray(value)) {
    record('wrapped a bare array of tasks as {"tasks": [...]}');
    return value;
  }
  if (value === null || typeof value !== "object") {
    return null;
  }
  for (const key of TASK_LIST_ALIASES) {
    const list = (value as Record<string, unknown>)[key];
    if (!Array.isArray(list)) {
      continue;
    }
    if (key !== "tasks") {
      record(`read the task list from "${key}"`);
    }
    return list;
  }
  return null;
}

/** One task of the plan, read on its own (also for a task handed over while the answer streams). */
export function readTask(
  raw: unknown,
  path: string,
  record: Record_,
): { task: PlannedTask } | { issues: GraphIssue[] } {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    return {
      issues: [
        {
          code: "invalid_field",
          path,
          message: "each task must be an object { id, description, step, kind, dependsOn, input }",
        },
      ],
    };
  }
  const fields = withCanonicalNames(raw as Record<string, unknown>, path, record);
  const issues: GraphIssue[] = [];
  const id = typeof fields.id === "number" ? String(fields.id) : fields.id;
  if (typeof id !== "string" || id === "") {
    issues.push({
      code: "missing_field",
      path: `${path}.id`,
      message: `${fields.id === undefined ? "missing" : "not a string"}; every task needs a unique string id`,
    });
  }
  const step = fields.step === undefined ? null : fields.step;
  if (step !== null && typeof step !== "string") {
    issues.push({ code: "invalid_field", path: `${path}.step`, message: "must be a step name or null" });
  }
  const kind = fields.kind ?? "atomic";
  if (kind !== "atomic" && kind !== "composite") {
    issues.push({
      code: "invalid_field",
      path: `${path}.kind`,
      message: `must be "atomic" or "composite", not ${JSON.stringify(kind)}`,
    });
  }
  const dependsOn = readDependsOn(fields.dependsOn, `${path}.dependsOn`, record, issues);
  const input = fields.input ?? null;
  if (input !== null && typeof input !== "string" && (typeof input !== "object" || Array.isArray(input))) {
    issues.push({
      code: "invalid_field",
      path: `${path}.input`,
      message: "must be a JSON object encoded as a string, or null",
    });
  }
  if (issues.length > 0) {
    return { issues };
  }
  for (const name of ["step", "kind", "dependsOn", "description"] as const) {
    if (fields[name] === undefined) {
      record(
        `${path}.${name}: missing, set to ${name === "description" ? "the id" : JSON.stringify(name === "step" ? null : name === "kind" ? "atomic" : [])}`,
      );
    }
  }
  const description = typeof fields.description === "string" ? fields.description : (id as string);
  return {
    task: {
      id: id as string,
      description,
      step: step as string | null,
      kind: kind as PlannedTask["kind"],
      dependsOn,
      input,
    },
  };
}

/** The task's fields under their canonical names (`depends_on` → `dependsOn`, …). */
function withCanonicalNames(raw: Record<string, unknown>, path: string, record: Record_): Record<string, unknown> {
  const fields = { ...raw };
  for (const [name, aliases] of Object.entries(FIELD_ALIASES)) {
    if (fields[name] !== undefined) {
      continue;
    }
    const alias = aliases.find((a) => fields[a] !== undefined);
    if (alias === undefined) {
      continue;
    }
    fields[name] = fields[alias];
    record(`${path}: read "${name}" from "${alias}"`);
  }
  return fields;
}

function readDependsOn(value: unknown, path: string, record: Record_, issues: GraphIssue[]): string[] {
  if (value === undefined || value === null) {
    return [];
  }
  if (typeof value === "string") {
    const decoded = value.trim().startsWith("[")
      ? tryParse(value)
      : {
          value: value
            .split(",")
            .map((s) => s.trim())
            .filter(Boolean),
        };
    if ("value" in decoded && Array.isArray(decoded.value)) {
      record(`${path}: read a list sent as a string`);
      return readDependsOn(decoded.value, path, record, issues);
    }
  }
  if (!Array.isArray(value) || value.some((d) => typeof d !== "string" && typeof d !== "number")) {
    issues.push({ code: "invalid_field", path, message: "must be a list of task ids" });
    return [];
  }
  return value.map(String);
}
