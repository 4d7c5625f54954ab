/**
 * What the dashboard's stream and events API pass on to `notifications.listen` and
 * `getRecentEvents`, fuzzed at that entry point itself: a workflow holding a NUL, or an event id
 * beyond bigint, is an InvalidOptionError at once. Before, listen() opened a subscription whose
 * every read failed (retried forever), and getRecentEvents() threw PostgreSQL's own error.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InvalidOptionError } from "../../src/errors.js";
import { createOrchestrator, type Orchestrator } from "../../src/index.js";
import { createTestDatabase } from "../helpers/postgres.js";

let database: { url: string; drop: () => Promise<void> };
let orch: Orchestrator;
const reported: unknown[] = [];
beforeAll(async () => {
  database = await createTestDatabase();
  orch = await createOrchestrator({ database: database.url, onError: (error) => void reported.push(error) });
});
afterAll(async () => {
  await orch?.close();
  await database?.drop();
});

const MAX_ID = 2n ** 63n - 1n;
const withNul = fc
  .tuple(fc.string({ maxLength: 10 }), fc.string({ maxLength: 10 }))
  .map(([before, after]) => `${before}\0${after}`);
const tooLarge = fc.oneof(
  fc.bigInt({ min: MAX_ID + 1n, max: 10n ** 19n - 1n }).map(String),
  fc.bigInt({ min: MAX_ID + 1n, max: 2n ** 80n }),
  fc.double({ min: 1e19, max: 1e300, noNaN: true }).map(Math.floor),
);

describe("event filters", () => {
  it("refuse a workflow with a NUL and an event id beyond bigint, in listen and getRecentEvents (200 cases, each through both)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          withNul.map((workflow) => ({ workflow })),
          tooLarge.map((afterEventId) => ({ afterEventId })),
        ),
        async (filter) => {
          await expect(orch.notifications.getRecentEvents(filter)).rejects.toBeInstanceOf(InvalidOptionError);
          await expect(orch.notifications.listen(filter, () => undefined)).rejects.toBeInstanceOf(InvalidOptionError);
        },
      ),
      { numRuns: 200 },
    );
    expect(reported).toEqual([]);
    // The largest id is still a position.
    const sub = await orch.notifications.listen({ afterEventId: String(MAX_ID) }, () => undefined);
    await sub.close();
    expect(await orch.notifications.getRecentEvents({ workflow: "feed", afterEventId: MAX_ID })).toEqual([]);
  });
});
