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
import { parseOptions } from "../options.js";
import { YAML_MAX_ALIAS_COUNT } from "../graph/file.js";

export const DECOMPOSERS = ["rules", "llm", "hybrid"] as const;
export const PROVIDERS = ["openai", "anthropic"] as const;

const settingsSchema = z.strictObject({
  database: z.string().min(1).optional(),
  schema: z.string().min(1).optional(),
  maxParallel: z.coerce.number().int().min(1).max(10_000).optional(),
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

/** Parses one source's settings; `source` names it in errors (a file name, "environment", "flags"). */
export function parseSettings(value: unknown, source: string): PartialSettings {
  return parseOptions(settingsSchema, value ?? {}, source);
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
