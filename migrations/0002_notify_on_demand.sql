-- Executor v2, part 2 (issue 18): what is NOTIFYed (realTimeNotifications "on-demand" and the
-- listeners it asks), claims that say when they skipped a run another transaction held, a worker's
-- claim that walks the ready index in order, and submits checked against the stored tuning their
-- graph was tuned with. CREATE OR REPLACE drops a function's SET options, so they are set again at
-- the end.

-- Who wants events pushed beyond the wake-ups (see notify_scope): a process's shared LISTEN
-- connection for subscriptions ('all', every run) or a waitForRun ('runs': the execution events of
-- run_id). A row is renewed while its process listens and deleted when it stops; one left by a
-- process that died expires (until then it only costs NOTIFYs nobody reads).
CREATE TABLE :HTDAG_SCHEMA.listeners (
  id         uuid PRIMARY KEY,
  channel    text NOT NULL,
  scope      text NOT NULL CONSTRAINT listeners_scope_check CHECK (scope IN ('all', 'runs')),
  run_id     uuid,
  expires_at timestamptz NOT NULL
);
CREATE INDEX listeners_channel_idx ON :HTDAG_SCHEMA.listeners (channel, run_id);

-- Which events a transaction NOTIFYs: the run's options.realTimeNotifications (notify_mode: 'all',
-- 'on-demand' or NULL for none). Every event is stored whatever the mode. A NOTIFY is not free:
-- PostgreSQL serialises the commits of all transactions that NOTIFY (one lock, held through the
-- commit's WAL flush), which caps them at a few thousand per second per server. So 'on-demand'
-- NOTIFYs only:
-- - wake-ups, always: what workers act on (a run started or resumed, a task ready again after a
--   retry, expanded children, cancellations to abort, a repaired run) — see WAKE_TYPES below, and
--   a wave of task transitions that readied a dependant or cancelled a task (finish_wave);
-- - every event while a process subscribes on the channel (a `listeners` row of scope 'all'),
--   and a run's execution events while a process waits for it (scope 'runs').
CREATE FUNCTION :HTDAG_SCHEMA.notify_mode(p_options jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE coalesce(p_options ->> 'realTimeNotifications', 'true')
    WHEN 'false' THEN NULL WHEN 'on-demand' THEN 'on-demand' ELSE 'all' END
$$;


-- notify_scope returns, for an event of run p_run_id (NULL: of no run), 'all', 'runs' or NULL
-- (nobody beyond the workers listens).
CREATE FUNCTION :HTDAG_SCHEMA.notify_scope(p_channel text, p_run_id uuid) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN (SELECT CASE WHEN bool_or(scope = 'all') THEN 'all' WHEN count(*) > 0 THEN 'runs' END
            FROM :HTDAG_SCHEMA.listeners
           WHERE channel = p_channel AND (run_id IS NULL OR run_id = p_run_id) AND expires_at > now());
END $$;


-- Whether an event of p_type of run p_run_id is NOTIFYed on p_channel now (see notify_scope).
CREATE FUNCTION :HTDAG_SCHEMA.notify_wanted(p_channel text, p_type text, p_run_id uuid) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
DECLARE v_scope text;
BEGIN
  IF p_channel IS NULL THEN RETURN false; END IF;
  -- WAKE_TYPES
  IF p_type IN ('execution:started', 'execution:resumed', 'execution:reconciled', 'execution:cancelled',
                'execution:failed', 'execution:timed_out', 'task:cancelled', 'task:retried',
                'decomposition:completed') THEN
    RETURN true;
  END IF;
  v_scope := :HTDAG_SCHEMA.notify_scope(p_channel, p_run_id);
  RETURN v_scope = 'all' OR (v_scope = 'runs' AND p_type LIKE 'execution:%');
END $$;


DROP FUNCTION :HTDAG_SCHEMA.emit(text, text, uuid, text, text, jsonb);
-- Writes one event row and, unless p_channel is NULL, a small NOTIFY: ids only, never the payload,
-- so NOTIFY stays far below its 8,000-byte limit. The executor's own events are NOTIFYed as the
-- run's mode says (notify_mode); p_always (events written from TypeScript: `sendWithNotify`,
-- decomposition, optimization, progress) NOTIFYs unless the mode is none.
CREATE FUNCTION :HTDAG_SCHEMA.emit(p_channel text, p_type text, p_run_id uuid, p_task_id text,
                                   p_workflow text, p_payload jsonb, p_always boolean DEFAULT false) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  v_id bigint;
  v_mode text;
BEGIN
  INSERT INTO :HTDAG_SCHEMA.events (type, channel, run_id, task_id, workflow, payload)
  VALUES (p_type, coalesce(p_channel, 'htdag_events'), p_run_id, p_task_id, p_workflow, coalesce(p_payload, '{}'))
  RETURNING id INTO v_id;
  -- The run's mode (notify_mode); an event of no run is NOTIFYed.
  v_mode := CASE WHEN p_run_id IS NULL THEN 'all'
                 ELSE :HTDAG_SCHEMA.notify_mode((SELECT options FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id)) END;
  IF p_channel IS NOT NULL AND v_mode IS NOT NULL
     AND (p_always OR v_mode = 'all' OR :HTDAG_SCHEMA.notify_wanted(p_channel, p_type, p_run_id)) THEN
    PERFORM pg_notify(p_channel, json_build_object('id', v_id, 'type', p_type, 'runId', p_run_id,
                                                   'taskId', p_task_id, 'workflow', p_workflow)::text);
  END IF;
  RETURN v_id;
END $$;


-- One wave of transitions to final statuses. Rows are found by primary key, one index lookup each
-- (whatever the planner's statistics say: a fresh database has none), and changed by row version.
-- Unless the caller did (p_locked), a locking read first finds and locks the wave's tasks (a
-- heartbeat skips locked rows, so their versions stay current). Then one statement makes the
-- transitions: each task of p_ids goes from the status it has (pending, ready or running: GUARD, a
-- final task is never finished again) to its p_statuses entry; each dependant that is still pending
-- counts the wave down (and an atomic one that reaches zero and may run by its runIf becomes ready
-- in the same UPDATE); the run's counters drop; one event per task is written (and NOTIFYed). Last,
-- the attempt of a running task that its own settle has not closed is closed as cancelled and its
-- queue slot given back (one more statement, only when there is one).
-- Returns the dependants left at zero to decide (pending still), the running tasks this wave ended
-- that their own settle did not ({taskId, attempt}: their processes abort them), and the first
-- task that failed, if one did. p_locked: the row versions of the tasks of p_ids when the caller
-- found and locked them already, and closed their attempts (a settle); NULL otherwise.
CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.finish_wave(p_run :HTDAG_SCHEMA.runs, p_ids text[], p_statuses text[],
    p_outputs jsonb[], p_errors jsonb[], p_channel text, p_locked tid[],
    OUT decide text[], OUT ended jsonb, OUT first_failed text)
LANGUAGE plpgsql AS $$
DECLARE
  v_mode text := CASE WHEN p_channel IS NOT NULL THEN :HTDAG_SCHEMA.notify_mode(p_run.options) END;
  v_notify boolean := v_mode IS NOT NULL;
  v_tids tid[];
  v_attempt_tids tid[];
  v_notified bigint;
BEGIN
  IF p_locked IS NOT NULL THEN
    v_tids := p_locked;
  ELSE
    SELECT array_agg(l.tid), array_agg(a.tid) FILTER (WHERE a.tid IS NOT NULL)
      INTO v_tids, v_attempt_tids
      FROM unnest(p_ids) AS d(id),
           LATERAL (SELECT t.ctid AS tid, t.status, t.attempts FROM :HTDAG_SCHEMA.tasks t
                     WHERE t.run_id = p_run.id AND t.id = d.id AND t.status IN ('pending', 'ready', 'running')
                    OFFSET 0 FOR UPDATE) l
           LEFT JOIN LATERAL (SELECT a.ctid AS tid FROM :HTDAG_SCHEMA.attempts a
                               WHERE l.status = 'running' AND a.run_id = p_run.id AND a.task_id = d.id
                                 AND a.attempt = l.attempts AND a.status = 'running' OFFSET 0) a ON true;
  END IF;
  IF v_tids IS NULL THEN
    ended := '[]';
    RETURN;
  END IF;
  WITH x AS (
    SELECT x.id, x.status, x.output, x.error, x.n
      FROM unnest(p_ids, p_statuses, p_outputs, p_errors) WITH ORDINALITY AS x(id, status, output, error, n)
  ), fin AS (
    UPDATE :HTDAG_SCHEMA.tasks t
       SET status = x.status, output = x.output, error = x.error, finished_at = now(),
           lease_owner = NULL, lease_expires_at = NULL
      FROM x
     -- GUARD: a task that is not final yet (the row is locked).
     WHERE t.ctid = ANY (v_tids) AND t.id = x.id AND t.status IN ('pending', 'ready', 'running')
    RETURNING t.id, t.status, t.error, x.n, coalesce((t.spec ->> 'recovers')::boolean, false) AS recovers
  ), counts AS (
    -- Each dependant still pending, by primary key (its row version is current: only holders of
    -- the run's lock change a pending task), unless it is finished in this same wave (one statement
    -- changes a row once).
    SELECT c.*, l.tid FROM (
      SELECT e.task_id AS id, count(*)::integer AS n,
             count(*) FILTER (WHERE f.status IN ('failed', 'timed_out', 'cancelled'))::integer AS failed,
             count(*) FILTER (WHERE f.status = 'skipped')::integer AS skipped
        FROM fin f, LATERAL (SELECT e.task_id FROM :HTDAG_SCHEMA.task_edges e
                              WHERE e.run_id = p_run.id AND e.depends_on = f.id OFFSET 0) e
       WHERE e.task_id <> ALL (p_ids)
       GROUP BY e.task_id) c,
      LATERAL (SELECT t.ctid AS tid FROM :HTDAG_SCHEMA.tasks t
                WHERE t.run_id = p_run.id AND t.id = c.id AND t.status = 'pending' OFFSET 0) l
  ), deps AS (
    UPDATE :HTDAG_SCHEMA.tasks t
       SET remaining_deps = t.remaining_deps - c.n,
           failed_deps = t.failed_deps + c.failed,
           skipped_deps = t.skipped_deps + c.skipped,
           status = CASE WHEN t.remaining_deps = c.n AND t.kind = 'atomic'
                          AND :HTDAG_SCHEMA.dependant_outcome(t.run_if, t.failed_deps + c.failed,
                                                              t.skipped_deps + c.skipped) = 'ready'
                         THEN 'ready' ELSE t.status END,
           ready_at = CASE WHEN t.remaining_deps = c.n THEN now() ELSE t.ready_at END,
           available_at = CASE WHEN t.remaining_deps = c.n THEN now() ELSE t.available_at END
      FROM counts c
     -- GUARD: only a task still waiting counts down.
     WHERE t.ctid = ANY (ARRAY(SELECT tid FROM counts)) AND t.id = c.id AND t.status = 'pending'
    RETURNING t.id, t.status, t.remaining_deps
  ), run AS (
    UPDATE :HTDAG_SCHEMA.runs r
       SET remaining_tasks = r.remaining_tasks - f.n, failed_tasks = r.failed_tasks + f.failed,
           recovered = r.recovered OR f.recovers
      FROM (SELECT count(*)::integer AS n, count(*) FILTER (WHERE status IN ('failed', 'timed_out'))::integer AS failed,
                   coalesce(bool_or(status = 'completed' AND recovers), false) AS recovers FROM fin) f
     WHERE r.id = p_run.id
  ), ev AS (
    -- A timed-out task is reported as task:failed with its status, as the event catalogue has it.
    INSERT INTO :HTDAG_SCHEMA.events (type, channel, run_id, task_id, workflow, payload)
    SELECT 'task:' || CASE f.status WHEN 'timed_out' THEN 'failed' ELSE f.status END,
           coalesce(p_channel, 'htdag_events'), p_run.id, f.id, p_run.workflow,
           jsonb_strip_nulls(jsonb_build_object('status', f.status, 'error', f.error))
      FROM fin f ORDER BY f.n
    RETURNING id, type, task_id
  )
  SELECT (SELECT array_agg(id) FROM deps WHERE remaining_deps = 0 AND status = 'pending'),
         (SELECT id FROM fin WHERE status IN ('failed', 'timed_out') ORDER BY n LIMIT 1),
         -- On demand, NOTIFYed when the wave woke something (a dependant ready or to decide, a task
         -- cancelled: workers claim or abort) or someone subscribes (notify_scope).
         (SELECT count(pg_notify(p_channel, json_build_object('id', ev.id, 'type', ev.type, 'runId', p_run.id,
                                                            'taskId', ev.task_id, 'workflow', p_run.workflow)::text))
            FROM ev
           WHERE v_notify AND (v_mode = 'all' OR EXISTS (SELECT 1 FROM deps WHERE remaining_deps = 0)
                               OR EXISTS (SELECT 1 FROM fin WHERE status = 'cancelled')
                               OR :HTDAG_SCHEMA.notify_scope(p_channel, p_run.id) = 'all'))
    INTO decide, first_failed, v_notified;
  ended := '[]';
  IF v_attempt_tids IS NOT NULL THEN
    -- Running tasks this wave ended otherwise than by their own settle (failFast, a stop): their
    -- attempts close as cancelled (GUARD: once), and their queue slots are given back.
    WITH closed AS (
      UPDATE :HTDAG_SCHEMA.attempts a
         SET status = 'cancelled', finished_at = now(), error = t.error, error_class = 'Cancelled',
             duration_ms = extract(epoch FROM (now() - a.started_at)) * 1000
        FROM :HTDAG_SCHEMA.tasks t
       WHERE a.ctid = ANY (v_attempt_tids) AND t.run_id = p_run.id AND t.id = a.task_id AND a.status = 'running'
      RETURNING a.task_id, a.attempt, t.queue
    ), slots AS (
      UPDATE :HTDAG_SCHEMA.queues q SET running = greatest(0, q.running - c.n)
        FROM (SELECT queue, count(*)::integer AS n FROM closed GROUP BY queue) c
       WHERE q.name = c.queue AND q.running > 0
    )
    SELECT coalesce(jsonb_agg(jsonb_build_object('taskId', task_id, 'attempt', attempt)), '[]') INTO ended FROM closed;
  END IF;
END $$;


-- Settles attempts of one run whose row the caller locked. p_settlements: [{taskId, attempt,
-- outcome, output, error, errorClass, retryDelayMs, stepMs}], outcome one of completed | failed |
-- timed_out | cancelled | skipped, or (the reaper, a stopping worker) lost | released.
-- GUARD per settlement: only the live attempt of a running task, held by p_worker (any holder when
-- NULL), settles it. A rejected one changes nothing: it is recorded in rejected_completions, unless
-- it repeats a settle that was applied (its reply was lost), which is reported as settled again.
-- Accepted ones close their attempts and give back their queue slots; a failure with a retry delay
-- (or a lost attempt with attempts left, or a released one, not charged) goes back to ready; every
-- other one is final, through cascade_tasks. Rows are found by primary key and changed by row
-- version (ctid), as in finish_wave. Returns {results: [{taskId, attempt, settled, status}] in
-- order, aborted: [{taskId, attempt}]}.
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
BEGIN
  -- Each settlement with its task's row, locked when it is the live attempt held by p_worker; the
  -- accepted ones' attempts close (GUARD: once) and give back their queue slots, in this statement.
  WITH s AS (
    SELECT x.n, x.value AS v, x.value ->> 'taskId' AS id, (x.value ->> 'attempt')::integer AS attempt,
           x.value ->> 'outcome' AS outcome
      FROM jsonb_array_elements(p_settlements) WITH ORDINALITY AS x(value, n)
  ), live AS (
    SELECT s.n, s.id, s.attempt, s.outcome, s.v -> 'output' AS output, s.v -> 'error' AS error,
           l.tid, a.tid AS attempt_tid, l.queue,
           -- Lost and released attempts: the retry is decided here, from the stored budget.
           CASE WHEN l.tid IS NULL THEN NULL
                WHEN s.outcome = 'released' THEN 0
                WHEN s.outcome = 'lost' THEN CASE WHEN l.attempts < l.max_attempts THEN 0 END
                WHEN s.outcome IN ('failed', 'timed_out') THEN (s.v ->> 'retryDelayMs')::integer END AS delay,
           s.v ->> 'errorClass' AS error_class, (s.v ->> 'stepMs')::double precision AS step_ms
      FROM s
      LEFT JOIN LATERAL (SELECT t.ctid AS tid, t.max_attempts, t.attempts, t.queue FROM :HTDAG_SCHEMA.tasks t
                          WHERE t.run_id = p_run.id AND t.id = s.id AND t.status = 'running' AND t.attempts = s.attempt
                            AND (p_worker IS NULL OR t.lease_owner = p_worker)
                         OFFSET 0 FOR UPDATE) l ON true
      LEFT JOIN LATERAL (SELECT a.ctid AS tid FROM :HTDAG_SCHEMA.attempts a
                          WHERE l.tid IS NOT NULL AND a.run_id = p_run.id AND a.task_id = s.id AND a.attempt = s.attempt
                            AND a.status = 'running' OFFSET 0) a ON true
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
         array_agg(x.delay), array_agg(x.tid), array_agg(x.error),
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
    INTO v_ids, v_attempts, v_outcomes, v_delays, v_tids, v_errors, v_accepted,
         v_final_ids, v_final_statuses, v_final_outputs, v_final_errors, v_final_tids, v_retries, v_results
    FROM (SELECT * FROM live ORDER BY n) x;

  IF v_accepted > 0 THEN
    IF v_retries > 0 THEN
      -- Retries: back to ready after the delay, in one guarded UPDATE.
      WITH a AS (
        SELECT * FROM unnest(v_ids, v_attempts, v_outcomes, v_errors, v_delays, v_tids) WITH ORDINALITY
                   AS a(id, attempt, outcome, error, delay, tid, n)
         WHERE a.tid IS NOT NULL AND a.delay IS NOT NULL
      ), r AS (
        UPDATE :HTDAG_SCHEMA.tasks t
           SET status = 'ready', ready_at = now(), error = a.error, lease_owner = NULL, lease_expires_at = NULL,
               available_at = now() + a.delay * interval '1 millisecond',
               -- A released attempt is not charged.
               max_attempts = t.max_attempts + (a.outcome = 'released')::integer
          FROM a
         -- GUARD: the live attempt of a running task (locked above).
         WHERE t.ctid = ANY (v_tids) AND t.id = a.id AND t.status = 'running' AND t.attempts = a.attempt
        RETURNING t.id, a.attempt, a.outcome, a.delay, a.error, a.n
      ), ev AS (
        INSERT INTO :HTDAG_SCHEMA.events (type, channel, run_id, task_id, workflow, payload)
        SELECT 'task:retried', coalesce(p_channel, 'htdag_events'), p_run.id, r.id, p_run.workflow,
               jsonb_strip_nulls(jsonb_build_object('attempt', r.attempt, 'outcome', r.outcome, 'delayMs', r.delay,
                                                    'error', r.error))
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


-- Settles attempts of one run (settle_locked), finishes the run when nothing of it remains, and
-- claims up to p_claim_limit of its next ready tasks: one round trip, one transaction. A lone
-- settlement (a chain) and a batch take the same path. A worker passes its workflows
-- (p_workflows): slots the run leaves free are filled from its other runs (runs others hold are
-- skipped, never waited for: `busy` says so), so a worker running many small runs needs no claim of
-- its own after a settle. Returns {results, aborted, runStatus, claimed, busy}.
CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.settle_tasks(p_run_id uuid, p_worker text, p_settlements jsonb,
    p_claim_limit integer, p_lease_ms integer, p_channel text, p_workflows text[]) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_run :HTDAG_SCHEMA.runs;
  v_settled jsonb;
  v_claimed jsonb;
  v_fill jsonb;
BEGIN
  SELECT * INTO v_run FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN jsonb_build_object('results', (SELECT coalesce(jsonb_agg(jsonb_build_object('taskId', x.value ->> 'taskId',
             'attempt', (x.value ->> 'attempt')::integer, 'settled', false, 'status', NULL)), '[]')
             FROM jsonb_array_elements(p_settlements) AS x(value)),
           'aborted', '[]'::jsonb, 'runStatus', NULL, 'claimed', '[]'::jsonb, 'busy', false);
  END IF;
  v_settled := :HTDAG_SCHEMA.settle_locked(v_run, p_worker, p_settlements, p_channel);
  v_run := :HTDAG_SCHEMA.finish_run_if_done(p_run_id, p_channel);
  v_claimed := :HTDAG_SCHEMA.claim_locked_run(v_run, p_worker, p_claim_limit, p_lease_ms, p_channel);
  IF p_workflows IS NOT NULL AND jsonb_array_length(v_claimed) < p_claim_limit THEN
    v_fill := :HTDAG_SCHEMA.claim_tasks(NULL, p_workflows, p_worker,
                                        p_claim_limit - jsonb_array_length(v_claimed), p_lease_ms, p_channel);
    v_claimed := v_claimed || (v_fill -> 'claimed');
  END IF;
  RETURN v_settled || jsonb_build_object('runStatus', v_run.status, 'claimed', v_claimed,
                                         'busy', coalesce((v_fill ->> 'busy')::boolean, false));
END $$;


-- Claims up to p_limit ready tasks of one run (p_run_id), or of any run of p_workflows (workers;
-- p_run_id NULL), by priority then age, skipping rows other claimers hold. Respects each run's
-- max_parallel and queue limits. Returns {claimed: each claimed task with its dependencies'
-- outputs, busy: whether a run with ready tasks was skipped because another transaction held it}.
-- A worker told `busy` claims again shortly: the holder (a settle) claims only for its own slots.
-- Every claim goes through claim_locked_run: one run's tasks set-based, a worker's claim run by run.
CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.claim_tasks(p_run_id uuid, p_workflows text[], p_worker text, p_limit integer,
                                          p_lease_ms integer, p_channel text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_claimed jsonb := '[]';
  v_got jsonb;
  v_run :HTDAG_SCHEMA.runs;
  v_run_id uuid;
  v_free integer := p_limit;
  v_busy boolean := false;
BEGIN
  IF p_limit <= 0 THEN RETURN jsonb_build_object('claimed', v_claimed, 'busy', false); END IF;
  IF p_run_id IS NOT NULL THEN
    -- Serialises claims and settles of one run, so max_parallel holds exactly.
    SELECT * INTO v_run FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id FOR UPDATE;
    IF FOUND THEN
      v_claimed := :HTDAG_SCHEMA.claim_locked_run(v_run, p_worker, p_limit, p_lease_ms, p_channel);
    END IF;
    RETURN jsonb_build_object('claimed', v_claimed, 'busy', false);
  END IF;
  -- Workers: the runs of the best ready tasks (priority, then age), each claimed under its lock.
  -- A run another transaction holds (a settle, which claims for itself) is skipped, not waited
  -- for, and none of its task rows is locked; the claim says it was busy.
  FOR v_run_id IN
    SELECT x.run_id FROM (
      -- Ready tasks in the ready index's order, each run looked up by primary key (OFFSET 0 keeps
      -- the planner from reading every running run first and sorting all their ready tasks, as it
      -- would on statistics that say there are few), until p_limit * 4 are found.
      SELECT t.run_id, t.priority, t.ready_at FROM :HTDAG_SCHEMA.tasks t,
             LATERAL (SELECT 1 FROM :HTDAG_SCHEMA.runs r
                       WHERE r.id = t.run_id AND r.status = 'running' AND r.run_at <= now()
                         AND (p_workflows IS NULL OR r.workflow = ANY (p_workflows)) OFFSET 0) r
       WHERE t.status = 'ready' AND t.available_at <= now()
       ORDER BY t.priority DESC, t.ready_at, t.run_id, t.id
       LIMIT p_limit * 4) x
     GROUP BY x.run_id
     ORDER BY max(x.priority) DESC, min(x.ready_at)
  LOOP
    SELECT * INTO v_run FROM :HTDAG_SCHEMA.runs WHERE id = v_run_id FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
      v_busy := true;
      CONTINUE;
    END IF;
    v_got := :HTDAG_SCHEMA.claim_locked_run(v_run, p_worker, v_free, p_lease_ms, p_channel);
    v_claimed := v_claimed || v_got;
    v_free := v_free - jsonb_array_length(v_got);
    EXIT WHEN v_free <= 0;
  END LOOP;
  RETURN jsonb_build_object('claimed', v_claimed, 'busy', v_busy AND v_free > 0);
END $$;



-- Claims up to p_limit ready tasks of a run whose row the caller locked (p_run), within its
-- max_parallel. Without queue rows to count against (the usual case) the batch is claimed
-- set-based: one UPDATE, one INSERT of attempts, one INSERT of events; otherwise task by task.
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
         EXISTS (SELECT 1 FROM :HTDAG_SCHEMA.queues q
                  WHERE EXISTS (SELECT 1 FROM :HTDAG_SCHEMA.tasks t
                                 WHERE t.run_id = p_run.id AND t.status = 'ready' AND t.queue = q.name))
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
            'deps', :HTDAG_SCHEMA.dependency_outputs(p_run.id, u.id))
            ORDER BY u.priority DESC, u.ready_at, u.id) FROM u),
         (SELECT count(pg_notify(p_channel, json_build_object('id', ev.id, 'type', 'task:started', 'runId', p_run.id,
                                                            'taskId', ev.task_id, 'workflow', p_run.workflow)::text))
            FROM ev WHERE v_notify AND (v_mode = 'all' OR :HTDAG_SCHEMA.notify_scope(p_channel, p_run.id) = 'all'))
    INTO v_claimed;
  RETURN coalesce(v_claimed, '[]'::jsonb);
