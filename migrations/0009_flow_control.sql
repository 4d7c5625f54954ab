-- Flow control (issue 22, docs/waits-and-flow-control.md "Flow control"): concurrency keys and rate
-- limits, enforced cluster-wide in the claim, without polling.
--
-- A task with `concurrency: { key, limit }` sits in the queue `concurrency:<rendered key>` (bind
-- sets tasks.queue and spec.concurrency); the queues machinery counts its running tasks. The queue's
-- row is made by the first claim of one of its tasks, with the task's limit (so every path that
-- inserts tasks, submit, lazy expansion, revision, streamed plan, is covered), and each claim sets
-- the limit of the task it claims. A task with `rateLimit: { key, limit, perMs, burst }` (spec.rateLimit,
-- key rendered) takes a token of the key's GCRA cell (rate_limits) when it starts; a task refused
-- is not started and its available_at moves to when the key allows it, so no claim sees it before.
-- Waking without polling: a claim that refused a task for its rate limit reports when to claim again
-- (wakeInMs of claim_tasks, settle_tasks and start_run, with_flow_wake), and a slot freed in a full queue that ready
-- tasks wait on NOTIFYs `queue:freed` (trigger queues_slot_freed) and tells the settle (slotFreed).
--
-- claim_locked_run, claim_tasks and settle_tasks also carry the waits of 0006 (process_waits before
-- any slot is counted, wait tasks never claimed into running, a busy worker's poll ending due
-- waits, the run's status after a claim that may have ended it): blocks marked "Waits (0006)".
--
-- CREATE OR REPLACE drops a function's SET options: they are set again at the end.

-- The channel to NOTIFY when a slot of this queue frees while tasks wait on it: the one of the
-- last claim that took a slot.
ALTER TABLE :HTDAG_SCHEMA.queues ADD COLUMN channel text;
-- The queues at their limit: the claims skip their tasks (one small index scan per claim).
CREATE INDEX queues_full_idx ON :HTDAG_SCHEMA.queues (name) WHERE running >= concurrency;

-- One GCRA cell per rate-limit key: tat is the theoretical arrival time of the next start.
CREATE TABLE :HTDAG_SCHEMA.rate_limits (
  key text PRIMARY KEY,
  tat timestamptz NOT NULL
);

-- The ready tasks under flow control or in a named queue, by run: the claim's one probe (empty for
-- runs without flow control, which keep the set-based claim).
CREATE INDEX tasks_run_limited_ready_idx ON :HTDAG_SCHEMA.tasks (run_id)
  WHERE status = 'ready' AND (queue <> 'default' OR spec ? 'rateLimit');
-- The ready tasks of each named queue: whether a freed slot has tasks waiting on it.
CREATE INDEX tasks_queue_ready_idx ON :HTDAG_SCHEMA.tasks (queue) WHERE status = 'ready' AND queue <> 'default';

