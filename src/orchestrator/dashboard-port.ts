/**
 * What the orchestrator offers of the dashboard: its options, the running server's handle, and the
 * function that starts one. The dashboard layer implements `StartDashboard`; the orchestrator only
 * holds it, so it never imports the layer above it (docs/architecture.md).
 */
import type { Steps } from "../composer/steps.js";
import type { Orchestrator } from "./orchestrator.js";

/** Options of `orch.dashboard()` and `htdag dashboard`. */
export interface DashboardOptions {
  /** TCP port to listen on; 0 picks a free one (read it from the handle's `url`). @default 4400 */
  port?: number;
  /** Address to listen on. Anything but a loopback address needs a `token`. @default "127.0.0.1" */
  host?: string;
  /**
   * Secret every API, stream and action request must carry (`Authorization: Bearer <token>`, or
   * `?token=` for the page and its event stream); at least 16 characters.
   * @default none (then only loopback hosts are allowed)
   */
  token?: string;
  /**
   * Steps that retry from the dashboard runs tasks with, when this process has not bound the run's
   * workflow itself (`htdag dashboard` passes the built-in catalogue).
   * @default the steps bound in this process
   */
  steps?: Steps;
  /** Folder of the built web app. @default dist/dashboard/app of the installed htdag */
  assetsDir?: string;
  /**
   * Event streams (`GET /api/stream`) open at once, over all clients. Each holds a subscription
   * that reads the events table whenever an event it follows commits; one more is refused with
   * `503 TOO_MANY_STREAMS` (and `Retry-After`) until another closes.
   * @default 100
   */
  maxStreams?: number;
  /** Receives errors that must not stop the server (a failed stream write, a retry that failed later). @default console.error */
  onError?: (error: unknown) => void;
}

/** A running dashboard. */
export interface Dashboard {
  /** Where to open it, e.g. `http://127.0.0.1:4400/` (without the token). */
  readonly url: string;
  /** The port it listens on (useful with `port: 0`). */
  readonly port: number;
  /** The address it listens on. */
  readonly host: string;
  /** Ends open event streams and stops the server. Safe to call twice. */
  close(): Promise<void>;
}

/** Starts a dashboard over an orchestrator: `startDashboard` of the dashboard layer. */
export type StartDashboard = (orch: Orchestrator, options?: DashboardOptions) => Promise<Dashboard>;
