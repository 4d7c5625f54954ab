/** Pure parts of the built-in catalogue: language detection, .gitignore, lines, markers, manifests, duplicates, CSV, the report. */
import { describe, expect, it } from "vitest";
import { columnStats, inferType, parseCsv } from "../../src/cli/catalogue/csv-stats.js";
import { groupDuplicates } from "../../src/cli/catalogue/duplicates.js";
import { countLines, groupByLanguage, isIgnored, languageOf, parseGitignore } from "../../src/cli/catalogue/files.js";
import { licenceKind } from "../../src/cli/catalogue/health.js";
import { findMarkers, parseManifest } from "../../src/cli/catalogue/manifests.js";
import { formatBytes, renderHealthReport, type HealthReportData } from "../../src/cli/catalogue/report.js";
import { builtinRuleDecomposer } from "../../src/cli/session.js";

describe("languageOf", () => {
  it.each([
    ["src/main.ts", "TypeScript"],
    ["a/b/view.TSX", "TypeScript"],
    ["tool.py", "Python"],
    ["lib.rs", "Rust"],
    ["Dockerfile", "Dockerfile"],
    ["LICENSE", "Text"],
    ["go.mod", "Go"],
    ["README.md", "Markdown"],
    [".gitignore", null],
    ["Makefile", "Makefile"],
    ["photo.jpeg", null],
    ["noext", null],
  ])("%s is %s", (path, language) => expect(languageOf(path)).toBe(language));
});

describe("parseGitignore", () => {
  it("keeps plain names and *.ext patterns, always skips .git and node_modules, ignores negations and globs", () => {
    const rules = parseGitignore("# comment\n/build/\n*.log\n!keep.log\nsrc/**/gen\ncoverage\n");
    expect(isIgnored("build", rules)).toBe(true);
    expect(isIgnored("debug.log", rules)).toBe(true);
    expect(isIgnored("node_modules", rules)).toBe(true);
    expect(isIgnored(".git", rules)).toBe(true);
    expect(isIgnored("gen", rules)).toBe(false);
    expect(isIgnored("src", rules)).toBe(false);
  });
});

describe("countLines", () => {
  it("counts a last line without newline, blank lines, CRLF, and nothing for an empty text", () => {
    expect(countLines("")).toEqual({ lines: 0, blank: 0 });
    expect(countLines("a\n\nb")).toEqual({ lines: 3, blank: 1 });
    expect(countLines("a\r\n  \r\nb\r\n")).toEqual({ lines: 3, blank: 1 });
  });

  it("groups files by language, biggest first, unknown left out", () => {
    const files = [
      { path: "a.ts", size: 1, language: "TypeScript" },
      { path: "b.py", size: 1, language: "Python" },
      { path: "c.ts", size: 1, language: "TypeScript" },
      { path: "x", size: 1, language: null },
    ];
    expect(groupByLanguage(files)).toEqual([
      { language: "TypeScript", files: ["a.ts", "c.ts"] },
      { language: "Python", files: ["b.py"] },
    ]);
  });
});

describe("markers and manifests", () => {
  it("finds TODO and FIXME with line numbers, not TODOS or words containing them", () => {
    expect(findMarkers("a.ts", "x\n// TODO: fix me\nTODOS list\n# FIXME later")).toEqual([
      { path: "a.ts", line: 2, kind: "TODO", text: "fix me" },
      { path: "a.ts", line: 4, kind: "FIXME", text: "later" },
    ]);
  });

  it("reads package.json, requirements.txt, Cargo.toml and go.mod", () => {
    expect(parseManifest("package.json", '{"dependencies":{"a":"^1"},"devDependencies":{"b":"2"}}')).toEqual({
      file: "package.json",
      dependencies: ["a@^1"],
      devDependencies: ["b@2"],
    });
    expect(parseManifest("package.json", "{broken").dependencies).toEqual([]);
    expect(parseManifest("requirements.txt", "# c\nrequests==2\n-r other.txt\nnumpy # why\n").dependencies).toEqual([
      "requests==2",
      "numpy",
    ]);
    expect(
      parseManifest(
        "Cargo.toml",
        '[package]\nname = "x"\n[dependencies]\nserde = "1"\ntokio = { version = "1.2", features = ["full"] }\n[dev-dependencies]\nproptest = "1"\n',
      ),
    ).toMatchObject({ dependencies: ["serde@1", "tokio@1.2"], devDependencies: ["proptest@1"] });
    expect(
      parseManifest(
        "go.mod",
        "module x\n\nrequire (\n\tgithub.com/a/b v1.2.0\n\tgolang.org/x/c v0.1.0 // indirect\n)\nrequire d.io/e v2.0.0\n",
      ).dependencies,
    ).toEqual(["github.com/a/b@v1.2.0", "golang.org/x/c@v0.1.0", "d.io/e@v2.0.0"]);
  });

  it("recognises common licences", () => {
    expect(licenceKind("MIT License\n\nCopyright")).toBe("MIT");
    expect(licenceKind("                                 Apache License\n Version 2.0")).toBe("Apache-2.0");
    expect(licenceKind("All rights reserved.")).toBe("unknown");
  });
});