-- Remembers, for this transaction, the earliest time a task refused by a rate limit may start.
CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.note_wake_at(p_at timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE v_before timestamptz := nullif(current_setting('htdag.wake_at', true), '')::timestamptz;
BEGIN
  IF v_before IS NULL OR p_at < v_before THEN
    PERFORM set_config('htdag.wake_at', p_at::text, true);
  END IF;
END $$;

-- p_result with what flow control tells the claimer, when there is something to tell: wakeInMs, in
-- how many ms to claim again for the tasks this transaction refused for a rate limit, and (with
-- p_freed) slotFreed, a slot freed that tasks wait on (queue_slot_freed).
CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.with_flow_wake(p_result jsonb, p_freed boolean DEFAULT false) RETURNS jsonb
LANGUAGE sql AS $$
  SELECT p_result
         || CASE WHEN at IS NULL THEN '{}'::jsonb
                 ELSE jsonb_build_object('wakeInMs',
                        greatest(0, ceil(extract(epoch FROM (at - clock_timestamp())) * 1000))::integer) END
         || CASE WHEN p_freed AND current_setting('htdag.slot_freed', true) = 'on'
                 THEN jsonb_build_object('slotFreed', true) ELSE '{}'::jsonb END
    FROM (SELECT nullif(current_setting('htdag.wake_at', true), '')::timestamptz AS at) x
$$;

-- Takes a slot of p_queue: true when the task may start. p_limit is a concurrency key's limit (the
-- task's): its queue row is made if missing and its limit set; NULL for a plain queue, which needs
-- a row to be limited.
DROP FUNCTION :HTDAG_SCHEMA.take_queue_slot(text);
CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.take_queue_slot(p_queue text, p_limit integer, p_channel text)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE v_queue :HTDAG_SCHEMA.queues;
BEGIN
  -- GUARD: a queue with a limit is locked while its counter is checked and raised.
  SELECT * INTO v_queue FROM :HTDAG_SCHEMA.queues WHERE name = p_queue FOR UPDATE;
  IF NOT FOUND THEN
    IF p_limit IS NULL THEN RETURN true; END IF;
    INSERT INTO :HTDAG_SCHEMA.queues (name, concurrency, running, channel) VALUES (p_queue, p_limit, 1, p_channel)
    ON CONFLICT (name) DO NOTHING;
    IF FOUND THEN RETURN true; END IF;
    SELECT * INTO v_queue FROM :HTDAG_SCHEMA.queues WHERE name = p_queue FOR UPDATE;
  END IF;
  v_queue.concurrency := coalesce(p_limit, v_queue.concurrency);
  IF v_queue.concurrency IS NOT NULL AND v_queue.running >= v_queue.concurrency THEN
    IF p_limit IS NOT NULL THEN
      UPDATE :HTDAG_SCHEMA.queues SET concurrency = p_limit WHERE name = p_queue AND concurrency IS DISTINCT FROM p_limit;
    END IF;
    RETURN false;
  END IF;
  UPDATE :HTDAG_SCHEMA.queues
     SET running = running + 1, concurrency = v_queue.concurrency, channel = coalesce(p_channel, channel)
   WHERE name = p_queue;
  RETURN true;
END $$;

-- GCRA (generic cell rate algorithm) over the key's cell, locked: emission interval T = perMs/limit,
-- tolerance tau = (burst - 1) * T. A start is allowed when now >= tat - tau; it moves tat to
-- max(tat, now) + T. Returns NULL when allowed (the start is counted), else when it will be.
-- "now" is clock_timestamp(), not the transaction's start: starts of one claim are spaced by real
-- time, so a limit that never binds lets a whole batch start (with now(), every start of one claim
-- after the first would be refused whatever the limit, when burst is 1).
CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.take_rate_token(p_rate jsonb) RETURNS timestamptz
LANGUAGE plpgsql AS $$
DECLARE
  v_key text := p_rate ->> 'key';
  v_interval interval := ((p_rate ->> 'perMs')::double precision / (p_rate ->> 'limit')::double precision)
                         * interval '1 millisecond';
  v_tolerance interval := (coalesce((p_rate ->> 'burst')::integer, 1) - 1) * v_interval;
  v_tat timestamptz;
  v_now timestamptz;
BEGIN
  -- GUARD: the key's cell is locked while it is checked and advanced.
  SELECT tat INTO v_tat FROM :HTDAG_SCHEMA.rate_limits WHERE key = v_key FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO :HTDAG_SCHEMA.rate_limits (key, tat) VALUES (v_key, clock_timestamp()) ON CONFLICT (key) DO NOTHING;
    SELECT tat INTO v_tat FROM :HTDAG_SCHEMA.rate_limits WHERE key = v_key FOR UPDATE;
  END IF;
  v_now := clock_timestamp();
  IF v_now < v_tat - v_tolerance THEN
    RETURN v_tat - v_tolerance;
  END IF;
  UPDATE :HTDAG_SCHEMA.rate_limits SET tat = greatest(v_tat, v_now) + v_interval WHERE key = v_key;
  RETURN NULL;
END $$;

-- A slot freed in a queue that was at its limit, with ready tasks waiting on it: NOTIFY the claimers
-- (workers kick a claim on `queue:freed`) and tell this transaction's settle (settle_tasks reports
-- slotFreed, so an in-process executor wakes the other runs of its process). Every path that gives
-- a slot back (settle_locked, finish_wave, expand_task, apply_revision, revise_plan_locked, a rate
-- limit's refusal in the claim) lowers queues.running, so the trigger sees them all.
CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.queue_slot_freed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM :HTDAG_SCHEMA.tasks t
              WHERE t.queue = NEW.name AND t.status = 'ready' AND t.queue <> 'default'
                AND t.available_at <= now()) THEN
    PERFORM pg_notify(NEW.channel, json_build_object('id', 0, 'type', 'queue:freed', 'runId', NULL, 'taskId', NULL,
                                                     'workflow', NULL, 'queue', NEW.name)::text)
      WHERE NEW.channel IS NOT NULL;
    PERFORM set_config('htdag.slot_freed', 'on', true);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER queues_slot_freed AFTER UPDATE OF running ON :HTDAG_SCHEMA.queues
  FOR EACH ROW WHEN (NEW.running < OLD.running AND OLD.concurrency IS NOT NULL AND OLD.running >= OLD.concurrency)
  EXECUTE FUNCTION :HTDAG_SCHEMA.queue_slot_freed();

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.claim_locked_run(p_run :HTDAG_SCHEMA.runs, p_worker text, p_limit integer, p_lease_ms integer, p_channel text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_free integer;
  v_queued boolean;
  v_ids text[];
  v_task record;
  v_claimed jsonb := '[]';
  v_mode text := CASE WHEN p_channel IS NOT NULL THEN :HTDAG_SCHEMA.notify_mode(p_run.options) END;
  v_notify boolean := v_mode IS NOT NULL;
  -- FLOW CONTROL: the queues at their limit, and when a task refused by a rate limit may start.
  v_full text[];
  v_start_at timestamptz;
BEGIN
  IF p_run.status <> 'running' OR p_run.run_at > now() THEN RETURN v_claimed; END IF;
  -- GUARD: no task starts once the run's budget is reached (record_usage fails such a run at once;
  -- this holds if a claim ever finds one still running). One test on the row already loaded.
  IF p_run.options ? 'budget' AND :HTDAG_SCHEMA.budget_reached(p_run) THEN RETURN v_claimed; END IF;
  -- Waits (0006): start the run's due waits, deliver kept signals, end the waits whose time came.
  -- One probe of the partial index tasks_run_waits_idx, empty for a run without waits. The run
  -- may end here (its last task was a wait). Done even with no slot to fill (p_limit 0).
  IF EXISTS (SELECT 1 FROM :HTDAG_SCHEMA.tasks
              WHERE run_id = p_run.id AND status = 'ready' AND spec ? 'wait' AND available_at <= now()) THEN
    PERFORM :HTDAG_SCHEMA.process_waits(p_run, p_channel);
    SELECT * INTO p_run FROM :HTDAG_SCHEMA.runs WHERE id = p_run.id;
    IF p_run.status <> 'running' THEN RETURN v_claimed; END IF;
  END IF;
  IF p_limit <= 0 THEN RETURN v_claimed; END IF;
  SELECT least(p_limit, p_run.max_parallel - (SELECT count(*) FROM :HTDAG_SCHEMA.tasks
                                              WHERE run_id = p_run.id AND status = 'running' AND kind = 'atomic')),
         -- FLOW CONTROL: from the run's ready tasks under flow control or in a named queue (a partial
         -- index, empty for most runs), the first with a rate limit, a concurrency key, or a queue
         -- that has a row; or a limit on the queue 'default' itself (one primary-key probe).
         EXISTS (SELECT 1 FROM :HTDAG_SCHEMA.tasks t
                  WHERE t.run_id = p_run.id AND t.status = 'ready' AND (t.queue <> 'default' OR t.spec ? 'rateLimit')
                    AND (t.spec ? 'rateLimit' OR t.spec ? 'concurrency'
                         OR EXISTS (SELECT 1 FROM :HTDAG_SCHEMA.queues q WHERE q.name = t.queue)))
         OR EXISTS (SELECT 1 FROM :HTDAG_SCHEMA.queues WHERE name = 'default')
    INTO v_free, v_queued;
  IF v_free <= 0 THEN RETURN v_claimed; END IF;
  IF v_queued THEN
    -- FLOW CONTROL: task by task. The tasks of a queue at its limit are skipped, not locked, so they
    -- hide no other task (one busy key starves no other); each other one takes a slot of its queue
    -- (take_queue_slot, which re-checks under the queue's lock), then a token of its rate limit:
    -- refused, it gives the slot back and is not claimable before the key allows it.
    v_full := ARRAY(SELECT name FROM :HTDAG_SCHEMA.queues WHERE running >= concurrency);
    FOR v_task IN
      SELECT id, queue, spec -> 'rateLimit' AS rate_limit, (spec -> 'concurrency' ->> 'limit')::integer AS concurrency
        FROM :HTDAG_SCHEMA.tasks
       -- GUARD: a wait task is never claimed into running (0006).
       WHERE run_id = p_run.id AND status = 'ready' AND available_at <= now() AND queue <> ALL (v_full)
         AND NOT (spec ? 'wait')
       ORDER BY priority DESC, ready_at, id
       LIMIT p_limit * 4 FOR UPDATE SKIP LOCKED
    LOOP
      EXIT WHEN v_free <= 0;
      -- The channel a freed slot NOTIFYs on: none when the run NOTIFYs nothing (realTimeNotifications false).
      CONTINUE WHEN NOT :HTDAG_SCHEMA.take_queue_slot(v_task.queue, v_task.concurrency,
                                                      CASE WHEN v_notify THEN p_channel END);
      IF v_task.rate_limit IS NOT NULL THEN
        v_start_at := :HTDAG_SCHEMA.take_rate_token(v_task.rate_limit);
        IF v_start_at IS NOT NULL THEN
          -- GUARD: the ready task locked above; it stays ready, claimable from v_start_at.
          UPDATE :HTDAG_SCHEMA.tasks SET available_at = v_start_at
           WHERE run_id = p_run.id AND id = v_task.id AND status = 'ready';
          UPDATE :HTDAG_SCHEMA.queues SET running = running - 1 WHERE name = v_task.queue AND running > 0;
          PERFORM :HTDAG_SCHEMA.note_wake_at(v_start_at);
          CONTINUE;
        END IF;
      END IF;
      v_claimed := v_claimed || :HTDAG_SCHEMA.start_attempt(p_run.id, v_task.id, p_run.workflow, p_worker, p_lease_ms, p_channel);
      v_free := v_free - 1;
    END LOOP;
    RETURN v_claimed;
  END IF;
  SELECT array_agg(id) INTO v_ids FROM (
    SELECT id FROM :HTDAG_SCHEMA.tasks
     -- GUARD: a wait task is never claimed into running (0006).
     WHERE run_id = p_run.id AND status = 'ready' AND available_at <= now() AND NOT (spec ? 'wait')
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
  -- FLOW CONTROL: the queues at their limit (usually none): their tasks are passed over.
  v_full text[];
BEGIN
  IF p_run_id IS NOT NULL THEN
    -- Serialises claims and settles of one run, so max_parallel holds exactly.
    SELECT * INTO v_run FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id FOR UPDATE;
    IF FOUND THEN
      v_claimed := :HTDAG_SCHEMA.claim_locked_run(v_run, p_worker, greatest(p_limit, 0), p_lease_ms, p_channel);
      SELECT * INTO v_run FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id;
    END IF;
    RETURN :HTDAG_SCHEMA.with_flow_wake(jsonb_build_object('claimed', v_claimed, 'busy', false,
                                                           'runStatus', v_run.status));
  END IF;
  IF p_limit <= 0 THEN
    -- Waits (0006): a worker with no slot to fill still ends the due waits of its workflows' runs
    -- (a wait holds no slot), on its poll. The partial index holds only ready wait tasks.
    FOR v_run_id IN
      SELECT DISTINCT t.run_id FROM :HTDAG_SCHEMA.tasks t
       WHERE t.status = 'ready' AND t.spec ? 'wait' AND t.available_at <= now()
       LIMIT 100
    LOOP
      SELECT * INTO v_run FROM :HTDAG_SCHEMA.runs
       WHERE id = v_run_id AND status = 'running' AND (p_workflows IS NULL OR workflow = ANY (p_workflows))
         FOR UPDATE SKIP LOCKED;
      CONTINUE WHEN NOT FOUND;
      PERFORM :HTDAG_SCHEMA.claim_locked_run(v_run, p_worker, 0, p_lease_ms, p_channel);
    END LOOP;
    RETURN :HTDAG_SCHEMA.with_flow_wake(jsonb_build_object('claimed', v_claimed, 'busy', false));
  END IF;
  v_full := ARRAY(SELECT name FROM :HTDAG_SCHEMA.queues WHERE running >= concurrency);
  -- Workers: the runs of the best ready tasks (priority, then age), each claimed under its lock.
  -- A run another transaction holds (a settle, which claims for itself) is skipped, not waited
  -- for, and none of its task rows is locked; the claim says it was busy.
  FOR v_run_id IN
    SELECT x.run_id FROM (
      -- Ready tasks in the ready index's order, each run looked up by primary key (OFFSET 0 keeps
      -- the planner from reading every running run first and sorting all their ready tasks, as it
      -- would on statistics that say there are few), until p_limit * 4 are found. FLOW CONTROL:
      -- not those of a queue at its limit, so one busy key hides no other run's tasks.
      SELECT t.run_id, t.priority, t.ready_at FROM :HTDAG_SCHEMA.tasks t,
             LATERAL (SELECT 1 FROM :HTDAG_SCHEMA.runs r
                       WHERE r.id = t.run_id AND r.status = 'running' AND r.run_at <= now()
                         AND (p_workflows IS NULL OR r.workflow = ANY (p_workflows)) OFFSET 0) r
       WHERE t.status = 'ready' AND t.available_at <= now() AND t.queue <> ALL (v_full)
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
  RETURN :HTDAG_SCHEMA.with_flow_wake(jsonb_build_object('claimed', v_claimed, 'busy', v_busy AND v_free > 0));
END $$;

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.settle_tasks(p_run_id uuid, p_worker text, p_settlements jsonb, p_claim_limit integer, p_lease_ms integer, p_channel text, p_workflows text[])
RETURNS jsonb LANGUAGE plpgsql AS $$
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
  IF jsonb_array_length(v_claimed) = 0 AND v_run.status = 'running' THEN
    -- Waits (0006): the claim may have finished the run.
    v_run.status := (SELECT status FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id);
  END IF;
  IF p_workflows IS NOT NULL AND jsonb_array_length(v_claimed) < p_claim_limit THEN
    v_fill := :HTDAG_SCHEMA.claim_tasks(NULL, p_workflows, p_worker,
                                        p_claim_limit - jsonb_array_length(v_claimed), p_lease_ms, p_channel);
    v_claimed := v_claimed || (v_fill -> 'claimed');
  END IF;
  -- FLOW CONTROL: when to claim again for tasks refused by a rate limit, and whether a slot that
  -- tasks wait on was freed (queue_slot_freed).
  RETURN :HTDAG_SCHEMA.with_flow_wake(v_settled || jsonb_build_object('runStatus', v_run.status, 'claimed', v_claimed,
                                         'busy', coalesce((v_fill ->> 'busy')::boolean, false)), true);
END $$;

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.start_run(p_run_id uuid, p_worker text, p_claim_limit integer, p_lease_ms integer, p_channel text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_run :HTDAG_SCHEMA.runs;
  v_claimed jsonb;
BEGIN
  -- GUARD: only a pending run starts.
  UPDATE :HTDAG_SCHEMA.runs SET status = 'running', started_at = coalesce(started_at, now())
   WHERE id = p_run_id AND status = 'pending'
  RETURNING * INTO v_run;
  IF NOT FOUND THEN
    SELECT * INTO v_run FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id;
    RETURN jsonb_build_object('started', false, 'runStatus', v_run.status, 'claimed', '[]'::jsonb);
  END IF;
  PERFORM :HTDAG_SCHEMA.emit(p_channel, 'execution:started', p_run_id, NULL, v_run.workflow,
                             jsonb_build_object('goal', v_run.goal, 'tasks', v_run.total_tasks));
  PERFORM :HTDAG_SCHEMA.cascade_tasks(v_run, NULL, NULL, NULL, NULL,
    ARRAY(SELECT id FROM :HTDAG_SCHEMA.tasks WHERE run_id = p_run_id AND status = 'pending' AND remaining_deps = 0),
    p_channel);
  v_run := :HTDAG_SCHEMA.finish_run_if_done(p_run_id, p_channel);
  v_claimed := :HTDAG_SCHEMA.claim_locked_run(v_run, p_worker, p_claim_limit, p_lease_ms, p_channel);
  -- FLOW CONTROL: wakeInMs, when to claim again for tasks refused by a rate limit (after the claim).
  RETURN :HTDAG_SCHEMA.with_flow_wake(jsonb_build_object('started', true, 'runStatus', v_run.status,
                                                         'claimed', v_claimed));
END $$;

ALTER FUNCTION :HTDAG_SCHEMA.claim_locked_run(:HTDAG_SCHEMA.runs, text, integer, integer, text) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION :HTDAG_SCHEMA.claim_tasks(uuid, text[], text, integer, integer, text) SET enable_bitmapscan = off;
ALTER FUNCTION :HTDAG_SCHEMA.claim_tasks(uuid, text[], text, integer, integer, text) SET enable_seqscan = off;
ALTER FUNCTION :HTDAG_SCHEMA.settle_tasks(uuid, text, jsonb, integer, integer, text, text[]) SET plan_cache_mode = force_generic_plan;
