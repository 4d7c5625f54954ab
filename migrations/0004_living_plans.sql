-- Living plans (issue 20, design.md §13): a run's plan is revised when a task fails for good.
--
-- A failure for good of a run with a `replan` option (its options jsonb) goes back to ready with
-- tasks.replan set (the reason, the error, the attempt) instead of becoming final: it stays
-- counted, so nothing downstream moves, and it is claimed like any task. The claim hands the mark
-- to the runner, which asks the run's decomposer for a revision (instead of running the step) and
-- applies it with apply_revision, guarded like a settle: a revision that its process did not apply
-- (it died) is asked again when the lease is reaped. Replaced tasks end `superseded`, a final task
-- status kept for history. Each revision is a run_revisions row and a `plan:revised` event.

ALTER TABLE :HTDAG_SCHEMA.runs ADD COLUMN revision integer NOT NULL DEFAULT 0
  CONSTRAINT runs_revision_check CHECK (revision >= 0);
-- What a revision is asked for: {reason, error, attempt, outcome}; NULL for every other task.
ALTER TABLE :HTDAG_SCHEMA.tasks ADD COLUMN replan jsonb;
ALTER TABLE :HTDAG_SCHEMA.tasks DROP CONSTRAINT tasks_status_check;
ALTER TABLE :HTDAG_SCHEMA.tasks ADD CONSTRAINT tasks_status_check
  CHECK (status IN ('pending', 'ready', 'running', 'completed', 'failed', 'timed_out', 'cancelled', 'skipped', 'superseded'));
-- An attempt that revised the plan instead of running the step.
ALTER TABLE :HTDAG_SCHEMA.attempts DROP CONSTRAINT attempts_status_check;
ALTER TABLE :HTDAG_SCHEMA.attempts ADD CONSTRAINT attempts_status_check
  CHECK (status IN ('running', 'completed', 'failed', 'timed_out', 'cancelled', 'skipped', 'lost', 'revised'));

-- One row per applied revision: why, which task asked, what it added, removed and changed, the
-- revised plan (task specs) and what the decomposition cost.
CREATE TABLE :HTDAG_SCHEMA.run_revisions (
  run_id        uuid NOT NULL REFERENCES :HTDAG_SCHEMA.runs (id) ON DELETE CASCADE,
  revision      integer NOT NULL CONSTRAINT run_revisions_revision_check CHECK (revision >= 1),
  reason        text NOT NULL,
  task_id       text,
  added         text[] NOT NULL DEFAULT '{}',
  removed       text[] NOT NULL DEFAULT '{}',
  changed       text[] NOT NULL DEFAULT '{}',
  plan          jsonb NOT NULL,
  decomposition jsonb,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (run_id, revision)
);

