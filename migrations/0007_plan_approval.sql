-- Plan approval (docs/waits-and-flow-control.md, "Plan approval"): a run of `approvePlan: true` is
-- recorded with its plan and waits in status awaiting_approval, where nothing of it is claimed (claims
-- need status running) and the reconciler leaves it alone (it starts only orphaned pending runs).
-- approve_plan starts it, with the plan as recorded or an edited one; reject_plan cancels it.
-- awaiting_approval is not final: a cancel, the run's deadline and its budget still end it.

ALTER TABLE :HTDAG_SCHEMA.runs DROP CONSTRAINT runs_status_check;
ALTER TABLE :HTDAG_SCHEMA.runs ADD CONSTRAINT runs_status_check
  CHECK (status IN ('pending', 'awaiting_approval', 'running', 'paused', 'completed', 'failed', 'cancelled',
                    'timed_out'));

-- Live runs: listRuns({ status: "awaiting_approval" }) and the deadline sweep of reap_expired read them.
DROP INDEX :HTDAG_SCHEMA.runs_status_idx;
CREATE INDEX runs_status_idx ON :HTDAG_SCHEMA.runs (status)
  WHERE status IN ('pending', 'awaiting_approval', 'running', 'paused');

-- Records a run as submit_run does, left pending, then (same transaction, so no one ever sees it
-- pending: the reconciler would start it) moves it to awaiting_approval with plan:awaiting_approval.
-- Returns what submit_run returns, with runStatus awaiting_approval for a new run.
CREATE FUNCTION :HTDAG_SCHEMA.submit_run_for_approval(p_run jsonb, p_graph jsonb, p_tasks jsonb, p_edges jsonb,
    p_queues jsonb, p_events jsonb, p_channel text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_submitted jsonb := :HTDAG_SCHEMA.submit_run(p_run, p_graph, p_tasks, p_edges, p_queues, p_events, false,
                                                p_channel);
  v_run :HTDAG_SCHEMA.runs;
BEGIN
  IF (v_submitted ->> 'existing')::boolean OR v_submitted ->> 'runId' IS NULL THEN
    RETURN v_submitted;
  END IF;
  -- GUARD: the run this call recorded, still pending (nothing else has seen it).
  UPDATE :HTDAG_SCHEMA.runs SET status = 'awaiting_approval'
   WHERE id = (v_submitted ->> 'runId')::uuid AND status = 'pending'
  RETURNING * INTO v_run;
  PERFORM :HTDAG_SCHEMA.emit(p_channel, 'plan:awaiting_approval', v_run.id, NULL, v_run.workflow,
                             jsonb_build_object('tasks', v_run.total_tasks));
  RETURN v_submitted || jsonb_build_object('runStatus', v_run.status);
END $$;

-- Approves the plan of a run awaiting approval and starts it (as start_run starts a pending run: its
-- root tasks become ready, execution:started). With p_tasks (rows as bindGraph lays them out), the
-- edited plan replaces the recorded one first: its graph row is recorded and the run points at it,
-- the run's tasks and edges are replaced and its counters recounted. Returns the status the run had
-- (NULL: no such run); anything but awaiting_approval changed nothing.
CREATE FUNCTION :HTDAG_SCHEMA.approve_plan(p_run_id uuid, p_graph jsonb, p_tasks jsonb, p_edges jsonb,
    p_channel text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE v_run :HTDAG_SCHEMA.runs;
BEGIN
  SELECT * INTO v_run FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id FOR UPDATE;
  IF NOT FOUND THEN RETURN NULL; END IF;
  -- GUARD: only a run awaiting approval of its plan is approved (the run is locked).
  IF v_run.status <> 'awaiting_approval' THEN RETURN v_run.status; END IF;
  IF p_tasks IS NOT NULL THEN
    -- The edited plan is a graph of its own (a new id): the graph row of the recorded plan, which
    -- other runs may share, is left as it is.
    INSERT INTO :HTDAG_SCHEMA.graphs (id, goal, decomposer, source, tasks, decomposed_at)
    VALUES (p_graph ->> 'id', p_graph ->> 'goal', p_graph ->> 'decomposer', p_graph ->> 'source', p_graph -> 'tasks',
            (p_graph ->> 'decomposedAt')::timestamptz);
    -- Nothing of the run ran: its tasks have no attempts, logs or outputs to keep. Edges go with them.
    DELETE FROM :HTDAG_SCHEMA.tasks WHERE run_id = p_run_id;
    INSERT INTO :HTDAG_SCHEMA.tasks (run_id, id, position, parent_id, kind, step, description, remaining_deps, run_if,
                                     spec, input, priority, queue, max_attempts, attempt_budget, timeout_ms, backoff,
                                     status)
    SELECT p_run_id, id, e.n, parent_id, kind, step, description, remaining_deps, run_if, spec, input,
           priority, queue, max_attempts, max_attempts, timeout_ms, backoff, 'pending'
      FROM jsonb_array_elements(p_tasks) WITH ORDINALITY AS e(value, n),
           jsonb_to_record(e.value) AS x(id text, parent_id text, kind text, step text, description text,
           remaining_deps integer, run_if text, spec jsonb, input jsonb, priority integer, queue text,
           max_attempts integer, timeout_ms integer, backoff jsonb);
    INSERT INTO :HTDAG_SCHEMA.task_edges (run_id, task_id, depends_on)
    SELECT p_run_id, task_id, depends_on FROM jsonb_to_recordset(p_edges) AS x(task_id text, depends_on text);
    UPDATE :HTDAG_SCHEMA.runs SET graph_id = p_graph ->> 'id', total_tasks = jsonb_array_length(p_tasks),
           remaining_tasks = jsonb_array_length(p_tasks), failed_tasks = 0
     WHERE id = p_run_id;
  END IF;
  PERFORM :HTDAG_SCHEMA.emit(p_channel, 'plan:approved', p_run_id, NULL, v_run.workflow,
    jsonb_build_object('edited', p_tasks IS NOT NULL,
                       'tasks', (SELECT total_tasks FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id)));
  -- start_run starts pending runs only: the run goes through pending inside this transaction, unseen.
  UPDATE :HTDAG_SCHEMA.runs SET status = 'pending' WHERE id = p_run_id;
  -- Claims nothing (limit 0): workers or the run's executor claim its ready tasks.
  PERFORM :HTDAG_SCHEMA.start_run(p_run_id, NULL, 0, 0, p_channel);
  RETURN v_run.status;
END $$;

-- Rejects the plan of a run awaiting approval: plan:rejected, then the run is cancelled with the
-- reason as stop_run cancels any run (its tasks cancelled, execution:cancelled). Returns the status
-- the run had (NULL: no such run); anything but awaiting_approval changed nothing.
CREATE FUNCTION :HTDAG_SCHEMA.reject_plan(p_run_id uuid, p_reason text, p_channel text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE v_run :HTDAG_SCHEMA.runs;
BEGIN
  SELECT * INTO v_run FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id FOR UPDATE;
  IF NOT FOUND THEN RETURN NULL; END IF;
  -- GUARD: only a run awaiting approval of its plan is rejected (the run is locked).
  IF v_run.status <> 'awaiting_approval' THEN RETURN v_run.status; END IF;
  PERFORM :HTDAG_SCHEMA.emit(p_channel, 'plan:rejected', p_run_id, NULL, v_run.workflow,
                             jsonb_build_object('reason', p_reason));
  PERFORM :HTDAG_SCHEMA.stop_run(p_run_id, 'cancelled', p_reason, p_channel);
  RETURN v_run.status;
END $$;

-- The functions below are 0001's and 0005's with awaiting_approval among the statuses that are not
-- final: a run awaiting approval can be cancelled, times out at its deadline and fails over its budget.

-- Moves a run to a final status and stamps it. GUARD: only a run that is not final yet.
CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.finish_run(p_run_id uuid, p_status text, p_error jsonb, p_channel text)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE v_run :HTDAG_SCHEMA.runs;
BEGIN
  UPDATE :HTDAG_SCHEMA.runs SET status = p_status, finished_at = now(),
         error = coalesce(p_error, CASE WHEN p_status = 'failed' THEN
           (SELECT jsonb_build_object('message', 'task ' || id || ' ' || status, 'taskId', id, 'cause', error)
              FROM :HTDAG_SCHEMA.tasks WHERE run_id = p_run_id AND status IN ('failed', 'timed_out')
             ORDER BY finished_at LIMIT 1) END)
   WHERE id = p_run_id AND status IN ('pending', 'awaiting_approval', 'running', 'paused')
  RETURNING * INTO v_run;
  IF NOT FOUND THEN RETURN false; END IF;
  PERFORM :HTDAG_SCHEMA.emit(p_channel, 'execution:' || p_status, p_run_id, NULL, v_run.workflow,
    jsonb_strip_nulls(jsonb_build_object('error', v_run.error,
      'durationMs', extract(epoch FROM (v_run.finished_at - coalesce(v_run.started_at, v_run.created_at))) * 1000)));
  RETURN true;
END $$;

-- Stops a run that is not final: cancelled by a user, or timed out by its deadline. Every task not
-- final is cancelled at once, running ones included (their attempts close as cancelled, their
-- processes abort them at their next settle or heartbeat, and a late settle is rejected), each
-- with a task:cancelled event; then the run is final. Returns the status the run had.
CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.stop_run(p_run_id uuid, p_status text, p_reason text, p_channel text)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  v_run :HTDAG_SCHEMA.runs;
  v_error jsonb := jsonb_build_object('message', coalesce(p_reason, 'run ' || p_status));
BEGIN
  SELECT * INTO v_run FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id FOR UPDATE;
  IF NOT FOUND THEN RETURN NULL; END IF;
  -- GUARD: only a run that is not final can be stopped.
  IF v_run.status NOT IN ('pending', 'awaiting_approval', 'running', 'paused') THEN RETURN v_run.status; END IF;
  PERFORM :HTDAG_SCHEMA.cascade_tasks(v_run, ids, array_fill('cancelled'::text, ARRAY[cardinality(ids)]),
                                      array_fill(NULL::jsonb, ARRAY[cardinality(ids)]),
                                      array_fill(v_error, ARRAY[cardinality(ids)]), NULL, p_channel)
    FROM (SELECT ARRAY(SELECT id FROM :HTDAG_SCHEMA.tasks WHERE run_id = p_run_id
                          AND status IN ('pending', 'ready', 'running') ORDER BY position) AS ids) x;
  PERFORM :HTDAG_SCHEMA.finish_run(p_run_id, p_status, v_error, p_channel);
  RETURN v_run.status;
END $$;

-- The reaper: any live process returns tasks whose lease expired (their process died or hung) to
-- ready, counting the lost attempt; a task out of attempts fails. Each run through settle_locked,
-- under its lock. Also times out runs past their deadline (one awaiting approval too: no executor
-- may hold it, a submitted run's deadline is kept by the workers' reaper). Skips runs others hold,
-- so it never waits. Returns the tasks reaped.
CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.reap_expired(p_limit integer, p_channel text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_run_id uuid;
  v_run :HTDAG_SCHEMA.runs;
  v_lost jsonb;
  v_reaped integer := 0;
BEGIN
  FOR v_run_id IN
    SELECT DISTINCT run_id FROM (SELECT run_id FROM :HTDAG_SCHEMA.tasks
                                  WHERE status = 'running' AND lease_expires_at < now()
                                  ORDER BY lease_expires_at LIMIT p_limit) x
  LOOP
    SELECT * INTO v_run FROM :HTDAG_SCHEMA.runs WHERE id = v_run_id FOR UPDATE SKIP LOCKED;
    CONTINUE WHEN NOT FOUND;
    SELECT jsonb_agg(jsonb_build_object('taskId', id, 'attempt', attempts, 'outcome', 'lost',
             'errorClass', 'LeaseExpired',
             'error', jsonb_build_object('name', 'LeaseExpired', 'message', 'the lease of worker ' ||
               coalesce(lease_owner, '?') || ' expired: it stopped heartbeating (died or hung)')) ORDER BY lease_expires_at)
      INTO v_lost
      FROM :HTDAG_SCHEMA.tasks
     WHERE run_id = v_run_id AND status = 'running' AND lease_expires_at < now();
    CONTINUE WHEN v_lost IS NULL;
    PERFORM :HTDAG_SCHEMA.settle_locked(v_run, NULL, v_lost, p_channel);
    PERFORM :HTDAG_SCHEMA.finish_run_if_done(v_run_id, p_channel);
    v_reaped := v_reaped + jsonb_array_length(v_lost);
  END LOOP;
  FOR v_run IN
    SELECT * FROM :HTDAG_SCHEMA.runs WHERE status IN ('awaiting_approval', 'running', 'paused') AND deadline_at < now()
     LIMIT p_limit FOR UPDATE SKIP LOCKED
  LOOP
    PERFORM :HTDAG_SCHEMA.stop_run(v_run.id, 'timed_out', 'the run''s timeoutMs elapsed', p_channel);
  END LOOP;
  RETURN v_reaped;
END $$;

-- Records one report of LLM usage against its run (and attempt); a run that is not final and
-- reached its budget fails, awaiting approval too (its plan's decomposition may spend it all).
CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.record_usage(p_run_id uuid, p_task_id text, p_attempt integer, p_source text,
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
  IF v_run.status IN ('pending', 'awaiting_approval', 'running', 'paused') AND :HTDAG_SCHEMA.budget_reached(v_run) THEN
    PERFORM :HTDAG_SCHEMA.fail_over_budget(v_run, p_channel);
    SELECT * INTO v_run FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id;
  END IF;
  RETURN jsonb_build_object('spent', :HTDAG_SCHEMA.spend_of(v_run), 'budget', v_run.options -> 'budget',
                            'reached', :HTDAG_SCHEMA.budget_reached(v_run), 'runStatus', v_run.status);
END $$;
