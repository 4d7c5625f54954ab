/**
 * Errors of the LLM decomposer. Both are `DecompositionError`s (what `decomposeGoal` throws), so
 * callers catching that keep working; the subclasses say why, and what to do about it.
 */
import { DecompositionError } from "../../errors.js";
import { createRedactor } from "../../store/redact.js";
import { apiKeyVariable, type LlmProvider } from "./options.js";

/** Why a provider call failed. */
export type ProviderFailure = "auth" | "rate_limit" | "server" | "rejected" | "timeout" | "aborted" | "connection";

/** The provider could not be reached, refused the request, or kept failing after the SDK's retries. */
export class LlmProviderError extends DecompositionError {
  readonly provider: LlmProvider;
  readonly failure: ProviderFailure;
  /** The HTTP status, when the provider answered. */
  readonly status: number | undefined;

  constructor(
    goal: string,
    provider: LlmProvider,
    failure: ProviderFailure,
    problem: string,
    options: { status?: number; cause?: unknown } = {},
  ) {
    super(goal, problem, { cause: options.cause }, "LLM_PROVIDER_ERROR");
    this.provider = provider;
    this.failure = failure;
    this.status = options.status;
  }
}

/** The model declined to plan the goal (a refusal or a content filter); asking again will not help. */
export class LlmRefusalError extends DecompositionError {
  readonly refusal: string;

  constructor(goal: string, refusal: string) {
    super(
      goal,
      `the model refused to plan it: ${JSON.stringify(refusal)}; rephrase the goal or handle it with a rule`,
      undefined,
      "LLM_REFUSED",
    );
    this.refusal = refusal;
  }
}

/** The SDKs' error classes; the SDKs are loaded when first needed, not with htdag (they take ~0.3 s). */
type SdkErrors = [typeof import("openai"), typeof import("@anthropic-ai/sdk")];

/**
 * What the caller sees when a provider call throws; `retries` is the SDK's maxRetries. The
 * provider's message is quoted redacted: a server or a proxy may echo the key it was sent, and
 * this message is stored and printed (the `cause` keeps the SDK's error as it was).
 */
export async function providerError(
  goal: string,
  provider: LlmProvider,
  error: unknown,
  limits: { retries: number; requestTimeoutMs: number; apiKey?: string | undefined },
): Promise<LlmProviderError> {
  const sdks: SdkErrors = await Promise.all([import("openai"), import("@anthropic-ai/sdk")]);
  const variable = apiKeyVariable(provider);
  const status = (error as { status?: unknown })?.status;
  const redactor = createRedactor([limits.apiKey]);
  const detail = redactor.text((error as Error)?.message ?? String(error));
  const make = (failure: ProviderFailure, problem: string) =>
    new LlmProviderError(goal, provider, failure, problem, {
      cause: error,
      ...(typeof status === "number" ? { status } : {}),
    });
  if (isInstance(sdks, error, "APIUserAbortError")) {
    return make(
      "aborted",
      `the ${provider} request was aborted (the decomposition's timeoutMs ran out or its signal was aborted)`,
    );
  }
  if (isInstance(sdks, error, "APIConnectionTimeoutError")) {
    return make(
      "timeout",
      `the ${provider} request timed out after ${limits.requestTimeoutMs} ms, ${limits.retries + 1} attempt(s); raise requestTimeoutMs or maxRetries`,
    );
  }
  if (isInstance(sdks, error, "APIConnectionError")) {
    return make("connection", `cannot reach the ${provider} API (${detail}); check baseURL and the network`);
  }
  if (status === 401 || status === 403 || isMissingCredentials(sdks, error)) {
    // The provider's message may quote part of the key, so it is left out (the cause keeps it).
    const what = typeof status === "number" ? `it answered ${status}` : "no key was found";
    return make(
      "auth",
      `the ${provider} API did not accept the credentials (${what}); set ${variable} or pass apiKey to llmDecomposer`,
    );
  }
  if (status === 429) {
    return make(
      "rate_limit",
      `the ${provider} API kept answering 429 (rate limit or quota) after ${limits.retries} retries: ${detail}; raise maxRetries, lower the request rate, or check the account's quota`,
    );
  }
  if (typeof status === "number" && status >= 500) {
    return make(
      "server",
      `the ${provider} API kept failing with ${status} after ${limits.retries} retries: ${detail}; try again later or raise maxRetries`,
    );
  }
  return make(
    "rejected",
    `the ${provider} API rejected the request${typeof status === "number" ? ` (${status})` : ""}: ${detail}; check model and the options`,
  );
}

/** Whether `error` is an instance of the SDK error class `name`, from either SDK. */
function isInstance(
  [OpenAiErrors, AnthropicErrors]: SdkErrors,
  error: unknown,
  name: "APIUserAbortError" | "APIConnectionTimeoutError" | "APIConnectionError",
): boolean {
  return error instanceof OpenAiErrors[name] || error instanceof AnthropicErrors[name];
}

/** The SDKs' own "no key" errors, thrown before any request is sent. */
function isMissingCredentials([OpenAiErrors, AnthropicErrors]: SdkErrors, error: unknown): boolean {
  const message = (error as Error)?.message ?? "";
  return (
    /missing credentials|could not resolve authentication method|api[_ ]?key/i.test(message) &&
    !(error instanceof OpenAiErrors.APIError) &&
    !(error instanceof AnthropicErrors.APIError)
  );
}
