/**
 * The redactor that errors, log lines and decomposition failures go through before they are stored
 * (src/store/redact.ts), fuzzed: a secret planted in any text, in any of the forms a message quotes
 * config in, never comes out; what holds no secret comes out as it went in.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createRedactor, knownSecrets, REDACTED } from "../../src/store/redact.js";

const RUNS = 500;
/** Characters of a key as services issue them, which each carrier below keeps whole. */
const secretChar = fc.constantFrom(..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".split(""));
/** Mixed, as keys and passwords are (a known value must be, to be replaced wherever it appears). */
const secret = fc
  .string({ unit: secretChar, minLength: 16, maxLength: 48 })
  .filter((s) => [/[a-z]/, /[A-Z]/, /\d/, /[-_]/].filter((kind) => kind.test(s)).length >= 2);
/** Text around a planted secret: anything, NUL and unpaired surrogates included. */
const text = fc.string({ unit: "binary", maxLength: 60 });

/** The forms a careless message puts a secret in; `known` ones are caught only because the redactor was told. */
const CARRIERS: { name: string; known?: (s: string) => string[]; wrap: (s: string) => string }[] = [
  { name: "a URL's password", wrap: (s) => ` postgres://ada:${s}@db.internal:5432/app ` },
  { name: "a JSON key", wrap: (s) => ` {"apiKey":"${s}","n":1} ` },
  { name: "a JSON key inside a JSON string", wrap: (s) => ` "{\\"password\\":\\"${s}\\"}" ` },
  { name: "key=value", wrap: (s) => ` DB_PASSWORD=${s} ` },
  { name: "key: value", wrap: (s) => ` token: ${s} ` },
  { name: "a bearer header", wrap: (s) => ` Authorization: Bearer ${s} ` },
  { name: "a basic header", wrap: (s) => ` authorization: Basic ${s} ` },
  { name: "an sk- key", wrap: (s) => ` sk-${s} ` },
  { name: "a known value, bare", known: (s) => [s], wrap: (s) => s },
  { name: "a known value, percent-encoded", known: (s) => [`${s}/@`], wrap: (s) => encodeURIComponent(`${s}/@`) },
];

/** A JSON value with nothing a redactor should touch (no secret-like name, no URL, no key shape). */
const innocentJson = fc
  .jsonValue({ maxDepth: 3 })
  .filter(
    (v) => !/pass|pwd|secret|token|api.?key|credential|authorization|bearer|basic|:\/\/|sk-/i.test(JSON.stringify(v)),
  );

describe("the redactor", () => {
  it(`never lets a planted secret through, in ${CARRIERS.length} forms (${RUNS} cases)`, () => {
    fc.assert(
      fc.property(text, secret, text, fc.constantFrom(...CARRIERS), (before, planted, after, carrier) => {
        const redactor = createRedactor(carrier.known?.(planted) ?? []);
        const out = redactor.text(before + carrier.wrap(planted) + after);
        expect(out).not.toContain(planted);
        expect(out).toContain(REDACTED);
        // Redacting twice changes nothing more.
        expect(redactor.text(out)).toBe(out);
      }),
      { numRuns: RUNS },
    );
  });

  it(`cleans JSON values at any depth: secret-named keys and secrets in strings (${RUNS} cases)`, () => {
    const key = fc.constantFrom("password", "apiKey", "OPENAI_API_KEY", "authToken", "client_secret", "x-api-key");
    fc.assert(
      fc.property(innocentJson, key, secret, fc.nat(3), (value, name, planted, depth) => {
        let nested: unknown = { [name]: planted, keep: value };
        for (let i = 0; i < depth; i++) {
          nested = i % 2 === 0 ? [nested, `see postgres://u:${planted}@h/db`] : { level: nested };
        }
        const out = JSON.stringify(createRedactor().json(nested));
        expect(out).not.toContain(planted);
        expect(out).toContain(JSON.stringify(value));
      }),
      { numRuns: RUNS },
    );
  });

  it(`leaves text without secrets as it is (${RUNS} cases), htdag's own messages included`, () => {
    const plain = fc.string({
      unit: fc.constantFrom(..."abcdefghij XYZ0123456789.,()[]-_\n".split("")),
      maxLength: 200,
    });
    fc.assert(
      fc.property(plain, (value) => {
        expect(createRedactor(["not-in-the-text"]).text(value)).toBe(value);
      }),
      { numRuns: RUNS },
    );
    const redactor = createRedactor();
    for (const message of [
      "the openai API did not accept the credentials (it answered 401); set OPENAI_API_KEY or pass apiKey to llmDecomposer",
      "invalid option `maxTokens` in llmDecomposer: expected a whole number from 64 to 128000, received 5",
      "Basic tuning raised maxAttempts of fetch from 3 to 5: 4 of 10 failures succeeded on retry; tokens: 300",
      'could not decompose goal "Email me the weather": the model refused to plan it',
      "connect ECONNREFUSED 127.0.0.1:5432 (postgres://ada@db:5432/app)",
    ]) {
      expect(redactor.text(message)).toBe(message);
    }
  });

  it("replaces a known value only when it is distinctive: not a plain word or a number", () => {
    const redactor = createRedactor(["postgres", "12345678", "short-1", "hunter2-long", "Tr0ub4dor"]);
    expect(redactor.text("could not reach postgres://app@db:5432 after 12345678 ms")).toBe(
      "could not reach postgres://app@db:5432 after 12345678 ms",
    );
    expect(redactor.text("short-1 hunter2-long Tr0ub4dor")).toBe(`short-1 ${REDACTED} ${REDACTED}`);
  });

  it("stays fast on inputs made to backtrack (each a 200 KB message)", () => {
    const redactor = createRedactor(["a-known-secret"]);
    for (const hostile of [
      "a-".repeat(100_000),
      "a.".repeat(100_000) + "://",
      "://".repeat(70_000),
      'password="' + "\\".repeat(200_000),
      'token=\\"'.repeat(25_000),
      "Bearer ".repeat(30_000),
      "x".repeat(200_000) + "password=",
    ]) {
      expect(redactor.text(hostile).length).toBeGreaterThan(0);
    }
  });

  it("knows the database's password (URL, connection string, pool) and the SDKs' keys", () => {
    const env = { OPENAI_API_KEY: "sk-env-openai-key", ANTHROPIC_API_KEY: "", HOME: "/root" };
    expect(knownSecrets("postgres://ada:p%40ss-word@db/app", env)).toEqual(["sk-env-openai-key", "p@ss-word"]);
    expect(knownSecrets("host=db password=hunter2-long user=ada", {})).toEqual(["hunter2-long"]);
    expect(knownSecrets({ options: { password: "pool-secret-1" } }, {})).toEqual(["pool-secret-1"]);
    expect(knownSecrets("memory://", {})).toEqual([]);
  });
});