END $$;




-- Records a run and starts it in one transaction and one round trip (issue 17, case 10; issue 18).
-- Before this function, submit inserted the run in one transaction and started it in another
-- statement: a connection lost between the two left a `pending` run that no one would start, and an
-- idempotent resubmit returned it.
--
-- p_run:    the run row: {id, workflow, graphId, goal, priority, maxParallel, failFast, options, input,
--           idempotencyKey, runAt, deadlineMs}, and tuningAppliedAt when the graph was tuned with
--           the workflow's stored tuning as the caller knew it (null: none)
-- p_graph:  the graph row: {id, goal, decomposer, source, tasks, decomposedAt}
-- p_tasks:  the task rows as bindGraph lays them out; p_edges: [{task_id, depends_on}]
-- p_queues: queue limits to set ({name: concurrency}), or NULL
-- p_events: the run's first events, written before its start: [{type, taskId, payload}]
-- p_start:  start the run (its tasks without dependencies become ready; workers claim nothing
--           before run_at); false leaves it pending for an executor that starts and claims it
-- Returns {runId, existing, runStatus}. With an idempotency key already taken, nothing is written
-- and the existing run's id is returned; the unique constraint decides between concurrent callers.
-- With a stored tuning other than the caller's, nothing is written: {staleTuning: true}.
CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.submit_run(p_run jsonb, p_graph jsonb, p_tasks jsonb, p_edges jsonb, p_queues jsonb,
                                         p_events jsonb, p_start boolean, p_channel text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_run_id uuid := (p_run ->> 'id')::uuid;
  v_workflow text := p_run ->> 'workflow';
  v_key text := p_run ->> 'idempotencyKey';
  v_existing uuid;
  v_event jsonb;
  v_status text := 'pending';
  v_tuned timestamptz;
  v_stored timestamptz;
  v_started boolean;
BEGIN
  IF v_key IS NOT NULL THEN
    SELECT id INTO v_existing FROM :HTDAG_SCHEMA.runs WHERE idempotency_key = v_key;
    IF FOUND THEN
      RETURN jsonb_build_object('runId', v_existing, 'existing', true, 'runStatus', NULL);
    END IF;
  END IF;
  -- The caller tuned the graph with the workflow's stored tuning as it knew it (p_run.tuningAppliedAt,
  -- its time, which JavaScript keeps to the millisecond; null: none). Another one stored since:
  -- nothing is written, and the caller tunes again.
  IF p_run ? 'tuningAppliedAt' THEN
    v_tuned := (p_run ->> 'tuningAppliedAt')::timestamptz;
    v_stored := (SELECT applied_at FROM :HTDAG_SCHEMA.workflow_tunings WHERE workflow = v_workflow);
    IF NOT coalesce((v_tuned IS NULL AND v_stored IS NULL) OR abs(extract(epoch FROM v_stored - v_tuned)) < 0.001,
                    false) THEN
      RETURN jsonb_build_object('runId', NULL, 'existing', false, 'runStatus', NULL, 'staleTuning', true);
    END IF;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM :HTDAG_SCHEMA.workflows WHERE name = v_workflow) THEN
    INSERT INTO :HTDAG_SCHEMA.workflows (name) VALUES (v_workflow) ON CONFLICT DO NOTHING;
  END IF;
  -- A graph submitted again unchanged (many runs of one graph) is only read: no row lock for
  -- concurrent submits to queue on, no new row version.
  IF NOT EXISTS (SELECT 1 FROM :HTDAG_SCHEMA.graphs WHERE id = p_graph ->> 'id' AND goal = p_graph ->> 'goal'
                    AND tasks = p_graph -> 'tasks') THEN
    INSERT INTO :HTDAG_SCHEMA.graphs (id, goal, decomposer, source, tasks, decomposed_at)
    VALUES (p_graph ->> 'id', p_graph ->> 'goal', p_graph ->> 'decomposer', p_graph ->> 'source', p_graph -> 'tasks',
            (p_graph ->> 'decomposedAt')::timestamptz)
    ON CONFLICT (id) DO UPDATE SET tasks = excluded.tasks, goal = excluded.goal;
  END IF;
  -- Started as it is inserted when every task with nothing to wait for is atomic and runs by its
  -- runIf (the usual graph): those tasks go in ready, and start_run's decisions are not needed.
  v_started := p_start AND jsonb_array_length(p_tasks) > 0 AND NOT EXISTS (
    SELECT 1 FROM jsonb_array_elements(p_tasks) AS e(value)
     WHERE (e.value ->> 'remaining_deps')::integer = 0
       AND (e.value ->> 'kind' <> 'atomic' OR e.value ->> 'run_if' = 'anyFailed'));
  INSERT INTO :HTDAG_SCHEMA.runs (id, workflow, graph_id, goal, status, priority, max_parallel, fail_fast, options,
                                  input, idempotency_key, run_at, deadline_at, total_tasks, remaining_tasks, started_at)
  VALUES (v_run_id, v_workflow, p_graph ->> 'id', p_run ->> 'goal', CASE WHEN v_started THEN 'running' ELSE 'pending' END,
          (p_run ->> 'priority')::integer, (p_run ->> 'maxParallel')::integer, (p_run ->> 'failFast')::boolean,
          p_run -> 'options', p_run -> 'input', v_key, coalesce((p_run ->> 'runAt')::timestamptz, now()),
          now() + (p_run ->> 'deadlineMs')::integer * interval '1 millisecond',
          jsonb_array_length(p_tasks), jsonb_array_length(p_tasks), CASE WHEN v_started THEN now() END)
  -- GUARD: one run per idempotency key; a concurrent caller that took it first wins.
  ON CONFLICT ON CONSTRAINT runs_idempotency_key_unique DO NOTHING;
  IF NOT FOUND THEN
    SELECT id INTO v_existing FROM :HTDAG_SCHEMA.runs WHERE idempotency_key = v_key;
    RETURN jsonb_build_object('runId', v_existing, 'existing', true, 'runStatus', NULL);
  END IF;
  IF p_queues IS NOT NULL THEN
    INSERT INTO :HTDAG_SCHEMA.queues (name, concurrency) SELECT key, value::integer FROM jsonb_each_text(p_queues)
    ON CONFLICT (name) DO UPDATE SET concurrency = excluded.concurrency;
  END IF;
  INSERT INTO :HTDAG_SCHEMA.tasks (run_id, id, position, parent_id, kind, step, description, remaining_deps, run_if,
                                   spec, input, priority, queue, max_attempts, attempt_budget, timeout_ms, backoff,
                                   status, ready_at)
  SELECT v_run_id, id, e.n, parent_id, kind, step, description, remaining_deps, run_if, spec, input,
         priority, queue, max_attempts, max_attempts, timeout_ms, backoff,
         CASE WHEN v_started AND remaining_deps = 0 THEN 'ready' ELSE 'pending' END,
         CASE WHEN v_started AND remaining_deps = 0 THEN now() END
    FROM jsonb_array_elements(p_tasks) WITH ORDINALITY AS e(value, n),
         jsonb_to_record(e.value) AS x(id text, parent_id text, kind text, step text, description text,
         remaining_deps integer, run_if text, spec jsonb, input jsonb, priority integer, queue text,
         max_attempts integer, timeout_ms integer, backoff jsonb);
  INSERT INTO :HTDAG_SCHEMA.task_edges (run_id, task_id, depends_on)
  SELECT v_run_id, task_id, depends_on FROM jsonb_to_recordset(p_edges) AS x(task_id text, depends_on text);
  FOR v_event IN SELECT value FROM jsonb_array_elements(coalesce(p_events, '[]'::jsonb)) LOOP
    PERFORM :HTDAG_SCHEMA.emit(p_channel, v_event ->> 'type', v_run_id, v_event ->> 'taskId', v_workflow,
                               v_event -> 'payload');
  END LOOP;
  IF v_started THEN
    -- What start_run writes, with its tasks already ready.
    PERFORM :HTDAG_SCHEMA.emit(p_channel, 'execution:started', v_run_id, NULL, v_workflow,
                               jsonb_build_object('goal', p_run ->> 'goal', 'tasks', jsonb_array_length(p_tasks)));
    v_status := 'running';
  ELSIF p_start THEN
    -- Claims nothing (limit 0): workers or the executor claim the ready tasks.
    v_status := :HTDAG_SCHEMA.start_run(v_run_id, NULL, 0, 0, p_channel) ->> 'runStatus';
  END IF;
  RETURN jsonb_build_object('runId', v_run_id, 'existing', false, 'runStatus', v_status);
