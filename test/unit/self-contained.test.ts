/**
 * A clone needs nothing beside it: no file of the repository names a path in the sibling folder the
 * TaskBench data once lived in (it is vendored in test/fixtures/taskbench now).
 */
import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

const root = new URL("../..", import.meta.url).pathname;
/** Installed, built, generated or version-control folders (.gitignore): not the repository's own text. */
const SKIPPED = new Set(["node_modules", "dist", ".git", ".htdag", "test-results", "examples/out", "bench/results"]);
// Split so that this file does not name it either.
const SIBLING = ["..", "shared"].join("/");

async function* files(directory: string): AsyncGenerator<string> {
  for (const entry of await readdir(directory, { withFileTypes: true })) {
    if (entry.isDirectory() && !SKIPPED.has(relative(root, join(directory, entry.name)))) {
      yield* files(join(directory, entry.name));
    } else if (entry.isFile()) {
      yield join(directory, entry.name);
    }
  }
}

describe("the repository is self-contained", () => {
  it(`no file reads or names ${SIBLING}`, async () => {
    const naming: string[] = [];
    for await (const file of files(root)) {
      if ((await readFile(file, "utf8")).includes(SIBLING)) {
        naming.push(relative(root, file));
      }
    }
    expect(naming).toEqual([]);
  });
});
