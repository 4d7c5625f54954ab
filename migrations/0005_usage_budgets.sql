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

-- The run's spend, shaped as a budget (Spend): tokens are input plus output.
CREATE FUNCTION :HTDAG_SCHEMA.spend_of(p_run :HTDAG_SCHEMA.runs) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_build_object('tokens', p_run.input_tokens + p_run.output_tokens,
                            'costUsd', p_run.cost_usd::double precision, 'llmCalls', p_run.llm_calls)
$$;

-- Whether the run's budget (options.budget) is reached: a limit at or below what the run spent.
-- False for a run without a budget.
CREATE FUNCTION :HTDAG_SCHEMA.budget_reached(p_run :HTDAG_SCHEMA.runs) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT coalesce((p_run.options -> 'budget' ->> 'tokens')::numeric <= p_run.input_tokens + p_run.output_tokens, false)
      OR coalesce((p_run.options -> 'budget' ->> 'costUsd')::numeric <= p_run.cost_usd, false)
      OR coalesce((p_run.options -> 'budget' ->> 'llmCalls')::numeric <= p_run.llm_calls, false)
$$;

-- Fails a locked run that is not final and reached its budget, like stop_run: a `budget:exceeded`
-- event, every task not final cancelled (running ones' attempts closed, so their processes abort
-- them), then the run failed with BudgetExceededError's fields. The message is the one
-- BudgetExceededError builds (keys in the order tokens, costUsd, llmCalls).
CREATE FUNCTION :HTDAG_SCHEMA.fail_over_budget(p_run :HTDAG_SCHEMA.runs, p_channel text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  v_spent jsonb := :HTDAG_SCHEMA.spend_of(p_run);
  v_budget jsonb := p_run.options -> 'budget';
  v_reached text;
  v_error jsonb;
BEGIN
  SELECT string_agg(k || ' ' || (v_spent ->> k) || ' of ' || (v_budget ->> k), ', ' ORDER BY o) INTO v_reached
    FROM unnest(ARRAY['tokens', 'costUsd', 'llmCalls']) WITH ORDINALITY AS x(k, o)
   WHERE v_budget ? k AND (v_budget ->> k)::numeric <= (v_spent ->> k)::numeric;
  v_error := jsonb_build_object('name', 'BudgetExceededError', 'code', 'BUDGET_EXCEEDED', 'spent', v_spent,
    'budget', v_budget, 'message', 'run ' || p_run.id || ' reached its budget (' || coalesce(v_reached, 'a limit') ||
    '): no task starts and no LLM call is made; raise it with retryRun(runId, { budget: { … } }) to go on');
  PERFORM :HTDAG_SCHEMA.emit(p_channel, 'budget:exceeded', p_run.id, NULL, p_run.workflow,
                             jsonb_build_object('spent', v_spent, 'budget', v_budget));
  PERFORM :HTDAG_SCHEMA.cascade_tasks(p_run, ids, array_fill('cancelled'::text, ARRAY[cardinality(ids)]),
                                      array_fill(NULL::jsonb, ARRAY[cardinality(ids)]),
                                      array_fill(v_error, ARRAY[cardinality(ids)]), NULL, p_channel)
    FROM (SELECT ARRAY(SELECT id FROM :HTDAG_SCHEMA.tasks WHERE run_id = p_run.id
                          AND status IN ('pending', 'ready', 'running') ORDER BY position) AS ids) x;
  PERFORM :HTDAG_SCHEMA.finish_run(p_run.id, 'failed', v_error, p_channel);
END $$;

-- Records what one or more LLM calls cost (a decomposition's, a revision's, or a step's through
-- ctx.usage), in one transaction: a usage_records row, the spend added to the attempt (when one is
-- named) and to the run; then, if the run's budget is now reached and the run is not final, the
-- run fails (fail_over_budget). Spend is recorded even for a final run: it was spent.
-- Returns {spent, budget, reached, runStatus}, or NULL when there is no such run.
CREATE FUNCTION :HTDAG_SCHEMA.record_usage(p_run_id uuid, p_task_id text, p_attempt integer, p_source text,
    p_model text, p_llm_calls integer, p_input_tokens bigint, p_output_tokens bigint, p_cost_usd numeric,
    p_channel text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE v_run :HTDAG_SCHEMA.runs;
BEGIN
  -- The run's row first (the lock order everywhere: the run, then its tasks and attempts).
  UPDATE :HTDAG_SCHEMA.runs SET llm_calls = llm_calls + p_llm_calls, input_tokens = input_tokens + p_input_tokens,
         output_tokens = output_tokens + p_output_tokens, cost_usd = cost_usd + coalesce(p_cost_usd, 0)
   WHERE id = p_run_id
  RETURNING * INTO v_run;
  IF NOT FOUND THEN RETURN NULL; END IF;
  INSERT INTO :HTDAG_SCHEMA.usage_records (run_id, task_id, attempt, source, model, llm_calls, input_tokens,
                                           output_tokens, cost_usd)
  VALUES (p_run_id, p_task_id, p_attempt, p_source, p_model, p_llm_calls, p_input_tokens, p_output_tokens, p_cost_usd);
  IF p_task_id IS NOT NULL AND p_attempt IS NOT NULL THEN
    UPDATE :HTDAG_SCHEMA.attempts SET llm_calls = llm_calls + p_llm_calls, input_tokens = input_tokens + p_input_tokens,
           output_tokens = output_tokens + p_output_tokens, cost_usd = cost_usd + coalesce(p_cost_usd, 0)
     WHERE run_id = p_run_id AND task_id = p_task_id AND attempt = p_attempt;
  END IF;
  -- GUARD: a run that is not final and reached its budget fails, once (finish_run's guard).
  IF v_run.status IN ('pending', 'running', 'paused') AND :HTDAG_SCHEMA.budget_reached(v_run) THEN
    PERFORM :HTDAG_SCHEMA.fail_over_budget(v_run, p_channel);
    SELECT * INTO v_run FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id;
  END IF;
  RETURN jsonb_build_object('spent', :HTDAG_SCHEMA.spend_of(v_run), 'budget', v_run.options -> 'budget',
                            'reached', :HTDAG_SCHEMA.budget_reached(v_run), 'runStatus', v_run.status);
END $$;

-- The run's spend and budget, read by ctx.checkBudget before each LLM call.
CREATE FUNCTION :HTDAG_SCHEMA.run_budget(p_run_id uuid) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object('spent', :HTDAG_SCHEMA.spend_of(r), 'budget', r.options -> 'budget',
                            'reached', :HTDAG_SCHEMA.budget_reached(r), 'runStatus', r.status)
    FROM :HTDAG_SCHEMA.runs r WHERE r.id = p_run_id
$$;

-- A revision's decomposition is spend of the run: revise_locked (0004) is the plan revision as
-- revise_plan_locked, and revise_locked now also records the record's llmCalls and tokens as usage
-- (source 'revision'), in the same transaction; the run fails there if that reaches its budget.
ALTER FUNCTION :HTDAG_SCHEMA.revise_locked(:HTDAG_SCHEMA.runs, text, text, jsonb, jsonb, jsonb, text)
  RENAME TO revise_plan_locked;
CREATE FUNCTION :HTDAG_SCHEMA.revise_locked(p_run :HTDAG_SCHEMA.runs, p_task_id text, p_reason text, p_tasks jsonb,
    p_edges jsonb, p_record jsonb, p_channel text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE v_revised jsonb;
BEGIN
  v_revised := :HTDAG_SCHEMA.revise_plan_locked(p_run, p_task_id, p_reason, p_tasks, p_edges, p_record, p_channel);
  IF coalesce((p_record ->> 'llmCalls')::integer, 0) > 0 OR coalesce((p_record ->> 'inputTokens')::bigint, 0) > 0
     OR coalesce((p_record ->> 'outputTokens')::bigint, 0) > 0 OR p_record ? 'costUsd' THEN
    PERFORM :HTDAG_SCHEMA.record_usage(p_run.id, NULL, NULL, 'revision', coalesce(p_record ->> 'model', 'unknown'),
      coalesce((p_record ->> 'llmCalls')::integer, 0), coalesce((p_record ->> 'inputTokens')::bigint, 0),
      coalesce((p_record ->> 'outputTokens')::bigint, 0), (p_record ->> 'costUsd')::numeric, p_channel);
  END IF;
  RETURN v_revised;
END $$;

-- Re-opens a final run as retry_run does, first raising its budget to p_budget (NULL: kept). GUARD:
-- a run whose budget would still be reached is not re-opened (it would fail again at once): -2.
CREATE FUNCTION :HTDAG_SCHEMA.retry_run_within_budget(p_run_id uuid, p_from_task text, p_budget jsonb,
    p_channel text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE v_run :HTDAG_SCHEMA.runs; v_reset integer;
BEGIN
  SELECT * INTO v_run FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id FOR UPDATE;
  IF NOT FOUND OR v_run.status NOT IN ('completed', 'failed', 'cancelled', 'timed_out') THEN RETURN -1; END IF;
  IF p_budget IS NOT NULL THEN
    v_run.options := v_run.options || jsonb_build_object('budget', p_budget);
  END IF;
  IF :HTDAG_SCHEMA.budget_reached(v_run) THEN RETURN -2; END IF;
  v_reset := :HTDAG_SCHEMA.retry_run(p_run_id, p_from_task, p_channel);
  -- GUARD: the run is locked; it was re-opened (tasks reset) in this transaction.
  IF v_reset > 0 AND p_budget IS NOT NULL THEN
    UPDATE :HTDAG_SCHEMA.runs SET options = v_run.options WHERE id = p_run_id;
  END IF;
  RETURN v_reset;
END $$;

-- The claims start nothing of a run that reached its budget (0004's claim_locked_run, plus that guard).
CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.claim_locked_run(p_run :HTDAG_SCHEMA.runs, p_worker text, p_limit integer,
                                               p_lease_ms integer, p_channel text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_free integer;
  v_queued boolean;
  v_ids text[];
  v_task record;
  v_claimed jsonb := '[]';
  v_mode text := CASE WHEN p_channel IS NOT NULL THEN :HTDAG_SCHEMA.notify_mode(p_run.options) END;
  v_notify boolean := v_mode IS NOT NULL;
BEGIN
  IF p_limit <= 0 OR p_run.status <> 'running' OR p_run.run_at > now() THEN RETURN v_claimed; END IF;
  -- GUARD: no task starts once the run's budget is reached (record_usage fails such a run at once;
  -- this holds if a claim ever finds one still running). One test on the row already loaded.
  IF p_run.options ? 'budget' AND :HTDAG_SCHEMA.budget_reached(p_run) THEN RETURN v_claimed; END IF;
  SELECT least(p_limit, p_run.max_parallel - (SELECT count(*) FROM :HTDAG_SCHEMA.tasks
                                              WHERE run_id = p_run.id AND status = 'running' AND kind = 'atomic')),
         -- From each queue row (usually none) to the run's first ready task in it.
         EXISTS (SELECT 1 FROM :HTDAG_SCHEMA.queues q,
                        LATERAL (SELECT 1 FROM :HTDAG_SCHEMA.tasks t
                                  WHERE t.run_id = p_run.id AND t.status = 'ready' AND t.queue = q.name
                                  LIMIT 1) r)
    INTO v_free, v_queued;
  IF v_free <= 0 THEN RETURN v_claimed; END IF;
  IF v_queued THEN
    FOR v_task IN
      SELECT id, queue FROM :HTDAG_SCHEMA.tasks
       WHERE run_id = p_run.id AND status = 'ready' AND available_at <= now()
       ORDER BY priority DESC, ready_at, id
       LIMIT p_limit * 4 FOR UPDATE SKIP LOCKED
    LOOP
      EXIT WHEN v_free <= 0;
      CONTINUE WHEN NOT :HTDAG_SCHEMA.take_queue_slot(v_task.queue);
      v_claimed := v_claimed || :HTDAG_SCHEMA.start_attempt(p_run.id, v_task.id, p_run.workflow, p_worker, p_lease_ms, p_channel);
      v_free := v_free - 1;
    END LOOP;
    RETURN v_claimed;
  END IF;
  SELECT array_agg(id) INTO v_ids FROM (
    SELECT id FROM :HTDAG_SCHEMA.tasks
     WHERE run_id = p_run.id AND status = 'ready' AND available_at <= now()
     ORDER BY priority DESC, ready_at, id
     LIMIT v_free FOR UPDATE SKIP LOCKED) c;
  IF v_ids IS NULL THEN RETURN v_claimed; END IF;
  IF cardinality(v_ids) = 1 THEN
    RETURN jsonb_build_array(:HTDAG_SCHEMA.start_attempt(p_run.id, v_ids[1], p_run.workflow, p_worker, p_lease_ms, p_channel));
  END IF;
  WITH u AS (
    UPDATE :HTDAG_SCHEMA.tasks
       SET status = 'running', attempts = attempts + 1, started_at = now(), lease_owner = p_worker,
           lease_expires_at = now() + p_lease_ms * interval '1 millisecond'
     -- GUARD: the rows were locked while ready, by the statement above (a status condition here would
     -- steer the planner to the ready index, filtering every ready task of the run by ctid).
     WHERE ctid = ANY (:HTDAG_SCHEMA.task_tids(p_run.id, v_ids))
    RETURNING *
  ), a AS (
    INSERT INTO :HTDAG_SCHEMA.attempts (run_id, task_id, attempt, workflow, step, worker_id, ready_at, queue_wait_ms)
    SELECT p_run.id, u.id, u.attempts, p_run.workflow, u.step, p_worker, u.ready_at,
           extract(epoch FROM (now() - u.ready_at)) * 1000
      FROM u
  ), ev AS (
    INSERT INTO :HTDAG_SCHEMA.events (type, channel, run_id, task_id, workflow, payload)
    SELECT 'task:started', coalesce(p_channel, 'htdag_events'), p_run.id, u.id, p_run.workflow,
           jsonb_build_object('attempt', u.attempts, 'step', u.step)
      FROM u ORDER BY u.priority DESC, u.ready_at, u.id
    RETURNING id, task_id
  )
  SELECT (SELECT jsonb_agg(jsonb_build_object(
            'runId', p_run.id, 'taskId', u.id, 'workflow', p_run.workflow, 'attempt', u.attempts, 'kind', u.kind,
            'step', u.step, 'input', u.input, 'spec', u.spec, 'timeoutMs', u.timeout_ms,
            'maxAttempts', u.max_attempts, 'attemptBase', u.max_attempts - u.attempt_budget, 'backoff', u.backoff, 'queue', u.queue,
            'replan', u.replan, 'deps', :HTDAG_SCHEMA.dependency_outputs(p_run.id, u.id))
            ORDER BY u.priority DESC, u.ready_at, u.id) FROM u),
         (SELECT count(pg_notify(p_channel, json_build_object('id', ev.id, 'type', 'task:started', 'runId', p_run.id,
                                                            'taskId', ev.task_id, 'workflow', p_run.workflow)::text))
            FROM ev WHERE v_notify AND (v_mode = 'all' OR :HTDAG_SCHEMA.notify_scope(p_channel, p_run.id) = 'all'))
    INTO v_claimed;
  RETURN coalesce(v_claimed, '[]'::jsonb);
END $$;

-- CREATE OR REPLACE drops a function's SET options: the one 0002 gave claim_locked_run, again.
ALTER FUNCTION :HTDAG_SCHEMA.claim_locked_run(:HTDAG_SCHEMA.runs, text, integer, integer, text) SET plan_cache_mode = force_generic_plan;
