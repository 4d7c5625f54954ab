/**
 * What a failed model call of `llmStep` throws. A failure that asking again may mend (429, 5xx,
 * a timeout, a dropped connection, after the SDK's own retries) is an `LlmStepProviderError`, so
 * the task's retry policy retries it; one that it cannot (bad key, rejected request) is a
 * `NonRetryableError`. The provider's classification and redaction are the decomposer's.
 */
import { HtdagError, NonRetryableError } from "../../errors.js";
import { providerError, type ProviderFailure } from "./errors.js";
import type { LlmProvider } from "./options.js";

/** A model call of `llmStep` failed in a way the task's retries may get past. */
export class LlmStepProviderError extends HtdagError {
  readonly provider: LlmProvider;
  readonly failure: ProviderFailure;
  /** The HTTP status, when the provider answered. */
  readonly status: number | undefined;

  constructor(
    message: string,
    provider: LlmProvider,
    failure: ProviderFailure,
    options: { status?: number | undefined; cause?: unknown },
  ) {
    super("LLM_PROVIDER_ERROR", message, { cause: options.cause });
    this.provider = provider;
    this.failure = failure;
    this.status = options.status;
  }
}

/** What a step sees when a call to `provider` throws `error`. */
export async function stepProviderError(
  taskId: string,
  provider: LlmProvider,
  error: unknown,
  limits: { maxRetries: number; requestTimeoutMs: number },
): Promise<HtdagError> {
  const classified = await providerError(taskId, provider, error, {
    retries: limits.maxRetries,
    requestTimeoutMs: limits.requestTimeoutMs,
  });
  // The decomposer's message names a goal ("could not decompose goal …: "): the step names its task.
  const problem = classified.message.replace(/^could not decompose goal .*?: /s, "");
  const message = `llmStep for task ${JSON.stringify(taskId)}: ${problem
    .replace("pass apiKey to llmDecomposer", "pass a client to llmStep")
    .replace("the decomposition's timeoutMs ran out or its signal was aborted", "the task's signal was aborted")}`;
  if (classified.failure === "auth" || classified.failure === "rejected") {
    return new NonRetryableError(message, { cause: error }, "LLM_PROVIDER_ERROR");
  }
  return new LlmStepProviderError(message, provider, classified.failure, {
    status: classified.status,
    cause: error,
  });
}
