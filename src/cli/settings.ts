/**
 * Settings of `run`, `plan`, `runs`, `show`…: defaults < `htdag.config.json|yaml|yml` in the working
 * directory < environment < flags. Each source is parsed with zod; a bad value names its source.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { CLI_DEFAULTS } from "../defaults.js";
import { InvalidOptionError } from "../errors.js";
import { parseOptions, type OptionNaming } from "../options.js";
import { YAML_MAX_ALIAS_COUNT } from "../graph/file.js";

export const DECOMPOSERS = ["rules", "llm", "hybrid"] as const;
export const PROVIDERS = ["openai", "anthropic"] as const;

/** The most tasks of a run at once that a setting may ask for. */
const MAX_PARALLEL_LIMIT = 10_000;
const WHOLE_PARALLEL = `a whole number from 1 to ${MAX_PARALLEL_LIMIT}`;

const settingsSchema = z.strictObject({
  database: z.string().min(1).optional(),
  schema: z.string().min(1).optional(),
  // Flags and env vars are text: decimal digits are a number ("0x10", "1e1" and "" are not), and any
  // other text stays text, so the message shows what was given (z.coerce would say "NaN").
  maxParallel: z
    .preprocess(
      (value) => (typeof value === "string" && /^\s*\d+\s*$/.test(value) ? Number(value) : value),
      z
        .number({ error: WHOLE_PARALLEL })
        .int({ error: WHOLE_PARALLEL })
        .min(1, { error: WHOLE_PARALLEL })
        .max(MAX_PARALLEL_LIMIT, { error: WHOLE_PARALLEL }),
    )
    .optional(),
  decomposer: z.enum(DECOMPOSERS).optional(),
  provider: z.enum(PROVIDERS).optional(),
  model: z.string().min(1).optional(),
});

/** Settings any source may give. */
export type PartialSettings = z.infer<typeof settingsSchema>;

/** Settings after precedence and defaults. */
export interface Settings {
  /** Store URL. @default embedded PGlite in ./.htdag */
  database?: string;
  /** Postgres schema. @default "htdag" (the library's) */
  schema?: string;
  /** Tasks of a run at once. @default 10 (the library's defaults.maxParallel) */
  maxParallel: number;
  /** How goals are planned. @default "rules" */
  decomposer: (typeof DECOMPOSERS)[number];
  /** LLM API. @default "openai", or "anthropic" when only ANTHROPIC_API_KEY is set */
  provider: (typeof PROVIDERS)[number];
  /** LLM model. @default "gpt-4.1-mini" (openai) or "claude-sonnet-4-5" (anthropic) */
  model: string;
}

/** Config file names, in the order they are looked for. */
export const CONFIG_FILES = ["htdag.config.json", "htdag.config.yaml", "htdag.config.yml"] as const;

/** Each setting's flag, environment variable and a good value, for the errors that name them. */
const SETTING_NAMES: Record<keyof PartialSettings, { flag: string; env: string; example: string | number }> = {
  database: { flag: "--database", env: "HTDAG_DATABASE_URL", example: "postgres://localhost/htdag" },
  schema: { flag: "--schema", env: "HTDAG_SCHEMA", example: "htdag" },
  maxParallel: { flag: "--max-parallel", env: "HTDAG_MAX_PARALLEL", example: 4 },
  decomposer: { flag: "--decomposer", env: "HTDAG_DECOMPOSER", example: "hybrid" },
  provider: { flag: "--provider", env: "HTDAG_PROVIDER", example: "anthropic" },
  model: { flag: "--model", env: "HTDAG_MODEL", example: CLI_DEFAULTS.models.openai },
};

