/**
 * The built web app: finds its folder, and serves `index.html` and the hashed files under
 * `assets/`. Nothing else on disk is reachable: names are checked against a strict pattern.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import type { ServerResponse } from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DashboardNotBuiltError } from "./errors.js";
import { SECURITY_HEADERS, sendJson } from "./http.js";

const CONTENT_TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".json": "application/json; charset=utf-8",
};

/** Scripts and styles from this server only; no inline script, no frames, API calls to this origin only. */
const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

/** A file name under assets/ as Vite writes them: no slashes, no leading dot. */
const ASSET_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

/**
 * The folder of the built app: `assetsDir` if given; else `app/` beside this module (the installed
 * package, dist/dashboard/app), else the repository's dist/dashboard/app (running from src/).
 */
export function findAssetsDir(assetsDir: string | undefined): string {
  const candidates = assetsDir
    ? [assetsDir]
    : [
        fileURLToPath(new URL("./app/", import.meta.url)),
        fileURLToPath(new URL("../../dist/dashboard/app/", import.meta.url)),
      ];
  const found = candidates.find((dir) => existsSync(join(dir, "index.html")));
  if (!found) {
    throw new DashboardNotBuiltError(candidates);
  }
  return found;
}

/** Serves the app: `/` (and `/index.html`) is the page, `/assets/<name>` its files; 404 otherwise. */
export async function serveStatic(response: ServerResponse, dir: string, pathname: string): Promise<void> {
  if (pathname === "/" || pathname === "/index.html") {
    const html = await readFile(join(dir, "index.html"));
    response.writeHead(200, {
      ...SECURITY_HEADERS,
      "Content-Type": "text/html; charset=utf-8",
      "Cache-Control": "no-cache",
      "Content-Security-Policy": CONTENT_SECURITY_POLICY,
      "Content-Length": html.length,
    });
    response.end(html);
    return;
  }
  const name = pathname.startsWith("/assets/") ? pathname.slice("/assets/".length) : null;
  const extension = name ? name.slice(name.lastIndexOf(".")) : "";
  const type = CONTENT_TYPES[extension];
  if (name && ASSET_NAME.test(name) && type) {
    const body = await readFile(join(dir, "assets", name)).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") {
        return null;
      }
      throw error;
    });
    if (body) {
      // Vite puts a content hash in every asset name: a name never changes its content.
      response.writeHead(200, {
        ...SECURITY_HEADERS,
        "Content-Type": type,
        "Cache-Control": "public, max-age=31536000, immutable",
        "Content-Length": body.length,
      });
      response.end(body);
      return;
    }
  }
  sendJson(response, 404, { error: { code: "NOT_FOUND", message: `nothing at ${pathname}; the dashboard is at /` } });
}
