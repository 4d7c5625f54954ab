/** Pure CSV parsing (RFC 4180: quotes, doubled quotes, newlines in quotes) and column statistics. */

/** Parses CSV text into rows of fields. A trailing newline adds no row. */
export function parseCsv(text: string, delimiter = ","): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  const endField = () => {
    row.push(field);
    field = "";
  };
  const endRow = () => {
    endField();
    rows.push(row);
    row = [];
  };
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (quoted && char === '"' && text[i + 1] === '"') {
      field += '"';
      i++;
    } else if (char === '"' && (quoted || field === "")) {
      quoted = !quoted;
    } else if (quoted) {
      field += char;
    } else if (char === delimiter) {
      endField();
    } else if (char === "\n" || char === "\r") {
      if (char === "\r" && text[i + 1] === "\n") {
        i++;
      }
      endRow();
    } else {
      field += char;
    }
  }
  if (field !== "" || row.length > 0) {
    endRow();
  }
  return rows;
}

/** The type a column's non-empty values all share. */
export type ColumnType = "integer" | "number" | "boolean" | "date" | "string" | "empty";

/** Statistics of one column. */
export interface ColumnStats {
  name: string;
  type: ColumnType;
  /** Non-empty values. */
  count: number;
  /** Empty values. */
  missing: number;
  distinct: number;
  /** Numbers for numeric columns, ISO dates for dates, strings (by code point) otherwise; null when empty. */
  min: number | string | null;
  max: number | string | null;
  /** Mean of a numeric column, else null. */
  mean: number | null;
}

const INTEGER = /^[+-]?\d+$/;
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const BOOLEAN = /^(true|false)$/i;
const DATE = /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/;

/** The narrowest type every value fits. */
export function inferType(values: readonly string[]): ColumnType {
  if (values.length === 0) {
    return "empty";
  }
  if (values.every((v) => INTEGER.test(v))) {
    return "integer";
  }
  if (values.every((v) => NUMBER.test(v))) {
    return "number";
  }
  if (values.every((v) => BOOLEAN.test(v))) {
    return "boolean";
  }
  if (values.every((v) => DATE.test(v) && !Number.isNaN(Date.parse(v)))) {
    return "date";
  }
  return "string";
}

/** Statistics of one column's raw values (whitespace around a value is trimmed). */
export function columnStats(name: string, raw: readonly string[]): ColumnStats {
  const values = raw.map((v) => v.trim()).filter((v) => v !== "");
  const type = inferType(values);
  const base = {
    name,
    type,
    count: values.length,
    missing: raw.length - values.length,
    distinct: new Set(values).size,
  };
  if (type === "integer" || type === "number") {
    const numbers = values.map(Number);
    const sum = numbers.reduce((a, b) => a + b, 0);
    return {
      ...base,
      min: Math.min(...numbers),
      max: Math.max(...numbers),
      mean: Math.round((sum / numbers.length) * 1e6) / 1e6,
    };
  }
  const sorted = [...values].sort();
  return { ...base, min: sorted[0] ?? null, max: sorted.at(-1) ?? null, mean: null };
}