/** The names of a setting in one source: a flag, an env var, or a config file's key. */
function namingOf(source: string): OptionNaming {
  const known = (path: string) =>
    SETTING_NAMES[path as keyof PartialSettings] as (typeof SETTING_NAMES)["model"] | undefined;
  const unknown = `The settings are ${Object.keys(SETTING_NAMES).join(", ")}.`;
  if (source === "flags") {
    return {
      where: "",
      name: (path) => known(path)?.flag ?? path,
      fix: (path) => {
        const names = known(path);
        return names ? `Try \`${names.flag} ${names.example}\`.` : undefined;
      },
    };
  }
  if (source === "environment") {
    return {
      where: "the environment",
      name: (path) => known(path)?.env ?? path,
      fix: (path) => {
        const names = known(path);
        return names ? `Try ${names.env}=${names.example}, or unset it.` : undefined;
      },
    };
  }
  return {
    fix: (path) => {
      const names = known(path);
      if (!names) {
        return unknown;
      }
      const example = JSON.stringify(names.example);
      return `Try ${source.endsWith(".json") ? `"${path}": ${example}` : `${path}: ${example}`}.`;
    },
  };
}

/** Parses one source's settings; `source` names it in errors (a file name, "environment", "flags"). */
export function parseSettings(value: unknown, source: string): PartialSettings {
  return parseOptions(settingsSchema, value ?? {}, source, namingOf(source));
}

/** The first config file in `dir`, parsed; `{}` when there is none. */
export async function loadConfigFile(dir: string): Promise<PartialSettings> {
  for (const name of CONFIG_FILES) {
    const text = await readFile(join(dir, name), "utf8").catch(() => null);
    if (text === null) {
      continue;
    }
    let value: unknown;
    try {
      value = name.endsWith(".json") ? JSON.parse(text) : parseYaml(text, { maxAliasCount: YAML_MAX_ALIAS_COUNT });
    } catch (error) {
      throw new InvalidOptionError(name, "valid JSON or YAML", (error as Error).message);
    }
    return parseSettings(value, name);
  }
  return {};
}

/** Settings from the environment: HTDAG_DATABASE_URL (or DATABASE_URL), HTDAG_SCHEMA, HTDAG_MAX_PARALLEL, HTDAG_DECOMPOSER, HTDAG_PROVIDER, HTDAG_MODEL. */
export function envSettings(env: NodeJS.ProcessEnv): PartialSettings {
  const raw = {
    database: env.HTDAG_DATABASE_URL || env.DATABASE_URL,
    schema: env.HTDAG_SCHEMA,
    maxParallel: env.HTDAG_MAX_PARALLEL,
    decomposer: env.HTDAG_DECOMPOSER,
    provider: env.HTDAG_PROVIDER,
    model: env.HTDAG_MODEL,
  };
  return parseSettings(
    Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined && v !== "")),
    "environment",
  );
}

/** Merges sources, later ones winning, and applies the defaults. Pure. */
export function mergeSettings(sources: PartialSettings[], env: NodeJS.ProcessEnv = {}): Settings {
  const merged: PartialSettings = {};
  for (const source of sources) {
    for (const [key, value] of Object.entries(source)) {
      if (value !== undefined) {
        Object.assign(merged, { [key]: value });
      }
    }
  }
  const provider =
    merged.provider ?? (!env.OPENAI_API_KEY && env.ANTHROPIC_API_KEY ? "anthropic" : CLI_DEFAULTS.provider);
  return {
    ...(merged.database ? { database: merged.database } : {}),
    ...(merged.schema ? { schema: merged.schema } : {}),
    maxParallel: merged.maxParallel ?? CLI_DEFAULTS.maxParallel,
    decomposer: merged.decomposer ?? CLI_DEFAULTS.decomposer,
    provider,
    model: merged.model ?? CLI_DEFAULTS.models[provider],
  };
}

/** defaults < config file in `cwd` < environment < `flags`. */
export async function resolveSettings(
  flags: Record<string, unknown>,
  cwd = process.cwd(),
  env = process.env,
): Promise<Settings> {
  const fromFlags = parseSettings(
    Object.fromEntries(Object.entries(flags).filter(([k, v]) => v !== undefined && k in settingsSchema.shape)),
    "flags",
  );
  return mergeSettings([await loadConfigFile(cwd), envSettings(env), fromFlags], env);
}