describe("groupDuplicates", () => {
  it("groups equal hashes, leaves out singles and empty files, and adds up the waste", () => {
    const result = groupDuplicates([
      { path: "b", size: 10, sha256: "h1" },
      { path: "a", size: 10, sha256: "h1" },
      { path: "c", size: 5, sha256: "h2" },
      { path: "e1", size: 0, sha256: "e" },
      { path: "e2", size: 0, sha256: "e" },
      { path: "x", size: 100, sha256: "h3" },
    ]);
    expect(result).toEqual({ groups: [{ sha256: "h1", size: 10, paths: ["a", "b"] }], wastedBytes: 10 });
  });
});

describe("CSV", () => {
  it("parses quotes, doubled quotes, delimiters and newlines inside quotes, CRLF", () => {
    expect(parseCsv('a,b\r\n"x, y","say ""hi"""\n"multi\nline",\n')).toEqual([
      ["a", "b"],
      ["x, y", 'say "hi"'],
      ["multi\nline", ""],
    ]);
  });

  it("infers the narrowest type", () => {
    expect(inferType(["1", "-2"])).toBe("integer");
    expect(inferType(["1", "2.5", "1e3"])).toBe("number");
    expect(inferType(["true", "FALSE"])).toBe("boolean");
    expect(inferType(["2024-01-02", "2024-02-03T10:00:00Z"])).toBe("date");
    expect(inferType(["1", "x"])).toBe("string");
    expect(inferType([])).toBe("empty");
  });

  it("computes count, missing, distinct, min, max and mean", () => {
    expect(columnStats("age", ["34", "27", "", "41", "27"])).toEqual({
      name: "age",
      type: "integer",
      count: 4,
      missing: 1,
      distinct: 3,
      min: 27,
      max: 41,
      mean: 32.25,
    });
    expect(columnStats("city", ["Paris", "Lyon", "Paris"])).toEqual({
      name: "city",
      type: "string",
      count: 3,
      missing: 0,
      distinct: 2,
      min: "Lyon",
      max: "Paris",
      mean: null,
    });
  });
});

describe("renderHealthReport", () => {
  const data: HealthReportData = {
    root: "/r",
    fileCount: 3,
    totalBytes: 2048,
    generatedAt: "2026-01-01T00:00:00.000Z",
    lines: [
      { language: "Python", files: 1, lines: 3, blank: 0 },
      { language: "TypeScript", files: 2, lines: 7, blank: 1 },
    ],
    todos: { count: 2, markers: [{ path: "a.ts", line: 3, kind: "TODO", text: "x" }] },
    docs: { licence: { file: "LICENSE", kind: "MIT" }, readme: null },
    dependencies: { manifests: [{ file: "package.json", dependencies: ["zod@^4"], devDependencies: ["vitest@^4"] }] },
    large: { thresholdBytes: 524_288, files: [] },
  };

  it("renders the summary, a table sorted by lines, dependencies, markers and large files", () => {
    const report = renderHealthReport(data);
    expect(report).toContain(
      "- Files: 3 (2.0 KB)\n- Lines: 10 in 2 language(s)\n- Licence: MIT (LICENSE)\n- README: missing\n- TODO/FIXME markers: 2",
    );
    expect(report).toContain("| TypeScript | 2 | 7 | 1 |\n| Python | 1 | 3 | 0 |");
    expect(report).toContain("- zod@^4\n- vitest@^4 (dev)");
    expect(report).toContain("- TODO `a.ts:3` x\n- … and 1 more");
    expect(report).toContain("## Large files\n\nNone.");
    expect(report.endsWith("\n")).toBe(true);
  });

  it("formats sizes", () => {
    expect([formatBytes(512), formatBytes(1536), formatBytes(3 * 1024 * 1024)]).toEqual(["512 B", "1.5 KB", "3.0 MB"]);
  });
});

describe("built-in rules", () => {
  const rules = builtinRuleDecomposer();
  it.each([
    ["health report for ./some/dir", "builtin.health", "./some/dir"],
    ["Generate a health check of .", "builtin.health", "."],
    ["find duplicate files in ~/Downloads", "builtin.duplicates", "~/Downloads"],
    ["summarise data/sales 2024.csv", "builtin.csv", "data/sales 2024.csv"],
    ["Summarize the CSV file x.csv", "builtin.csv", "x.csv"],
  ])("%s → %s", (goal, rule, target) => {
    const match = rules.match(goal);
    expect(match?.rule).toBe(rule);
    expect(match?.captures.dir ?? match?.captures.file).toBe(target);
  });

  it("knows nothing else", () => expect(rules.match("bake a cake")).toBeNull());
});
