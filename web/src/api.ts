/**
 * The dashboard API from the page: the token (taken once from `?token=`, kept for the tab, removed
 * from the address bar), JSON requests, and the event stream's URL.
 */
import type {
  ActionResponse,
  ErrorResponse,
  EventView,
  RunResponse,
  RunsResponse,
  TaskResponse,
  WorkflowResponse,
  WorkflowSummary,
} from "../../src/dashboard/types.js";

const TOKEN_KEY = "htdag.dashboard.token";

/** Moves `?token=` from the address bar into this tab's session storage. */
export function initToken(): void {
  const url = new URL(window.location.href);
  const token = url.searchParams.get("token");
  if (token === null) {
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  url.searchParams.delete("token");
  history.replaceState(null, "", `${url.pathname}${url.search}${url.hash}`);
}

export function setToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
}

function token(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

/** A refused or failed API request, with the server's code and message (and an invalid graph's problems). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly issues?: { code: string; path: string; message: string }[],
  ) {
    super(message);
  }
}

async function request<T>(method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  const secret = token();
  if (secret) {
    headers.Authorization = `Bearer ${secret}`;
  }
  if (method === "POST") {
    headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, {
    method,
    headers,
    ...(method === "POST" ? { body: JSON.stringify(body ?? {}) } : {}),
  });
  const json = (await response.json().catch(() => null)) as Partial<ErrorResponse> | null;
  if (!response.ok) {
    throw new ApiError(
      response.status,
      json?.error?.code ?? `HTTP_${response.status}`,
      json?.error?.message ?? response.statusText,
      json?.error?.issues,
    );
  }
  return json as T;
}

function query(params: Record<string, string | number | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== "") {
      search.set(key, String(value));
    }
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

const segment = encodeURIComponent;

export type RunAction = "cancel" | "pause" | "resume" | "retry" | "signal" | "approve" | "reject";

export const api = {
  runs: (filter: { status?: string; workflow?: string; limit?: number }) =>
    request<RunsResponse>("GET", `api/runs${query(filter)}`),
  run: (runId: string) => request<RunResponse>("GET", `api/runs/${segment(runId)}`),
  task: (runId: string, taskId: string) =>
    request<TaskResponse>("GET", `api/runs/${segment(runId)}/tasks/${segment(taskId)}`),
  runEvents: (runId: string, limit: number) =>
    request<{ events: EventView[] }>("GET", `api/runs/${segment(runId)}/events${query({ limit })}`),
  workflows: () => request<{ workflows: WorkflowSummary[] }>("GET", "api/workflows"),
  workflow: (name: string) => request<WorkflowResponse>("GET", `api/workflows/${segment(name)}`),
  action: (runId: string, action: RunAction, body: Record<string, unknown> = {}) =>
    request<ActionResponse>("POST", `api/runs/${segment(runId)}/${action}`, body),
};

/** Filters of the event stream. */
export interface StreamFilter {
  runId?: string;
  workflow?: string;
  types?: readonly string[];
  /** Replay the events after this cursor (or plain id) first. */
  lastEventId?: string;
}

/** The stream's URL; EventSource cannot send headers, so the token goes in the query. */
export function streamUrl(filter: StreamFilter): string {
  return `api/stream${query({
    runId: filter.runId,
    workflow: filter.workflow,
    types: filter.types?.join(","),
    lastEventId: filter.lastEventId,
    token: token() ?? undefined,
  })}`;
}