-- settle_locked as 0002 left it, with the revision asked for by a failure for good.
CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.settle_locked(p_run :HTDAG_SCHEMA.runs, p_worker text, p_settlements jsonb,
                                            p_channel text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_mode text := CASE WHEN p_channel IS NOT NULL THEN :HTDAG_SCHEMA.notify_mode(p_run.options) END;
  v_notify boolean := v_mode IS NOT NULL;
  -- One entry per settlement, in order; v_tids[i] is NULL when settlement i was rejected.
  v_ids text[];
  v_attempts integer[];
  v_outcomes text[];
  v_errors jsonb[];
  v_replans jsonb[];
  v_delays integer[];
  v_tids tid[];
  v_accepted integer;
  v_retries integer;
  v_final_ids text[];
  v_final_statuses text[];
  v_final_outputs jsonb[];
  v_final_errors jsonb[];
  v_final_tids tid[];
  v_aborted jsonb := '[]';
  v_results jsonb := '[]';
  v_notified bigint;
  -- Re-planning (design.md §13): the run's replan option, normalised when the run was made.
  v_replan jsonb := p_run.options -> 'replan';
  v_max_revisions integer := coalesce((p_run.options -> 'replan' ->> 'maxRevisions')::integer, 2);
  v_on_failure boolean := coalesce((p_run.options -> 'replan' ->> 'onFailure')::boolean, true);
  v_revising boolean;
BEGIN
  -- Each settlement with its task's row, locked when it is the live attempt held by p_worker; the
  -- accepted ones' attempts close (GUARD: once) and give back their queue slots, in this statement.
  WITH s AS (
    SELECT x.n, x.value AS v, x.value ->> 'taskId' AS id, (x.value ->> 'attempt')::integer AS attempt,
           x.value ->> 'outcome' AS outcome
      FROM jsonb_array_elements(p_settlements) WITH ORDINALITY AS x(value, n)
  ), live0 AS (
    SELECT s.n, s.id, s.attempt, s.outcome, s.v -> 'output' AS output, s.v -> 'error' AS error,
           l.tid, a.tid AS attempt_tid, l.queue,
           -- Lost and released attempts: the retry is decided here, from the stored budget. A lost
           -- revision attempt (l.replan) is asked again whatever the budget.
           CASE WHEN l.tid IS NULL THEN NULL
                WHEN s.outcome = 'released' THEN 0
                WHEN s.outcome = 'lost' THEN CASE WHEN l.attempts < l.max_attempts OR l.replan IS NOT NULL THEN 0 END
                WHEN s.outcome IN ('failed', 'timed_out') THEN (s.v ->> 'retryDelayMs')::integer END AS delay,
           l.replan IS NOT NULL AS revision_attempt,
           s.v ->> 'errorClass' AS error_class, (s.v ->> 'stepMs')::double precision AS step_ms
      FROM s
      LEFT JOIN LATERAL (SELECT t.ctid AS tid, t.max_attempts, t.attempts, t.queue, t.replan FROM :HTDAG_SCHEMA.tasks t
                          WHERE t.run_id = p_run.id AND t.id = s.id AND t.status = 'running' AND t.attempts = s.attempt
                            AND (p_worker IS NULL OR t.lease_owner = p_worker)
                         OFFSET 0 FOR UPDATE) l ON true
      LEFT JOIN LATERAL (SELECT a.ctid AS tid FROM :HTDAG_SCHEMA.attempts a
                          WHERE l.tid IS NOT NULL AND a.run_id = p_run.id AND a.task_id = s.id AND a.attempt = s.attempt
                            AND a.status = 'running' OFFSET 0) a ON true
  ), asked AS (
    -- A failure for good (no retry left, NonRetryableError, out of attempts) asks for a revision of
    -- the plan when the run re-plans (its ReplanError: s.v.replan; any other: onFailure), has
    -- revisions left, and the task is not itself a revision attempt. It goes back to ready at once
    -- (delay 0), marked with what the revision is asked for (tasks.replan).
    SELECT b.*,
           b.tid IS NOT NULL AND NOT b.revision_attempt AND v_replan IS NOT NULL AND p_run.revision < v_max_revisions
           AND b.delay IS NULL AND b.outcome IN ('failed', 'timed_out', 'lost')
           AND (coalesce((b.v ->> 'replan')::boolean, false) OR v_on_failure) AS revise
      FROM (SELECT live0.*, s.v FROM live0 JOIN s USING (n)) b
  ), live AS (
    SELECT a.n, a.id, a.attempt, a.outcome, a.output, a.error, a.tid, a.attempt_tid, a.queue,
           CASE WHEN a.revise THEN 0 ELSE a.delay END AS delay, a.error_class, a.step_ms, a.revision_attempt,
           CASE WHEN a.revise THEN jsonb_build_object(
             'reason', CASE WHEN coalesce((a.v ->> 'replan')::boolean, false) THEN coalesce(a.error ->> 'message', 'the step asked for a revision')
                            ELSE 'task ' || a.id || CASE a.outcome WHEN 'timed_out' THEN ' timed out' WHEN 'lost' THEN ' was lost'
                                                     ELSE ' failed' END || coalesce(': ' || (a.error ->> 'message'), '') END,
             'error', a.error, 'attempt', a.attempt, 'outcome', a.outcome) END AS replan
      FROM asked a
  ), closed AS (
    UPDATE :HTDAG_SCHEMA.attempts t
       SET status = CASE WHEN a.outcome IN ('lost', 'released') THEN 'lost' ELSE a.outcome END,
           finished_at = now(), error = a.error,
           error_class = CASE WHEN a.outcome = 'released' THEN 'Released' ELSE a.error_class END,
           duration_ms = extract(epoch FROM (now() - t.started_at)) * 1000, step_ms = a.step_ms
      FROM live a
     WHERE t.ctid = ANY (ARRAY(SELECT attempt_tid FROM live WHERE attempt_tid IS NOT NULL))
       AND t.task_id = a.id AND t.attempt = a.attempt AND t.status = 'running'
  ), slots AS (
    UPDATE :HTDAG_SCHEMA.queues q SET running = greatest(0, q.running - c.n)
      FROM (SELECT queue, count(*)::integer AS n FROM live WHERE tid IS NOT NULL GROUP BY queue) c
     WHERE q.name = c.queue AND q.running > 0
  )
  -- One pass of one aggregation over the settlements in order: the arrays are aligned, in that order.
  SELECT array_agg(x.id), array_agg(x.attempt), array_agg(x.outcome),
         array_agg(x.delay), array_agg(x.tid), array_agg(x.error), array_agg(x.replan),
         coalesce(bool_or(x.revision_attempt AND x.delay IS NULL), false),
         count(x.tid),
         -- Everything accepted and not retried is final: one cascade for the whole batch.
         array_agg(x.id) FILTER (WHERE x.tid IS NOT NULL AND x.delay IS NULL),
         array_agg(CASE WHEN x.outcome = 'lost' THEN 'failed' ELSE x.outcome END)
           FILTER (WHERE x.tid IS NOT NULL AND x.delay IS NULL),
         array_agg(x.output) FILTER (WHERE x.tid IS NOT NULL AND x.delay IS NULL),
         array_agg(x.error) FILTER (WHERE x.tid IS NOT NULL AND x.delay IS NULL),
         array_agg(x.tid) FILTER (WHERE x.tid IS NOT NULL AND x.delay IS NULL),
         count(*) FILTER (WHERE x.delay IS NOT NULL),
         coalesce(jsonb_agg(jsonb_build_object('taskId', x.id, 'attempt', x.attempt, 'settled', true, 'status',
           CASE WHEN x.delay IS NOT NULL THEN 'ready' WHEN x.outcome = 'lost' THEN 'failed' ELSE x.outcome END)
           ) FILTER (WHERE x.tid IS NOT NULL), '[]')
    INTO v_ids, v_attempts, v_outcomes, v_delays, v_tids, v_errors, v_replans, v_revising, v_accepted,
         v_final_ids, v_final_statuses, v_final_outputs, v_final_errors, v_final_tids, v_retries, v_results
    FROM (SELECT * FROM live ORDER BY n) x;

  IF v_accepted > 0 THEN
    IF v_retries > 0 THEN
      -- Retries: back to ready after the delay, in one guarded UPDATE.
      WITH a AS (
        SELECT * FROM unnest(v_ids, v_attempts, v_outcomes, v_errors, v_delays, v_tids, v_replans) WITH ORDINALITY
                   AS a(id, attempt, outcome, error, delay, tid, replan, n)
         WHERE a.tid IS NOT NULL AND a.delay IS NOT NULL
      ), r AS (
        UPDATE :HTDAG_SCHEMA.tasks t
           SET status = 'ready', ready_at = now(), error = a.error, lease_owner = NULL, lease_expires_at = NULL,
               available_at = now() + a.delay * interval '1 millisecond',
               -- A released attempt is not charged.
               max_attempts = t.max_attempts + (a.outcome = 'released')::integer,
               -- A failure that asked for a revision; a revision attempt lost or released keeps its mark.
               replan = coalesce(a.replan, t.replan)
          FROM a
         -- GUARD: the live attempt of a running task (locked above).
         WHERE t.ctid = ANY (v_tids) AND t.id = a.id AND t.status = 'running' AND t.attempts = a.attempt
        RETURNING t.id, a.attempt, a.outcome, a.delay, a.error, a.replan, a.n
      ), ev AS (
        INSERT INTO :HTDAG_SCHEMA.events (type, channel, run_id, task_id, workflow, payload)
        SELECT 'task:retried', coalesce(p_channel, 'htdag_events'), p_run.id, r.id, p_run.workflow,
               jsonb_strip_nulls(jsonb_build_object('attempt', r.attempt, 'outcome', r.outcome, 'delayMs', r.delay,
                                                    'error', r.error, 'replan', r.replan IS NOT NULL OR NULL,
                                                    'reason', r.replan ->> 'reason'))
          FROM r ORDER BY r.n
        RETURNING id, task_id
      )
      SELECT count(pg_notify(p_channel, json_build_object('id', ev.id, 'type', 'task:retried', 'runId', p_run.id,
                                                        'taskId', ev.task_id, 'workflow', p_run.workflow)::text))
        INTO v_notified FROM ev WHERE v_notify;
    END IF;

    IF v_final_ids IS NOT NULL THEN
      v_aborted := :HTDAG_SCHEMA.cascade_tasks(p_run, v_final_ids, v_final_statuses, v_final_outputs,
                                               v_final_errors, NULL, p_channel, v_final_tids);
    END IF;
    IF v_revising THEN
      -- A revision attempt that ended for good (its revision failed): the mark goes with it. After
      -- the cascade, which finds the tasks by the row versions locked above.
      UPDATE :HTDAG_SCHEMA.tasks SET replan = NULL
       WHERE run_id = p_run.id AND id = ANY (v_final_ids) AND replan IS NOT NULL;
    END IF;
  END IF;

  IF v_accepted = cardinality(v_ids) THEN
    RETURN jsonb_build_object('aborted', v_aborted, 'results', v_results);
  END IF;
  -- Results, in order, with the rejected ones. A rejected settlement that repeats one that was
  -- applied (its reply was lost) is reported as applied; any other is recorded as evidence.
  WITH x AS (
    SELECT * FROM unnest(v_ids, v_attempts, v_outcomes, v_delays, v_tids) WITH ORDINALITY
               AS x(id, attempt, outcome, delay, tid, n)
  ), r AS (
    SELECT x.*, t.status AS task_status, t.attempts AS task_attempts, t.lease_owner,
           t.id IS NOT NULL AS task_exists, a.applied IS NOT NULL AS applied
      FROM x
      LEFT JOIN LATERAL (SELECT t.id, t.status, t.attempts, t.lease_owner FROM :HTDAG_SCHEMA.tasks t
                          WHERE t.run_id = p_run.id AND t.id = x.id OFFSET 0) t ON true
      LEFT JOIN LATERAL (SELECT true AS applied FROM :HTDAG_SCHEMA.attempts a
                          WHERE a.run_id = p_run.id AND a.task_id = x.id AND a.attempt = x.attempt
                            AND a.worker_id IS NOT DISTINCT FROM coalesce(p_worker, a.worker_id)
                            AND a.status = CASE WHEN x.outcome IN ('lost', 'released') THEN 'lost' ELSE x.outcome END
                         OFFSET 0) a ON true
     WHERE x.tid IS NULL
  ), recorded AS (
    INSERT INTO :HTDAG_SCHEMA.rejected_completions (run_id, task_id, attempt, worker_id, outcome, reason)
    SELECT p_run.id, r.id, r.attempt, p_worker, r.outcome,
           CASE WHEN NOT r.task_exists THEN 'no such task'
                ELSE 'task is ' || r.task_status || ' at attempt ' || r.task_attempts ||
                     CASE WHEN r.task_status = 'running' AND r.lease_owner IS DISTINCT FROM p_worker
                          THEN ', held by ' || coalesce(r.lease_owner, 'no one') ELSE '' END END
      FROM r WHERE NOT r.applied ORDER BY r.n
  )
  SELECT coalesce(jsonb_agg(jsonb_build_object('taskId', y.id, 'attempt', y.attempt, 'settled', y.settled,
                                               'status', y.status) ORDER BY y.n), '[]')
    INTO v_results
    FROM (SELECT x.id, x.attempt, true AS settled, x.n,
                 CASE WHEN x.delay IS NOT NULL THEN 'ready' WHEN x.outcome = 'lost' THEN 'failed' ELSE x.outcome END
                   AS status
            FROM x WHERE x.tid IS NOT NULL
          UNION ALL
          SELECT r.id, r.attempt, r.applied, r.n, CASE WHEN r.applied THEN r.task_status END FROM r) y;
  RETURN jsonb_build_object('aborted', v_aborted, 'results', v_results);
END $$;

-- The claims hand a task's revision mark (tasks.replan) to its runner.
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
   WHERE run_id = p_run_id AND id = p_task_id AND status = 'ready'
  RETURNING * INTO v_task;
  INSERT INTO :HTDAG_SCHEMA.attempts (run_id, task_id, attempt, workflow, step, worker_id, ready_at, queue_wait_ms)
  VALUES (p_run_id, p_task_id, v_task.attempts, p_workflow, v_task.step, p_worker, v_task.ready_at,
          extract(epoch FROM (now() - v_task.ready_at)) * 1000);
  PERFORM :HTDAG_SCHEMA.emit(p_channel, 'task:started', p_run_id, p_task_id, p_workflow,
                             jsonb_build_object('attempt', v_task.attempts, 'step', v_task.step));
  RETURN jsonb_build_object(
    'runId', p_run_id, 'taskId', p_task_id, 'workflow', p_workflow, 'attempt', v_task.attempts, 'kind', v_task.kind,
    'step', v_task.step, 'input', v_task.input, 'spec', v_task.spec, 'timeoutMs', v_task.timeout_ms,
    'maxAttempts', v_task.max_attempts, 'attemptBase', v_task.max_attempts - v_task.attempt_budget, 'backoff', v_task.backoff, 'queue', v_task.queue,
    'replan', v_task.replan, 'deps', :HTDAG_SCHEMA.dependency_outputs(p_run_id, p_task_id));
END $$;

-- Revises the plan of a run whose row the caller locked (p_run, running or paused): p_tasks is
-- every task of the revised plan, shaped like the run's task rows; p_edges their edges
-- ({task_id, depends_on}), to listed tasks and to completed ones. p_task_id is the task that asked
-- (NULL: the end of a streamed plan). In the caller's transaction:
-- - a listed completed or running task (other than p_task_id) is kept as it is, output and all;
-- - a listed task not started, final otherwise, superseded, or p_task_id itself is changed in
--   place: its spec, step and edges are the plan's, it is pending again with a fresh attempt budget;
-- - a task not listed that is pending, ready or running is superseded (a running one's attempt is
--   closed as cancelled, and returned in `aborted` so its process aborts the step);
-- - a new id is inserted;
-- then the counters of the changed and new tasks are derived, the run's counters recounted, the
-- revision recorded (run_revisions, a decompositions row, a `plan:revised` event), and the tasks
-- with nothing to wait for decided. Returns {revision, added, removed, changed, aborted}.
CREATE FUNCTION :HTDAG_SCHEMA.revise_locked(p_run :HTDAG_SCHEMA.runs, p_task_id text, p_reason text, p_tasks jsonb,
    p_edges jsonb, p_record jsonb, p_channel text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_run :HTDAG_SCHEMA.runs := p_run;
  v_listed text[];
  v_changed text[];
  v_added text[];
  v_removed text[];
  v_composites text[];
  v_aborted jsonb;
  v_position integer;
  v_decomposition bigint;
BEGIN
  SELECT coalesce(array_agg(x.id), '{}') INTO v_listed FROM jsonb_to_recordset(p_tasks) AS x(id text);
  SELECT coalesce(array_agg(t.id) FILTER (WHERE t.id = ANY (v_listed)
                                           AND (t.status NOT IN ('completed', 'running') OR t.id IS NOT DISTINCT FROM p_task_id)), '{}'),
         coalesce(array_agg(t.id) FILTER (WHERE NOT (t.id = ANY (v_listed)) AND t.status IN ('pending', 'ready', 'running')), '{}'),
         coalesce(array_agg(t.id) FILTER (WHERE t.id = ANY (v_listed) AND t.status IN ('completed', 'running')
                                           AND t.kind = 'composite' AND t.id IS DISTINCT FROM p_task_id), '{}')
    INTO v_changed, v_removed, v_composites
    FROM :HTDAG_SCHEMA.tasks t WHERE t.run_id = p_run.id;
  SELECT coalesce(array_agg(x.id), '{}') INTO v_added
    FROM unnest(v_listed) AS x(id)
   WHERE NOT EXISTS (SELECT 1 FROM :HTDAG_SCHEMA.tasks t WHERE t.run_id = p_run.id AND t.id = x.id);

  -- Superseded: the running ones' attempts closed as cancelled (their processes abort them), their
  -- queue slots given back, then the tasks (GUARD: not final).
  WITH a AS (
    UPDATE :HTDAG_SCHEMA.attempts a SET status = 'cancelled', finished_at = now(), error_class = 'Superseded',
           error = jsonb_build_object('name', 'Superseded', 'message',
                     'revision ' || (p_run.revision + 1) || ' of the plan removed task ' || a.task_id),
           duration_ms = extract(epoch FROM (now() - a.started_at)) * 1000
     WHERE a.run_id = p_run.id AND a.task_id = ANY (v_removed) AND a.task_id IS DISTINCT FROM p_task_id
       AND a.status = 'running'
    RETURNING a.task_id, a.attempt
  ), q AS (
    UPDATE :HTDAG_SCHEMA.queues q SET running = greatest(0, q.running - c.n)
      FROM (SELECT t.queue, count(*)::integer AS n FROM a JOIN :HTDAG_SCHEMA.tasks t ON t.run_id = p_run.id AND t.id = a.task_id
             GROUP BY t.queue) c
     WHERE q.name = c.queue AND q.running > 0
  )
  SELECT coalesce(jsonb_agg(jsonb_build_object('taskId', a.task_id, 'attempt', a.attempt)), '[]') INTO v_aborted FROM a;
  UPDATE :HTDAG_SCHEMA.tasks SET status = 'superseded', finished_at = now(), lease_owner = NULL, lease_expires_at = NULL,
         replan = NULL
   WHERE run_id = p_run.id AND id = ANY (v_removed) AND status IN ('pending', 'ready', 'running');

  -- Changed in place: pending again, with a fresh attempt budget.
  UPDATE :HTDAG_SCHEMA.tasks t
     SET parent_id = x.parent_id, kind = x.kind, step = x.step, description = x.description, run_if = x.run_if,
         spec = x.spec, input = x.input, priority = x.priority, queue = x.queue,
         max_attempts = t.attempts + x.max_attempts, attempt_budget = x.max_attempts, timeout_ms = x.timeout_ms,
         backoff = x.backoff, status = 'pending', output = NULL, error = NULL, started_at = NULL, finished_at = NULL,
         ready_at = NULL, lease_owner = NULL, lease_expires_at = NULL, replan = NULL,
         remaining_deps = 0, failed_deps = 0, skipped_deps = 0
    FROM jsonb_to_recordset(p_tasks) AS x(id text, parent_id text, kind text, step text, description text, run_if text,
           spec jsonb, input jsonb, priority integer, queue text, max_attempts integer, timeout_ms integer, backoff jsonb)
   WHERE t.run_id = p_run.id AND t.id = x.id AND t.id = ANY (v_changed);

  SELECT coalesce(max(position), 0) INTO v_position FROM :HTDAG_SCHEMA.tasks WHERE run_id = p_run.id;
  INSERT INTO :HTDAG_SCHEMA.tasks (run_id, id, position, parent_id, kind, step, description, remaining_deps, run_if,
                                   spec, input, priority, queue, max_attempts, attempt_budget, timeout_ms, backoff)
  SELECT p_run.id, x.id, v_position + e.n, x.parent_id, x.kind, x.step, x.description, 0, x.run_if, x.spec, x.input,
         x.priority, x.queue, x.max_attempts, x.max_attempts, x.timeout_ms, x.backoff
    FROM jsonb_array_elements(p_tasks) WITH ORDINALITY AS e(value, n),
         jsonb_to_record(e.value) AS x(id text, parent_id text, kind text, step text, description text, run_if text,
           spec jsonb, input jsonb, priority integer, queue text, max_attempts integer, timeout_ms integer, backoff jsonb)
   WHERE x.id = ANY (v_added);

  -- Edges: the changed and superseded tasks' are replaced by the plan's; a kept composite gains
  -- its new children.
  DELETE FROM :HTDAG_SCHEMA.task_edges
   WHERE run_id = p_run.id AND (task_id = ANY (v_changed || v_removed) OR depends_on = ANY (v_removed));
  INSERT INTO :HTDAG_SCHEMA.task_edges (run_id, task_id, depends_on)
  SELECT p_run.id, x.task_id, x.depends_on FROM jsonb_to_recordset(p_edges) AS x(task_id text, depends_on text)
   WHERE x.task_id = ANY (v_changed || v_added || v_composites)
  ON CONFLICT DO NOTHING;
  PERFORM :HTDAG_SCHEMA.derive_dependency_counters(p_run.id, v_changed || v_added || v_composites);

  -- GUARD: the caller locked the run, running or paused.
  UPDATE :HTDAG_SCHEMA.runs SET revision = revision + 1,
         total_tasks = (SELECT count(*) FROM :HTDAG_SCHEMA.tasks WHERE run_id = p_run.id AND status <> 'superseded'),
         remaining_tasks = (SELECT count(*) FROM :HTDAG_SCHEMA.tasks WHERE run_id = p_run.id
                             AND status IN ('pending', 'ready', 'running')),
         failed_tasks = (SELECT count(*) FROM :HTDAG_SCHEMA.tasks WHERE run_id = p_run.id AND status IN ('failed', 'timed_out'))
   WHERE id = p_run.id AND status IN ('running', 'paused')
  RETURNING * INTO v_run;

  INSERT INTO :HTDAG_SCHEMA.decompositions (graph_id, goal, decomposer, source, model, llm_calls, input_tokens,
                                            output_tokens, repairs, latency_ms)
  VALUES (v_run.graph_id, v_run.goal, coalesce(p_record ->> 'decomposer', 'unknown'), coalesce(p_record ->> 'source', 'function'),
          p_record ->> 'model', coalesce((p_record ->> 'llmCalls')::integer, 0), coalesce((p_record ->> 'inputTokens')::integer, 0),
          coalesce((p_record ->> 'outputTokens')::integer, 0), coalesce((p_record ->> 'repairs')::integer, 0),
          coalesce((p_record ->> 'latencyMs')::double precision, 0))
  RETURNING id INTO v_decomposition;
  INSERT INTO :HTDAG_SCHEMA.run_revisions (run_id, revision, reason, task_id, added, removed, changed, plan, decomposition)
  VALUES (p_run.id, v_run.revision, p_reason, p_task_id, v_added, v_removed, v_changed,
          (SELECT coalesce(jsonb_agg(x.value -> 'spec' ORDER BY x.n), '[]')
             FROM jsonb_array_elements(p_tasks) WITH ORDINALITY AS x(value, n)),
          coalesce(p_record, '{}') || jsonb_build_object('decompositionId', v_decomposition));
  PERFORM :HTDAG_SCHEMA.emit(p_channel, 'plan:revised', p_run.id, p_task_id, v_run.workflow,
    jsonb_build_object('revision', v_run.revision, 'reason', p_reason, 'taskId', p_task_id,
                       'added', to_jsonb(v_added), 'removed', to_jsonb(v_removed), 'changed', to_jsonb(v_changed)));

  PERFORM :HTDAG_SCHEMA.cascade_tasks(v_run, NULL, NULL, NULL, NULL,
    ARRAY(SELECT id FROM :HTDAG_SCHEMA.tasks WHERE run_id = p_run.id AND id = ANY (v_changed || v_added)
            AND status = 'pending' AND remaining_deps = 0),
    p_channel);
  RETURN jsonb_build_object('revision', v_run.revision, 'aborted', v_aborted, 'added', to_jsonb(v_added),
                            'removed', to_jsonb(v_removed), 'changed', to_jsonb(v_changed));
END $$;

-- Applies a revision of a run's plan made by the live revision attempt (p_attempt) of p_task_id,
-- held by p_worker, asked of the plan at revision p_revision (see revise_locked for p_tasks,
-- p_edges and what changes), in one transaction: the revision attempt closes as `revised`, the
-- plan is revised, the run finished if nothing of it remains, and its next tasks claimed.
-- Not applied: a call that is not the live revision attempt (settled false); a plan asked of an
-- older revision than the run's (stale: the attempt is released, so the revision is asked again of
-- the plan as it is now); a run out of revisions (the task fails with its original error).
CREATE FUNCTION :HTDAG_SCHEMA.apply_revision(p_run_id uuid, p_task_id text, p_attempt integer, p_worker text,
    p_revision integer, p_tasks jsonb, p_edges jsonb, p_record jsonb, p_claim_limit integer, p_lease_ms integer,
    p_channel text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_run :HTDAG_SCHEMA.runs;
  v_task :HTDAG_SCHEMA.tasks;
  v_settled jsonb;
  v_revised jsonb;
BEGIN
  SELECT * INTO v_run FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id FOR UPDATE;
  SELECT * INTO v_task FROM :HTDAG_SCHEMA.tasks WHERE run_id = p_run_id AND id = p_task_id FOR UPDATE;
  -- GUARD: the live revision attempt of the task, held by p_worker, in a run that runs or is paused.
  IF NOT FOUND OR v_task.status <> 'running' OR v_task.attempts <> p_attempt OR v_task.replan IS NULL
     OR (p_worker IS NOT NULL AND v_task.lease_owner IS DISTINCT FROM p_worker)
     OR v_run.status IS NULL OR v_run.status NOT IN ('running', 'paused') THEN
    RETURN jsonb_build_object('settled', false, 'runStatus', v_run.status, 'claimed', '[]'::jsonb, 'aborted', '[]'::jsonb);
  END IF;
  IF v_run.revision <> p_revision OR v_run.revision >= coalesce((v_run.options -> 'replan' ->> 'maxRevisions')::integer, 2) THEN
    -- Stale: released (not charged, the mark kept), so it is asked again of the plan as it is now.
    -- Out of revisions (two asked at once for the last one): the task fails as it would have.
    v_settled := :HTDAG_SCHEMA.settle_locked(v_run, p_worker, jsonb_build_array(
      CASE WHEN v_run.revision <> p_revision
           THEN jsonb_build_object('taskId', p_task_id, 'attempt', p_attempt, 'outcome', 'released',
                  'error', jsonb_build_object('name', 'StaleRevision', 'message',
                    'the plan was revised (revision ' || v_run.revision || ') while this revision was asked of revision ' || p_revision))
           ELSE jsonb_build_object('taskId', p_task_id, 'attempt', p_attempt,
                  'outcome', CASE WHEN v_task.replan ->> 'outcome' = 'timed_out' THEN 'timed_out' ELSE 'failed' END,
                  'error', v_task.replan -> 'error', 'errorClass', v_task.replan -> 'error' ->> 'name') END), p_channel);
    v_run := :HTDAG_SCHEMA.finish_run_if_done(p_run_id, p_channel);
    RETURN jsonb_build_object('settled', false, 'stale', v_run.revision <> p_revision, 'runStatus', v_run.status,
      'aborted', v_settled -> 'aborted',
      'claimed', :HTDAG_SCHEMA.claim_locked_run(v_run, p_worker, p_claim_limit, p_lease_ms, p_channel));
  END IF;

  -- The revision attempt, closed; its queue slot given back.
  UPDATE :HTDAG_SCHEMA.attempts SET status = 'revised', finished_at = now(), error_class = 'Revision',
         duration_ms = extract(epoch FROM (now() - started_at)) * 1000
   WHERE run_id = p_run_id AND task_id = p_task_id AND attempt = p_attempt AND status = 'running';
  UPDATE :HTDAG_SCHEMA.queues SET running = running - 1 WHERE name = v_task.queue AND running > 0;
  v_revised := :HTDAG_SCHEMA.revise_locked(v_run, p_task_id, coalesce(v_task.replan ->> 'reason', 'revision asked'),
                                           p_tasks, p_edges, p_record, p_channel);
  v_run := :HTDAG_SCHEMA.finish_run_if_done(p_run_id, p_channel);
  RETURN v_revised || jsonb_build_object('settled', true, 'runStatus', v_run.status,
    'claimed', :HTDAG_SCHEMA.claim_locked_run(v_run, p_worker, p_claim_limit, p_lease_ms, p_channel));
END $$;


-- Streamed planning (design.md §13, `streamPlan`): the run is recorded before its plan is complete,
-- and tasks are added as the decomposer writes them. runs.planning_until is set while the plan is
-- being written, renewed by the process writing it: the run is not finished while it is set (all
-- the tasks that arrived may have completed before the plan ends), and a run whose writer stopped
-- renewing it is failed by the reconciler.
ALTER TABLE :HTDAG_SCHEMA.runs ADD COLUMN planning_until timestamptz;

-- Marks a recorded, pending run's plan as being written, until now() + p_planning_ms. GUARD: a
-- pending run whose plan is not being written already. Returns whether it did.
CREATE FUNCTION :HTDAG_SCHEMA.open_plan_stream(p_run_id uuid, p_planning_ms integer) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE :HTDAG_SCHEMA.runs SET planning_until = now() + p_planning_ms * interval '1 millisecond'
   WHERE id = p_run_id AND status = 'pending' AND planning_until IS NULL;
  RETURN FOUND;
END $$;

-- Adds tasks that arrived while the plan is being written (p_tasks as the run's task rows, p_edges
-- to tasks of the run), renews the plan's lease, and decides those with nothing to wait for.
-- GUARD: a run that runs or is paused and whose plan is being written. One `plan:task_added` event
-- per task. Returns {added, runStatus}.
CREATE FUNCTION :HTDAG_SCHEMA.add_plan_tasks(p_run_id uuid, p_tasks jsonb, p_edges jsonb, p_planning_ms integer,
    p_channel text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_run :HTDAG_SCHEMA.runs;
  v_added text[];
  v_position integer;
BEGIN
  SELECT * INTO v_run FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id FOR UPDATE;
  IF NOT FOUND OR v_run.status NOT IN ('pending', 'running', 'paused') OR v_run.planning_until IS NULL THEN
    RETURN jsonb_build_object('added', 0, 'runStatus', v_run.status);
  END IF;
  SELECT coalesce(max(position), 0) INTO v_position FROM :HTDAG_SCHEMA.tasks WHERE run_id = p_run_id;
  WITH ins AS (
    INSERT INTO :HTDAG_SCHEMA.tasks (run_id, id, position, parent_id, kind, step, description, remaining_deps, run_if,
                                     spec, input, priority, queue, max_attempts, attempt_budget, timeout_ms, backoff)
    SELECT p_run_id, x.id, v_position + e.n, x.parent_id, x.kind, x.step, x.description, 0, x.run_if, x.spec, x.input,
           x.priority, x.queue, x.max_attempts, x.max_attempts, x.timeout_ms, x.backoff
      FROM jsonb_array_elements(p_tasks) WITH ORDINALITY AS e(value, n),
           jsonb_to_record(e.value) AS x(id text, parent_id text, kind text, step text, description text, run_if text,
             spec jsonb, input jsonb, priority integer, queue text, max_attempts integer, timeout_ms integer, backoff jsonb)
    RETURNING id
  )
  SELECT array_agg(id) INTO v_added FROM ins;
  v_added := coalesce(v_added, '{}');
  INSERT INTO :HTDAG_SCHEMA.task_edges (run_id, task_id, depends_on)
  SELECT p_run_id, x.task_id, x.depends_on FROM jsonb_to_recordset(p_edges) AS x(task_id text, depends_on text);
  PERFORM :HTDAG_SCHEMA.derive_dependency_counters(p_run_id, v_added);
  -- GUARD: the run is locked and not final (checked above).
  UPDATE :HTDAG_SCHEMA.runs SET total_tasks = total_tasks + cardinality(v_added),
         remaining_tasks = remaining_tasks + cardinality(v_added),
         planning_until = now() + p_planning_ms * interval '1 millisecond'
   WHERE id = p_run_id
  RETURNING * INTO v_run;
  PERFORM :HTDAG_SCHEMA.emit(p_channel, 'plan:task_added', p_run_id, x.id, v_run.workflow,
            jsonb_strip_nulls(jsonb_build_object('taskId', x.id, 'step', x.step,
                                                 'dependsOn', coalesce(x.spec -> 'dependsOn', '[]'::jsonb))))
    FROM jsonb_to_recordset(p_tasks) AS x(id text, step text, spec jsonb);
  IF v_run.status <> 'pending' THEN
    PERFORM :HTDAG_SCHEMA.cascade_tasks(v_run, NULL, NULL, NULL, NULL,
      ARRAY(SELECT id FROM :HTDAG_SCHEMA.tasks WHERE run_id = p_run_id AND id = ANY (v_added)
              AND status = 'pending' AND remaining_deps = 0),
      p_channel);
  END IF;
  RETURN jsonb_build_object('added', cardinality(v_added), 'runStatus', v_run.status);
END $$;

-- Renews the lease of a plan being written. Returns whether the run's plan is still being written.
CREATE FUNCTION :HTDAG_SCHEMA.renew_plan_stream(p_run_id uuid, p_planning_ms integer) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE :HTDAG_SCHEMA.runs SET planning_until = now() + p_planning_ms * interval '1 millisecond'
   WHERE id = p_run_id AND planning_until IS NOT NULL AND status IN ('pending', 'running', 'paused');
  RETURN FOUND;
END $$;

-- Ends the writing of a run's plan: the run's graph becomes p_graph_id (the whole plan, recorded),
-- and either the tasks that had not arrived are added (p_revise false: p_tasks and p_edges hold only
-- them) or the plan is revised to the whole plan (p_revise true, see revise_locked: what ran is
-- kept), with p_reason. Then the run is finished if nothing of it remains. GUARD: a run whose plan
-- is being written, not final. Returns {closed, runStatus, aborted}.
CREATE FUNCTION :HTDAG_SCHEMA.close_plan_stream(p_run_id uuid, p_graph_id text, p_tasks jsonb, p_edges jsonb,
    p_revise boolean, p_reason text, p_record jsonb, p_channel text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_run :HTDAG_SCHEMA.runs;
  v_revised jsonb := '{}';
BEGIN
  SELECT * INTO v_run FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id FOR UPDATE;
  IF NOT FOUND OR v_run.status NOT IN ('pending', 'running', 'paused') OR v_run.planning_until IS NULL THEN
    RETURN jsonb_build_object('closed', false, 'runStatus', v_run.status, 'aborted', '[]'::jsonb);
  END IF;
  IF p_revise THEN
    v_revised := :HTDAG_SCHEMA.revise_locked(v_run, NULL, p_reason, p_tasks, p_edges, p_record, p_channel);
  ELSIF jsonb_array_length(p_tasks) > 0 THEN
    PERFORM :HTDAG_SCHEMA.add_plan_tasks(p_run_id, p_tasks, p_edges, 0, p_channel);
  END IF;
  -- GUARD: the run is locked and not final (checked above).
  UPDATE :HTDAG_SCHEMA.runs SET planning_until = NULL, graph_id = p_graph_id WHERE id = p_run_id;
  v_run := :HTDAG_SCHEMA.finish_run_if_done(p_run_id, p_channel);
  RETURN jsonb_build_object('closed', true, 'runStatus', v_run.status, 'aborted', coalesce(v_revised -> 'aborted', '[]'::jsonb));
END $$;

-- The run is not finished while its plan is being written.
CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.finish_run_if_done(p_run_id uuid, p_channel text) RETURNS :HTDAG_SCHEMA.runs
LANGUAGE plpgsql AS $$
DECLARE v_run :HTDAG_SCHEMA.runs;
BEGIN
  SELECT * INTO v_run FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id;
  IF v_run.remaining_tasks = 0 AND v_run.status IN ('running', 'paused') AND v_run.planning_until IS NULL THEN
    PERFORM :HTDAG_SCHEMA.finish_run(p_run_id,
      CASE WHEN v_run.failed_tasks > 0 AND NOT v_run.recovered THEN 'failed' ELSE 'completed' END, NULL, p_channel);
    SELECT * INTO v_run FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id;
  END IF;
  RETURN v_run;
END $$;

-- Runs whose plan is being written are left alone; a plan whose writer died fails its run.
CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.reconcile_runs(p_limit integer, p_grace_ms integer, p_channel text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_run :HTDAG_SCHEMA.runs;
  v_tasks_fixed integer;
  v_remaining integer;
  v_failed integer;
  v_status text;
  v_repaired integer := 0;
BEGIN
  FOR v_run IN
    SELECT * FROM :HTDAG_SCHEMA.runs
     WHERE status = 'pending' AND run_at < now() - p_grace_ms * interval '1 millisecond'
       AND created_at < now() - p_grace_ms * interval '1 millisecond'
     ORDER BY run_at LIMIT p_limit FOR UPDATE SKIP LOCKED
  LOOP
    PERFORM :HTDAG_SCHEMA.emit(p_channel, 'execution:reconciled', v_run.id, NULL, v_run.workflow,
      jsonb_build_object('repair', 'started', 'reason', 'the run was still pending ' || p_grace_ms ||
                         ' ms after it was due: the process that recorded it did not start it'));
    PERFORM :HTDAG_SCHEMA.start_run(v_run.id, NULL, 0, 0, p_channel);
    v_repaired := v_repaired + 1;
  END LOOP;
  FOR v_run IN
    SELECT * FROM :HTDAG_SCHEMA.runs r
     WHERE r.status IN ('running', 'paused') AND r.planning_until IS NULL
       AND NOT EXISTS (SELECT 1 FROM :HTDAG_SCHEMA.tasks t WHERE t.run_id = r.id AND t.status IN ('ready', 'running'))
     ORDER BY created_at LIMIT p_limit FOR UPDATE SKIP LOCKED
  LOOP
    -- GUARD: still stuck now that the run is locked (the loop's query read an earlier snapshot).
    CONTINUE WHEN EXISTS (SELECT 1 FROM :HTDAG_SCHEMA.tasks t WHERE t.run_id = v_run.id AND t.status IN ('ready', 'running'))
               OR (SELECT status FROM :HTDAG_SCHEMA.runs WHERE id = v_run.id) NOT IN ('running', 'paused');
    v_tasks_fixed := :HTDAG_SCHEMA.derive_dependency_counters(v_run.id,
      ARRAY(SELECT id FROM :HTDAG_SCHEMA.tasks WHERE run_id = v_run.id AND status = 'pending'));
    SELECT count(*) FILTER (WHERE status IN ('pending', 'ready', 'running')),
           count(*) FILTER (WHERE status IN ('failed', 'timed_out'))
      INTO v_remaining, v_failed
      FROM :HTDAG_SCHEMA.tasks WHERE run_id = v_run.id;
    CONTINUE WHEN v_tasks_fixed = 0 AND v_remaining > 0
              AND (v_run.remaining_tasks, v_run.failed_tasks) = (v_remaining, v_failed);
    UPDATE :HTDAG_SCHEMA.runs SET remaining_tasks = v_remaining, failed_tasks = v_failed WHERE id = v_run.id;
    PERFORM :HTDAG_SCHEMA.cascade_tasks(v_run, NULL, NULL, NULL, NULL,
      ARRAY(SELECT id FROM :HTDAG_SCHEMA.tasks WHERE run_id = v_run.id AND status = 'pending' AND remaining_deps = 0),
      p_channel);
    SELECT count(*) FILTER (WHERE status IN ('failed', 'timed_out')) INTO v_failed
      FROM :HTDAG_SCHEMA.tasks WHERE run_id = v_run.id;
    SELECT CASE WHEN remaining_tasks = 0 THEN CASE WHEN failed_tasks > 0 AND NOT recovered THEN 'failed' ELSE 'completed' END END
      INTO v_status FROM :HTDAG_SCHEMA.runs WHERE id = v_run.id;
    PERFORM :HTDAG_SCHEMA.emit(p_channel, 'execution:reconciled', v_run.id, NULL, v_run.workflow,
      jsonb_strip_nulls(jsonb_build_object(
        'repair', CASE WHEN v_status IS NULL THEN 'counters' ELSE 'finished' END, 'status', v_status,
        'tasksRepaired', nullif(v_tasks_fixed, 0),
        'reason', 'no task of the run was ready or running, but the run was ' || v_run.status ||
                  ' (remaining_tasks ' || v_run.remaining_tasks || ', derived ' || v_remaining ||
                  CASE WHEN v_tasks_fixed > 0 THEN ', ' || v_tasks_fixed || ' tasks with wrong dependency counters'
                       ELSE '' END || ')')));
    PERFORM :HTDAG_SCHEMA.finish_run_if_done(v_run.id, p_channel);
    v_repaired := v_repaired + 1;
  END LOOP;
  -- A plan still being written whose writer stopped renewing it (its process died): the run fails,
  -- as no one can finish the plan.
  FOR v_run IN
    SELECT * FROM :HTDAG_SCHEMA.runs
     WHERE planning_until < now() - p_grace_ms * interval '1 millisecond' AND status IN ('pending', 'running', 'paused')
     ORDER BY planning_until LIMIT p_limit FOR UPDATE SKIP LOCKED
  LOOP
    UPDATE :HTDAG_SCHEMA.runs SET planning_until = NULL WHERE id = v_run.id;
    PERFORM :HTDAG_SCHEMA.emit(p_channel, 'execution:reconciled', v_run.id, NULL, v_run.workflow,
      jsonb_build_object('repair', 'failed', 'reason', 'the plan was still being written (streamPlan) but its process '
                         || 'stopped renewing it ' || p_grace_ms || ' ms ago: it died'));
    PERFORM :HTDAG_SCHEMA.stop_run(v_run.id, 'failed',
      'the plan stream was interrupted: the process writing the plan stopped before the plan was complete', p_channel);
    v_repaired := v_repaired + 1;
  END LOOP;
  RETURN v_repaired;
END $$;

-- CREATE OR REPLACE drops a function's SET options: the ones 0002 and 0003 gave these, again.
ALTER FUNCTION :HTDAG_SCHEMA.settle_locked(:HTDAG_SCHEMA.runs, text, jsonb, text) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION :HTDAG_SCHEMA.settle_locked(:HTDAG_SCHEMA.runs, text, jsonb, text) SET enable_seqscan = off;
ALTER FUNCTION :HTDAG_SCHEMA.claim_locked_run(:HTDAG_SCHEMA.runs, text, integer, integer, text) SET plan_cache_mode = force_generic_plan;
