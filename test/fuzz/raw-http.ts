/**
 * HTTP/1.1 at the byte level, for the dashboard's fuzz tests: node's client refuses to send what a
 * hostile client would (a NUL in the path, a forged Host, a body longer than its Content-Length).
 */
import { connect } from "node:net";

/** What came back: the status (0 when the server closed without answering), headers and body. */
export interface RawReply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** A request as bytes: `GET <target> HTTP/1.1`, then `headers` as given (Host first unless given), then `body`. */
export function requestBytes(
  port: number,
  method: string,
  target: string,
  headers: Record<string, string> = {},
  body = "",
): Buffer {
  const all: Record<string, string> = { Host: `127.0.0.1:${port}`, Connection: "close", ...headers };
  if (body !== "" && all["Content-Length"] === undefined) {
    all["Content-Length"] = String(Buffer.byteLength(body));
  }
  const head = Object.entries(all)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join("");
  return Buffer.concat([Buffer.from(`${method} ${target} HTTP/1.1\r\n${head}\r\n`, "latin1"), Buffer.from(body)]);
}

/**
 * Sends `bytes` and reads the reply: to the end of the connection, or, for an event stream, until
 * `until` holds of what arrived, else for `streamMs` ms (then hangs up).
 */
export function sendRaw(
  port: number,
  bytes: Buffer,
  options: { streamMs?: number; until?: (text: string) => boolean } = {},
): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    const finish = () => {
      clearTimeout(timer);
      resolve(parse(Buffer.concat(chunks).toString("utf8")));
    };
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      const text = Buffer.concat(chunks).toString("utf8");
      if (options.until?.(text)) {
        socket.destroy();
      } else if (timer === undefined && /content-type: text\/event-stream/i.test(text)) {
        timer = setTimeout(() => socket.destroy(), options.until ? 10_000 : (options.streamMs ?? 30));
      }
    });
    socket.on("close", finish);
    // A reset after the server answered and closed is how a refused upload ends: keep what arrived.
    socket.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code !== "ECONNRESET" && error.code !== "EPIPE") {
        reject(error);
      }
    });
    socket.write(bytes);
  });
}

/** A GET of `target` with `headers`, as bytes. */
export function get(port: number, target: string, headers: Record<string, string> = {}): Promise<RawReply> {
  return sendRaw(port, requestBytes(port, "GET", target, headers));
}

function parse(text: string): RawReply {
  const end = text.indexOf("\r\n\r\n");
  if (end < 0) {
    return { status: 0, headers: {}, body: text };
  }
  const [statusLine, ...lines] = text.slice(0, end).split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return {
    status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? "")?.[1] ?? 0),
    headers,
    body: text.slice(end + 4),
  };
}