END $$;


-- The SET options of the functions replaced above, as 0001 set them, and the worker claim's.
ALTER FUNCTION :HTDAG_SCHEMA.settle_tasks(uuid, text, jsonb, integer, integer, text, text[]) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION :HTDAG_SCHEMA.settle_locked(:HTDAG_SCHEMA.runs, text, jsonb, text) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION :HTDAG_SCHEMA.finish_wave(:HTDAG_SCHEMA.runs, text[], text[], jsonb[], jsonb[], text, tid[]) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION :HTDAG_SCHEMA.settle_locked(:HTDAG_SCHEMA.runs, text, jsonb, text) SET enable_seqscan = off;
ALTER FUNCTION :HTDAG_SCHEMA.finish_wave(:HTDAG_SCHEMA.runs, text[], text[], jsonb[], jsonb[], text, tid[]) SET enable_seqscan = off;
ALTER FUNCTION :HTDAG_SCHEMA.claim_locked_run(:HTDAG_SCHEMA.runs, text, integer, integer, text) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION :HTDAG_SCHEMA.claim_tasks(uuid, text[], text, integer, integer, text) SET enable_bitmapscan = off;
ALTER FUNCTION :HTDAG_SCHEMA.claim_tasks(uuid, text[], text, integer, integer, text) SET enable_seqscan = off;
