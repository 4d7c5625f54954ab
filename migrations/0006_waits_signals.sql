-- Wait tasks and signals (issue 22, docs/waits-and-flow-control.md).
--
-- A wait task is an atomic task with no step whose spec holds `wait`. It is never claimed into
-- `running`, so it holds no worker slot and no maxParallel slot. A waiting task is a `ready` task
-- whose wait has started: `waiting_since` is set, and `available_at` is when it wakes up (forMs,
-- until, a signal's timeoutMs; 'infinity' for a signal without timeout), as a retry delay is. A
-- wait counts as started in the task's current readiness only when waiting_since >= ready_at:
-- whatever makes a task ready again (finish_wave, a retry, a revision) sets ready_at, so a stale
-- waiting_since never counts and nothing else has to clear it.
--
-- The claim (claim_locked_run, as 0009 replaces it) starts the run's due waits, delivers kept signals and ends the
-- waits whose time came (process_waits), before it claims anything; workers reach a run with a due
-- wait through claim_tasks, which finds due ready tasks by available_at. A signal (deliver_signal)
-- completes the task that waits for it at once, or is kept for the wait that has not started yet.

ALTER TABLE :HTDAG_SCHEMA.tasks ADD COLUMN waiting_since timestamptz;

-- The run's wait tasks that are ready, by when they are due: the claim's guard probes it (empty for
-- a run without waits), and process_waits reads it.
CREATE INDEX tasks_run_waits_idx ON :HTDAG_SCHEMA.tasks (run_id, available_at)
  WHERE status = 'ready' AND spec ? 'wait';

-- One row per signal a run received: delivered to task_id at delivered_at, or kept (both NULL)
-- until a wait for its name starts. The payload is stored as the task's output will be (encoded
-- by the orchestrator's codec, if any).
CREATE TABLE :HTDAG_SCHEMA.signals (
  run_id       uuid NOT NULL REFERENCES :HTDAG_SCHEMA.runs (id) ON DELETE CASCADE,
  id           bigint GENERATED ALWAYS AS IDENTITY,
  name         text NOT NULL,
  payload      jsonb NOT NULL,
  received_at  timestamptz NOT NULL DEFAULT now(),
  task_id      text,
  delivered_at timestamptz,
  CONSTRAINT signals_pkey PRIMARY KEY (run_id, id),
  CONSTRAINT signals_delivered_check CHECK ((task_id IS NULL) = (delivered_at IS NULL))
);
CREATE INDEX signals_kept_idx ON :HTDAG_SCHEMA.signals (run_id, name, id) WHERE delivered_at IS NULL;

-- When a wait started at p_from wakes up: forMs after it, at `until`, at a signal's timeoutMs, or
-- never ('infinity': a signal without timeout).
CREATE FUNCTION :HTDAG_SCHEMA.wait_due_at(p_wait jsonb, p_from timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN p_wait ? 'forMs' THEN p_from + (p_wait ->> 'forMs')::bigint * interval '1 millisecond'
              WHEN p_wait ? 'until' THEN (p_wait ->> 'until')::timestamptz
              WHEN p_wait ? 'timeoutMs' THEN p_from + (p_wait ->> 'timeoutMs')::bigint * interval '1 millisecond'
              ELSE 'infinity'::timestamptz END
$$;

-- A moment as ISO 8601 in UTC with milliseconds (what JavaScript's toISOString writes); NULL for
-- 'infinity'. Both drivers read it the same way, as text.
CREATE FUNCTION :HTDAG_SCHEMA.iso_time(p_at timestamptz) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN isfinite(p_at) THEN to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') END
$$;

-- The delay in ms before attempt p_attempt + 1 by a task's backoff {kind, baseMs, maxMs, jitter}, as
-- src/composer/backoff.ts computes it for a step's failure (its attempt counted within the try).
CREATE FUNCTION :HTDAG_SCHEMA.backoff_delay_ms(p_backoff jsonb, p_attempt integer) RETURNS integer
LANGUAGE sql VOLATILE AS $$
  SELECT greatest(0, round(least(c.max_ms, c.capped + c.capped * c.jitter * (random() * 2 - 1))))::integer
    FROM (SELECT least(CASE p_backoff ->> 'kind'
                         WHEN 'exponential' THEN b.base_ms * power(2::double precision, least(greatest(0, p_attempt - 1), 60))
                         WHEN 'linear' THEN b.base_ms * greatest(1, p_attempt)
                         ELSE b.base_ms END, b.max_ms) AS capped, b.max_ms, b.jitter
            FROM (SELECT coalesce((p_backoff ->> 'baseMs')::double precision, 0) AS base_ms,
                         coalesce((p_backoff ->> 'maxMs')::double precision, 0) AS max_ms,
                         coalesce((p_backoff ->> 'jitter')::double precision, 0) AS jitter) b) c
$$;

-- The attempt of a wait that ended (its row is written once it ends: a waiting task is `ready`, and
-- no attempt runs for a task that is not running). It started when the wait did.
CREATE FUNCTION :HTDAG_SCHEMA.record_wait_attempt(p_run :HTDAG_SCHEMA.runs, p_task :HTDAG_SCHEMA.tasks,
                                                  p_status text, p_error jsonb) RETURNS void
LANGUAGE sql AS $$
  INSERT INTO :HTDAG_SCHEMA.attempts (run_id, task_id, attempt, workflow, step, status, worker_id, ready_at,
                                      started_at, finished_at, queue_wait_ms, duration_ms, error_class, error)
  VALUES (p_run.id, p_task.id, p_task.attempts, p_run.workflow, NULL, p_status, NULL, p_task.ready_at,
          coalesce(p_task.waiting_since, now()), now(),
          extract(epoch FROM (coalesce(p_task.waiting_since, now()) - coalesce(p_task.ready_at, now()))) * 1000,
          extract(epoch FROM (now() - coalesce(p_task.waiting_since, now()))) * 1000,
          p_error ->> 'name', p_error)
$$;

-- The error of a signal wait whose timeoutMs elapsed: SignalTimeoutError's fields (src/errors.ts).
CREATE FUNCTION :HTDAG_SCHEMA.signal_timeout_error(p_task_id text, p_wait jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_build_object('name', 'SignalTimeoutError', 'code', 'SIGNAL_TIMEOUT', 'message',
    'task ' || to_jsonb(p_task_id)::text || ' waited ' || (p_wait ->> 'timeoutMs') || ' ms (wait.timeoutMs) for signal ' ||
    to_jsonb(p_wait ->> 'signal')::text || ', which did not arrive; send it with orch.signal(runId, ' ||
    to_jsonb(p_wait ->> 'signal')::text || ', payload) or raise wait.timeoutMs')
$$;

-- The due wait tasks of a locked running run (the claim calls it): a wait not started takes a kept
-- signal for its name (completed with its payload) or starts (`task:waiting`); a started wait whose
-- time came completes (forMs, until) or times out (a signal's timeoutMs: retried after the task's
-- backoff while attempts are left, else final `timed_out`). The tasks that end go through
-- cascade_tasks as a settle's do (dependants, runIf, failFast), then the run finishes if done.
CREATE FUNCTION :HTDAG_SCHEMA.process_waits(p_run :HTDAG_SCHEMA.runs, p_channel text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_task :HTDAG_SCHEMA.tasks;
  v_wait jsonb;
  v_payload jsonb;
  v_due timestamptz;
  v_error jsonb;
  v_delay integer;
  v_ids text[] := '{}';
  v_statuses text[] := '{}';
  v_outputs jsonb[] := '{}';
  v_errors jsonb[] := '{}';
BEGIN
  FOR v_task IN
    SELECT * FROM :HTDAG_SCHEMA.tasks
     WHERE run_id = p_run.id AND status = 'ready' AND spec ? 'wait' AND available_at <= now()
     ORDER BY position FOR UPDATE SKIP LOCKED
  LOOP
    v_wait := v_task.spec -> 'wait';
    IF v_task.waiting_since IS NULL OR v_task.waiting_since < v_task.ready_at THEN
      -- Not started in this readiness: a new attempt.
      v_task.attempts := v_task.attempts + 1;
      v_payload := NULL;
      IF v_wait ? 'signal' THEN
        -- The first kept signal for its name, if one arrived before the wait (GUARD: delivered once).
        UPDATE :HTDAG_SCHEMA.signals s SET task_id = v_task.id, delivered_at = now()
         WHERE (s.run_id, s.id) = (SELECT k.run_id, k.id FROM :HTDAG_SCHEMA.signals k
                                    WHERE k.run_id = p_run.id AND k.name = v_wait ->> 'signal' AND k.delivered_at IS NULL
                                    ORDER BY k.id LIMIT 1 FOR UPDATE)
           AND s.delivered_at IS NULL
        RETURNING s.payload INTO v_payload;
      END IF;
      v_due := CASE WHEN v_payload IS NULL THEN :HTDAG_SCHEMA.wait_due_at(v_wait, now()) ELSE now() END;
      -- GUARD: the row is locked, ready, and its wait not started.
      UPDATE :HTDAG_SCHEMA.tasks SET attempts = v_task.attempts, waiting_since = now(), started_at = now(),
             available_at = v_due
       WHERE run_id = p_run.id AND id = v_task.id AND status = 'ready'
      RETURNING * INTO v_task;
      IF v_payload IS NOT NULL THEN
        PERFORM :HTDAG_SCHEMA.record_wait_attempt(p_run, v_task, 'completed', NULL);
        v_ids := v_ids || v_task.id; v_statuses := v_statuses || 'completed'::text;
        v_outputs := v_outputs || v_payload; v_errors := v_errors || NULL::jsonb;
        CONTINUE;
      END IF;
      PERFORM :HTDAG_SCHEMA.emit(p_channel, 'task:waiting', p_run.id, v_task.id, p_run.workflow,
        jsonb_build_object('attempt', v_task.attempts, 'until', :HTDAG_SCHEMA.iso_time(v_due))
          || CASE WHEN v_wait ? 'signal' THEN jsonb_build_object('signal', v_wait ->> 'signal') ELSE '{}' END);
      -- A past `until` (or forMs 0) is due at once: it ends below, in this same pass.
      CONTINUE WHEN v_due > now();
    END IF;
    -- Started, and its time came.
    IF v_wait ? 'signal' THEN
      v_error := :HTDAG_SCHEMA.signal_timeout_error(v_task.id, v_wait);
      PERFORM :HTDAG_SCHEMA.record_wait_attempt(p_run, v_task, 'timed_out', v_error);
      IF v_task.attempts < v_task.max_attempts THEN
        -- Retried as a step's timeout is: ready again after the backoff, the wait to start again.
        v_delay := :HTDAG_SCHEMA.backoff_delay_ms(v_task.backoff,
                                                  v_task.attempts - (v_task.max_attempts - v_task.attempt_budget));
        UPDATE :HTDAG_SCHEMA.tasks SET ready_at = now(), waiting_since = NULL, error = v_error,
               available_at = now() + v_delay * interval '1 millisecond'
         WHERE run_id = p_run.id AND id = v_task.id AND status = 'ready';
        PERFORM :HTDAG_SCHEMA.emit(p_channel, 'task:retried', p_run.id, v_task.id, p_run.workflow,
          jsonb_build_object('attempt', v_task.attempts, 'outcome', 'timed_out', 'delayMs', v_delay, 'error', v_error));
      ELSE
        v_ids := v_ids || v_task.id; v_statuses := v_statuses || 'timed_out'::text;
        v_outputs := v_outputs || NULL::jsonb; v_errors := v_errors || v_error;
      END IF;
    ELSE
      PERFORM :HTDAG_SCHEMA.record_wait_attempt(p_run, v_task, 'completed', NULL);
      v_ids := v_ids || v_task.id; v_statuses := v_statuses || 'completed'::text;
      v_outputs := v_outputs || jsonb_build_object('waitedUntil', :HTDAG_SCHEMA.iso_time(v_task.available_at));
      v_errors := v_errors || NULL::jsonb;
    END IF;
  END LOOP;
  IF cardinality(v_ids) > 0 THEN
    PERFORM :HTDAG_SCHEMA.cascade_tasks(p_run, v_ids, v_statuses, v_outputs, v_errors, NULL, p_channel);
    PERFORM :HTDAG_SCHEMA.finish_run_if_done(p_run.id, p_channel);
  END IF;
  RETURN cardinality(v_ids);
END $$;

-- orch.signal: the run locked; a signal no wait will take changes nothing and says why (`reason`).
-- A task that waits for the name now (the first by position) completes at once with the payload as
-- its output; otherwise the signal is kept, and the claim delivers it when that wait starts.
CREATE FUNCTION :HTDAG_SCHEMA.deliver_signal(p_run_id uuid, p_name text, p_payload jsonb, p_channel text)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_run :HTDAG_SCHEMA.runs;
  v_task :HTDAG_SCHEMA.tasks;
  v_waits integer;
  v_kept integer;
BEGIN
  SELECT * INTO v_run FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN jsonb_build_object('delivered', false, 'reason', 'no run has this id', 'runStatus', NULL);
  END IF;
  -- GUARD: only a run that is not final takes a signal (one awaiting approval of its plan keeps it
  -- for its wait, as a pending run does).
  IF v_run.status NOT IN ('pending', 'awaiting_approval', 'running', 'paused') THEN
    RETURN jsonb_build_object('delivered', false, 'reason', 'the run is ' || v_run.status, 'runStatus', v_run.status);
  END IF;
  -- GUARD: a wait for the name that is not final, and not already promised a kept signal.
  SELECT count(*) INTO v_waits FROM :HTDAG_SCHEMA.tasks
   WHERE run_id = p_run_id AND status IN ('pending', 'ready') AND spec -> 'wait' ->> 'signal' = p_name;
  SELECT count(*) INTO v_kept FROM :HTDAG_SCHEMA.signals
   WHERE run_id = p_run_id AND name = p_name AND delivered_at IS NULL;
  IF v_waits <= v_kept THEN
    RETURN jsonb_build_object('delivered', false, 'runStatus', v_run.status, 'reason',
      CASE WHEN v_waits = 0 THEN 'no wait task of the run that is not final waits for it'
           ELSE 'every wait task for it that is not final has a signal kept for it already' END);
  END IF;
  SELECT * INTO v_task FROM :HTDAG_SCHEMA.tasks
   WHERE run_id = p_run_id AND status = 'ready' AND spec -> 'wait' ->> 'signal' = p_name
     AND waiting_since >= ready_at
   ORDER BY position LIMIT 1 FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO :HTDAG_SCHEMA.signals (run_id, name, payload) VALUES (p_run_id, p_name, p_payload);
    PERFORM :HTDAG_SCHEMA.emit(p_channel, 'signal:received', p_run_id, NULL, v_run.workflow,
      jsonb_build_object('name', p_name, 'delivered', false, 'taskId', NULL));
    RETURN jsonb_build_object('delivered', false, 'taskId', NULL, 'runStatus', v_run.status);
  END IF;
  INSERT INTO :HTDAG_SCHEMA.signals (run_id, name, payload, task_id, delivered_at)
  VALUES (p_run_id, p_name, p_payload, v_task.id, now());
  PERFORM :HTDAG_SCHEMA.emit(p_channel, 'signal:received', p_run_id, v_task.id, v_run.workflow,
    jsonb_build_object('name', p_name, 'delivered', true, 'taskId', v_task.id));
  PERFORM :HTDAG_SCHEMA.record_wait_attempt(v_run, v_task, 'completed', NULL);
  PERFORM :HTDAG_SCHEMA.cascade_tasks(v_run, ARRAY[v_task.id], ARRAY['completed'], ARRAY[p_payload],
                                      ARRAY[NULL::jsonb], NULL, p_channel);
  v_run := :HTDAG_SCHEMA.finish_run_if_done(p_run_id, p_channel);
  RETURN jsonb_build_object('delivered', true, 'taskId', v_task.id, 'runStatus', v_run.status);
END $$;

-- The claim calls process_waits: claim_locked_run, claim_tasks and settle_tasks are replaced once,
-- for waits and flow control together, in 0009_flow_control.sql (0007 and 0008 leave them alone),
-- rather than here and again there.
