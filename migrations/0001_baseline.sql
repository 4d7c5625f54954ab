-- htdag's schema, tables first, then the executor's functions. `:HTDAG_SCHEMA` is replaced by the (validated, quoted) schema name.
-- Statuses are check constraints; their transitions are src/composer/state-machine.ts and the
-- guarded WHERE clauses of the executor's functions. Run-scoped tables carry run_id first in their
-- primary keys, so the schema can be distributed by run_id.

CREATE TABLE :HTDAG_SCHEMA.workflows (
  name       text PRIMARY KEY CONSTRAINT workflows_name_check CHECK (name ~ '^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127}$'),
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE :HTDAG_SCHEMA.graphs (
  id            text PRIMARY KEY,
  goal          text NOT NULL,
  decomposer    text NOT NULL,
  source        text NOT NULL CONSTRAINT graphs_source_check
                  CHECK (source IN ('rules', 'llm', 'pattern', 'cache', 'function', 'file')),
  tasks         jsonb NOT NULL CONSTRAINT graphs_tasks_check CHECK (jsonb_typeof(tasks) = 'array'),
  decomposed_at timestamptz NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE :HTDAG_SCHEMA.runs (
  id              uuid PRIMARY KEY,
  workflow        text NOT NULL REFERENCES :HTDAG_SCHEMA.workflows (name),
  graph_id        text REFERENCES :HTDAG_SCHEMA.graphs (id) ON DELETE SET NULL,
  goal            text NOT NULL,
  status          text NOT NULL DEFAULT 'pending' CONSTRAINT runs_status_check
                    CHECK (status IN ('pending', 'running', 'paused', 'completed', 'failed', 'cancelled', 'timed_out')),
  priority        integer NOT NULL DEFAULT 0 CONSTRAINT runs_priority_check CHECK (priority BETWEEN -1000 AND 1000),
  max_parallel    integer NOT NULL CONSTRAINT runs_max_parallel_check CHECK (max_parallel BETWEEN 1 AND 10000),
  fail_fast       boolean NOT NULL DEFAULT true,
  options         jsonb NOT NULL DEFAULT '{}',
  input           jsonb,
  idempotency_key text CONSTRAINT runs_idempotency_key_unique UNIQUE,
  run_at          timestamptz NOT NULL DEFAULT now(),
  deadline_at     timestamptz,
  total_tasks     integer NOT NULL CONSTRAINT runs_total_tasks_check CHECK (total_tasks >= 0),
  remaining_tasks integer NOT NULL CONSTRAINT runs_remaining_tasks_check CHECK (remaining_tasks >= 0),
  failed_tasks    integer NOT NULL DEFAULT 0 CONSTRAINT runs_failed_tasks_check CHECK (failed_tasks >= 0),
  recovered       boolean NOT NULL DEFAULT false,
  pause_reason    text,
  error           jsonb,
  created_at      timestamptz NOT NULL DEFAULT now(),
  started_at      timestamptz,
  finished_at     timestamptz
);
CREATE INDEX runs_workflow_created_idx ON :HTDAG_SCHEMA.runs (workflow, created_at DESC);
CREATE INDEX runs_status_idx ON :HTDAG_SCHEMA.runs (status) WHERE status IN ('pending', 'running', 'paused');

CREATE TABLE :HTDAG_SCHEMA.tasks (
  run_id           uuid NOT NULL REFERENCES :HTDAG_SCHEMA.runs (id) ON DELETE CASCADE,
  id               text NOT NULL,
  position         integer NOT NULL DEFAULT 0,
  parent_id        text,
  kind             text NOT NULL CONSTRAINT tasks_kind_check CHECK (kind IN ('atomic', 'composite')),
  step             text,
  description      text NOT NULL DEFAULT '',
  status           text NOT NULL DEFAULT 'pending' CONSTRAINT tasks_status_check
                     CHECK (status IN ('pending', 'ready', 'running', 'completed', 'failed', 'timed_out', 'cancelled', 'skipped')),
  -- Counter-based readiness: dependencies not yet settled, and how many of the settled ones failed
  -- or were skipped (runIf decides what that means for this task).
  remaining_deps   integer NOT NULL CONSTRAINT tasks_remaining_deps_check CHECK (remaining_deps >= 0),
  failed_deps      integer NOT NULL DEFAULT 0 CONSTRAINT tasks_failed_deps_check CHECK (failed_deps >= 0),
  skipped_deps     integer NOT NULL DEFAULT 0 CONSTRAINT tasks_skipped_deps_check CHECK (skipped_deps >= 0),
  run_if           text NOT NULL DEFAULT 'allSucceeded' CONSTRAINT tasks_run_if_check
                     CHECK (run_if IN ('allSucceeded', 'allDone', 'anyFailed')),
  spec             jsonb NOT NULL,
  input            jsonb,
  output           jsonb,
  priority         integer NOT NULL DEFAULT 0 CONSTRAINT tasks_priority_check CHECK (priority BETWEEN -1000 AND 1000),
  queue            text NOT NULL DEFAULT 'default',
  max_attempts     integer NOT NULL CONSTRAINT tasks_max_attempts_check CHECK (max_attempts BETWEEN 1 AND 100000),
  timeout_ms       integer NOT NULL CONSTRAINT tasks_timeout_ms_check CHECK (timeout_ms BETWEEN 1 AND 86400000),
  backoff          jsonb NOT NULL,
  attempts         integer NOT NULL DEFAULT 0 CONSTRAINT tasks_attempts_check CHECK (attempts >= 0),
  -- Attempts granted per (re)try of the run; retryRun raises max_attempts by this much.
  attempt_budget   integer NOT NULL DEFAULT 1 CONSTRAINT tasks_attempt_budget_check CHECK (attempt_budget >= 1),
  available_at     timestamptz NOT NULL DEFAULT now(),
  ready_at         timestamptz,
  started_at       timestamptz,
  finished_at      timestamptz,
  lease_owner      text,
  lease_expires_at timestamptz,
  error            jsonb,
  PRIMARY KEY (run_id, id),
  CONSTRAINT tasks_parent_fk FOREIGN KEY (run_id, parent_id) REFERENCES :HTDAG_SCHEMA.tasks (run_id, id)
    DEFERRABLE INITIALLY DEFERRED,
  CONSTRAINT tasks_composite_has_no_step CHECK (kind = 'atomic' OR step IS NULL),
  CONSTRAINT tasks_running_has_lease CHECK (status <> 'running' OR kind = 'composite' OR lease_expires_at IS NOT NULL)
);
-- The claims: ready tasks by priority then age, across runs (workers) and within one run (settles).
CREATE INDEX tasks_ready_idx ON :HTDAG_SCHEMA.tasks (priority DESC, ready_at, run_id, id) WHERE status = 'ready';
CREATE INDEX tasks_run_ready_idx ON :HTDAG_SCHEMA.tasks (run_id, priority DESC, ready_at, id) WHERE status = 'ready';
-- The reaper: running tasks whose lease ran out.
CREATE INDEX tasks_lease_idx ON :HTDAG_SCHEMA.tasks (lease_expires_at) WHERE status = 'running';
-- Composites: their children (completion check, aggregated output).
CREATE INDEX tasks_children_idx ON :HTDAG_SCHEMA.tasks (run_id, parent_id) WHERE parent_id IS NOT NULL;
-- max_parallel: the running tasks of a run (partial, so other status changes do not touch it).
CREATE INDEX tasks_run_running_idx ON :HTDAG_SCHEMA.tasks (run_id) WHERE status = 'running';

-- Edges of the run's effective graph (after hierarchy: children inherit their composite's
-- dependencies, a composite waits for its children). task_id waits for depends_on.
CREATE TABLE :HTDAG_SCHEMA.task_edges (
  run_id     uuid NOT NULL,
  task_id    text NOT NULL,
  depends_on text NOT NULL,
  PRIMARY KEY (run_id, task_id, depends_on),
  CONSTRAINT task_edges_task_fk FOREIGN KEY (run_id, task_id) REFERENCES :HTDAG_SCHEMA.tasks (run_id, id) ON DELETE CASCADE,
  CONSTRAINT task_edges_dep_fk FOREIGN KEY (run_id, depends_on) REFERENCES :HTDAG_SCHEMA.tasks (run_id, id) ON DELETE CASCADE,
  CONSTRAINT task_edges_no_self CHECK (task_id <> depends_on)
);
CREATE INDEX task_edges_dependants_idx ON :HTDAG_SCHEMA.task_edges (run_id, depends_on);

CREATE TABLE :HTDAG_SCHEMA.attempts (
  run_id        uuid NOT NULL,
  task_id       text NOT NULL,
  attempt       integer NOT NULL CONSTRAINT attempts_attempt_check CHECK (attempt >= 1),
  workflow      text NOT NULL,
  step          text,
  status        text NOT NULL DEFAULT 'running' CONSTRAINT attempts_status_check
                  CHECK (status IN ('running', 'completed', 'failed', 'timed_out', 'cancelled', 'skipped', 'lost')),
  worker_id     text,
  ready_at      timestamptz,
  started_at    timestamptz NOT NULL DEFAULT now(),
  finished_at   timestamptz,
  queue_wait_ms double precision,
  duration_ms   double precision,
  error_class   text,
  error         jsonb,
  -- The step's own time, measured by the process that ran it (duration_ms spans claim to settle,
  -- round trips included; a timeout limits the step alone).
  step_ms       double precision,
  PRIMARY KEY (run_id, task_id, attempt),
  CONSTRAINT attempts_task_fk FOREIGN KEY (run_id, task_id) REFERENCES :HTDAG_SCHEMA.tasks (run_id, id) ON DELETE CASCADE
);
CREATE INDEX attempts_workflow_step_idx ON :HTDAG_SCHEMA.attempts (workflow, step, started_at DESC);

