/** Builds the dashboard's web app into dist/dashboard/app (served by src/dashboard/static.ts). */
import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  // Relative asset URLs: the app also works behind a reverse proxy under a path prefix.
  base: "./",
  plugins: [react()],
  logLevel: "warn",
  build: {
    outDir: fileURLToPath(new URL("../dist/dashboard/app", import.meta.url)),
    emptyOutDir: true,
    // No inline scripts or data: URLs for code: the server's Content-Security-Policy allows 'self' only.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 1024,
  },
});
