/** Writing the benchmark's JSON (the tables themselves are built in src/bench/report.ts). */
import { mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

/** Writes `report` as indented JSON, creating the folder if needed. */
export async function writeJson(path: string, report: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify(report, null, 2)}\n`);
}
