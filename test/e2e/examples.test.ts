import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main as dataPipeline } from "../../examples/data-pipeline.js";
import { main as microservices } from "../../examples/microservices.js";
import { main as threeServices } from "../../examples/three-services.js";
import { main as readme } from "../../examples/readme.js";
import { createTestDatabase } from "../helpers/postgres.js";

describe("examples", () => {
  let database: { url: string; drop: () => Promise<void> };
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database.drop();
  });

  it("data-pipeline computes revenue per region and writes the report (Postgres)", async () => {
    const result = await dataPipeline(database.url);
    expect(result.status).toBe("completed");
    expect(result.outputs.revenue).toEqual([
      { region: "east", orders: 2, revenue: 124.98 },
      { region: "north", orders: 3, revenue: 217.47 },
      { region: "south", orders: 3, revenue: 141 },
      { region: "west", orders: 2, revenue: 142.5 },
    ]);
    const load = result.outputs.load as { path: string; total: number };
    expect(load.total).toBe(625.95);
    expect(JSON.parse(await readFile(load.path, "utf8")).total).toBe(625.95);
  });

  it("microservices designs contracts per service and a deployment order (PGlite)", async () => {
    const result = await microservices();
    expect(result.status).toBe("completed");
    expect((result.outputs.deployment as { order: string[] }).order).toEqual([
      "users",
      "catalog",
      "payments",
      "orders",
    ]);
    expect(Object.keys(result.outputs.contracts as object).sort()).toEqual([
      "contract_catalog",
      "contract_orders",
      "contract_payments",
      "contract_users",
    ]);
  });

  it("three-services runs three workflows; the order service sees the user service's URL", async () => {
    const result = await threeServices(database.url);
    expect(result.status).toBe("completed");
    const orders = result.runs.order_service as { outputs: Record<string, { needs?: unknown }> };
    expect(orders.outputs.handlers?.needs).toEqual({ user_service: "http://127.0.0.1:8001/users" });
  });

  it("the README example writes three sections and publishes them (PGlite)", async () => {
    const result = await readme("memory://");
    expect(result.status).toBe("completed");
    expect(result.outputs.sections).toEqual(["## B-tree", "## GIN", "## BRIN"]);
    expect(result.outputs.publish).toEqual({ characters: 24, aborted: false });
  });

  it("an example runs as a script from the shell", async () => {
    const { stdout } = await promisify(execFile)("npx", ["tsx", "examples/microservices.ts"], {
      cwd: new URL("../..", import.meta.url).pathname,
    });
    expect(stdout).toMatch(/^completed in \d+ ms; deploy in this order: users → catalog → payments → orders/);
  });
});
