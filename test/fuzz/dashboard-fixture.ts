/**
 * A dashboard to attack: real Postgres with stored runs (one completed, one failed, with logs and
 * events), the built web app copied next to files that must never be served, a dashboard without
 * a token and one with, both reporting unexpected errors into a list the tests assert is empty.
 * `npm run build` first (the web app comes from dist/).
 */
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect } from "vitest";
import { createOrchestrator, NonRetryableError, type Dashboard, type Orchestrator } from "../../src/index.js";
import type { DashboardOptions } from "../../src/orchestrator/dashboard-port.js";
import { validateGraph } from "../../src/graph/validate.js";
import { createTestDatabase } from "../helpers/postgres.js";
import { get } from "./raw-http.js";
import { dumpStore, LIVE_TABLES } from "./store-dump.js";

/** Text planted in files beside and inside the app folder that no request may ever get back. */
export const MARKER = "PLANTED-OUTSIDE-THE-ASSETS";
export const TOKEN = "fuzz-token-0123456789abcdef";
/** Time a fuzz test of hundreds of requests may take on a loaded 2-core box (it takes seconds alone). */
export const FUZZ_TIMEOUT_MS = 120_000;

export interface DashboardTarget {
  orch: Orchestrator;
  /** No token: loopback only. */
  open: Dashboard;
  /** With TOKEN. */
  locked: Dashboard;
  completedRunId: string;
  failedRunId: string;
  /** Contents a 200 from the page may carry: index.html and each file of assets/. */
  servable: Set<string>;
  /** Errors the dashboards reported as unexpected (each would have been a 500). */
  reported: unknown[];
  /** Every stored row, but the live registrations (listeners, workers). */
  snapshot(): Promise<Record<string, string[]>>;
}

/** Opens the target for the enclosing test file; `options` go to both dashboards. */
export function useDashboardTarget(options: DashboardOptions = {}): () => DashboardTarget {
  let target: DashboardTarget | undefined;
  let database: { url: string; drop: () => Promise<void> } | undefined;
  let site: string | undefined;
  beforeAll(async () => {
    database = await createTestDatabase();
    site = await mkdtemp(join(tmpdir(), "htdag-fuzz-site-"));
    const app = join(site, "app");
    await cp(fileURLToPath(new URL("../../dist/dashboard/app/", import.meta.url)), app, { recursive: true });
    for (const file of ["secret.txt", "app/secret.txt", "app/.env", "app/assets/.hidden.js", "app/assets/x.txt"]) {
      await writeFile(join(site, file), `${MARKER} ${file}\n`);
    }
    const servable = new Set([await readFile(join(app, "index.html"), "utf8")]);
    for (const name of await readdir(join(app, "assets"))) {
      if (!name.startsWith(".") && !name.endsWith(".txt")) {
        servable.add(await readFile(join(app, "assets", name), "utf8"));
      }
    }
    const orch = await createOrchestrator({ database: database.url });
    const steps = {
      fetch: async (ctx: { log: (m: string, d?: unknown) => void }) => {
        ctx.log("fetched", { bytes: 10 });
        return { items: [1, 2] };
      },
      parse: async () => {
        throw new NonRetryableError("the feed is not XML");
      },
    };
    const graph = (tasks: { id: string; dependsOn?: string[] }[]) => validateGraph({ goal: "Read the feed", tasks });
    const completed = await orch.composeFromTaskGraph(graph([{ id: "fetch" }]), steps, { workflow: "feed" });
    const failed = await orch.composeFromTaskGraph(
      graph([{ id: "fetch" }, { id: "parse", dependsOn: ["fetch"] }]),
      steps,
      { workflow: "feed" },
    );
    expect([completed.status, failed.status]).toEqual(["completed", "failed"]);
    const reported: unknown[] = [];
    const common = { port: 0, assetsDir: app, onError: (error: unknown) => void reported.push(error), ...options };
    target = {
      orch,
      open: await orch.dashboard(common),
      locked: await orch.dashboard({ ...common, token: TOKEN }),
      completedRunId: completed.runId,
      failedRunId: failed.runId,
      servable,
      reported,
      snapshot: () => dumpStore(orch, { skip: LIVE_TABLES }),
    };
  });
  afterAll(async () => {
    await target?.orch.close();
    await database?.drop();
    if (site) {
      await rm(site, { recursive: true, force: true });
    }
  });
  return () => {
    if (!target) {
      throw new Error("the dashboard target is opened in beforeAll");
    }
    return target;
  };
}

/** The dashboard still answers, with the stored runs. */
export async function expectAlive(target: DashboardTarget): Promise<void> {
  const reply = await get(target.open.port, "/api/runs");
  expect(reply.status).toBe(200);
  expect(reply.body).toContain(target.completedRunId);
}

/**
 * Checks, after the file's tests, that nothing was reported as a server error and that every stored
 * row is as it was before them. Call it right after `useDashboardTarget`.
 */
export function expectStoreUntouched(target: () => DashboardTarget): void {
  let before: Record<string, string[]>;
  beforeAll(async () => void (before = await target().snapshot()));
  afterAll(async () => {
    expect(target().reported).toEqual([]);
    expect(await target().snapshot()).toEqual(before);
  });
}
