/**
 * No token when exposed: `orch.dashboard()` without a token, fuzzed over the host it is asked to
 * listen on. It starts only on a loopback address, where no other machine can reach it (checked by
 * connecting through this machine's own network address); any other host is refused at start with
 * `DashboardTokenRequiredError` (or fails with another typed error), never bound.
 */
import { connect } from "node:net";
import { hostname, networkInterfaces } from "node:os";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DashboardListenError, DashboardTokenRequiredError } from "../../src/dashboard/errors.js";
import { InvalidOptionError } from "../../src/errors.js";
import { createOrchestrator, type Orchestrator } from "../../src/index.js";
import { createTestDatabase } from "../helpers/postgres.js";

/** This machine's addresses that other machines can reach (none on a box without a network). */
const OUTSIDE = Object.values(networkInterfaces())
  .flat()
  .filter((a) => a !== undefined && !a.internal && a.family === "IPv4")
  .map((a) => a!.address);

let database: { url: string; drop: () => Promise<void> };
let orch: Orchestrator;
beforeAll(async () => {
  database = await createTestDatabase();
  orch = await createOrchestrator({ database: database.url });
});
afterAll(async () => {
  await orch?.close();
  await database?.drop();
});

/** Whether something accepts TCP connections on `address:port`. */
function reachable(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port, timeout: 2000 });
    socket.on("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.on("error", () => resolve(false));
    socket.on("timeout", () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** Starts a dashboard without a token on `host`: "refused", "failed" (a typed error) or "started" (then checked and closed). */
async function tryStart(host: string): Promise<"refused" | "failed" | "started"> {
  try {
    const dashboard = await orch.dashboard({ host, port: 0 });
    try {
      for (const address of OUTSIDE) {
        expect(await reachable(address, dashboard.port), `${host} is reachable at ${address}`).toBe(false);
      }
    } finally {
      await dashboard.close();
    }
    return "started";
  } catch (error) {
    if (error instanceof DashboardTokenRequiredError) {
      return "refused";
    }
    if (error instanceof InvalidOptionError || error instanceof DashboardListenError) {
      return "failed";
    }
    throw error;
  }
}

const EXPOSED = [
  ...["0.0.0.0", "::", "[::]", "0", "::ffff:0.0.0.0", "::ffff:127.0.0.1", "0:0:0:0:0:0:0:1", hostname()],
  ...["127.256.0.1", "127.1", "127.0.0.01", "2130706433", "0x7f000001", "localhost.", "LOCALHOST.attacker.example"],
  ...OUTSIDE,
];
const LOOPBACK = ["127.0.0.1", "localhost", "LocalHost", "::1", "[::1]", "127.0.0.2", "127.255.255.254"];

describe("a dashboard without a token", () => {
  it("refuses at start every host other machines could reach, and starts on loopback ones", async () => {
    for (const host of EXPOSED) {
      expect(await tryStart(host), host).toBe("refused");
    }
    for (const host of LOOPBACK) {
      expect(await tryStart(host), host).toBe("started");
    }
  });

  it("is never reachable from another machine, whatever the host (300 cases)", async () => {
    const octet = fc.integer({ min: 0, max: 300 });
    const host = fc.oneof(
      fc.constantFrom(...EXPOSED, ...LOOPBACK),
      fc.tuple(octet, octet, octet).map(([a, b, c]) => `127.${a}.${b}.${c}`),
      fc.ipV4(),
      fc.ipV6(),
      fc.domain(),
      fc.string({ maxLength: 20 }),
    );
    const outcomes = { refused: 0, failed: 0, started: 0 };
    await fc.assert(
      fc.asyncProperty(host, async (h) => {
        outcomes[await tryStart(h)] += 1;
      }),
      { numRuns: 300 },
    );
    expect(outcomes.refused).toBeGreaterThan(0);
    expect(outcomes.started).toBeGreaterThan(0);
  });
});
