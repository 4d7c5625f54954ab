/** Options of `orch.dashboard()`, their defaults and their validation. */
import { isIPv4 } from "node:net";
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
  maxStreams: z.number().int().min(1).max(100_000).default(DASHBOARD_DEFAULTS.maxStreams),
  onError: z.custom<(error: unknown) => void>((v) => typeof v === "function", { message: "a function" }).optional(),
});

/** Options after validation and defaults. */
export interface ResolvedDashboardOptions {
  port: number;
  host: string;
  token: string | null;
  steps: Steps | undefined;
  assetsDir: string | undefined;
  maxStreams: number;
  onError: (error: unknown) => void;
}

/**
 * Whether `host` only accepts connections from this machine: `localhost`, `::1`, or an IPv4
 * address in 127.0.0.0/8. Anything else (`127.256.0.1` or `127.1` too, which a resolver may turn
 * into any address) counts as exposed.
 */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  return bare === "localhost" || bare === "::1" || (isIPv4(bare) && bare.startsWith("127."));
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
    maxStreams: o.maxStreams,
    onError: o.onError ?? ((error: unknown) => console.error("htdag dashboard:", error)),
  };
}