-- Late completions from workers whose lease had expired: rejected, and kept as evidence.
CREATE TABLE :HTDAG_SCHEMA.rejected_completions (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id      uuid NOT NULL,
  task_id     text NOT NULL,
  attempt     integer NOT NULL,
  worker_id   text,
  outcome     text NOT NULL,
  reason      text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE :HTDAG_SCHEMA.task_logs (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id     uuid NOT NULL,
  task_id    text NOT NULL,
  attempt    integer NOT NULL,
  message    text NOT NULL,
  data       jsonb,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX task_logs_task_idx ON :HTDAG_SCHEMA.task_logs (run_id, task_id, id);

-- Live events: the id of the transaction that wrote each event, so subscribers can catch up exactly.
--
-- Event ids come from a sequence, so a transaction can take a lower id and commit after another one
-- took a higher id and committed. A reader that kept only "the highest id delivered" would skip the
-- late row. Every row records its top-level transaction id instead: every transaction older than
-- pg_snapshot_xmin(pg_current_snapshot()) has finished, so all its rows are visible now or never,
-- and a subscriber only ever re-reads rows whose transaction id is at or above that horizon.
CREATE TABLE :HTDAG_SCHEMA.events (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  type       text NOT NULL CONSTRAINT events_type_check CHECK (type ~ '^[a-z][a-z0-9_-]*:[a-z][a-z0-9_:-]*$'),
  channel    text NOT NULL,
  run_id     uuid,
  task_id    text,
  workflow   text,
  payload    jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  -- The top-level transaction that wrote the event: see the note above the table.
  xid        xid8 NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX events_run_idx ON :HTDAG_SCHEMA.events (run_id, id);
CREATE INDEX events_created_idx ON :HTDAG_SCHEMA.events (created_at);
-- Catch-up reads the rows at or above the horizon of one channel.
CREATE INDEX events_channel_xid_idx ON :HTDAG_SCHEMA.events (channel, xid);

-- Decompositions: one row per decomposition (calls, tokens, repairs, latency), and the cache.
CREATE TABLE :HTDAG_SCHEMA.decompositions (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  graph_id      text REFERENCES :HTDAG_SCHEMA.graphs (id) ON DELETE SET NULL,
  goal          text NOT NULL,
  decomposer    text NOT NULL,
  source        text NOT NULL,
  model         text,
  cache_key     text,
  llm_calls     integer NOT NULL DEFAULT 0,
  input_tokens  integer NOT NULL DEFAULT 0,
  output_tokens integer NOT NULL DEFAULT 0,
  repairs       integer NOT NULL DEFAULT 0,
  latency_ms    double precision NOT NULL DEFAULT 0,
  error         text,
  created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE :HTDAG_SCHEMA.decomposition_cache (
  cache_key   text PRIMARY KEY,
  goal        text NOT NULL,
  decomposer  text NOT NULL,
  model       text,
  graph       jsonb NOT NULL,
  hits        integer NOT NULL DEFAULT 0,
  created_at  timestamptz NOT NULL DEFAULT now(),
  last_hit_at timestamptz
);

-- Learned patterns: graphs of successful runs of a normalised goal.
CREATE TABLE :HTDAG_SCHEMA.patterns (
  normalized_goal text NOT NULL,
  structure_hash  text NOT NULL,
  workflow        text,
  graph           jsonb NOT NULL,
  successes       integer NOT NULL DEFAULT 0 CONSTRAINT patterns_successes_check CHECK (successes >= 0),
  failures        integer NOT NULL DEFAULT 0 CONSTRAINT patterns_failures_check CHECK (failures >= 0),
  last_run_id     uuid,
  updated_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (normalized_goal, structure_hash)
);

-- Cluster-wide queue limits: `running` is kept by the claim and settle functions.
CREATE TABLE :HTDAG_SCHEMA.queues (
  name        text PRIMARY KEY,
  concurrency integer CONSTRAINT queues_concurrency_check CHECK (concurrency IS NULL OR concurrency >= 1),
  running     integer NOT NULL DEFAULT 0 CONSTRAINT queues_running_check CHECK (running >= 0)
);

CREATE TABLE :HTDAG_SCHEMA.workers (
  id           text PRIMARY KEY,
  hostname     text NOT NULL,
  pid          integer NOT NULL,
  workflows    text[] NOT NULL DEFAULT '{}',
  started_at   timestamptz NOT NULL DEFAULT now(),
  heartbeat_at timestamptz NOT NULL DEFAULT now()
);

-- Stored tunings: `htdag optimize <workflow> --apply` (or optimizer.storeTuning) keeps the changes
-- it applied, and every later run of the workflow applies them.
CREATE TABLE :HTDAG_SCHEMA.workflow_tunings (
  workflow   text PRIMARY KEY REFERENCES :HTDAG_SCHEMA.workflows (name) ON DELETE CASCADE,
  level      text NOT NULL CONSTRAINT workflow_tunings_level_check CHECK (level IN ('basic', 'advanced', 'aggressive')),
  -- The goal of the graph the changes were computed on.
  goal       text NOT NULL,
  changes    jsonb NOT NULL CONSTRAINT workflow_tunings_changes_check CHECK (jsonb_typeof(changes) = 'array'),
  applied_at timestamptz NOT NULL DEFAULT now()
);

-- The executor's transitions as functions: each is one round trip and one transaction, with its
-- guard in a WHERE clause or a locked read. Events are written in the same transaction as the
-- change they report; pg_notify delivers them after commit (p_channel NULL = no NOTIFY).

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

-- ---------------------------------------------------------------------------------------------
-- The settle core. Every task transition to a final status goes through finish_wave, and every
-- consequence of one through cascade_tasks: single and batched settles, failFast, stopRun, the
-- reaper, expansions and the reconciler share them. A transition and the counters it changes
-- (its dependants' remaining/failed/skipped dependencies, the run's remaining and failed tasks)
-- are one statement, guarded by the status the task had. Callers hold the run's row lock: the
-- lock order everywhere is the run row, then its task rows.
-- ---------------------------------------------------------------------------------------------

-- What a task whose last dependency settled becomes by its runIf: ready, skipped or cancelled.
CREATE FUNCTION :HTDAG_SCHEMA.dependant_outcome(p_run_if text, p_failed integer, p_skipped integer)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN p_run_if = 'allDone' THEN 'ready'
    WHEN p_run_if = 'anyFailed' THEN CASE WHEN p_failed > 0 THEN 'ready' ELSE 'skipped' END
    WHEN p_failed > 0 THEN 'cancelled'
    WHEN p_skipped > 0 THEN 'skipped'
    ELSE 'ready' END
$$;

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
CREATE FUNCTION :HTDAG_SCHEMA.finish_wave(p_run :HTDAG_SCHEMA.runs, p_ids text[], p_statuses text[],
    p_outputs jsonb[], p_errors jsonb[], p_channel text, p_locked tid[],
    OUT decide text[], OUT ended jsonb, OUT first_failed text)
LANGUAGE plpgsql AS $$
DECLARE
  v_notify boolean := p_channel IS NOT NULL AND coalesce((p_run.options ->> 'realTimeNotifications')::boolean, true);
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
         (SELECT count(pg_notify(p_channel, json_build_object('id', ev.id, 'type', ev.type, 'runId', p_run.id,
                                                            'taskId', ev.task_id, 'workflow', p_run.workflow)::text))
            FROM ev WHERE v_notify)
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

-- Makes tasks final (p_ids with p_statuses, p_outputs, p_errors) and carries every consequence
-- through, wave by wave (finish_wave): a dependant left at zero is decided (p_decide seeds more:
-- pending tasks with no dependency left) — ready by its runIf, skipped or cancelled, a lazy
-- composite ready to expand, an expanded composite joining its children (failed when one of its
-- dependencies or children failed, skipped when its own dependencies were skipped, else completed
-- with its children's outputs); under failFast, a failure cancels every task of the run that waits
-- for all its dependencies to succeed, running ones included, while the run runs or is paused.
-- The caller holds the run's lock (p_run: its row). Returns the running tasks ended for another reason than their
-- own settle ({taskId, attempt}), whose processes abort them. p_locked: as finish_wave's, for p_ids.
CREATE FUNCTION :HTDAG_SCHEMA.cascade_tasks(p_run :HTDAG_SCHEMA.runs, p_ids text[], p_statuses text[], p_outputs jsonb[],
    p_errors jsonb[], p_decide text[], p_channel text, p_locked tid[] DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_run :HTDAG_SCHEMA.runs := p_run;
  v_ids text[] := coalesce(p_ids, '{}');
  v_statuses text[] := coalesce(p_statuses, '{}');
  v_outputs jsonb[] := coalesce(p_outputs, '{}');
  v_errors jsonb[] := coalesce(p_errors, '{}');
  v_decide text[] := p_decide;
  v_wave record;
  v_dep record;
  v_next text;
  v_ended jsonb := '[]';
  v_first_failed text;
  v_locked tid[] := p_locked;
  p_run_id uuid := p_run.id;
BEGIN
  LOOP
    v_first_failed := NULL;
    IF cardinality(v_ids) > 0 THEN
      SELECT * INTO v_wave FROM :HTDAG_SCHEMA.finish_wave(v_run, v_ids, v_statuses, v_outputs, v_errors, p_channel,
                                                          v_locked);
      v_locked := NULL;
      v_ended := v_ended || v_wave.ended;
      v_decide := coalesce(v_decide, '{}') || coalesce(v_wave.decide, '{}');
      v_first_failed := v_wave.first_failed;
    END IF;
    v_ids := '{}'; v_statuses := '{}'; v_outputs := '{}'; v_errors := '{}';
    IF cardinality(v_decide) > 0 THEN
      -- The usual case, set-based: atomic tasks (and lazy composites not expanded yet) that may run.
      UPDATE :HTDAG_SCHEMA.tasks t SET status = 'ready', ready_at = now(), available_at = now()
       WHERE t.run_id = p_run_id AND t.id = ANY (v_decide) AND t.status = 'pending' AND t.remaining_deps = 0
         AND (t.kind = 'atomic' OR (t.spec ->> 'expand' = 'lazy'
              AND NOT EXISTS (SELECT 1 FROM :HTDAG_SCHEMA.tasks c WHERE c.run_id = t.run_id AND c.parent_id = t.id)))
         AND :HTDAG_SCHEMA.dependant_outcome(t.run_if, t.failed_deps, t.skipped_deps) = 'ready';
      FOR v_dep IN
        SELECT t.id, t.run_if, t.failed_deps, t.skipped_deps,
               t.kind = 'composite' AND (coalesce(t.spec ->> 'expand', 'eager') = 'eager'
                 OR EXISTS (SELECT 1 FROM :HTDAG_SCHEMA.tasks c WHERE c.run_id = t.run_id AND c.parent_id = t.id)) AS joins,
               (SELECT count(*) FROM :HTDAG_SCHEMA.task_edges e JOIN :HTDAG_SCHEMA.tasks d
                   ON d.run_id = e.run_id AND d.id = e.depends_on
                 WHERE e.run_id = t.run_id AND e.task_id = t.id AND d.parent_id IS DISTINCT FROM t.id
                   AND d.status = 'skipped') AS own_skipped
          FROM :HTDAG_SCHEMA.tasks t
         WHERE t.run_id = p_run_id AND t.id = ANY (v_decide) AND t.status = 'pending' AND t.remaining_deps = 0
         ORDER BY t.position
      LOOP
        IF v_dep.joins THEN
          v_next := CASE WHEN v_dep.failed_deps > 0 THEN 'failed'
                         WHEN v_dep.own_skipped > 0 AND v_dep.run_if = 'allSucceeded' THEN 'skipped'
                         ELSE 'completed' END;
        ELSE
          v_next := :HTDAG_SCHEMA.dependant_outcome(v_dep.run_if, v_dep.failed_deps, v_dep.skipped_deps);
        END IF;
        CONTINUE WHEN v_next = 'ready';
        v_ids := v_ids || v_dep.id::text;
        v_statuses := v_statuses || v_next;
        v_outputs := v_outputs || CASE WHEN v_next = 'completed' THEN
          (SELECT coalesce(jsonb_object_agg(c.id, c.output), '{}') FROM :HTDAG_SCHEMA.tasks c
            WHERE c.run_id = p_run_id AND c.parent_id = v_dep.id AND c.status = 'completed') END;
        v_errors := v_errors || CASE WHEN v_next IN ('cancelled', 'failed') THEN
          jsonb_build_object('message', 'a dependency of ' || v_dep.id || ' did not succeed') END;
      END LOOP;
      v_decide := NULL;
    END IF;
    IF v_first_failed IS NOT NULL AND v_run.fail_fast AND v_run.status IN ('running', 'paused') THEN
      SELECT v_ids || coalesce(array_agg(t.id ORDER BY t.position), '{}'),
             v_statuses || coalesce(array_agg('cancelled'::text), '{}'),
             v_outputs || coalesce(array_agg(NULL::jsonb), '{}'),
             v_errors || coalesce(array_agg(jsonb_build_object('message',
               'cancelled: task ' || v_first_failed || ' failed and failFast is on')), '{}')
        INTO v_ids, v_statuses, v_outputs, v_errors
        FROM :HTDAG_SCHEMA.tasks t
       WHERE t.run_id = p_run_id AND t.status IN ('pending', 'ready', 'running') AND t.run_if = 'allSucceeded'
         AND t.id <> ALL (v_ids);
    END IF;
    EXIT WHEN cardinality(v_ids) = 0;
  END LOOP;
  RETURN v_ended;
END $$;

-- Sets the dependency counters of the tasks p_ids of a run that are pending (or a running lazy
-- composite being expanded) to what their dependencies' statuses say, and returns how many were
-- wrong. The one definition of derived counters: retryRun, expansions and the reconciler use it.
CREATE FUNCTION :HTDAG_SCHEMA.derive_dependency_counters(p_run_id uuid, p_ids text[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE v_changed integer;
BEGIN
  WITH d AS (
    SELECT t.id,
           count(dep.id) FILTER (WHERE dep.status IN ('pending', 'ready', 'running'))::integer AS remaining,
           count(dep.id) FILTER (WHERE dep.status IN ('failed', 'timed_out', 'cancelled'))::integer AS failed,
           count(dep.id) FILTER (WHERE dep.status = 'skipped')::integer AS skipped
      FROM :HTDAG_SCHEMA.tasks t
      LEFT JOIN :HTDAG_SCHEMA.task_edges e ON e.run_id = t.run_id AND e.task_id = t.id
      LEFT JOIN :HTDAG_SCHEMA.tasks dep ON dep.run_id = e.run_id AND dep.id = e.depends_on
     WHERE t.run_id = p_run_id AND t.id = ANY (p_ids) AND t.status IN ('pending', 'running')
     GROUP BY t.id
  ), changed AS (
    UPDATE :HTDAG_SCHEMA.tasks t SET remaining_deps = d.remaining, failed_deps = d.failed, skipped_deps = d.skipped
      FROM d
     WHERE t.run_id = p_run_id AND t.id = d.id
       AND (t.remaining_deps, t.failed_deps, t.skipped_deps) IS DISTINCT FROM (d.remaining, d.failed, d.skipped)
    RETURNING t.id
  )
  SELECT count(*) INTO v_changed FROM changed;
  RETURN v_changed;
END $$;

-- Finishes a run that is not final once nothing of it remains: completed, or failed when a task
-- failed and no completed `recovers` task made up for it. Returns the run's row as it is then.
CREATE FUNCTION :HTDAG_SCHEMA.finish_run_if_done(p_run_id uuid, p_channel text) RETURNS :HTDAG_SCHEMA.runs
LANGUAGE plpgsql AS $$
DECLARE v_run :HTDAG_SCHEMA.runs;
BEGIN
  SELECT * INTO v_run FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id;
  IF v_run.remaining_tasks = 0 AND v_run.status IN ('running', 'paused') THEN
    PERFORM :HTDAG_SCHEMA.finish_run(p_run_id,
      CASE WHEN v_run.failed_tasks > 0 AND NOT v_run.recovered THEN 'failed' ELSE 'completed' END, NULL, p_channel);
    SELECT * INTO v_run FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id;
  END IF;
  RETURN v_run;
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
CREATE FUNCTION :HTDAG_SCHEMA.settle_locked(p_run :HTDAG_SCHEMA.runs, p_worker text, p_settlements jsonb,
                                            p_channel text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_notify boolean := p_channel IS NOT NULL AND coalesce((p_run.options ->> 'realTimeNotifications')::boolean, true);
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
-- skipped, never waited for), so a worker running many small runs needs no claim of its own after a
-- settle. Returns {results, aborted, runStatus, claimed}.
CREATE FUNCTION :HTDAG_SCHEMA.settle_tasks(p_run_id uuid, p_worker text, p_settlements jsonb,
    p_claim_limit integer, p_lease_ms integer, p_channel text, p_workflows text[]) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_run :HTDAG_SCHEMA.runs;
  v_settled jsonb;
  v_claimed jsonb;
BEGIN
  SELECT * INTO v_run FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN jsonb_build_object('results', (SELECT coalesce(jsonb_agg(jsonb_build_object('taskId', x.value ->> 'taskId',
             'attempt', (x.value ->> 'attempt')::integer, 'settled', false, 'status', NULL)), '[]')
             FROM jsonb_array_elements(p_settlements) AS x(value)),
           'aborted', '[]'::jsonb, 'runStatus', NULL, 'claimed', '[]'::jsonb);
  END IF;
  v_settled := :HTDAG_SCHEMA.settle_locked(v_run, p_worker, p_settlements, p_channel);
  v_run := :HTDAG_SCHEMA.finish_run_if_done(p_run_id, p_channel);
  v_claimed := :HTDAG_SCHEMA.claim_locked_run(v_run, p_worker, p_claim_limit, p_lease_ms, p_channel);
  IF p_workflows IS NOT NULL AND jsonb_array_length(v_claimed) < p_claim_limit THEN
    v_claimed := v_claimed || :HTDAG_SCHEMA.claim_tasks(NULL, p_workflows, p_worker,
                                                        p_claim_limit - jsonb_array_length(v_claimed), p_lease_ms, p_channel);
  END IF;
  RETURN v_settled || jsonb_build_object('runStatus', v_run.status, 'claimed', v_claimed);
END $$;

-- Starts a pending run: tasks with no dependencies become ready (or are decided: a composite with
-- nothing to wait for completes), and the first batch is claimed.
CREATE FUNCTION :HTDAG_SCHEMA.start_run(p_run_id uuid, p_worker text, p_claim_limit integer,
                                        p_lease_ms integer, p_channel text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE v_run :HTDAG_SCHEMA.runs;
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
  RETURN jsonb_build_object('started', true, 'runStatus', v_run.status,
    'claimed', :HTDAG_SCHEMA.claim_locked_run(v_run, p_worker, p_claim_limit, p_lease_ms, p_channel));
END $$;

-- Stops a run that is not final: cancelled by a user, or timed out by its deadline. Every task not
-- final is cancelled at once, running ones included (their attempts close as cancelled, their
-- processes abort them at their next settle or heartbeat, and a late settle is rejected), each
-- with a task:cancelled event; then the run is final. Returns the status the run had.
CREATE FUNCTION :HTDAG_SCHEMA.stop_run(p_run_id uuid, p_status text, p_reason text, p_channel text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  v_run :HTDAG_SCHEMA.runs;
  v_error jsonb := jsonb_build_object('message', coalesce(p_reason, 'run ' || p_status));
BEGIN
  SELECT * INTO v_run FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id FOR UPDATE;
  IF NOT FOUND THEN RETURN NULL; END IF;
  -- GUARD: only a run that is not final can be stopped.
  IF v_run.status NOT IN ('pending', 'running', 'paused') THEN RETURN v_run.status; END IF;
  PERFORM :HTDAG_SCHEMA.cascade_tasks(v_run, ids, array_fill('cancelled'::text, ARRAY[cardinality(ids)]),
                                      array_fill(NULL::jsonb, ARRAY[cardinality(ids)]),
                                      array_fill(v_error, ARRAY[cardinality(ids)]), NULL, p_channel)
    FROM (SELECT ARRAY(SELECT id FROM :HTDAG_SCHEMA.tasks WHERE run_id = p_run_id
                          AND status IN ('pending', 'ready', 'running') ORDER BY position) AS ids) x;
  PERFORM :HTDAG_SCHEMA.finish_run(p_run_id, p_status, v_error, p_channel);
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

-- Re-opens a final run (which holds only final tasks): p_from_task and everything downstream of it
-- (or, without it, every task that did not complete and everything downstream) goes back to
-- pending with a fresh attempt budget; completed tasks elsewhere keep their outputs. The counters
-- of the reset tasks and of the run are derived from the tasks' statuses, in the statements that
-- reset them. Returns the number of tasks reset (-1 when the run is not final).
CREATE FUNCTION :HTDAG_SCHEMA.retry_run(p_run_id uuid, p_from_task text, p_channel text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE v_run :HTDAG_SCHEMA.runs; v_reset text[];
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
  ), reset AS (
    UPDATE :HTDAG_SCHEMA.tasks t SET status = 'pending', output = NULL, error = NULL, started_at = NULL,
           finished_at = NULL, ready_at = NULL, lease_owner = NULL, lease_expires_at = NULL,
           max_attempts = t.attempts + t.attempt_budget
      FROM (SELECT DISTINCT id FROM downstream) d
     -- GUARD: final tasks only (a final run has no other).
     WHERE t.run_id = p_run_id AND t.id = d.id
       AND t.status IN ('completed', 'failed', 'timed_out', 'cancelled', 'skipped')
    RETURNING t.id
  )
  SELECT array_agg(id) INTO v_reset FROM reset;
  IF v_reset IS NULL THEN RETURN 0; END IF;
  PERFORM :HTDAG_SCHEMA.derive_dependency_counters(p_run_id, v_reset);
  -- GUARD: the run is locked and final (checked above).
  UPDATE :HTDAG_SCHEMA.runs SET status = 'running', finished_at = NULL, error = NULL,
         remaining_tasks = (SELECT count(*) FROM :HTDAG_SCHEMA.tasks WHERE run_id = p_run_id
                             AND status IN ('pending', 'ready', 'running')),
         failed_tasks = (SELECT count(*) FROM :HTDAG_SCHEMA.tasks WHERE run_id = p_run_id AND status IN ('failed', 'timed_out')),
         -- A completed `recovers` task that was not reset still recovers the run.
         recovered = EXISTS (SELECT 1 FROM :HTDAG_SCHEMA.tasks WHERE run_id = p_run_id AND status = 'completed'
                              AND coalesce((spec ->> 'recovers')::boolean, false)),
         deadline_at = CASE WHEN deadline_at IS NULL THEN NULL
                            ELSE now() + (deadline_at - coalesce(started_at, created_at)) END
   WHERE id = p_run_id AND status IN ('completed', 'failed', 'cancelled', 'timed_out')
  RETURNING * INTO v_run;
  PERFORM :HTDAG_SCHEMA.emit(p_channel, 'execution:resumed', p_run_id, NULL, v_run.workflow,
    jsonb_strip_nulls(jsonb_build_object('retry', true, 'fromTask', p_from_task, 'tasksReset', cardinality(v_reset))));
  PERFORM :HTDAG_SCHEMA.cascade_tasks(v_run, NULL, NULL, NULL, NULL,
    ARRAY(SELECT id FROM :HTDAG_SCHEMA.tasks WHERE run_id = p_run_id AND id = ANY (v_reset)
            AND status = 'pending' AND remaining_deps = 0),
    p_channel);
  PERFORM :HTDAG_SCHEMA.finish_run_if_done(p_run_id, p_channel);
  RETURN cardinality(v_reset);
END $$;

-- Expands a claimed lazy composite: inserts its children (p_tasks, shaped like the run's task rows;
-- p_edges among them), makes every child inherit the composite's dependencies (settled already:
-- counted as failed or skipped, not as remaining), and turns the composite back to pending until
-- its direct children settle. Then the children with nothing to wait for are decided, and the
-- run's next tasks claimed. GUARD: only the live attempt of the running composite, held by
-- p_worker, in a run that runs or is paused (failFast or a stop cancels the composite first).
CREATE FUNCTION :HTDAG_SCHEMA.expand_task(p_run_id uuid, p_task_id text, p_attempt integer, p_worker text,
    p_tasks jsonb, p_edges jsonb, p_claim_limit integer, p_lease_ms integer, p_channel text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_run :HTDAG_SCHEMA.runs;
  v_task :HTDAG_SCHEMA.tasks;
  v_children text[];
  v_position integer;
BEGIN
  SELECT * INTO v_run FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id FOR UPDATE;
  SELECT * INTO v_task FROM :HTDAG_SCHEMA.tasks WHERE run_id = p_run_id AND id = p_task_id FOR UPDATE;
  IF NOT FOUND OR v_task.status <> 'running' OR v_task.attempts <> p_attempt OR v_task.kind <> 'composite'
     OR (p_worker IS NOT NULL AND v_task.lease_owner IS DISTINCT FROM p_worker)
     OR v_run.status NOT IN ('running', 'paused') THEN
    RETURN jsonb_build_object('settled', false, 'runStatus', v_run.status, 'claimed', '[]'::jsonb);
  END IF;
  SELECT coalesce(max(position), 0) INTO v_position FROM :HTDAG_SCHEMA.tasks WHERE run_id = p_run_id;
  WITH ins AS (
    INSERT INTO :HTDAG_SCHEMA.tasks (run_id, id, position, parent_id, kind, step, description, remaining_deps, run_if,
                                     spec, input, priority, queue, max_attempts, attempt_budget, timeout_ms, backoff)
    SELECT p_run_id, x.id, v_position + e.n, coalesce(x.parent_id, p_task_id), x.kind, x.step, x.description,
           x.remaining_deps, x.run_if, x.spec, x.input, x.priority, x.queue, x.max_attempts, x.max_attempts,
           x.timeout_ms, x.backoff
      FROM jsonb_array_elements(p_tasks) WITH ORDINALITY AS e(value, n),
           jsonb_to_record(e.value) AS x(id text, parent_id text, kind text, step text, description text,
             remaining_deps integer, run_if text, spec jsonb, input jsonb, priority integer, queue text,
             max_attempts integer, timeout_ms integer, backoff jsonb)
    RETURNING id
  )
  SELECT array_agg(id) INTO v_children FROM ins;
  v_children := coalesce(v_children, '{}');
  INSERT INTO :HTDAG_SCHEMA.task_edges (run_id, task_id, depends_on)
  SELECT p_run_id, x.task_id, x.depends_on FROM jsonb_to_recordset(p_edges) AS x(task_id text, depends_on text);
  -- Inherited dependencies: every child waits for what the composite waited for.
  INSERT INTO :HTDAG_SCHEMA.task_edges (run_id, task_id, depends_on)
  SELECT p_run_id, c.id, e.depends_on
    FROM unnest(v_children) AS c(id), :HTDAG_SCHEMA.task_edges e
   WHERE e.run_id = p_run_id AND e.task_id = p_task_id
  ON CONFLICT DO NOTHING;
  INSERT INTO :HTDAG_SCHEMA.task_edges (run_id, task_id, depends_on)
  SELECT p_run_id, p_task_id, c.id FROM jsonb_to_recordset(p_tasks) AS c(id text, parent_id text) WHERE c.parent_id IS NULL;
  -- The children's and the composite's counters, derived from their dependencies' statuses.
  PERFORM :HTDAG_SCHEMA.derive_dependency_counters(p_run_id, v_children || p_task_id);
  UPDATE :HTDAG_SCHEMA.attempts SET status = 'completed', finished_at = now(),
         duration_ms = extract(epoch FROM (now() - started_at)) * 1000
   WHERE run_id = p_run_id AND task_id = p_task_id AND attempt = p_attempt AND status = 'running';
  UPDATE :HTDAG_SCHEMA.queues SET running = running - 1 WHERE name = v_task.queue AND running > 0;
  -- GUARD: the running composite, locked above.
  UPDATE :HTDAG_SCHEMA.tasks SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL
   WHERE run_id = p_run_id AND id = p_task_id AND status = 'running';
  UPDATE :HTDAG_SCHEMA.runs SET total_tasks = total_tasks + cardinality(v_children),
         remaining_tasks = remaining_tasks + cardinality(v_children)
   WHERE id = p_run_id;
  PERFORM :HTDAG_SCHEMA.emit(p_channel, 'decomposition:completed', p_run_id, p_task_id, v_run.workflow,
                             jsonb_build_object('lazy', true, 'tasks', cardinality(v_children)));
  IF cardinality(v_children) = 0 THEN
    -- Nothing to wait for: the composite completes at once.
    PERFORM :HTDAG_SCHEMA.cascade_tasks(v_run, ARRAY[p_task_id], ARRAY['completed'], ARRAY['{}'::jsonb],
                                        ARRAY[NULL::jsonb], NULL, p_channel);
  ELSE
    PERFORM :HTDAG_SCHEMA.cascade_tasks(v_run, NULL, NULL, NULL, NULL,
      ARRAY(SELECT id FROM :HTDAG_SCHEMA.tasks WHERE run_id = p_run_id AND id = ANY (v_children)
              AND status = 'pending' AND remaining_deps = 0),
      p_channel);
  END IF;
  v_run := :HTDAG_SCHEMA.finish_run_if_done(p_run_id, p_channel);
  RETURN jsonb_build_object('settled', true, 'status', 'pending', 'runStatus', v_run.status,
    'claimed', :HTDAG_SCHEMA.claim_locked_run(v_run, p_worker, p_claim_limit, p_lease_ms, p_channel));
END $$;

-- The reaper: any live process returns tasks whose lease expired (their process died or hung) to
-- ready, counting the lost attempt; a task out of attempts fails. Each run through settle_locked,
-- under its lock. Also times out runs past their deadline. Skips runs others hold, so it never
-- waits. Returns the tasks reaped.
CREATE FUNCTION :HTDAG_SCHEMA.reap_expired(p_limit integer, p_channel text) RETURNS integer
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
    SELECT * FROM :HTDAG_SCHEMA.runs WHERE status IN ('running', 'paused') AND deadline_at < now()
     LIMIT p_limit FOR UPDATE SKIP LOCKED
  LOOP
    PERFORM :HTDAG_SCHEMA.stop_run(v_run.id, 'timed_out', 'the run''s timeoutMs elapsed', p_channel);
  END LOOP;
  RETURN v_reaped;
END $$;

-- A worker stopping gracefully hands back the tasks it still runs: they become ready at once and
-- the attempt is not charged (its budget grows by one). Run by run, under each run's lock, through
-- settle_locked. Returns the tasks released.
CREATE FUNCTION :HTDAG_SCHEMA.release_tasks(p_worker text, p_channel text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_run_id uuid;
  v_run :HTDAG_SCHEMA.runs;
  v_held jsonb;
  v_released integer := 0;
BEGIN
  FOR v_run_id IN
    SELECT DISTINCT run_id FROM :HTDAG_SCHEMA.tasks WHERE lease_owner = p_worker AND status = 'running'
  LOOP
    SELECT * INTO v_run FROM :HTDAG_SCHEMA.runs WHERE id = v_run_id FOR UPDATE;
    SELECT jsonb_agg(jsonb_build_object('taskId', id, 'attempt', attempts, 'outcome', 'released',
             'error', jsonb_build_object('name', 'Released',
                                         'message', 'worker ' || p_worker || ' stopped and released the task')))
      INTO v_held
      FROM :HTDAG_SCHEMA.tasks WHERE run_id = v_run_id AND lease_owner = p_worker AND status = 'running';
    CONTINUE WHEN v_held IS NULL;
    PERFORM :HTDAG_SCHEMA.settle_locked(v_run, p_worker, v_held, p_channel);
    v_released := v_released + jsonb_array_length(v_held);
  END LOOP;
  RETURN v_released;
END $$;

-- The outputs of a task's completed dependencies, by task id: what a claimed task's step gets as
-- `deps`. Each dependency by primary key (OFFSET 0 keeps the planner from turning this into a scan
-- of the run's tasks when the table's statistics are stale, as they are in a fresh database).
CREATE FUNCTION :HTDAG_SCHEMA.dependency_outputs(p_run_id uuid, p_task_id text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN (SELECT coalesce(jsonb_object_agg(d.id, d.output) FILTER (WHERE d.status = 'completed'), '{}')
            FROM :HTDAG_SCHEMA.task_edges e,
                 LATERAL (SELECT t.id, t.output, t.status FROM :HTDAG_SCHEMA.tasks t
                           WHERE t.run_id = e.run_id AND t.id = e.depends_on OFFSET 0) d
           WHERE e.run_id = p_run_id AND e.task_id = p_task_id);
END $$;

-- Moves one locked ready task to running, opens its attempt, and returns what the step needs. The
-- dependencies' outputs are read by primary key whatever the planner's statistics say.
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
    'deps', :HTDAG_SCHEMA.dependency_outputs(p_run_id, p_task_id));
END $$;


-- Claims up to p_limit ready tasks of one run (p_run_id), or of any run of p_workflows (workers;
-- p_run_id NULL), by priority then age, skipping rows other claimers hold. Respects each run's
-- max_parallel and queue limits. Returns each claimed task with its dependencies' outputs. Every
-- claim goes through claim_locked_run: one run's tasks set-based, a worker's claim run by run.
CREATE FUNCTION :HTDAG_SCHEMA.claim_tasks(p_run_id uuid, p_workflows text[], p_worker text, p_limit integer,
                                          p_lease_ms integer, p_channel text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_claimed jsonb := '[]';
  v_got jsonb;
  v_run :HTDAG_SCHEMA.runs;
  v_run_id uuid;
  v_free integer := p_limit;
BEGIN
  IF p_limit <= 0 THEN RETURN v_claimed; END IF;
  IF p_run_id IS NOT NULL THEN
    -- Serialises claims and settles of one run, so max_parallel holds exactly.
    SELECT * INTO v_run FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id FOR UPDATE;
    IF NOT FOUND THEN RETURN v_claimed; END IF;
    RETURN :HTDAG_SCHEMA.claim_locked_run(v_run, p_worker, p_limit, p_lease_ms, p_channel);
  END IF;
  -- Workers: the runs of the best ready tasks (priority, then age), each claimed under its lock.
  -- A run another process holds (it is settling, and claims for itself) is skipped, not waited for,
  -- and none of its task rows is locked.
  FOR v_run_id IN
    SELECT x.run_id FROM (
      SELECT t.run_id, t.priority, t.ready_at FROM :HTDAG_SCHEMA.tasks t JOIN :HTDAG_SCHEMA.runs r ON r.id = t.run_id
       WHERE t.status = 'ready' AND t.available_at <= now() AND r.status = 'running' AND r.run_at <= now()
         AND (p_workflows IS NULL OR r.workflow = ANY (p_workflows))
       ORDER BY t.priority DESC, t.ready_at, t.run_id, t.id
       LIMIT p_limit * 4) x
     GROUP BY x.run_id
     ORDER BY max(x.priority) DESC, min(x.ready_at)
  LOOP
    SELECT * INTO v_run FROM :HTDAG_SCHEMA.runs WHERE id = v_run_id FOR UPDATE SKIP LOCKED;
    CONTINUE WHEN NOT FOUND;
    v_got := :HTDAG_SCHEMA.claim_locked_run(v_run, p_worker, v_free, p_lease_ms, p_channel);
    v_claimed := v_claimed || v_got;
    v_free := v_free - jsonb_array_length(v_got);
    EXIT WHEN v_free <= 0;
  END LOOP;
  RETURN v_claimed;
END $$;


-- Batches touch rows by ctid: the row versions of a run's tasks (or attempts) by primary key, one
-- index lookup per element (OFFSET 0 keeps the planner from scanning the whole run instead, as it
-- would on a fresh table whose statistics say a run has one task). Callers hold the rows' locks,
-- so the versions found stay current until the caller's next statement.
-- (PL/pgSQL, not SQL: its plans are cached per session, where a SQL function's are made per call.)
CREATE FUNCTION :HTDAG_SCHEMA.task_tids(p_run_id uuid, p_ids text[]) RETURNS tid[]
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN ARRAY(SELECT l.tid FROM unnest(p_ids) AS d(id),
    LATERAL (SELECT t.ctid AS tid FROM :HTDAG_SCHEMA.tasks t WHERE t.run_id = p_run_id AND t.id = d.id OFFSET 0) l);
END $$;


-- Claims up to p_limit ready tasks of a run whose row the caller locked (p_run), within its
-- max_parallel. Without queue rows to count against (the usual case) the batch is claimed
-- set-based: one UPDATE, one INSERT of attempts, one INSERT of events; otherwise task by task.
CREATE FUNCTION :HTDAG_SCHEMA.claim_locked_run(p_run :HTDAG_SCHEMA.runs, p_worker text, p_limit integer,
                                               p_lease_ms integer, p_channel text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_free integer;
  v_queued boolean;
  v_ids text[];
  v_task record;
  v_claimed jsonb := '[]';
  v_notify boolean := p_channel IS NOT NULL AND coalesce((p_run.options ->> 'realTimeNotifications')::boolean, true);
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
            FROM ev WHERE v_notify)
    INTO v_claimed;
  RETURN coalesce(v_claimed, '[]'::jsonb);
END $$;



-- The reconciler's sweep: no run stays stuck for want of a process to own it. Every worker (with its
-- reaper) and every process executing runs (once per lease) calls it; it skips runs others hold, so
-- it never waits.
-- - A run still pending p_grace_ms after it was due was recorded by a process that died before
--   starting it: it is started (its first tasks become ready; workers claim them).
-- - A run that runs or is paused with no task ready or running cannot move: its counters are
--   derived again from its tasks' statuses (each task's dependencies, the run's remaining and
--   failed tasks), every disagreement repaired, the tasks with nothing left to wait for decided,
--   and the run finished when nothing of it remains.
-- Each repair writes an `execution:reconciled` event that says what was repaired and why. Returns
-- the number of runs repaired.
CREATE FUNCTION :HTDAG_SCHEMA.reconcile_runs(p_limit integer, p_grace_ms integer, p_channel text) RETURNS integer
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
     WHERE r.status IN ('running', 'paused')
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
  RETURN v_repaired;
END $$;

-- Records a run and starts it in one transaction and one round trip (issue 17, case 10; issue 18).
-- Before this function, submit inserted the run in one transaction and started it in another
-- statement: a connection lost between the two left a `pending` run that no one would start, and an
-- idempotent resubmit returned it.
--
-- p_run:    the run row: {id, workflow, graphId, goal, priority, maxParallel, failFast, options, input,
--           idempotencyKey, runAt, deadlineMs}
-- p_graph:  the graph row: {id, goal, decomposer, source, tasks, decomposedAt}
-- p_tasks:  the task rows as bindGraph lays them out; p_edges: [{task_id, depends_on}]
-- p_queues: queue limits to set ({name: concurrency}), or NULL
-- p_events: the run's first events, written before its start: [{type, taskId, payload}]
-- p_start:  start the run (its tasks without dependencies become ready; workers claim nothing
--           before run_at); false leaves it pending for an executor that starts and claims it
-- Returns {runId, existing, runStatus}. With an idempotency key already taken, nothing is written
-- and the existing run's id is returned; the unique constraint decides between concurrent callers.
CREATE FUNCTION :HTDAG_SCHEMA.submit_run(p_run jsonb, p_graph jsonb, p_tasks jsonb, p_edges jsonb, p_queues jsonb,
                                         p_events jsonb, p_start boolean, p_channel text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_run_id uuid := (p_run ->> 'id')::uuid;
  v_workflow text := p_run ->> 'workflow';
  v_key text := p_run ->> 'idempotencyKey';
  v_existing uuid;
  v_event jsonb;
  v_status text := 'pending';
BEGIN
  IF v_key IS NOT NULL THEN
    SELECT id INTO v_existing FROM :HTDAG_SCHEMA.runs WHERE idempotency_key = v_key;
    IF FOUND THEN
      RETURN jsonb_build_object('runId', v_existing, 'existing', true, 'runStatus', NULL);
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
  INSERT INTO :HTDAG_SCHEMA.runs (id, workflow, graph_id, goal, priority, max_parallel, fail_fast, options, input,
                                  idempotency_key, run_at, deadline_at, total_tasks, remaining_tasks)
  VALUES (v_run_id, v_workflow, p_graph ->> 'id', p_run ->> 'goal', (p_run ->> 'priority')::integer,
          (p_run ->> 'maxParallel')::integer, (p_run ->> 'failFast')::boolean, p_run -> 'options', p_run -> 'input',
          v_key, coalesce((p_run ->> 'runAt')::timestamptz, now()),
          now() + (p_run ->> 'deadlineMs')::integer * interval '1 millisecond',
          jsonb_array_length(p_tasks), jsonb_array_length(p_tasks))
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
                                   spec, input, priority, queue, max_attempts, attempt_budget, timeout_ms, backoff)
  SELECT v_run_id, id, e.n, parent_id, kind, step, description, remaining_deps, run_if, spec, input,
         priority, queue, max_attempts, max_attempts, timeout_ms, backoff
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
  IF p_start THEN
    -- Claims nothing (limit 0): workers or the executor claim the ready tasks.
    v_status := :HTDAG_SCHEMA.start_run(v_run_id, NULL, 0, 0, p_channel) ->> 'runStatus';
  END IF;
  RETURN jsonb_build_object('runId', v_run_id, 'existing', false, 'runStatus', v_status);
END $$;

-- The batch functions' statements are keyed lookups whose best plan does not depend on the values;
-- a generic plan saves planning them on every call (their custom plans look cheaper to the planner,
-- which then re-plans each time).
ALTER FUNCTION :HTDAG_SCHEMA.settle_tasks(uuid, text, jsonb, integer, integer, text, text[]) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION :HTDAG_SCHEMA.settle_locked(:HTDAG_SCHEMA.runs, text, jsonb, text) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION :HTDAG_SCHEMA.finish_wave(:HTDAG_SCHEMA.runs, text[], text[], jsonb[], jsonb[], text, tid[]) SET plan_cache_mode = force_generic_plan;
-- Their rows are found by primary key and changed by row version (ctid). A generic plan is made
-- once per session, often while the tables are still small, where a sequential scan looks cheaper
-- than a TID scan; it would stay in use as the tables grow, and cost a scan of the table per settle.
ALTER FUNCTION :HTDAG_SCHEMA.settle_locked(:HTDAG_SCHEMA.runs, text, jsonb, text) SET enable_seqscan = off;
ALTER FUNCTION :HTDAG_SCHEMA.finish_wave(:HTDAG_SCHEMA.runs, text[], text[], jsonb[], jsonb[], text, tid[]) SET enable_seqscan = off;
ALTER FUNCTION :HTDAG_SCHEMA.claim_locked_run(:HTDAG_SCHEMA.runs, text, integer, integer, text) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION :HTDAG_SCHEMA.task_tids(uuid, text[]) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION :HTDAG_SCHEMA.dependency_outputs(uuid, text) SET plan_cache_mode = force_generic_plan;
