/**
 * The structured output of `llmStep`: its zod schema as a strict JSON schema (OpenAI json_schema
 * strict, Anthropic forced tool), and the model's answer read back and validated with zod.
 */
import { z } from "zod";
import { toStrict } from "./schema.js";

/** The json_schema / tool name the result is requested under. */
export const STEP_OUTPUT_NAME = "task_result";

/** The strict JSON schema of `output`; both APIs need an object at the root, so others are wrapped. */
export interface OutputSchema {
  jsonSchema: Record<string, unknown>;
  /** The result is the `result` property of the answer (the schema is not an object). */
  wrapped: boolean;
}

export function outputJsonSchema(output: z.ZodType): OutputSchema {
  const schema = z.toJSONSchema(output, { target: "draft-7", unrepresentable: "any" }) as Record<string, unknown>;
  delete schema.$schema;
  if (schema.type === "object") {
    return { jsonSchema: toStrict(schema), wrapped: false };
  }
  const root = { type: "object", properties: { result: schema }, required: ["result"] };
  return { jsonSchema: toStrict(root), wrapped: true };
}

/** The answer as a valid output, or every issue found (to quote in a re-ask). */
export function readOutput(
  content: unknown,
  output: z.ZodType,
  shape: OutputSchema,
): { value: unknown } | { issues: string[] } {
  let answer = content;
  if (typeof answer === "string") {
    try {
      answer = JSON.parse(answer) as unknown;
    } catch (error) {
      return { issues: [`$: not JSON (${(error as Error).message}); answer with JSON only`] };
    }
  }
  if (shape.wrapped) {
    answer = (answer as { result?: unknown } | null)?.result;
  }
  const parsed = output.safeParse(answer);
  if (parsed.success) {
    return { value: parsed.data };
  }
  // Strict mode makes optional properties nullable: a null the schema does not take stands for "absent".
  const withoutNulls = output.safeParse(dropNulls(answer));
  if (withoutNulls.success) {
    return { value: withoutNulls.data };
  }
  // The issues of the answer read that way, so that a null standing for an absent optional is not one.
  return {
    issues: withoutNulls.error.issues.map((issue) => `${["$", ...issue.path.map(String)].join(".")}: ${issue.message}`),
  };
}

/** `value` with the null properties of its objects left out, at every depth. */
function dropNulls(value: unknown): unknown {
  if (Array.isArray(value)) {
    return value.map(dropNulls);
  }
  if (value === null || typeof value !== "object") {
    return value;
  }
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, item]) => item !== null)
      .map(([key, item]) => [key, dropNulls(item)]),
  );
}
