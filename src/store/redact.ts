/** Rendering of connection targets without secrets. */

/** Returns a postgres URL with its password replaced by `***`; non-URLs are returned as they are. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) {
      parsed.password = "***";
    }
    return parsed.toString();
  } catch {
    // Not a URL (e.g. a key=value connection string): show only what cannot hold a password.
    return url.replace(/password=[^\s&]*/gi, "password=***");
  }
}
