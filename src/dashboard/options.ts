/** Options of `orch.dashboard()`, their defaults and their validation. */
import { z } from "zod";
import { DASHBOARD_DEFAULTS } from "../defaults.js";
import { isStep, type Steps } from "../composer/steps.js";
import { InvalidOptionError } from "../errors.js";
import { parseOptions } from "../options.js";
import { DashboardTokenRequiredError } from "./errors.js";

/** The options of `orch.dashboard()` (`DashboardOptions` in src/orchestrator/dashboard-port.ts). */
export const dashboardOptionsSchema = z.strictObject({
  port: z.number().int().min(0).max(65_535).default(DASHBOARD_DEFAULTS.port),
  host: z.string().min(1).default(DASHBOARD_DEFAULTS.host),
  token: z
    .string()
    .min(16, { message: "a token of at least 16 characters (e.g. from `openssl rand -hex 32`)" })
    .regex(/^[\x21-\x7e]+$/, { message: "a token of printable ASCII characters without spaces" })
    .optional(),
  steps: z
    .custom<Steps>((v) => v !== null && typeof v === "object", { message: "an object of step functions by name" })
    .optional(),
  assetsDir: z.string().min(1).optional(),
  onError: z.custom<(error: unknown) => void>((v) => typeof v === "function", { message: "a function" }).optional(),
});

/** Options after validation and defaults. */
export interface ResolvedDashboardOptions {
  port: number;
  host: string;
  token: string | null;
  steps: Steps | undefined;
  assetsDir: string | undefined;
  onError: (error: unknown) => void;
}

/** Whether `host` only accepts connections from this machine. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, "").toLowerCase();
  return bare === "localhost" || bare === "::1" || /^127(\.\d{1,3}){3}$/.test(bare);
}

/** Validates the options of `orch.dashboard()`, applies the defaults, and refuses an exposed host without a token. */
export function resolveDashboardOptions(options: unknown): ResolvedDashboardOptions {
  const o = parseOptions(dashboardOptionsSchema, options ?? {}, "dashboard");
  for (const [name, step] of Object.entries(o.steps ?? {})) {
    if (!isStep(step)) {
      throw new InvalidOptionError(`steps.${name}`, "a function or a defineStep({...}) result", step, "dashboard");
    }
  }
  if (!o.token && !isLoopbackHost(o.host)) {
    throw new DashboardTokenRequiredError(o.host);
  }
  return {
    port: o.port,
    host: o.host,
    token: o.token ?? null,
    steps: o.steps,
    assetsDir: o.assetsDir,
    onError: o.onError ?? ((error: unknown) => console.error("htdag dashboard:", error)),
  };
}
