/**
 * The shape of the plan the model answers with, as zod and as the JSON schema sent to the API.
 *
 * The plan is a flat list `{ id, description, step | null, kind, dependsOn, input | null }`.
 * `input` is a JSON object *encoded as a string*: strict structured output needs every object
 * to list all its properties with `additionalProperties: false`, so free-form step inputs cannot
 * be objects there. The parser also takes an object (models sometimes send one anyway).
 */
import { z } from "zod";

/** The tool / json_schema name the plan is requested under. */
export const PLAN_SCHEMA_NAME = "task_plan";

/** What shapes the schema: the catalogue's step names and whether composites are allowed. */
export interface PlanShape {
  stepNames: readonly string[];
  allowComposite: boolean;
  /** A fallback step is bound: an atomic task may have no step (a free-form task). @default false */
  freeForm?: boolean;
}

/** The zod schema of a plan for `shape`: step names as an enum, kinds as the level allows. */
export function planSchema(shape: PlanShape) {
  const [firstStep, ...otherSteps] = shape.stepNames;
  const step = firstStep === undefined ? z.string() : z.enum([firstStep, ...otherSteps]);
  const kinds = shape.allowComposite ? z.enum(["atomic", "composite"]) : z.enum(["atomic"]);
  const task = z.object({
    id: z.string().describe("Unique id: lower-case letters, digits and _"),
    description: z.string().describe("What this task achieves, in one sentence"),
    step: step
      .nullable()
      .describe(
        shape.freeForm
          ? "The catalogue step an atomic task runs; null for a composite or a free-form task"
          : "The catalogue step an atomic task runs; null for a composite",
      ),
    kind: kinds.describe(
      shape.allowComposite ? "atomic: runs one step; composite: planned in more detail later" : "atomic: runs one step",
    ),
    dependsOn: z.array(z.string()).describe("Ids of tasks in this plan that must finish first"),
    input: z
      .string()
      .nullable()
      .describe('The step input as a JSON object encoded as a string, e.g. "{\\"city\\":\\"Paris\\"}"; null for none'),
  });
  return z.object({ tasks: z.array(task).describe("The tasks, in a sensible order") });
}

/** A JSON schema node, loosely typed. */
type SchemaNode = Record<string, unknown>;

/**
 * The JSON schema of `shape`, adjusted for strict structured output: every object lists all its
 * properties as required (a property zod left optional becomes nullable), has
 * `additionalProperties: false`, and no `oneOf` (rewritten to `anyOf`); no `$schema` key.
 */
export function planJsonSchema(shape: PlanShape): SchemaNode {
  const schema = z.toJSONSchema(planSchema(shape), { target: "draft-7" }) as SchemaNode;
  delete schema.$schema;
  return toStrict(schema);
}

/** Applies the strict-mode rules to a JSON schema node and everything below it. */
export function toStrict(node: SchemaNode): SchemaNode {
  const out: SchemaNode = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === "oneOf") {
      out.anyOf = (value as SchemaNode[]).map(toStrict);
    } else if (key === "properties") {
      out.properties = strictProperties(value as Record<string, SchemaNode>, node.required);
    } else if (Array.isArray(value)) {
      out[key] = value.map((item) => (isNode(item) ? toStrict(item) : item));
    } else {
      out[key] = isNode(value) ? toStrict(value) : value;
    }
  }
  if (out.type === "object" || out.properties !== undefined) {
    out.properties ??= {};
    out.required = Object.keys(out.properties as SchemaNode);
    out.additionalProperties = false;
  }
  return out;
}

function strictProperties(properties: Record<string, SchemaNode>, required: unknown): SchemaNode {
  const requiredNames = new Set(Array.isArray(required) ? (required as string[]) : []);
  const out: SchemaNode = {};
  for (const [name, property] of Object.entries(properties)) {
    const strict = toStrict(property);
    out[name] = requiredNames.has(name) ? strict : { anyOf: [strict, { type: "null" }] };
  }
  return out;
}

function isNode(value: unknown): value is SchemaNode {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
