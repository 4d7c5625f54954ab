/** The installed htdag's version, from its package.json (two folders up from src/cli and dist/cli alike). */
import { readFileSync } from "node:fs";
import { z } from "zod";

const PACKAGE_JSON = new URL("../../package.json", import.meta.url);

/** The `version` of htdag's package.json, e.g. "0.1.0". */
export function packageVersion(): string {
  return z.object({ version: z.string() }).parse(JSON.parse(readFileSync(PACKAGE_JSON, "utf8"))).version;
}
