/**
 * The outside LISTEN subscriber: `node --import tsx test/chaos/subscriber-child.ts <url> <file>`.
 * Follows every event of the chaos workflow and appends each one to `file` as it is handled, one
 * line `<ms since epoch> <event id> <type> <cursor>`, written synchronously (a kill -9 loses no
 * line it wrote). Started again, it resumes after the cursor of the file's last line. Prints
 * "ready" once it listens.
 */
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { createOrchestrator } from "../../src/index.js";
import { exitWithHarness, reportToHarness } from "./child.js";
import { CHAOS_WORKFLOW } from "./workload.js";

const [url, file] = process.argv.slice(2) as [string, string];

/** The cursor of the last event written to the file, if any. */
function lastCursor(): string | undefined {
  const lines = existsSync(file) ? readFileSync(file, "utf8").split("\n").filter(Boolean) : [];
  return lines.at(-1)?.split(" ")[3];
}

for (;;) {
  const orch = await createOrchestrator({ database: url, migrate: false, onError: reportToHarness }).catch(
    (error: unknown) => void reportToHarness(error),
  );
  try {
    if (orch) {
      const after = lastCursor();
      await orch.notifications.listen(
        { workflow: CHAOS_WORKFLOW, ...(after ? { after } : {}), onError: reportToHarness },
        (event) => appendFileSync(file, `${Date.now()} ${event.id} ${event.type} ${event.cursor}\n`),
      );
      break;
    }
  } catch (error) {
    reportToHarness(error);
    await orch?.close().catch(reportToHarness);
  }
  // The server is restarting or our connection was terminated: try again.
  await sleep(200);
}
exitWithHarness();
console.log("ready");
