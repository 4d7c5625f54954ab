import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/helpers/global-setup.ts"],
    // fast-check draws from one fixed seed (HTDAG_FUZZ_SEED to explore others).
    setupFiles: ["test/helpers/fast-check-seed.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: one Postgres plus two test workers keeps the box busy without thrashing.
    maxWorkers: 2,
    // Tests marked concurrent (each a process of its own: the docs' examples) run three at once.
    maxConcurrency: 3,
  },
});
