/** Errors of the dashboard: each names the problem and the fix. */
import { HtdagError, type HtdagErrorCode } from "../errors.js";

/** The dashboard was asked to listen beyond this machine without a token. */
export class DashboardTokenRequiredError extends HtdagError {
  readonly host: string;

  constructor(host: string) {
    super(
      "DASHBOARD_TOKEN_REQUIRED",
      `the dashboard would listen on ${host}, which other machines can reach, without a token: ` +
        "pass one (`orch.dashboard({ token })`, `htdag dashboard --token <token>` or HTDAG_DASHBOARD_TOKEN; at least 16 characters, " +
        "e.g. from `openssl rand -hex 32`), or leave the host at 127.0.0.1 (the default)",
    );
    this.host = host;
  }
}

/** The web app is not built next to the server code. */
export class DashboardNotBuiltError extends HtdagError {
  constructor(searched: string[]) {
    super(
      "DASHBOARD_NOT_BUILT",
      `the dashboard's web app is not built (no index.html in ${searched.join(" or ")}): run \`npm run build\`, ` +
        "or pass `assetsDir` with the folder `vite build --config web/vite.config.ts` wrote",
    );
  }
}

/** The HTTP server could not listen (the port is taken, or the address is not on this machine). */
export class DashboardListenError extends HtdagError {
  constructor(host: string, port: number, cause: unknown) {
    const code = (cause as { code?: string })?.code;
    const fix =
      code === "EADDRINUSE"
        ? `port ${port} is in use: pick another with --port (or port: 0 for any free one)`
        : code === "EADDRNOTAVAIL"
          ? `${host} is not an address of this machine: pick another with --host`
          : `${cause instanceof Error ? cause.message : String(cause)}`;
    super("DASHBOARD_LISTEN_FAILED", `the dashboard cannot listen on ${host}:${port}: ${fix}`, { cause });
  }
}

/** A request the API refuses before doing anything: the status and message go back to the caller. */
export class DashboardRequestError extends HtdagError {
  readonly status: number;

  constructor(status: number, code: HtdagErrorCode, message: string) {
    super(code, message);
    this.status = status;
  }
}
