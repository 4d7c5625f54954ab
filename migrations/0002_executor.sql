-- The executor's transitions as functions: each is one round trip and one transaction, with its
-- guard in a WHERE clause or a locked read. Events are written in the same transaction as the
-- change they report; pg_notify delivers them after commit (p_channel NULL = no NOTIFY).

ALTER TABLE :HTDAG_SCHEMA.attempts DROP CONSTRAINT attempts_status_check;
ALTER TABLE :HTDAG_SCHEMA.attempts ADD CONSTRAINT attempts_status_check
  CHECK (status IN ('running', 'completed', 'failed', 'timed_out', 'cancelled', 'skipped', 'lost'));
-- retryRun grants a fresh budget on top of the attempts already made.
ALTER TABLE :HTDAG_SCHEMA.tasks DROP CONSTRAINT tasks_max_attempts_check;
ALTER TABLE :HTDAG_SCHEMA.tasks ADD CONSTRAINT tasks_max_attempts_check CHECK (max_attempts BETWEEN 1 AND 100000);

-- Writes one event row and, unless p_channel is NULL, a small NOTIFY: ids only, never the payload,
-- so NOTIFY stays far below its 8,000-byte limit.
CREATE FUNCTION :HTDAG_SCHEMA.emit(p_channel text, p_type text, p_run_id uuid, p_task_id text,
                                   p_workflow text, p_payload jsonb) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE v_id bigint;
BEGIN
  INSERT INTO :HTDAG_SCHEMA.events (type, channel, run_id, task_id, workflow, payload)
  VALUES (p_type, coalesce(p_channel, 'htdag_events'), p_run_id, p_task_id, p_workflow, coalesce(p_payload, '{}'))
  RETURNING id INTO v_id;
  -- A run created with realTimeNotifications: false keeps its events without NOTIFY.
  IF p_channel IS NOT NULL AND (p_run_id IS NULL OR coalesce(
       (SELECT (options ->> 'realTimeNotifications')::boolean FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id), true)) THEN
    PERFORM pg_notify(p_channel, json_build_object('id', v_id, 'type', p_type, 'runId', p_run_id,
                                                   'taskId', p_task_id, 'workflow', p_workflow)::text);
  END IF;
  RETURN v_id;
END $$;

