// ESLint: typescript-eslint's recommended rules, braces and no comma sequences, and the layer order of
// docs/architecture.md enforced with import-x (a lower layer never imports a higher one; no cycles).
import js from "@eslint/js";
import { createTypeScriptImportResolver } from "eslint-import-resolver-typescript";
import importX from "eslint-plugin-import-x";
import tseslint from "typescript-eslint";

/** The layers of src/, lowest first. A layer may import its own folder and the layers before it. */
const LAYERS = [
  ["foundation", ["./src/errors.ts", "./src/defaults.ts", "./src/option-messages.ts", "./src/options.ts"]],
  ["telemetry", ["./src/telemetry"]],
  ["graph", ["./src/graph"]],
  ["store", ["./src/store"]],
  ["composer", ["./src/composer"]],
  // Three peers: none of them imports another.
  ["decomposers", ["./src/decomposers"]],
  ["optimizer", ["./src/optimizer"]],
  ["notifications", ["./src/notifications"]],
  ["orchestrator", ["./src/orchestrator"]],
  ["dashboard", ["./src/dashboard"]],
  ["wiring", ["./src/create-orchestrator.ts"]],
  ["bench", ["./src/bench"]],
  ["cli", ["./src/cli"]],
  ["entry", ["./src/index.ts", "./src/entries"]],
];
const PEERS = ["decomposers", "optimizer", "notifications"];

/** For each layer, the folders and files it must not import: every layer above it, and its peers. */
function layerZones() {
  const zones = [];
  LAYERS.forEach(([name, paths], index) => {
    const above = LAYERS.slice(index + 1).flatMap(([, higher]) => higher);
    const peers = PEERS.includes(name)
      ? LAYERS.filter(([other]) => PEERS.includes(other) && other !== name).flatMap(([, p]) => p)
      : [];
    if (above.length === 0 && peers.length === 0) {
      return;
    }
    for (const target of paths) {
      zones.push({
        target,
        from: [...new Set([...above, ...peers])],
        message: `${name} may import only its own folder and the layers below it (docs/architecture.md)`,
      });
    }
  });
  return zones;
}

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "bench/results/", "examples/out/", ".htdag/", "test-results/", "**/.tmp-*/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    plugins: { "import-x": importX },
    settings: {
      "import-x/resolver-next": [
        createTypeScriptImportResolver({
          project: ["tsconfig.json", "web/tsconfig.json"],
          noWarnOnMultipleProjects: true,
        }),
      ],
    },
    rules: {
      curly: ["error", "all"],
      "no-sequences": ["error", { allowInParentheses: false }],
      "import-x/no-duplicates": "error",
      "import-x/no-cycle": ["error", { ignoreExternal: true }],
      "import-x/no-restricted-paths": ["error", { zones: layerZones() }],
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" },
      ],
    },
  },
  {
    files: ["**/*.js", "**/*.mjs"],
    languageOptions: { globals: { process: "readonly", console: "readonly", URL: "readonly", setTimeout: "readonly" } },
  },
);
