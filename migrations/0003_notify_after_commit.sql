-- Executor v2, part 2 (issue 18): NOTIFY after the commit, not inside it.
--
-- PostgreSQL serialises the commits of every transaction that NOTIFYs: each one takes a lock on the
-- whole database (database 0) before its commit record and holds it until the commit is flushed, so
-- queue entries appear in commit order. With a WAL flush inside every hot commit, that lock caps the
-- cluster at about one NOTIFYing commit per flush; in W7 (2,000 one-task runs) it held three to four
-- backends waiting on average (pg_locks: `object`, classid pg_database, objid 0).
--
-- The executor's hot entry points (submit_run, claim_tasks, settle_tasks, expand_task) are now
-- called through procedures (`*_then_notify`) that commit the work, then send its notifications in a
-- second transaction that writes no WAL, so its commit waits for no flush and holds the lock only
-- while it queues the notifications. Functions called any other way NOTIFY inside their own
-- transaction, as before (notify below). Listeners still see a notification only once the change
-- it announces is committed. A connection lost between the two commits loses the notifications,
-- never the events: workers, waiters and subscriptions read the events table and poll as a fallback.


-- Sends p_payloads on p_channel: at once (pg_notify, inside the caller's transaction), or, under a
-- *_then_notify procedure (the setting htdag.notify_after_commit is on), kept in the
-- transaction-local setting htdag.pending_notifications for the procedure to send after its commit:
-- one record per notification, channel and payload (JSON, where no control character appears
-- unescaped) joined by the unit separator, each record ended by the record separator. Called once per
-- statement with all of that statement's notifications (a setting is copied on every change: one
-- append per notification would be quadratic in a large wave). Returns how many were sent or kept.
CREATE FUNCTION :HTDAG_SCHEMA.notify(p_channel text, p_payloads text[]) RETURNS integer
LANGUAGE plpgsql AS $$
BEGIN
  IF p_channel IS NULL OR coalesce(cardinality(p_payloads), 0) = 0 THEN
    RETURN 0;
  END IF;
  IF current_setting('htdag.notify_after_commit', true) = 'on' THEN
    PERFORM set_config('htdag.pending_notifications',
                       coalesce(current_setting('htdag.pending_notifications', true), '')
                         || (SELECT string_agg(p_channel || chr(31) || x || chr(30), '') FROM unnest(p_payloads) AS x),
                       true);
  ELSE
    PERFORM pg_notify(p_channel, x) FROM unnest(p_payloads) AS x;
  END IF;
  RETURN cardinality(p_payloads);
END $$;


-- Sends what notify kept (htdag.pending_notifications, read before the commit), in order.
CREATE FUNCTION :HTDAG_SCHEMA.send_notifications(p_pending text) RETURNS integer
LANGUAGE sql AS $$
  SELECT count(pg_notify(split_part(n, chr(31), 1), substr(n, strpos(n, chr(31)) + 1)))::integer
    FROM string_to_table(p_pending, chr(30)) AS n
   WHERE n <> ''
$$;


-- The functions that NOTIFY, as 0002 left them, with pg_notify replaced by notify; claim_locked_run
-- also looks for queue limits from the queues table's side (see there).

