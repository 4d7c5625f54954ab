-- Usage and budgets (issue 21, design.md §14): what every LLM call of a run cost, stored at once
-- against its attempt and its run, and the run's spend that its budget (runs.options.budget:
-- {tokens, costUsd, llmCalls}) is checked against, across processes.

-- The run's spend: decompositions, revisions and steps (llmStep, ctx.usage) together.
ALTER TABLE :HTDAG_SCHEMA.runs
  ADD COLUMN llm_calls integer NOT NULL DEFAULT 0 CONSTRAINT runs_llm_calls_check CHECK (llm_calls >= 0),
  ADD COLUMN input_tokens bigint NOT NULL DEFAULT 0 CONSTRAINT runs_input_tokens_check CHECK (input_tokens >= 0),
  ADD COLUMN output_tokens bigint NOT NULL DEFAULT 0 CONSTRAINT runs_output_tokens_check CHECK (output_tokens >= 0),
  ADD COLUMN cost_usd numeric(18, 8) NOT NULL DEFAULT 0 CONSTRAINT runs_cost_usd_check CHECK (cost_usd >= 0);

-- An attempt's spend (its step's LLM calls).
ALTER TABLE :HTDAG_SCHEMA.attempts
  ADD COLUMN llm_calls integer NOT NULL DEFAULT 0 CONSTRAINT attempts_llm_calls_check CHECK (llm_calls >= 0),
  ADD COLUMN input_tokens bigint NOT NULL DEFAULT 0 CONSTRAINT attempts_input_tokens_check CHECK (input_tokens >= 0),
  ADD COLUMN output_tokens bigint NOT NULL DEFAULT 0 CONSTRAINT attempts_output_tokens_check CHECK (output_tokens >= 0),
  ADD COLUMN cost_usd numeric(18, 8) NOT NULL DEFAULT 0 CONSTRAINT attempts_cost_usd_check CHECK (cost_usd >= 0);

-- One row per report: an LLM call of a decomposition, a revision or a step, or what a step
-- reported with ctx.usage. cost_usd is what the call reported or tokens × pricing; NULL when
-- neither is known (no price for the model).
CREATE TABLE :HTDAG_SCHEMA.usage_records (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id        uuid NOT NULL REFERENCES :HTDAG_SCHEMA.runs (id) ON DELETE CASCADE,
  task_id       text,
  attempt       integer,
  source        text NOT NULL CONSTRAINT usage_records_source_check
                  CHECK (source IN ('decomposition', 'revision', 'step')),
  model         text NOT NULL,
  llm_calls     integer NOT NULL DEFAULT 1 CONSTRAINT usage_records_llm_calls_check CHECK (llm_calls >= 0),
  input_tokens  bigint NOT NULL DEFAULT 0 CONSTRAINT usage_records_input_tokens_check CHECK (input_tokens >= 0),
  output_tokens bigint NOT NULL DEFAULT 0 CONSTRAINT usage_records_output_tokens_check CHECK (output_tokens >= 0),
  cost_usd      numeric(18, 8) CONSTRAINT usage_records_cost_usd_check CHECK (cost_usd IS NULL OR cost_usd >= 0),
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX usage_records_run_idx ON :HTDAG_SCHEMA.usage_records (run_id, id);
