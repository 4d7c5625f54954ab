/**
 * The receiving side of bench/events.ts, run in its own process: a plain `LISTEN` client and an
 * htdag subscription on the same channel. Prints `ready`, then one JSON line per event:
 * `{ id, via: "notify" | "subscription", at }` with `at` in ms on the machine clock.
 *
 *   node --import tsx bench/events-child.ts <postgres url> <channel> <count>
 */
import pg from "pg";
import { createNotifications } from "../src/notifications/service.js";
import { openPgDb } from "../src/store/pg-driver.js";

const [url, channel, countText] = process.argv.slice(2);
if (!url || !channel || !countText) {
  throw new Error("usage: events-child.ts <postgres url> <channel> <count>");
}
const count = Number(countText);
const now = () => performance.timeOrigin + performance.now();
const print = (id: string, via: string, at: number) => process.stdout.write(`${JSON.stringify({ id, via, at })}\n`);

const raw = new pg.Client({ connectionString: url });
await raw.connect();
let notified = 0;
raw.on("notification", (message) => {
  const at = now();
  const { id, type } = JSON.parse(message.payload ?? "{}") as { id: number; type: string };
  if (type !== "bench:latency") {
    return;
  }
  print(String(id), "notify", at);
  notified++;
});
await raw.query(`LISTEN ${channel}`);

const db = await openPgDb(url);
const notifications = createNotifications({ db, channel });
let delivered = 0;
const done = new Promise<void>((resolve) => {
  void notifications
    .listen({ types: ["bench:latency"] }, (event) => {
      print(event.id, "subscription", now());
      if (++delivered === count) {
        resolve();
      }
    })
    .then(() => process.stdout.write("ready\n"));
});
await done;
while (notified < count) {
  await new Promise((resolve) => setTimeout(resolve, 5));
}
await notifications.close();
await db.close();
await raw.end();
