/** Steps that summarise a CSV file: read it into columns, profile each column (forEach), summarise. */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { z } from "zod";
import { defineStep } from "../../composer/steps.js";
import { NonRetryableError } from "../../errors.js";
import { columnStats, parseCsv } from "./csv-stats.js";

/** Most data rows read; the summary says when a file had more. @default 200000 */
const MAX_ROWS = 200_000;

export const readCsv = defineStep({
  description:
    "Read a CSV file (first row: header) into columns of raw values. Output: { file, rows, truncated, columns: [{name, values}] }",
  input: z.object({ file: z.string().min(1).describe("path of the .csv file") }),
  idempotent: true,
  run: async ({ input }) => {
    const file = resolve(input.file.replace(/^["']|["']$/g, ""));
    const text = await readFile(file, "utf8").catch((error: unknown) => {
      throw new NonRetryableError(`cannot read ${file}: ${(error as Error).message}`, { cause: error });
    });
    const [header, ...all] = parseCsv(text.replace(/^\uFEFF/, ""));
    if (!header) {
      throw new NonRetryableError(`${file} is empty: a CSV needs a header row`);
    }
    const rows = all.filter((r) => !(r.length === 1 && r[0] === "")).slice(0, MAX_ROWS);
    const columns = header.map((name, index) => ({
      name: name.trim() || `column_${index + 1}`,
      values: rows.map((r) => r[index] ?? ""),
    }));
    return { file, rows: rows.length, truncated: all.length > MAX_ROWS, columns };
  },
});

const statsSchema = z.object({
  name: z.string(),
  type: z.string(),
  count: z.number(),
  missing: z.number(),
  distinct: z.number(),
  min: z.union([z.number(), z.string()]).nullable(),
  max: z.union([z.number(), z.string()]).nullable(),
  mean: z.number().nullable(),
});

export const profileColumn = defineStep({
  description:
    "Infer one column's type and compute count, missing, distinct, min, max and mean; use with forEach over readCsv's `columns`. Output: { name, type, count, missing, distinct, min, max, mean }",
  input: z.object({ item: z.object({ name: z.string(), values: z.array(z.string()) }) }),
  idempotent: true,
  run: ({ input }) => columnStats(input.item.name, input.item.values),
});

export const summariseCsv = defineStep({
  description: "Combine the column profiles of a CSV into one summary. Output: { file, rows, columns: [stats] }",
  input: z.object({ file: z.string(), rows: z.number(), columns: z.array(statsSchema) }),
  idempotent: true,
  run: ({ input }) => ({ file: input.file, rows: input.rows, columns: input.columns }),
});