-- Takes a slot of a queue with a limit (locking its row while checking); true when the task may
-- start. Queues without a row have no limit.
CREATE FUNCTION :HTDAG_SCHEMA.take_queue_slot(p_queue text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE v_queue :HTDAG_SCHEMA.queues;
BEGIN
  -- GUARD: a queue with a limit is locked while its counter is checked and raised.
  SELECT * INTO v_queue FROM :HTDAG_SCHEMA.queues WHERE name = p_queue FOR UPDATE;
  IF NOT FOUND THEN RETURN true; END IF;
  IF v_queue.concurrency IS NOT NULL AND v_queue.running >= v_queue.concurrency THEN RETURN false; END IF;
  UPDATE :HTDAG_SCHEMA.queues SET running = running + 1 WHERE name = p_queue;
  RETURN true;
END $$;

-- Claims up to p_limit ready tasks of one run (p_run_id), or of any run of p_workflows (workers;
-- p_run_id NULL), by priority then age, skipping rows other claimers hold. Respects each run's
-- max_parallel and queue limits. Returns each claimed task with its dependencies' outputs.
-- The two cases are separate queries so that each keeps an index-friendly cached plan.
CREATE FUNCTION :HTDAG_SCHEMA.claim_tasks(p_run_id uuid, p_workflows text[], p_worker text, p_limit integer,
                                          p_lease_ms integer, p_channel text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_claimed jsonb := '[]';
  v_task record;
  v_run record;
  v_free integer;
BEGIN
  IF p_limit <= 0 THEN RETURN v_claimed; END IF;
  IF p_run_id IS NOT NULL THEN
    -- Serialises claims and settles of one run, so max_parallel holds exactly.
    SELECT id, max_parallel, workflow INTO v_run FROM :HTDAG_SCHEMA.runs
     WHERE id = p_run_id AND status = 'running' AND run_at <= now() FOR UPDATE;
    IF NOT FOUND THEN RETURN v_claimed; END IF;
    SELECT least(p_limit, v_run.max_parallel - count(*)) INTO v_free FROM :HTDAG_SCHEMA.tasks
     WHERE run_id = p_run_id AND status = 'running' AND kind = 'atomic';
    FOR v_task IN
      SELECT id, queue FROM :HTDAG_SCHEMA.tasks
       WHERE run_id = p_run_id AND status = 'ready' AND available_at <= now()
       ORDER BY priority DESC, ready_at, id
       LIMIT p_limit * 4 FOR UPDATE SKIP LOCKED
    LOOP
      EXIT WHEN v_free <= 0;
      CONTINUE WHEN NOT :HTDAG_SCHEMA.take_queue_slot(v_task.queue);
      v_claimed := v_claimed || :HTDAG_SCHEMA.start_attempt(p_run_id, v_task.id, v_run.workflow, p_worker, p_lease_ms, p_channel);
      v_free := v_free - 1;
    END LOOP;
    RETURN v_claimed;
  END IF;
  v_free := p_limit;
  FOR v_task IN
    SELECT t.run_id, t.id, t.queue, r.max_parallel, r.workflow
      FROM :HTDAG_SCHEMA.tasks t JOIN :HTDAG_SCHEMA.runs r ON r.id = t.run_id
     WHERE t.status = 'ready' AND t.available_at <= now() AND r.status = 'running' AND r.run_at <= now()
       AND (p_workflows IS NULL OR r.workflow = ANY (p_workflows))
     ORDER BY t.priority DESC, t.ready_at, t.run_id, t.id
     LIMIT p_limit * 4
       FOR UPDATE OF t SKIP LOCKED
  LOOP
    EXIT WHEN v_free <= 0;
    -- Never wait for a run another process is settling: try it on the next claim.
    PERFORM 1 FROM :HTDAG_SCHEMA.runs WHERE id = v_task.run_id FOR UPDATE SKIP LOCKED;
    CONTINUE WHEN NOT FOUND;
    -- GUARD: max_parallel caps the running tasks of one run, across every process.
    CONTINUE WHEN (SELECT count(*) FROM :HTDAG_SCHEMA.tasks
                    WHERE run_id = v_task.run_id AND status = 'running' AND kind = 'atomic') >= v_task.max_parallel;
    CONTINUE WHEN NOT :HTDAG_SCHEMA.take_queue_slot(v_task.queue);
    v_claimed := v_claimed || :HTDAG_SCHEMA.start_attempt(v_task.run_id, v_task.id, v_task.workflow, p_worker, p_lease_ms, p_channel);
    v_free := v_free - 1;
  END LOOP;
  RETURN v_claimed;
END $$;

-- Moves one locked ready task to running, opens its attempt, and returns what the step needs.
CREATE FUNCTION :HTDAG_SCHEMA.start_attempt(p_run_id uuid, p_task_id text, p_workflow text, p_worker text,
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
    'deps', (SELECT coalesce(jsonb_object_agg(e.depends_on, d.output), '{}')
               FROM :HTDAG_SCHEMA.task_edges e
               JOIN :HTDAG_SCHEMA.tasks d ON d.run_id = e.run_id AND d.id = e.depends_on
              WHERE e.run_id = p_run_id AND e.task_id = p_task_id AND d.status = 'completed'));
END $$;

-- Marks a task final and cascades: dependants' counters drop; those that reach zero become ready,
-- or are skipped/cancelled by their runIf, or (composites) complete with their children's outputs.
-- Keeps the run's counters and finishes the run when nothing remains.
CREATE FUNCTION :HTDAG_SCHEMA.finish_task(p_run_id uuid, p_task_id text, p_status text, p_output jsonb,
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
    -- Each dependant by primary key, found through the edge index: the cost of a settle does not
    -- grow with the size of the run.
    FOR v_dependant IN
      SELECT task_id FROM :HTDAG_SCHEMA.task_edges WHERE run_id = p_run_id AND depends_on = v_work[v_i]
    LOOP
      UPDATE :HTDAG_SCHEMA.tasks t
         SET remaining_deps = t.remaining_deps - 1,
             failed_deps = t.failed_deps + (CASE WHEN v_failed THEN 1 ELSE 0 END),
             skipped_deps = t.skipped_deps + (CASE WHEN v_status[v_i] = 'skipped' THEN 1 ELSE 0 END)
       WHERE t.run_id = p_run_id AND t.id = v_dependant AND t.status = 'pending'
      RETURNING t.id, t.kind, t.remaining_deps, t.failed_deps, t.skipped_deps, t.run_if,
                -- A lazy composite that was expanded already completes like an eager one.
                (t.kind = 'composite' AND (coalesce(t.spec ->> 'expand', 'eager') = 'eager'
                  OR EXISTS (SELECT 1 FROM :HTDAG_SCHEMA.tasks c WHERE c.run_id = t.run_id AND c.parent_id = t.id))) AS joins
      INTO v_dep;
      CONTINUE WHEN NOT FOUND;
      CONTINUE WHEN v_dep.remaining_deps > 0;
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

-- Moves a run to a final status and stamps it. GUARD: only a run that is not final yet.
CREATE FUNCTION :HTDAG_SCHEMA.finish_run(p_run_id uuid, p_status text, p_error jsonb, p_channel text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE v_run :HTDAG_SCHEMA.runs;
BEGIN
  UPDATE :HTDAG_SCHEMA.runs SET status = p_status, finished_at = now(),
         error = coalesce(p_error, CASE WHEN p_status = 'failed' THEN
           (SELECT jsonb_build_object('message', 'task ' || id || ' ' || status, 'taskId', id, 'cause', error)
              FROM :HTDAG_SCHEMA.tasks WHERE run_id = p_run_id AND status IN ('failed', 'timed_out')
             ORDER BY finished_at LIMIT 1) END)
   WHERE id = p_run_id AND status IN ('pending', 'running', 'paused')
  RETURNING * INTO v_run;
  IF NOT FOUND THEN RETURN false; END IF;
  PERFORM :HTDAG_SCHEMA.emit(p_channel, 'execution:' || p_status, p_run_id, NULL, v_run.workflow,
    jsonb_strip_nulls(jsonb_build_object('error', v_run.error,
      'durationMs', extract(epoch FROM (v_run.finished_at - coalesce(v_run.started_at, v_run.created_at))) * 1000)));
  RETURN true;
END $$;

-- Settles one attempt and claims the run's next ready tasks, in one round trip.
-- p_outcome: completed | failed | timed_out | cancelled | skipped. A failed or timed-out attempt
-- with p_retry_delay_ms not NULL goes back to ready after the delay instead of failing the task.
CREATE FUNCTION :HTDAG_SCHEMA.settle_task(p_run_id uuid, p_task_id text, p_attempt integer, p_worker text,
    p_outcome text, p_output jsonb, p_error jsonb, p_error_class text, p_retry_delay_ms integer,
    p_claim_limit integer, p_lease_ms integer, p_channel text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_task :HTDAG_SCHEMA.tasks;
  v_run :HTDAG_SCHEMA.runs;
  v_final text := p_outcome;
BEGIN
  -- Lock order everywhere: the run row, then task rows (claims by other runs skip locked runs).
  SELECT * INTO v_run FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id FOR UPDATE;
  SELECT * INTO v_task FROM :HTDAG_SCHEMA.tasks WHERE run_id = p_run_id AND id = p_task_id FOR UPDATE;
  -- GUARD: only the live attempt of a running task, held by this worker, may settle it.
  IF NOT FOUND OR v_task.status <> 'running' OR v_task.attempts <> p_attempt
     OR (p_worker IS NOT NULL AND v_task.lease_owner IS DISTINCT FROM p_worker) THEN
    INSERT INTO :HTDAG_SCHEMA.rejected_completions (run_id, task_id, attempt, worker_id, outcome, reason)
    VALUES (p_run_id, p_task_id, p_attempt, p_worker, p_outcome,
            CASE WHEN NOT FOUND THEN 'no such task' ELSE 'task is ' || v_task.status || ' at attempt ' || v_task.attempts END);
    RETURN jsonb_build_object('settled', false, 'claimed', '[]'::jsonb);
  END IF;
  UPDATE :HTDAG_SCHEMA.attempts
     SET status = p_outcome, finished_at = now(), error = p_error, error_class = p_error_class,
         duration_ms = extract(epoch FROM (now() - started_at)) * 1000
   WHERE run_id = p_run_id AND task_id = p_task_id AND attempt = p_attempt;
  UPDATE :HTDAG_SCHEMA.queues SET running = running - 1 WHERE name = v_task.queue AND running > 0;
  IF v_run.status NOT IN ('running', 'paused') AND p_outcome <> 'completed' THEN
    v_final := 'cancelled';
  ELSIF p_outcome IN ('failed', 'timed_out') AND p_retry_delay_ms IS NOT NULL AND v_run.status IN ('running', 'paused') THEN
    UPDATE :HTDAG_SCHEMA.tasks
       SET status = 'ready', ready_at = now(), error = p_error, lease_owner = NULL, lease_expires_at = NULL,
           available_at = now() + p_retry_delay_ms * interval '1 millisecond'
     WHERE run_id = p_run_id AND id = p_task_id;
    PERFORM :HTDAG_SCHEMA.emit(p_channel, 'task:retried', p_run_id, p_task_id, v_run.workflow,
      jsonb_build_object('attempt', p_attempt, 'outcome', p_outcome, 'delayMs', p_retry_delay_ms, 'error', p_error));
    v_final := NULL;
  END IF;
  IF v_final IS NOT NULL THEN
    PERFORM :HTDAG_SCHEMA.finish_task(p_run_id, p_task_id, v_final, p_output, p_error, p_channel);
  END IF;
  SELECT * INTO v_run FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id;
  RETURN jsonb_build_object('settled', true, 'status', coalesce(v_final, 'ready'), 'runStatus', v_run.status,
    'claimed', CASE WHEN v_run.status = 'running'
                 THEN :HTDAG_SCHEMA.claim_tasks(p_run_id, NULL, p_worker, p_claim_limit, p_lease_ms, p_channel)
                 ELSE '[]'::jsonb END);
END $$;

-- Starts a pending run (or resumes one re-opened by retryRun): tasks with no remaining
-- dependencies become ready, and the first batch is claimed.
CREATE FUNCTION :HTDAG_SCHEMA.start_run(p_run_id uuid, p_worker text, p_claim_limit integer,
                                        p_lease_ms integer, p_channel text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE v_run :HTDAG_SCHEMA.runs;
BEGIN
  UPDATE :HTDAG_SCHEMA.runs SET status = 'running', started_at = coalesce(started_at, now())
   WHERE id = p_run_id AND status = 'pending'
  RETURNING * INTO v_run;
  IF NOT FOUND THEN
    SELECT * INTO v_run FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id;
    RETURN jsonb_build_object('started', false, 'runStatus', v_run.status, 'claimed', '[]'::jsonb);
  END IF;
  PERFORM :HTDAG_SCHEMA.emit(p_channel, 'execution:started', p_run_id, NULL, v_run.workflow,
                             jsonb_build_object('goal', v_run.goal, 'tasks', v_run.total_tasks));
  UPDATE :HTDAG_SCHEMA.tasks SET status = 'ready', ready_at = now(), available_at = now()
   WHERE run_id = p_run_id AND status = 'pending' AND remaining_deps = 0;
  IF v_run.remaining_tasks = 0 THEN
    PERFORM :HTDAG_SCHEMA.finish_run(p_run_id, 'completed', NULL, p_channel);
  END IF;
  RETURN jsonb_build_object('started', true, 'runStatus', 'running',
    'claimed', :HTDAG_SCHEMA.claim_tasks(p_run_id, NULL, p_worker, p_claim_limit, p_lease_ms, p_channel));
END $$;

-- Stops a run that is not final: cancelled by a user, or timed out by its deadline. Tasks not yet
-- started are cancelled; running ones are aborted by their executor and settle as cancelled.
CREATE FUNCTION :HTDAG_SCHEMA.stop_run(p_run_id uuid, p_status text, p_reason text, p_channel text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE v_run :HTDAG_SCHEMA.runs; v_cancelled integer;
BEGIN
  SELECT * INTO v_run FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id FOR UPDATE;
  IF NOT FOUND THEN RETURN NULL; END IF;
  -- GUARD: only a run that is not final can be stopped.
  IF v_run.status NOT IN ('pending', 'running', 'paused') THEN RETURN v_run.status; END IF;
  UPDATE :HTDAG_SCHEMA.tasks SET status = 'cancelled', finished_at = now(),
         error = jsonb_build_object('message', coalesce(p_reason, 'run ' || p_status))
   WHERE run_id = p_run_id AND status IN ('pending', 'ready');
  GET DIAGNOSTICS v_cancelled = ROW_COUNT;
  UPDATE :HTDAG_SCHEMA.runs SET remaining_tasks = remaining_tasks - v_cancelled WHERE id = p_run_id;
  PERFORM :HTDAG_SCHEMA.finish_run(p_run_id, p_status,
    jsonb_build_object('message', coalesce(p_reason, 'run ' || p_status)), p_channel);
  RETURN v_run.status;
END $$;

-- Pauses (running → paused) or resumes (paused → running) a run; returns the status it had.
CREATE FUNCTION :HTDAG_SCHEMA.set_run_paused(p_run_id uuid, p_paused boolean, p_reason text, p_channel text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE v_run :HTDAG_SCHEMA.runs; v_before text;
BEGIN
  SELECT status INTO v_before FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id FOR UPDATE;
  IF NOT FOUND THEN RETURN NULL; END IF;
  -- GUARD: pause only a running run, resume only a paused one.
  UPDATE :HTDAG_SCHEMA.runs SET status = CASE WHEN p_paused THEN 'paused' ELSE 'running' END,
         pause_reason = CASE WHEN p_paused THEN p_reason END
   WHERE id = p_run_id AND status = CASE WHEN p_paused THEN 'running' ELSE 'paused' END
  RETURNING * INTO v_run;
  IF FOUND THEN
    PERFORM :HTDAG_SCHEMA.emit(p_channel, CASE WHEN p_paused THEN 'execution:paused' ELSE 'execution:resumed' END,
                               p_run_id, NULL, v_run.workflow, jsonb_strip_nulls(jsonb_build_object('reason', p_reason)));
  END IF;
  RETURN v_before;
END $$;

-- Re-opens a final run: p_from_task and everything downstream of it (or, without it, every task
-- that did not complete and everything downstream) goes back to pending with a fresh attempt
-- budget; completed tasks elsewhere keep their outputs. Returns the number of tasks reset.
CREATE FUNCTION :HTDAG_SCHEMA.retry_run(p_run_id uuid, p_from_task text, p_channel text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE v_run :HTDAG_SCHEMA.runs; v_reset integer;
BEGIN
  SELECT * INTO v_run FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id FOR UPDATE;
  -- GUARD: only a final run is re-opened.
  IF NOT FOUND OR v_run.status NOT IN ('completed', 'failed', 'cancelled', 'timed_out') THEN RETURN -1; END IF;
  WITH RECURSIVE seed(id) AS (
    SELECT id FROM :HTDAG_SCHEMA.tasks WHERE run_id = p_run_id
       AND (CASE WHEN p_from_task IS NULL THEN status <> 'completed' ELSE id = p_from_task END)
  ), subtree(id) AS (
    SELECT id FROM seed
    UNION SELECT c.id FROM :HTDAG_SCHEMA.tasks c JOIN subtree p ON c.parent_id = p.id WHERE c.run_id = p_run_id
  ), downstream(id) AS (
    SELECT id FROM subtree
    UNION SELECT e.task_id FROM :HTDAG_SCHEMA.task_edges e JOIN downstream d ON e.depends_on = d.id
     WHERE e.run_id = p_run_id
  )
  UPDATE :HTDAG_SCHEMA.tasks t SET status = 'pending', output = NULL, error = NULL, started_at = NULL,
         finished_at = NULL, ready_at = NULL, lease_owner = NULL, lease_expires_at = NULL,
         max_attempts = t.attempts + t.attempt_budget
    FROM (SELECT DISTINCT id FROM downstream) d
   WHERE t.run_id = p_run_id AND t.id = d.id;
  GET DIAGNOSTICS v_reset = ROW_COUNT;
  IF v_reset = 0 THEN RETURN 0; END IF;
  UPDATE :HTDAG_SCHEMA.tasks t SET
         remaining_deps = (SELECT count(*) FROM :HTDAG_SCHEMA.task_edges e JOIN :HTDAG_SCHEMA.tasks d
                             ON d.run_id = e.run_id AND d.id = e.depends_on
                            WHERE e.run_id = t.run_id AND e.task_id = t.id AND d.status = 'pending'),
         failed_deps = (SELECT count(*) FROM :HTDAG_SCHEMA.task_edges e JOIN :HTDAG_SCHEMA.tasks d
                             ON d.run_id = e.run_id AND d.id = e.depends_on
                            WHERE e.run_id = t.run_id AND e.task_id = t.id AND d.status IN ('failed', 'timed_out', 'cancelled')),
         skipped_deps = (SELECT count(*) FROM :HTDAG_SCHEMA.task_edges e JOIN :HTDAG_SCHEMA.tasks d
                             ON d.run_id = e.run_id AND d.id = e.depends_on
                            WHERE e.run_id = t.run_id AND e.task_id = t.id AND d.status = 'skipped')
   WHERE t.run_id = p_run_id AND t.status = 'pending';
  UPDATE :HTDAG_SCHEMA.runs SET status = 'running', finished_at = NULL, error = NULL, recovered = false,
         remaining_tasks = (SELECT count(*) FROM :HTDAG_SCHEMA.tasks WHERE run_id = p_run_id AND status = 'pending'),
         failed_tasks = (SELECT count(*) FROM :HTDAG_SCHEMA.tasks WHERE run_id = p_run_id AND status IN ('failed', 'timed_out')),
         deadline_at = CASE WHEN deadline_at IS NULL THEN NULL
                            ELSE now() + (deadline_at - coalesce(started_at, created_at)) END
   WHERE id = p_run_id;
  PERFORM :HTDAG_SCHEMA.emit(p_channel, 'execution:resumed', p_run_id, NULL, v_run.workflow,
    jsonb_strip_nulls(jsonb_build_object('retry', true, 'fromTask', p_from_task, 'tasksReset', v_reset)));
  UPDATE :HTDAG_SCHEMA.tasks SET status = 'ready', ready_at = now(), available_at = now()
   WHERE run_id = p_run_id AND status = 'pending' AND remaining_deps = 0
     AND (kind = 'atomic' OR spec ->> 'expand' = 'lazy');
  RETURN v_reset;
END $$;

-- Expands a claimed lazy composite: inserts its children (p_tasks, shaped like the run's task rows;
-- p_edges among them), makes every child inherit the composite's dependencies, and turns the
-- composite back to pending until its direct children settle. Then claims the run's next tasks.
CREATE FUNCTION :HTDAG_SCHEMA.expand_task(p_run_id uuid, p_task_id text, p_attempt integer, p_worker text,
    p_tasks jsonb, p_edges jsonb, p_claim_limit integer, p_lease_ms integer, p_channel text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_run :HTDAG_SCHEMA.runs;
  v_task :HTDAG_SCHEMA.tasks;
  v_children integer;
  v_direct integer;
  v_position integer;
BEGIN
  SELECT * INTO v_run FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id FOR UPDATE;
  SELECT * INTO v_task FROM :HTDAG_SCHEMA.tasks WHERE run_id = p_run_id AND id = p_task_id FOR UPDATE;
  -- GUARD: only the live attempt of a running lazy composite, held by this worker, expands it.
  IF NOT FOUND OR v_task.status <> 'running' OR v_task.attempts <> p_attempt OR v_task.kind <> 'composite'
     OR (p_worker IS NOT NULL AND v_task.lease_owner IS DISTINCT FROM p_worker) OR v_run.status <> 'running' THEN
    RETURN jsonb_build_object('settled', false, 'claimed', '[]'::jsonb);
  END IF;
  SELECT coalesce(max(position), 0) INTO v_position FROM :HTDAG_SCHEMA.tasks WHERE run_id = p_run_id;
  INSERT INTO :HTDAG_SCHEMA.tasks (run_id, id, position, parent_id, kind, step, description, remaining_deps, run_if,
                                   spec, input, priority, queue, max_attempts, attempt_budget, timeout_ms, backoff)
  SELECT p_run_id, x.id, v_position + e.n, coalesce(x.parent_id, p_task_id), x.kind, x.step, x.description,
         x.remaining_deps, x.run_if, x.spec, x.input, x.priority, x.queue, x.max_attempts, x.max_attempts, x.timeout_ms, x.backoff
    FROM jsonb_array_elements(p_tasks) WITH ORDINALITY AS e(value, n),
         jsonb_to_record(e.value) AS x(id text, parent_id text, kind text, step text, description text,
           remaining_deps integer, run_if text, spec jsonb, input jsonb, priority integer, queue text,
           max_attempts integer, timeout_ms integer, backoff jsonb);
  GET DIAGNOSTICS v_children = ROW_COUNT;
  INSERT INTO :HTDAG_SCHEMA.task_edges (run_id, task_id, depends_on)
  SELECT p_run_id, x.task_id, x.depends_on FROM jsonb_to_recordset(p_edges) AS x(task_id text, depends_on text);
  -- Inherited dependencies are settled already: they feed the children's deps but are not counted.
  INSERT INTO :HTDAG_SCHEMA.task_edges (run_id, task_id, depends_on)
  SELECT p_run_id, c.id, e.depends_on
    FROM jsonb_to_recordset(p_tasks) AS c(id text), :HTDAG_SCHEMA.task_edges e
   WHERE e.run_id = p_run_id AND e.task_id = p_task_id
  ON CONFLICT DO NOTHING;
  INSERT INTO :HTDAG_SCHEMA.task_edges (run_id, task_id, depends_on)
  SELECT p_run_id, p_task_id, c.id FROM jsonb_to_recordset(p_tasks) AS c(id text, parent_id text) WHERE c.parent_id IS NULL;
  GET DIAGNOSTICS v_direct = ROW_COUNT;
  UPDATE :HTDAG_SCHEMA.attempts SET status = 'completed', finished_at = now(),
         duration_ms = extract(epoch FROM (now() - started_at)) * 1000
   WHERE run_id = p_run_id AND task_id = p_task_id AND attempt = p_attempt;
  UPDATE :HTDAG_SCHEMA.queues SET running = running - 1 WHERE name = v_task.queue AND running > 0;
  UPDATE :HTDAG_SCHEMA.tasks SET status = 'pending', remaining_deps = v_direct, failed_deps = 0, skipped_deps = 0,
         lease_owner = NULL, lease_expires_at = NULL
   WHERE run_id = p_run_id AND id = p_task_id;
  UPDATE :HTDAG_SCHEMA.runs SET total_tasks = total_tasks + v_children, remaining_tasks = remaining_tasks + v_children
   WHERE id = p_run_id;
  UPDATE :HTDAG_SCHEMA.tasks SET status = 'ready', ready_at = now(), available_at = now()
   WHERE run_id = p_run_id AND parent_id IS NOT NULL AND status = 'pending' AND remaining_deps = 0
     AND id IN (SELECT c.id FROM jsonb_to_recordset(p_tasks) AS c(id text));
  PERFORM :HTDAG_SCHEMA.emit(p_channel, 'decomposition:completed', p_run_id, p_task_id, v_run.workflow,
                             jsonb_build_object('lazy', true, 'tasks', v_children));
  RETURN jsonb_build_object('settled', true, 'status', 'pending', 'runStatus', v_run.status,
    'claimed', :HTDAG_SCHEMA.claim_tasks(p_run_id, NULL, p_worker, p_claim_limit, p_lease_ms, p_channel));
END $$;

-- The reaper: any live worker returns tasks whose lease expired (their worker died or hung) to
-- ready, counting the lost attempt; a task out of attempts fails. Also times out runs past their
-- deadline. Skips rows and runs others hold, so it never waits. Returns the tasks reaped.
CREATE FUNCTION :HTDAG_SCHEMA.reap_expired(p_limit integer, p_channel text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_task record;
  v_run :HTDAG_SCHEMA.runs;
  v_error jsonb;
  v_reaped integer := 0;
BEGIN
  FOR v_task IN
    SELECT run_id, id, attempts, max_attempts, queue, lease_owner FROM :HTDAG_SCHEMA.tasks
     WHERE status = 'running' AND lease_expires_at < now()
     ORDER BY lease_expires_at LIMIT p_limit FOR UPDATE SKIP LOCKED
  LOOP
    SELECT * INTO v_run FROM :HTDAG_SCHEMA.runs WHERE id = v_task.run_id FOR UPDATE SKIP LOCKED;
    CONTINUE WHEN NOT FOUND;
    v_error := jsonb_build_object('name', 'LeaseExpired', 'message',
      'the lease of worker ' || coalesce(v_task.lease_owner, '?') || ' expired: it stopped heartbeating (died or hung)');
    UPDATE :HTDAG_SCHEMA.attempts SET status = 'lost', finished_at = now(), error = v_error, error_class = 'LeaseExpired',
           duration_ms = extract(epoch FROM (now() - started_at)) * 1000
     WHERE run_id = v_task.run_id AND task_id = v_task.id AND attempt = v_task.attempts;
    UPDATE :HTDAG_SCHEMA.queues SET running = running - 1 WHERE name = v_task.queue AND running > 0;
    IF v_run.status NOT IN ('running', 'paused') THEN
      PERFORM :HTDAG_SCHEMA.finish_task(v_task.run_id, v_task.id, 'cancelled', NULL, v_error, p_channel);
    ELSIF v_task.attempts < v_task.max_attempts THEN
      UPDATE :HTDAG_SCHEMA.tasks SET status = 'ready', ready_at = now(), available_at = now(), error = v_error,
             lease_owner = NULL, lease_expires_at = NULL
       WHERE run_id = v_task.run_id AND id = v_task.id;
      PERFORM :HTDAG_SCHEMA.emit(p_channel, 'task:retried', v_task.run_id, v_task.id, v_run.workflow,
        jsonb_build_object('attempt', v_task.attempts, 'outcome', 'lost', 'delayMs', 0, 'error', v_error));
    ELSE
      PERFORM :HTDAG_SCHEMA.finish_task(v_task.run_id, v_task.id, 'failed', NULL, v_error, p_channel);
    END IF;
    v_reaped := v_reaped + 1;
  END LOOP;
  FOR v_run IN
    SELECT * FROM :HTDAG_SCHEMA.runs WHERE status IN ('running', 'paused') AND deadline_at < now()
     LIMIT p_limit FOR UPDATE SKIP LOCKED
  LOOP
    PERFORM :HTDAG_SCHEMA.stop_run(v_run.id, 'timed_out', 'the run''s timeoutMs elapsed', p_channel);
  END LOOP;
  RETURN v_reaped;
END $$;

-- A worker stopping gracefully hands back the tasks it still runs: they become ready at once and
-- the attempt is not charged (max_attempts grows by one). Returns the tasks released.
CREATE FUNCTION :HTDAG_SCHEMA.release_tasks(p_worker text, p_channel text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE v_task record; v_released integer := 0;
BEGIN
  FOR v_task IN
    SELECT t.run_id, t.id, t.attempts, t.queue, r.workflow FROM :HTDAG_SCHEMA.tasks t
      JOIN :HTDAG_SCHEMA.runs r ON r.id = t.run_id
     WHERE t.lease_owner = p_worker AND t.status = 'running' FOR UPDATE OF t
  LOOP
    UPDATE :HTDAG_SCHEMA.attempts SET status = 'lost', finished_at = now(), error_class = 'Released',
           error = jsonb_build_object('name', 'Released', 'message', 'worker ' || p_worker || ' stopped and released the task'),
           duration_ms = extract(epoch FROM (now() - started_at)) * 1000
     WHERE run_id = v_task.run_id AND task_id = v_task.id AND attempt = v_task.attempts;
    UPDATE :HTDAG_SCHEMA.queues SET running = running - 1 WHERE name = v_task.queue AND running > 0;
    UPDATE :HTDAG_SCHEMA.tasks SET status = 'ready', ready_at = now(), available_at = now(), max_attempts = max_attempts + 1,
           lease_owner = NULL, lease_expires_at = NULL
     WHERE run_id = v_task.run_id AND id = v_task.id;
    PERFORM :HTDAG_SCHEMA.emit(p_channel, 'task:retried', v_task.run_id, v_task.id, v_task.workflow,
      jsonb_build_object('attempt', v_task.attempts, 'outcome', 'released', 'delayMs', 0));
    v_released := v_released + 1;
  END LOOP;
  RETURN v_released;
END $$;
