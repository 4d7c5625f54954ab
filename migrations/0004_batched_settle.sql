-- Batched settles: one round trip and one transaction settle every attempt of a run that finished
-- while the previous settle was in flight, then claim the run's next tasks. Under parallelism the
-- fixed cost of a settle (the round trip, the run row's lock, the commit) is shared by the batch;
-- a lone settle (a chain) costs what it did.
--
-- Also: a dependant whose last dependency settles becomes ready in the same UPDATE that counts
-- the dependency down (one row version instead of two).

-- Settles one attempt of a run whose row the caller has locked, without claiming. Returns the
-- task's status afterwards ('ready' when a retry was scheduled), or NULL when the guard rejected it.
CREATE FUNCTION :HTDAG_SCHEMA.settle_attempt(p_run_id uuid, p_task_id text, p_attempt integer, p_worker text,
    p_outcome text, p_output jsonb, p_error jsonb, p_error_class text, p_retry_delay_ms integer,
    p_channel text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  v_task :HTDAG_SCHEMA.tasks;
  v_run_status text;
  v_workflow text;
  v_final text := p_outcome;
BEGIN
  SELECT status, workflow INTO v_run_status, v_workflow FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id;
  SELECT * INTO v_task FROM :HTDAG_SCHEMA.tasks WHERE run_id = p_run_id AND id = p_task_id FOR UPDATE;
  -- GUARD: only the live attempt of a running task, held by this worker, may settle it.
  IF NOT FOUND OR v_task.status <> 'running' OR v_task.attempts <> p_attempt
     OR (p_worker IS NOT NULL AND v_task.lease_owner IS DISTINCT FROM p_worker) THEN
    INSERT INTO :HTDAG_SCHEMA.rejected_completions (run_id, task_id, attempt, worker_id, outcome, reason)
    VALUES (p_run_id, p_task_id, p_attempt, p_worker, p_outcome,
            CASE WHEN NOT FOUND THEN 'no such task' ELSE 'task is ' || v_task.status || ' at attempt ' || v_task.attempts END);
    RETURN NULL;
  END IF;
  UPDATE :HTDAG_SCHEMA.attempts
     SET status = p_outcome, finished_at = now(), error = p_error, error_class = p_error_class,
         duration_ms = extract(epoch FROM (now() - started_at)) * 1000
   WHERE run_id = p_run_id AND task_id = p_task_id AND attempt = p_attempt;
  UPDATE :HTDAG_SCHEMA.queues SET running = running - 1 WHERE name = v_task.queue AND running > 0;
  IF v_run_status NOT IN ('running', 'paused') AND p_outcome <> 'completed' THEN
    v_final := 'cancelled';
  ELSIF p_outcome IN ('failed', 'timed_out') AND p_retry_delay_ms IS NOT NULL AND v_run_status IN ('running', 'paused') THEN
    UPDATE :HTDAG_SCHEMA.tasks
       SET status = 'ready', ready_at = now(), error = p_error, lease_owner = NULL, lease_expires_at = NULL,
           available_at = now() + p_retry_delay_ms * interval '1 millisecond'
     WHERE run_id = p_run_id AND id = p_task_id;
    PERFORM :HTDAG_SCHEMA.emit(p_channel, 'task:retried', p_run_id, p_task_id, v_workflow,
      jsonb_build_object('attempt', p_attempt, 'outcome', p_outcome, 'delayMs', p_retry_delay_ms, 'error', p_error));
    RETURN 'ready';
  END IF;
  PERFORM :HTDAG_SCHEMA.finish_task(p_run_id, p_task_id, v_final, p_output, p_error, p_channel);
  RETURN v_final;
END $$;

-- Settles one attempt and claims the run's next ready tasks, in one round trip (as before, now
-- through settle_attempt).
CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.settle_task(p_run_id uuid, p_task_id text, p_attempt integer, p_worker text,
    p_outcome text, p_output jsonb, p_error jsonb, p_error_class text, p_retry_delay_ms integer,
    p_claim_limit integer, p_lease_ms integer, p_channel text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_status text;
  v_run_status text;
BEGIN
  -- Lock order everywhere: the run row, then task rows (claims by other runs skip locked runs).
  PERFORM 1 FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id FOR UPDATE;
  v_status := :HTDAG_SCHEMA.settle_attempt(p_run_id, p_task_id, p_attempt, p_worker, p_outcome, p_output, p_error,
                                           p_error_class, p_retry_delay_ms, p_channel);
  IF v_status IS NULL THEN
    RETURN jsonb_build_object('settled', false, 'claimed', '[]'::jsonb);
  END IF;
  SELECT status INTO v_run_status FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id;
  RETURN jsonb_build_object('settled', true, 'status', v_status, 'runStatus', v_run_status,
    'claimed', CASE WHEN v_run_status = 'running'
                 THEN :HTDAG_SCHEMA.claim_tasks(p_run_id, NULL, p_worker, p_claim_limit, p_lease_ms, p_channel)
                 ELSE '[]'::jsonb END);
END $$;

-- Settles several attempts of one run (p_settlements: [{taskId, attempt, outcome, output, error,
-- errorClass, retryDelayMs}], in order) and claims the run's next ready tasks, in one round trip.
-- Each settlement keeps its own guard: a rejected one is reported and changes nothing.
CREATE FUNCTION :HTDAG_SCHEMA.settle_tasks(p_run_id uuid, p_worker text, p_settlements jsonb,
    p_claim_limit integer, p_lease_ms integer, p_channel text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_s record;
  v_status text;
  v_results jsonb := '[]';
  v_run_status text;
BEGIN
  PERFORM 1 FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id FOR UPDATE;
  FOR v_s IN
    SELECT e.value AS s, e.value ->> 'taskId' AS task_id, (e.value ->> 'attempt')::integer AS attempt
      FROM jsonb_array_elements(p_settlements) WITH ORDINALITY AS e(value, n) ORDER BY e.n
  LOOP
    v_status := :HTDAG_SCHEMA.settle_attempt(p_run_id, v_s.task_id, v_s.attempt, p_worker, v_s.s ->> 'outcome',
      -- As settle_task stores them: an absent key is SQL NULL, a JSON null is jsonb null.
      v_s.s -> 'output', v_s.s -> 'error', v_s.s ->> 'errorClass',
      (v_s.s ->> 'retryDelayMs')::integer, p_channel);
    v_results := v_results || jsonb_build_object('taskId', v_s.task_id, 'attempt', v_s.attempt,
                                                 'settled', v_status IS NOT NULL, 'status', v_status);
  END LOOP;
  SELECT status INTO v_run_status FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id;
  RETURN jsonb_build_object('results', v_results, 'runStatus', v_run_status,
    'claimed', CASE WHEN v_run_status = 'running'
                 THEN :HTDAG_SCHEMA.claim_tasks(p_run_id, NULL, p_worker, p_claim_limit, p_lease_ms, p_channel)
                 ELSE '[]'::jsonb END);
END $$;

-- finish_task as in 0002, but a dependant made ready by its last dependency is made ready by the
-- UPDATE that counts it down.
CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.finish_task(p_run_id uuid, p_task_id text, p_status text, p_output jsonb,
                                          p_error jsonb, p_channel text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  v_run :HTDAG_SCHEMA.runs;
  v_work text[] := ARRAY[p_task_id];
  v_status text[] := ARRAY[p_status];
  v_i integer := 1;
  v_dep record;
  v_dependant text;
  v_next text;
  v_failed boolean;
  v_skipped boolean;
  v_recovers boolean;
BEGIN
  SELECT * INTO v_run FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id FOR UPDATE;
  UPDATE :HTDAG_SCHEMA.tasks
     SET status = p_status, output = p_output, error = p_error, finished_at = now(),
         lease_owner = NULL, lease_expires_at = NULL
   WHERE run_id = p_run_id AND id = p_task_id
  RETURNING coalesce((spec ->> 'recovers')::boolean, false) INTO v_recovers;
  -- A timed-out task is reported as task:failed with its status, as the event catalogue has it.
  PERFORM :HTDAG_SCHEMA.emit(p_channel, 'task:' || CASE p_status WHEN 'timed_out' THEN 'failed' ELSE p_status END,
                             p_run_id, p_task_id, v_run.workflow,
                             jsonb_strip_nulls(jsonb_build_object('status', p_status, 'error', p_error)));
  IF p_status = 'completed' AND v_recovers THEN
    UPDATE :HTDAG_SCHEMA.runs SET recovered = true WHERE id = p_run_id;
  END IF;
  -- failFast: a failure cancels every task that waits for all its dependencies to succeed
  -- (tasks with runIf allDone/anyFailed stay, so cleanup and compensation still run).
  IF p_status IN ('failed', 'timed_out') AND v_run.fail_fast AND v_run.status = 'running' THEN
    FOR v_next IN
      UPDATE :HTDAG_SCHEMA.tasks SET status = 'cancelled', finished_at = now(),
             error = jsonb_build_object('message', 'cancelled: task ' || p_task_id || ' failed and failFast is on')
       WHERE run_id = p_run_id AND status IN ('pending', 'ready') AND run_if = 'allSucceeded'
      RETURNING id
    LOOP
      v_work := v_work || v_next;
      v_status := v_status || 'cancelled'::text;
    END LOOP;
  END IF;
  WHILE v_i <= array_length(v_work, 1) LOOP
    v_failed := v_status[v_i] IN ('failed', 'timed_out', 'cancelled');
    v_skipped := v_status[v_i] = 'skipped';
    -- Each dependant by primary key, found through the edge index: the cost of a settle does not
    -- grow with the size of the run.
    FOR v_dependant IN
      SELECT task_id FROM :HTDAG_SCHEMA.task_edges WHERE run_id = p_run_id AND depends_on = v_work[v_i]
    LOOP
      -- An atomic task whose last dependency settled becomes ready in this same UPDATE when its
      -- runIf lets it run; every other outcome is decided below.
      UPDATE :HTDAG_SCHEMA.tasks t
         SET remaining_deps = t.remaining_deps - 1,
             failed_deps = t.failed_deps + v_failed::integer,
             skipped_deps = t.skipped_deps + v_skipped::integer,
             status = CASE WHEN t.remaining_deps = 1 AND t.kind = 'atomic' AND CASE t.run_if
                            WHEN 'allDone' THEN true
                            WHEN 'anyFailed' THEN t.failed_deps + v_failed::integer > 0
                            ELSE t.failed_deps + v_failed::integer = 0 AND t.skipped_deps + v_skipped::integer = 0 END
                           THEN 'ready' ELSE t.status END,
             ready_at = CASE WHEN t.remaining_deps = 1 THEN now() ELSE t.ready_at END,
             available_at = CASE WHEN t.remaining_deps = 1 THEN now() ELSE t.available_at END
       WHERE t.run_id = p_run_id AND t.id = v_dependant AND t.status = 'pending'
      RETURNING t.id, t.kind, t.status, t.remaining_deps, t.failed_deps, t.skipped_deps, t.run_if,
                -- A lazy composite that was expanded already completes like an eager one.
                (t.kind = 'composite' AND (coalesce(t.spec ->> 'expand', 'eager') = 'eager'
                  OR EXISTS (SELECT 1 FROM :HTDAG_SCHEMA.tasks c WHERE c.run_id = t.run_id AND c.parent_id = t.id))) AS joins
      INTO v_dep;
      CONTINUE WHEN NOT FOUND;
      CONTINUE WHEN v_dep.remaining_deps > 0 OR v_dep.status = 'ready';
      v_next := CASE
        WHEN v_dep.joins
          THEN CASE WHEN v_dep.failed_deps > 0 THEN 'failed' ELSE 'completed' END
        WHEN v_dep.run_if = 'allDone' THEN 'ready'
        WHEN v_dep.run_if = 'anyFailed' THEN CASE WHEN v_dep.failed_deps > 0 THEN 'ready' ELSE 'skipped' END
        WHEN v_dep.failed_deps > 0 THEN 'cancelled'
        WHEN v_dep.skipped_deps > 0 THEN 'skipped'
        ELSE 'ready' END;
      IF v_next = 'ready' THEN
        UPDATE :HTDAG_SCHEMA.tasks SET status = 'ready', ready_at = now(), available_at = now()
         WHERE run_id = p_run_id AND id = v_dep.id;
      ELSE
        UPDATE :HTDAG_SCHEMA.tasks SET status = v_next, finished_at = now(),
               output = CASE WHEN v_next = 'completed' THEN
                 (SELECT coalesce(jsonb_object_agg(c.id, c.output), '{}') FROM :HTDAG_SCHEMA.tasks c
                   WHERE c.run_id = p_run_id AND c.parent_id = v_dep.id AND c.status = 'completed') END,
               error = CASE WHEN v_next IN ('cancelled', 'failed') THEN
                 jsonb_build_object('message', 'a dependency of ' || v_dep.id || ' did not succeed') END
         WHERE run_id = p_run_id AND id = v_dep.id;
        PERFORM :HTDAG_SCHEMA.emit(p_channel, 'task:' || v_next, p_run_id, v_dep.id, v_run.workflow,
                                   jsonb_build_object('status', v_next));
        v_work := v_work || v_dep.id::text;
        v_status := v_status || v_next;
      END IF;
    END LOOP;
    v_i := v_i + 1;
  END LOOP;
  UPDATE :HTDAG_SCHEMA.runs
     SET remaining_tasks = remaining_tasks - array_length(v_work, 1),
         failed_tasks = failed_tasks + (SELECT count(*) FROM unnest(v_status) s WHERE s IN ('failed', 'timed_out'))
   WHERE id = p_run_id
  RETURNING * INTO v_run;
  IF v_run.remaining_tasks = 0 AND v_run.status IN ('running', 'paused') THEN
    PERFORM :HTDAG_SCHEMA.finish_run(p_run_id,
      CASE WHEN v_run.failed_tasks > 0 AND NOT v_run.recovered THEN 'failed' ELSE 'completed' END, NULL, p_channel);
  END IF;
END $$;


-- start_attempt as in 0002, but the dependencies' outputs are read by primary key whatever the
-- planner's statistics say. Moves one locked ready task to running, opens its attempt, and returns what the step needs.
CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.start_attempt(p_run_id uuid, p_task_id text, p_workflow text, p_worker text,
                                            p_lease_ms integer, p_channel text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE v_task :HTDAG_SCHEMA.tasks;
BEGIN
  -- GUARD: the caller holds this row's lock, taken while it was ready (claim_tasks). Matching by
  -- primary key alone keeps the planner off the partial ready indexes.
  UPDATE :HTDAG_SCHEMA.tasks
     SET status = 'running', attempts = attempts + 1, started_at = now(), lease_owner = p_worker,
         lease_expires_at = now() + p_lease_ms * interval '1 millisecond'
   WHERE run_id = p_run_id AND id = p_task_id
  RETURNING * INTO v_task;
  INSERT INTO :HTDAG_SCHEMA.attempts (run_id, task_id, attempt, workflow, step, worker_id, ready_at, queue_wait_ms)
  VALUES (p_run_id, p_task_id, v_task.attempts, p_workflow, v_task.step, p_worker, v_task.ready_at,
          extract(epoch FROM (now() - v_task.ready_at)) * 1000);
  PERFORM :HTDAG_SCHEMA.emit(p_channel, 'task:started', p_run_id, p_task_id, p_workflow,
                             jsonb_build_object('attempt', v_task.attempts, 'step', v_task.step));
  RETURN jsonb_build_object(
    'runId', p_run_id, 'taskId', p_task_id, 'workflow', p_workflow, 'attempt', v_task.attempts, 'kind', v_task.kind,
    'step', v_task.step, 'input', v_task.input, 'spec', v_task.spec, 'timeoutMs', v_task.timeout_ms,
    'maxAttempts', v_task.max_attempts, 'backoff', v_task.backoff, 'queue', v_task.queue,
    -- Each dependency by primary key (OFFSET 0 keeps the planner from turning this into a scan of
    -- the run's tasks when the table's statistics are stale, as they are in a fresh database).
    'deps', (SELECT coalesce(jsonb_object_agg(d.id, d.output) FILTER (WHERE d.status = 'completed'), '{}')
               FROM :HTDAG_SCHEMA.task_edges e,
                    LATERAL (SELECT t.id, t.output, t.status FROM :HTDAG_SCHEMA.tasks t
                              WHERE t.run_id = e.run_id AND t.id = e.depends_on OFFSET 0) d
              WHERE e.run_id = p_run_id AND e.task_id = p_task_id));
END $$;

