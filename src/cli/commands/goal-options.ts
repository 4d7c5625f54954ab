/** Flags shared by the commands that plan a goal (`run`, `plan`). */
import type { Command } from "commander";
import { CLI_DEFAULTS } from "../../defaults.js";

/** Planning flags, as commander parses them; settings.ts validates them. */
export interface GoalFlags {
  decomposer?: string;
  provider?: string;
  model?: string;
  maxParallel?: string;
}

/** Adds --decomposer, --provider and --model (defaults < htdag.config.* < env < flags). */
export function addGoalOptions(command: Command): Command {
  return command
    .option(
      "--decomposer <kind>",
      "rules (offline, default), llm or hybrid (rules first, then the LLM); config decomposer, env HTDAG_DECOMPOSER",
    )
    .option(
      "--provider <name>",
      "LLM API: openai or anthropic (config provider, env HTDAG_PROVIDER; default openai, or anthropic when only ANTHROPIC_API_KEY is set)",
    )
    .option(
      "--model <id>",
      `LLM model (config model, env HTDAG_MODEL; default ${CLI_DEFAULTS.models.openai} or ${CLI_DEFAULTS.models.anthropic})`,
    );
}
