/** The public API: what each entry point exports, that docs/api.md names all of it, and what left the root. */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import * as events from "../../src/entries/events.js";
import * as graph from "../../src/entries/graph.js";
import * as root from "../../src/index.js";

const ENTRIES = {
  htdag: "src/index.ts",
  "htdag/graph": "src/entries/graph.ts",
  "htdag/events": "src/entries/events.ts",
};

/** Every name an entry file exports, values and types, read from its `export { … }` lists. */
function exportedNames(file: string): string[] {
  const source = readFileSync(file, "utf8");
  return [...source.matchAll(/export (?:type )?\{([^}]*)\}/g)].flatMap((match) =>
    match[1]!
      .split(",")
      .map((name) => name.trim().replace(/^type /, ""))
      .filter(Boolean),
  );
}

describe("the public API", () => {
  it("docs/api.md names every export of every entry point", () => {
    const doc = readFileSync("docs/api.md", "utf8");
    const missing = Object.values(ENTRIES)
      .flatMap(exportedNames)
      .filter((name) => !new RegExp(`\`${name}\\b`).test(doc));
    expect(missing).toEqual([]);
  });

  it("package.json maps each entry point to the build of its file", () => {
    const pkg = JSON.parse(readFileSync("package.json", "utf8")) as {
      exports: Record<string, { import: string; types: string }>;
    };
    for (const [specifier, file] of Object.entries(ENTRIES)) {
      const key = specifier === "htdag" ? "." : `./${specifier.slice("htdag/".length)}`;
      const built = file.replace(/^src\//, "./dist/").replace(/\.ts$/, "");
      expect(pkg.exports[key], specifier).toEqual({ types: `${built}.d.ts`, import: `${built}.js` });
    }
  });

  it("keeps internal helpers out of the root, and graph tools and the catalogue in their subpaths", () => {
    const internal = ["percentile", "summarizeDurations", "normalizeGoal", "decompositionCacheKey", "recordPattern"];
    const moved = ["collectGraphIssues", "loadGraphFile", "criticalPath", "EVENT_TYPES", "parseEvent"];
    for (const name of [...internal, "patternConfidence", "createNotifications", "HtdagEmitter", ...moved]) {
      expect(root, name).not.toHaveProperty(name);
    }
    expect(Object.keys(graph)).toEqual(expect.arrayContaining(["validateGraph", "loadGraphFile", "criticalPath"]));
    expect(Object.keys(events)).toEqual(expect.arrayContaining(["EVENT_TYPES", "parseEvent", "InvalidEventError"]));
    expect(graph.validateGraph).toBe(root.validateGraph);
  });
});
