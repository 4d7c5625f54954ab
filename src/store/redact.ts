/**
 * Secrets kept out of what htdag stores and prints: connection targets without their password, and
 * the one rule set (`createRedactor`) that error messages, log lines and decomposition failures go
 * through before they are written. Pure: the secrets it knows by value are handed to it.
 */

/** What a redacted secret becomes. */
export const REDACTED = "***";

/** Known secrets shorter than this are left to the patterns: replacing a short word everywhere would garble text. */
const MIN_KNOWN_LENGTH = 8;

/**
 * Whether a known secret is replaced wherever it appears: 8 characters or more, of two kinds at
 * least (lower case, upper case, digits, others). A plain word (`postgres`, a common development
 * password) or a number would garble every message that names the database or holds the number.
 */
function distinctive(secret: string): boolean {
  const kinds = [/[a-z]/, /[A-Z]/, /\d/, /[^A-Za-z\d]/].filter((kind) => kind.test(secret)).length;
  return secret.length >= MIN_KNOWN_LENGTH && kinds >= 2;
}

/**
 * How a name whose value is a secret ends, as a key in JSON, an option or an environment variable
 * (`dbPassword`, `OPENAI_API_KEY`, `x-api-key`, `authToken`).
 */
const SECRET_NAME = String.raw`(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|credentials?|authorization)`;
const SECRET_KEY = new RegExp(`${SECRET_NAME}$`, "i");

/** The password of a URL: `scheme://user:password@` (each part stops at a `/`, so no input makes the match slow). */
const URL_PASSWORD = /(:\/\/[^\s:@/?#]*):([^\s@/?#]+)@/g;
/** A bearer token, in a header or in prose. */
const BEARER = /\b(Bearer)\s+[A-Za-z0-9._~+/=-]{4,}/gi;
/** The credentials of another scheme in an Authorization header: `Authorization: Basic dXNlcjpwYXNz`. */
const AUTH_SCHEME = /(authorization\\?["']?\s*[:=]\s*\\?["']?(?:Basic|Digest|Token))\s+[^\s,;"'\\]+/gi;
/** A secret-named key and its value: `"apiKey":"…"`, `password=…`, `token: …` (quoted or up to a delimiter). */
const KEY_VALUE = new RegExp(
  String.raw`(${SECRET_NAME}\\?["']?\s*[:=]\s*)(?!\*\*\*|(?:Bearer|Basic|Digest|Token)\s)` +
    String.raw`(\\"(?:[^\\]|\\[^"])*?\\"|"(?:[^"\\]|\\.)*"|'[^']*'|[^\s,;&"'}\]\\]+)`,
  "gi",
);
/** Key shapes of well-known services: OpenAI and Anthropic (`sk-…`), GitHub, Slack, AWS access key ids. */
const KEY_SHAPES = [
  /\bsk-[A-Za-z0-9_-]{16,}/g,
  /\bgh[pousr]_[A-Za-z0-9]{20,}/g,
  /\bxox[abprs]-[A-Za-z0-9-]{10,}/g,
  /\bAKIA[0-9A-Z]{16}\b/g,
];

/** Turns text and JSON values into what may be stored: every secret it knows or recognises replaced by `***`. */
export interface Redactor {
  text(text: string): string;
  /** A JSON value with every string redacted, and the value of every secret-named key replaced. */
  json(value: unknown): unknown;
}

/**
 * A redactor for `secrets` (values known to be secret: a database password, an API key) and for
 * anything shaped like a credential: a URL's password, `Bearer …`, an `sk-…` key, the value of a key
 * named like a secret (`password`, `apiKey`, `token`, `secret`, `authorization`, …).
 * @example
 * createRedactor(["hunter2-long"]).text("login hunter2-long at postgres://ada:pw@db/app")
 * // → "login *** at postgres://ada:***@db/app"
 */
export function createRedactor(secrets: readonly (string | null | undefined)[] = []): Redactor {
  const known = [
    ...new Set(
      secrets
        .filter((s): s is string => typeof s === "string" && distinctive(s))
        .flatMap((s) => [s, encodeURIComponent(s)]),
    ),
  ].sort((a, b) => b.length - a.length);
  const text = (input: string): string => {
    let out = input;
    for (const secret of known) {
      out = out.split(secret).join(REDACTED);
    }
    out = out
      .replace(URL_PASSWORD, `$1:${REDACTED}@`)
      .replace(BEARER, `$1 ${REDACTED}`)
      .replace(AUTH_SCHEME, `$1 ${REDACTED}`);
    for (const shape of KEY_SHAPES) {
      out = out.replace(shape, REDACTED);
    }
    return out.replace(KEY_VALUE, (_match, key: string, value: string) => key + quoteLike(value));
  };
  const json = (value: unknown): unknown => {
    if (typeof value === "string") {
      return text(value);
    }
    if (Array.isArray(value)) {
      return value.map(json);
    }
    if (value === null || typeof value !== "object") {
      return value;
    }
    return Object.fromEntries(
      Object.entries(value).map(([key, v]) => [
        key,
        SECRET_KEY.test(key) && v !== null && typeof v !== "object" ? REDACTED : json(v),
      ]),
    );
  };
  return { text, json };
}

/** `***` in the quotes the value had (`"…"`, `'…'`, or `\"…\"` inside a JSON string). */
function quoteLike(value: string): string {
  const quote = /^(\\"|"|')/.exec(value)?.[1] ?? "";
  return `${quote}${REDACTED}${quote}`;
}

/**
 * The secrets htdag is given: the password of its database (a URL's, a connection string's, a
 * pg.Pool's) and the LLM keys of the SDKs' environment variables.
 */
export function knownSecrets(database: unknown, env: Record<string, string | undefined>): string[] {
  const found: (string | undefined)[] = [env.OPENAI_API_KEY, env.ANTHROPIC_API_KEY];
  if (typeof database === "string") {
    try {
      found.push(decodeURIComponent(new URL(database).password));
    } catch {
      // Not a URL: a key=value connection string names its password.
      found.push(/password=([^\s&]+)/i.exec(database)?.[1]);
    }
  } else if (database !== null && typeof database === "object") {
    const password = (database as { options?: { password?: unknown } }).options?.password;
    found.push(typeof password === "string" ? password : undefined);
  }
  return found.filter((s): s is string => typeof s === "string" && s !== "");
}

/** Returns a postgres URL with its password replaced by `***`; non-URLs are returned as they are. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) {
      parsed.password = REDACTED;
    }
    return parsed.toString();
  } catch {
    // Not a URL (e.g. a key=value connection string): show only what cannot hold a password.
    return url.replace(/password=[^\s&]*/gi, `password=${REDACTED}`);
  }
}