-- Writes one event row and, unless p_channel is NULL, a small NOTIFY: ids only, never the payload,
-- so NOTIFY stays far below its 8,000-byte limit. The executor's own events are NOTIFYed as the
-- run's mode says (notify_mode); p_always (events written from TypeScript: `sendWithNotify`,
-- decomposition, optimization, progress) NOTIFYs unless the mode is none.
CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.emit(p_channel text, p_type text, p_run_id uuid, p_task_id text,
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
    PERFORM :HTDAG_SCHEMA.notify(p_channel, ARRAY[json_build_object('id', v_id, 'type', p_type, 'runId', p_run_id,
                                                                     'taskId', p_task_id, 'workflow', p_workflow)::text]);
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
         (SELECT :HTDAG_SCHEMA.notify(p_channel, array_agg(json_build_object('id', ev.id, 'type', ev.type, 'runId', p_run.id,
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
      SELECT :HTDAG_SCHEMA.notify(p_channel, array_agg(json_build_object('id', ev.id, 'type', 'task:retried', 'runId', p_run.id,
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
         -- From each queue row (usually none) to the run's first ready task in it: the planner
         -- otherwise grouped every ready task of the run by queue first, on every claim.
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
            'deps', :HTDAG_SCHEMA.dependency_outputs(p_run.id, u.id))
            ORDER BY u.priority DESC, u.ready_at, u.id) FROM u),
         (SELECT :HTDAG_SCHEMA.notify(p_channel, array_agg(json_build_object('id', ev.id, 'type', 'task:started', 'runId', p_run.id,
                                                            'taskId', ev.task_id, 'workflow', p_run.workflow)::text))
            FROM ev WHERE v_notify AND (v_mode = 'all' OR :HTDAG_SCHEMA.notify_scope(p_channel, p_run.id) = 'all'))
    INTO v_claimed;
  RETURN coalesce(v_claimed, '[]'::jsonb);
END $$;

-- CREATE OR REPLACE drops a function's SET options: the ones 0002 gave these functions, again.
ALTER FUNCTION :HTDAG_SCHEMA.settle_locked(:HTDAG_SCHEMA.runs, text, jsonb, text) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION :HTDAG_SCHEMA.finish_wave(:HTDAG_SCHEMA.runs, text[], text[], jsonb[], jsonb[], text, tid[]) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION :HTDAG_SCHEMA.settle_locked(:HTDAG_SCHEMA.runs, text, jsonb, text) SET enable_seqscan = off;
ALTER FUNCTION :HTDAG_SCHEMA.finish_wave(:HTDAG_SCHEMA.runs, text[], text[], jsonb[], jsonb[], text, tid[]) SET enable_seqscan = off;
ALTER FUNCTION :HTDAG_SCHEMA.claim_locked_run(:HTDAG_SCHEMA.runs, text, integer, integer, text) SET plan_cache_mode = force_generic_plan;



-- The hot entry points, each as a procedure that commits its function's work and then sends the
-- notifications it kept (notify). CALL them outside a transaction block (the COMMIT inside needs
-- that); the result is the function's, in r.
CREATE PROCEDURE :HTDAG_SCHEMA.submit_run_then_notify(p_run jsonb, p_graph jsonb, p_tasks jsonb, p_edges jsonb,
    p_queues jsonb, p_events jsonb, p_start boolean, p_channel text, INOUT r jsonb DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE v_pending text;
BEGIN
  PERFORM set_config('htdag.notify_after_commit', 'on', true);
  r := :HTDAG_SCHEMA.submit_run(p_run, p_graph, p_tasks, p_edges, p_queues, p_events, p_start, p_channel);
  v_pending := current_setting('htdag.pending_notifications', true);
  COMMIT;
  IF v_pending <> '' THEN
    PERFORM :HTDAG_SCHEMA.send_notifications(v_pending);
  END IF;
END $$;

CREATE PROCEDURE :HTDAG_SCHEMA.claim_tasks_then_notify(p_run_id uuid, p_workflows text[], p_worker text,
    p_limit integer, p_lease_ms integer, p_channel text, INOUT r jsonb DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE v_pending text;
BEGIN
  PERFORM set_config('htdag.notify_after_commit', 'on', true);
  r := :HTDAG_SCHEMA.claim_tasks(p_run_id, p_workflows, p_worker, p_limit, p_lease_ms, p_channel);
  v_pending := current_setting('htdag.pending_notifications', true);
  COMMIT;
  IF v_pending <> '' THEN
    PERFORM :HTDAG_SCHEMA.send_notifications(v_pending);
  END IF;
END $$;

CREATE PROCEDURE :HTDAG_SCHEMA.settle_tasks_then_notify(p_run_id uuid, p_worker text, p_settlements jsonb,
    p_claim_limit integer, p_lease_ms integer, p_channel text, p_workflows text[], INOUT r jsonb DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE v_pending text;
BEGIN
  PERFORM set_config('htdag.notify_after_commit', 'on', true);
  r := :HTDAG_SCHEMA.settle_tasks(p_run_id, p_worker, p_settlements, p_claim_limit, p_lease_ms, p_channel, p_workflows);
  v_pending := current_setting('htdag.pending_notifications', true);
  COMMIT;
  IF v_pending <> '' THEN
    PERFORM :HTDAG_SCHEMA.send_notifications(v_pending);
  END IF;
END $$;

CREATE PROCEDURE :HTDAG_SCHEMA.expand_task_then_notify(p_run_id uuid, p_task_id text, p_attempt integer,
    p_worker text, p_tasks jsonb, p_edges jsonb, p_claim_limit integer, p_lease_ms integer, p_channel text,
    INOUT r jsonb DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE v_pending text;
BEGIN
  PERFORM set_config('htdag.notify_after_commit', 'on', true);
  r := :HTDAG_SCHEMA.expand_task(p_run_id, p_task_id, p_attempt, p_worker, p_tasks, p_edges, p_claim_limit,
                                 p_lease_ms, p_channel);
  v_pending := current_setting('htdag.pending_notifications', true);
  COMMIT;
  IF v_pending <> '' THEN
    PERFORM :HTDAG_SCHEMA.send_notifications(v_pending);
  END IF;
END $$;
