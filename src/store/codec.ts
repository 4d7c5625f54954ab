/** Payload codecs: optional encryption of task inputs and outputs at rest. */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { InvalidOptionError } from "../errors.js";

/** Turns a JSON value into what is stored, and back. Values a codec did not encode pass through `decode`. */
export interface PayloadCodec {
  readonly name: string;
  encode(value: unknown): unknown;
  decode(stored: unknown): unknown;
}

const MARK = "$htdag_enc";

/**
 * AES-256-GCM encryption of inputs and outputs. `key` is 32 bytes (a Buffer, or a base64/hex string
 * of 32 bytes); a passphrase of another length is hashed with SHA-256. Stored values become
 * `{ "$htdag_enc": "v1:<iv>:<tag>:<ciphertext>" }`; decoding walks objects, so a composite's
 * output (its children's encrypted outputs) decodes too.
 */
export function aesGcmCodec(key: Buffer | string): PayloadCodec {
  const secret = toKey(key);
  const decode = (stored: unknown): unknown => {
    if (Array.isArray(stored)) {
      return stored.map(decode);
    }
    if (stored === null || typeof stored !== "object") {
      return stored;
    }
    const record = stored as Record<string, unknown>;
    if (typeof record[MARK] === "string" && Object.keys(record).length === 1) {
      return decrypt(secret, record[MARK]);
    }
    return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, decode(v)]));
  };
  return {
    name: "aes-256-gcm",
    encode: (value) => ({ [MARK]: encrypt(secret, value) }),
    decode,
  };
}

function toKey(key: Buffer | string): Buffer {
  if (Buffer.isBuffer(key)) {
    if (key.length === 32) {
      return key;
    }
    throw new InvalidOptionError("codec key", "32 bytes", key);
  }
  if (typeof key !== "string" || key.length === 0) {
    throw new InvalidOptionError("codec key", "a 32-byte Buffer or a non-empty string", key);
  }
  for (const encoding of ["base64", "hex"] as const) {
    const bytes = Buffer.from(key, encoding);
    if (bytes.length === 32 && bytes.toString(encoding).replace(/=+$/, "") === key.replace(/=+$/, "")) {
      return bytes;
    }
  }
  return createHash("sha256").update(key).digest();
}

function encrypt(key: Buffer, value: unknown): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  const body = Buffer.concat([cipher.update(JSON.stringify(value) ?? "null", "utf8"), cipher.final()]);
  return `v1:${iv.toString("base64")}:${cipher.getAuthTag().toString("base64")}:${body.toString("base64")}`;
}

function decrypt(key: Buffer, text: string): unknown {
  const [version, iv, tag, body] = text.split(":");
  if (version !== "v1" || !iv || !tag || body === undefined) {
    throw new Error("stored value is not an htdag v1 ciphertext");
  }
  const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(iv, "base64"));
  decipher.setAuthTag(Buffer.from(tag, "base64"));
  const plain = Buffer.concat([decipher.update(Buffer.from(body, "base64")), decipher.final()]).toString("utf8");
  return JSON.parse(plain);
}

/**
 * Tasks of a plan as stored: each task's `input` (and each merged task's) encoded by `codec`, so a
 * graph written to the store (graphs, tasks' specs, patterns, the decomposition cache) holds no
 * input in clear. Without a codec, the tasks as they are. Values that are not task objects pass.
 */
export function sealTaskInputs<T>(tasks: readonly T[], codec: PayloadCodec | undefined): T[] {
  return codec ? tasks.map((task) => mapInputs(task, (input) => codec.encode(input))) : [...tasks];
}

/** The inverse of {@link sealTaskInputs}; inputs stored in clear (before a codec was set) pass. */
export function openTaskInputs<T>(tasks: readonly T[], codec: PayloadCodec | undefined): T[] {
  return codec ? tasks.map((task) => mapInputs(task, (input) => codec.decode(input))) : [...tasks];
}

function mapInputs<T>(task: T, map: (input: unknown) => unknown): T {
  if (task === null || typeof task !== "object" || Array.isArray(task)) {
    return task;
  }
  const { input, merged, ...rest } = task as { input?: unknown; merged?: unknown };
  return {
    ...rest,
    ...(input === undefined ? {} : { input: map(input) }),
    ...(Array.isArray(merged)
      ? { merged: merged.map((member: unknown) => mapInputs(member, map)) }
      : merged === undefined
        ? {}
        : { merged }),
  } as T;
}
