/** Helpers of the dashboard tests: Debian's chromium through playwright-core, HTTP with full control of headers, SSE reads. */
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { fileURLToPath } from "node:url";
import { chromium, type Browser } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";
export const SCREENSHOTS = fileURLToPath(new URL("../../test-results/screenshots/", import.meta.url));

/** Launches headless chromium; fails (never skips) with the fix when it is not installed. */
export async function launchChromium(executablePath = CHROMIUM): Promise<Browser> {
  if (!existsSync(executablePath)) {
    throw new Error(
      `the dashboard's browser tests need Debian's chromium at ${executablePath}: install it with \`apt-get install -y chromium\` (.ci/run does)`,
    );
  }
  await mkdir(SCREENSHOTS, { recursive: true });
  return chromium.launch({
    executablePath,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** An HTTP response read to its end. */
export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A request with exactly the headers given (fetch will not let a test set Host). */
export function rawRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? "GET", headers: options.headers ?? {} }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end(options.body);
  });
}

/** One message of an event stream. */
export interface StreamMessage {
  id?: string;
  event?: string;
  data: string;
}

/** An open event stream: messages as they arrive, until `close()`. */
export interface OpenStream {
  status: number;
  contentType: string | null;
  messages: StreamMessage[];
  /** Resolves once `predicate` holds for the messages received (rejects after `timeoutMs`). */
  until(predicate: (messages: StreamMessage[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): void;
}

/** Opens `url` as an event stream with `headers` and parses its messages. */
export async function openStream(url: string, headers: Record<string, string> = {}): Promise<OpenStream> {
  const controller = new AbortController();
  const response = await fetch(url, { headers, signal: controller.signal });
  const messages: StreamMessage[] = [];
  const waiters = new Set<() => void>();
  if (response.body) {
    void (async () => {
      const decoder = new TextDecoder();
      let buffer = "";
      try {
        for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
          buffer += decoder.decode(chunk, { stream: true });
          let end: number;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const message: StreamMessage = { data: "" };
            for (const line of block.split("\n")) {
              if (line.startsWith("id: ")) {
                message.id = line.slice(4);
              } else if (line.startsWith("event: ")) {
                message.event = line.slice(7);
              } else if (line.startsWith("data: ")) {
                message.data += line.slice(6);
              }
            }
            if (message.id !== undefined || message.event !== undefined || message.data !== "") {
              messages.push(message);
            }
            for (const wake of waiters) {
              wake();
            }
          }
        }
      } catch (error) {
        if ((error as Error).name !== "AbortError") {
          throw error;
        }
      }
    })();
  }
  return {
    status: response.status,
    contentType: response.headers.get("content-type"),
    messages,
    until: (predicate, timeoutMs = 10_000) =>
      new Promise<void>((resolve, reject) => {
        if (predicate(messages)) {
          return resolve();
        }
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(
              `the stream did not deliver the expected messages within ${timeoutMs} ms; got ${JSON.stringify(messages)}`,
            ),
          );
        }, timeoutMs);
        const check = () => {
          if (!predicate(messages)) {
            return;
          }
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
      }),
    close: () => controller.abort(),
  };
}
