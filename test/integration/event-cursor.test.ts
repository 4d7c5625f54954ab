/**
 * Event cursors: resuming a subscription or paging stored events from `event.cursor` never skips an
 * event whose transaction committed after an event with a higher id was delivered, and never
 * delivers one twice; a plain `afterEventId` can skip such an event.
 *
 * A late commit needs two connections: it is built on Postgres only (PGlite has one connection, so
 * no transaction can stay open while another commits). Both stores run the cursor round trips.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createOrchestrator, InvalidOptionError, type Orchestrator } from "../../src/index.js";
import type { HtdagEvent } from "../../src/notifications/catalogue.js";
import { createNotifications, type Notifications } from "../../src/notifications/service.js";
import { beginLateEvent } from "../helpers/events.js";
import { createTestDatabase } from "../helpers/postgres.js";
import { STORES, useOrchestrator } from "../helpers/stores.js";
import { waitFor as waitUntil } from "../helpers/wait.js";

const waitFor = (predicate: () => boolean | Promise<boolean>, what: string) => waitUntil(predicate, 10_000, what);
const ids = (events: HtdagEvent[]) => events.map((e) => e.id);
const CHANNEL = "htdag_events";

/** The cursor of an event read back; fails the test if it has none. */
function cursorOf(event: HtdagEvent | undefined): string {
  expect(event?.cursor).toMatch(/^c1\./);
  return event!.cursor!;
}

describe.each(STORES)("event cursors on %s", (kind) => {
  const orch = useOrchestrator(kind);

  it("resume a subscription and page stored events after an event, each later event once", async () => {
    const notifications = orch().notifications;
    const types = ["custom:cursor"];
    const sent: string[] = [];
    for (let i = 0; i < 3; i++) {
      sent.push(await notifications.sendWithNotify(CHANNEL, { type: "custom:cursor", payload: { i } }));
    }
    const stored = await notifications.getRecentEvents({ types });
    expect(ids(stored)).toEqual(sent);
    const resumed: string[] = [];
    const sub = await notifications.listen({ types, after: cursorOf(stored[0]) }, (e) => void resumed.push(e.id));
    expect(resumed).toEqual(sent.slice(1));
    expect(ids(await notifications.getRecentEvents({ types, after: cursorOf(stored[1]) }))).toEqual([sent[2]]);
    expect(await notifications.getRecentEvents({ types, after: cursorOf(stored[2]) })).toEqual([]);
    const live = await notifications.sendWithNotify(CHANNEL, { type: "custom:cursor", payload: { i: 3 } });
    await waitFor(() => resumed.includes(live), "the live event");
    expect(resumed).toEqual([...sent.slice(1), live]);
    await sub.close();
  });

  it("refuses a cursor that is not one, and after together with afterEventId", async () => {
    const notifications = orch().notifications;
    await expect(notifications.listen({ after: "12" })).rejects.toThrow(InvalidOptionError);
    await expect(notifications.getRecentEvents({ after: "c1..9:3:.." })).rejects.toThrow(
      /option `after`.*an event cursor/,
    );
    await expect(notifications.getRecentEvents({ after: "c1..1:2:.1:2:.5", afterEventId: 4 })).rejects.toThrow(
      /`after` or `afterEventId`, not both/,
    );
  });
});

describe("event cursors on postgres, with a transaction that commits late", () => {
  let url: string;
  let drop: () => Promise<void>;
  let orch: Orchestrator;
  let notifications: Notifications;
  let errors: unknown[];

  beforeAll(async () => {
    ({ url, drop } = await createTestDatabase());
    orch = await createOrchestrator({ database: url });
  });
  afterAll(async () => {
    await orch.close();
    await drop();
  });
  beforeEach(() => {
    errors = [];
    notifications = createNotifications({ db: orch.db, onError: (e) => errors.push(e) });
  });
  afterEach(async () => {
    await notifications.close();
    expect(errors).toEqual([]);
  });

  it("listen({ after: event.cursor }) delivers the lower id that committed after the cursor's event, once", async () => {
    const types = ["custom:late", "custom:early"];
    const first: HtdagEvent[] = [];
    const sub = await notifications.listen({ types }, (e) => void first.push(e));
    const late = await beginLateEvent(url, "custom:late");
    try {
      const early = await notifications.sendWithNotify(CHANNEL, { type: "custom:early" });
      expect(BigInt(early)).toBeGreaterThan(BigInt(late.id));
      await waitFor(() => first.length === 1, "the committed higher id");
      await sub.close();
      expect(ids(first)).toEqual([early]);
      await late.commit();

      const byId: string[] = [];
      const byCursor: HtdagEvent[] = [];
      await notifications.listen({ types, afterEventId: early }, (e) => void byId.push(e.id));
      await notifications.listen({ types, after: cursorOf(first[0]) }, (e) => void byCursor.push(e));
      const marker = await notifications.sendWithNotify(CHANNEL, { type: "custom:early" });
      await waitFor(() => byId.includes(marker) && ids(byCursor).includes(marker), "the marker on both");
      expect(ids(byCursor)).toEqual([late.id, marker]);
      // A plain id cannot tell the late row from one already delivered: it skips it.
      expect(byId).toEqual([marker]);

      // Resuming again from each delivered event delivers exactly what followed it.
      const again: string[] = [];
      await notifications.listen({ types, after: cursorOf(byCursor[0]) }, (e) => void again.push(e.id));
      expect(again).toEqual([marker]);
      expect(await notifications.getRecentEvents({ types, after: cursorOf(byCursor[1]) })).toEqual([]);
    } finally {
      await late.end();
    }
  });

  it("getRecentEvents({ after }) pages forward without skipping a late commit", async () => {
    const types = ["custom:page-late", "custom:page"];
    const late = await beginLateEvent(url, "custom:page-late");
    try {
      const before: string[] = [];
      for (let i = 0; i < 3; i++) {
        before.push(await notifications.sendWithNotify(CHANNEL, { type: "custom:page", payload: { i } }));
      }
      const firstPage = await notifications.getRecentEvents({ types });
      expect(ids(firstPage)).toEqual(before);
      await late.commit();
      const after: string[] = [];
      for (let i = 3; i < 5; i++) {
        after.push(await notifications.sendWithNotify(CHANNEL, { type: "custom:page", payload: { i } }));
      }

      const pages: string[][] = [];
      let cursor = cursorOf(firstPage.at(-1));
      for (let page = await notifications.getRecentEvents({ types, after: cursor, limit: 1 }); page.length > 0;) {
        pages.push(ids(page));
        cursor = cursorOf(page.at(-1));
        page = await notifications.getRecentEvents({ types, after: cursor, limit: 1 });
      }
      expect(pages).toEqual([[late.id], [after[0]], [after[1]]]);
      // The plain id of the same last event skips the late row.
      expect(ids(await notifications.getRecentEvents({ types, afterEventId: before.at(-1)! }))).toEqual(after);
    } finally {
      await late.end();
    }
  });
});
