/** Options of `orch.listRuns()` (`ListRunsOptions` in runs.ts), validated at the edge. */
import { z } from "zod";
import { RUN_STATUSES } from "../composer/state-machine.js";
import { LIST_RUNS_DEFAULTS, LIST_RUNS_MAX_LIMIT } from "../defaults.js";

export const listRunsOptionsSchema = z.strictObject({
  status: z.enum(RUN_STATUSES).optional(),
  workflow: z.string().min(1).optional(),
  limit: z.number().int().min(1).max(LIST_RUNS_MAX_LIMIT).default(LIST_RUNS_DEFAULTS.limit),
});
export type ResolvedListRunsOptions = z.output<typeof listRunsOptionsSchema>;
