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

-- Batched settles: one round trip and one transaction settle every attempt of a run that finished
-- while the previous settle was in flight, then claim the run's next tasks. Under parallelism the
-- fixed cost of a settle (the round trip, the run row's lock, the commit) is shared by the batch;
-- a lone settle (a chain) costs what it did.

-- Settles one attempt of a run whose row the caller has locked, without claiming. Returns the
-- task's status afterwards ('ready' when a retry was scheduled), or NULL when the guard rejected it.
-- p_run_status and p_workflow are the locked run's.
CREATE FUNCTION :HTDAG_SCHEMA.settle_attempt(p_run_id uuid, p_task_id text, p_attempt integer, p_worker text,
    p_outcome text, p_output jsonb, p_error jsonb, p_error_class text, p_retry_delay_ms integer,
    p_channel text, p_run_status text, p_workflow text, p_step_ms double precision) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  v_task :HTDAG_SCHEMA.tasks;
  v_run_status text := p_run_status;
  v_workflow text := p_workflow;
  v_final text := p_outcome;
BEGIN
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
         duration_ms = extract(epoch FROM (now() - started_at)) * 1000, step_ms = p_step_ms
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

-- Settles one attempt (through settle_attempt) and claims the run's next ready tasks, in one round
-- trip. p_outcome: completed | failed | timed_out | cancelled | skipped. A failed or timed-out
-- attempt with p_retry_delay_ms not NULL goes back to ready after the delay instead of failing the task.
CREATE FUNCTION :HTDAG_SCHEMA.settle_task(p_run_id uuid, p_task_id text, p_attempt integer, p_worker text,
    p_outcome text, p_output jsonb, p_error jsonb, p_error_class text, p_retry_delay_ms integer,
    p_claim_limit integer, p_lease_ms integer, p_channel text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_status text;
  v_run_status text;
  v_run :HTDAG_SCHEMA.runs;
BEGIN
  -- Lock order everywhere: the run row, then task rows (claims by other runs skip locked runs).
  SELECT * INTO v_run FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id FOR UPDATE;
  v_status := :HTDAG_SCHEMA.settle_attempt(p_run_id, p_task_id, p_attempt, p_worker, p_outcome, p_output, p_error,
                                           p_error_class, p_retry_delay_ms, p_channel, v_run.status, v_run.workflow, NULL);
  IF v_status IS NULL THEN
    RETURN jsonb_build_object('settled', false, 'claimed', '[]'::jsonb);
  END IF;
  SELECT status INTO v_run_status FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id;
  RETURN jsonb_build_object('settled', true, 'status', v_status, 'runStatus', v_run_status,
    'claimed', CASE WHEN v_run_status = 'running'
                 THEN :HTDAG_SCHEMA.claim_tasks(p_run_id, NULL, p_worker, p_claim_limit, p_lease_ms, p_channel)
                 ELSE '[]'::jsonb END);
END $$;

-- What a dependant whose last dependency settled becomes: a composite's join completes or fails
-- with its children; otherwise its runIf decides between ready, skipped and cancelled.
CREATE FUNCTION :HTDAG_SCHEMA.dependant_outcome(p_joins boolean, p_run_if text, p_failed integer, p_skipped integer)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN p_joins THEN CASE WHEN p_failed > 0 THEN 'failed' ELSE 'completed' END
    WHEN p_run_if = 'allDone' THEN 'ready'
    WHEN p_run_if = 'anyFailed' THEN CASE WHEN p_failed > 0 THEN 'ready' ELSE 'skipped' END
    WHEN p_failed > 0 THEN 'cancelled'
    WHEN p_skipped > 0 THEN 'skipped'
    ELSE 'ready' END
$$;

-- Marks a task final and cascades: dependants' counters drop; those that reach zero become ready
-- (in the UPDATE that counts them down), or are skipped/cancelled by their runIf, or (composites)
-- complete with their children's outputs. Keeps the run's counters and finishes the run when
-- nothing remains.
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
      v_next := :HTDAG_SCHEMA.dependant_outcome(v_dep.joins, v_dep.run_if, v_dep.failed_deps, v_dep.skipped_deps);
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

CREATE FUNCTION :HTDAG_SCHEMA.attempt_tids(p_run_id uuid, p_ids text[], p_attempts integer[]) RETURNS tid[]
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN ARRAY(SELECT l.tid FROM unnest(p_ids, p_attempts) AS d(id, attempt),
    LATERAL (SELECT a.ctid AS tid FROM :HTDAG_SCHEMA.attempts a
              WHERE a.run_id = p_run_id AND a.task_id = d.id AND a.attempt = d.attempt OFFSET 0) l);
END $$;

-- The dependants of p_ids (by the edge index, one lookup per id), with how many of p_ids each has.
CREATE FUNCTION :HTDAG_SCHEMA.dependant_counts(p_run_id uuid, p_ids text[], OUT ids text[], OUT counts integer[])
LANGUAGE plpgsql STABLE AS $$
BEGIN
  SELECT array_agg(task_id), array_agg(n) INTO ids, counts FROM (
    SELECT l.task_id, count(*)::integer AS n FROM unnest(p_ids) AS d(id),
      LATERAL (SELECT e.task_id FROM :HTDAG_SCHEMA.task_edges e WHERE e.run_id = p_run_id AND e.depends_on = d.id OFFSET 0) l
     GROUP BY l.task_id) x;
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
            'maxAttempts', u.max_attempts, 'backoff', u.backoff, 'queue', u.queue,
            'deps', :HTDAG_SCHEMA.dependency_outputs(p_run.id, u.id))
            ORDER BY u.priority DESC, u.ready_at, u.id) FROM u),
         (SELECT count(pg_notify(p_channel, json_build_object('id', ev.id, 'type', 'task:started', 'runId', p_run.id,
                                                            'taskId', ev.task_id, 'workflow', p_run.workflow)::text))
            FROM ev WHERE v_notify)
    INTO v_claimed;
  RETURN coalesce(v_claimed, '[]'::jsonb);
END $$;


-- Settles several attempts of one run (p_settlements: [{taskId, attempt, outcome, output, error,
-- errorClass, retryDelayMs}]) and claims the run's next ready tasks, in one round trip. Each
-- settlement keeps its own guard: a rejected one is recorded and reported, and changes nothing.
-- Completions of a running run (the usual case) are settled set-based; everything else (failures,
-- retries, a run stopped or paused, a guard to record) goes through settle_attempt one by one.
CREATE FUNCTION :HTDAG_SCHEMA.settle_tasks(p_run_id uuid, p_worker text, p_settlements jsonb,
    p_claim_limit integer, p_lease_ms integer, p_channel text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_run :HTDAG_SCHEMA.runs;
  v_done text[];
  v_attempts integer[];
  v_outputs jsonb[];
  v_positions bigint[];
  v_step_ms double precision[];
  v_queues text[];
  v_recovers boolean;
  v_dep_ids text[];
  v_dep_counts integer[];
  v_dep record;
  v_next text;
  v_s record;
  v_status text;
  v_results jsonb := '[]';
  v_notified bigint;
  v_cascaded boolean := false;
  v_one jsonb;
BEGIN
  SELECT * INTO v_run FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id FOR UPDATE;
  -- A lone settlement (a chain) takes settle_attempt's few simple statements, which cost less than
  -- the set-based ones for one row.
  IF v_run.status = 'running' AND jsonb_array_length(p_settlements) > 1 THEN
    -- GUARD (as settle_attempt's): only live attempts of running tasks, held by this worker; each
    -- accepted task's row is locked by primary key.
    SELECT array_agg(b.id ORDER BY b.n), array_agg(b.attempt ORDER BY b.n), array_agg(b.output ORDER BY b.n),
           array_agg(b.n ORDER BY b.n), array_agg(b.step_ms ORDER BY b.n)
      INTO v_done, v_attempts, v_outputs, v_positions, v_step_ms
      FROM (SELECT x.value ->> 'taskId' AS id, (x.value ->> 'attempt')::integer AS attempt, x.value -> 'output' AS output, x.n,
                   (x.value ->> 'stepMs')::double precision AS step_ms
              FROM jsonb_array_elements(p_settlements) WITH ORDINALITY AS x(value, n)
             WHERE x.value ->> 'outcome' = 'completed') b,
           LATERAL (SELECT 1 FROM :HTDAG_SCHEMA.tasks t
                     WHERE t.run_id = p_run_id AND t.id = b.id AND t.status = 'running' AND t.attempts = b.attempt
                       AND (p_worker IS NULL OR t.lease_owner = p_worker)
                    OFFSET 0 FOR UPDATE) l;
  END IF;
  IF v_done IS NOT NULL THEN
    WITH u AS (
      UPDATE :HTDAG_SCHEMA.tasks t
         SET status = 'completed', output = d.output, error = NULL, finished_at = now(),
             lease_owner = NULL, lease_expires_at = NULL
        FROM unnest(v_done, v_outputs) AS d(id, output)
       WHERE t.ctid = ANY (:HTDAG_SCHEMA.task_tids(p_run_id, v_done)) AND t.id = d.id
      RETURNING t.queue, coalesce((t.spec ->> 'recovers')::boolean, false) AS recovers
    )
    SELECT array_agg(queue), bool_or(recovers) INTO v_queues, v_recovers FROM u;
    UPDATE :HTDAG_SCHEMA.attempts a
       SET status = 'completed', finished_at = now(), error = NULL, error_class = NULL,
           duration_ms = extract(epoch FROM (now() - a.started_at)) * 1000, step_ms = d.step_ms
      FROM unnest(v_done, v_attempts, v_step_ms) AS d(id, attempt, step_ms)
     WHERE a.ctid = ANY (:HTDAG_SCHEMA.attempt_tids(p_run_id, v_done, v_attempts)) AND a.task_id = d.id AND a.attempt = d.attempt;
    UPDATE :HTDAG_SCHEMA.queues q SET running = greatest(0, q.running - d.n)
      FROM (SELECT queue, count(*)::integer AS n FROM unnest(v_queues) AS queue GROUP BY queue) d
     WHERE q.name = d.queue AND q.running > 0;
    WITH ev AS (
      INSERT INTO :HTDAG_SCHEMA.events (type, channel, run_id, task_id, workflow, payload)
      SELECT 'task:completed', coalesce(p_channel, 'htdag_events'), p_run_id, d.id, v_run.workflow, '{"status": "completed"}'
        FROM unnest(v_done) WITH ORDINALITY AS d(id, n) ORDER BY d.n
      RETURNING id, task_id
    )
    SELECT count(pg_notify(p_channel, json_build_object('id', ev.id, 'type', 'task:completed', 'runId', p_run_id,
                                                      'taskId', ev.task_id, 'workflow', v_run.workflow)::text))
      INTO v_notified FROM ev
     WHERE p_channel IS NOT NULL AND coalesce((v_run.options ->> 'realTimeNotifications')::boolean, true);
    UPDATE :HTDAG_SCHEMA.runs SET remaining_tasks = remaining_tasks - cardinality(v_done),
           recovered = recovered OR coalesce(v_recovers, false)
     WHERE id = p_run_id
    RETURNING * INTO v_run;
    -- Count the dependants down, each by the number of its dependencies that just completed; an
    -- atomic one that reaches zero and may run becomes ready in the same UPDATE.
    SELECT ids, counts INTO v_dep_ids, v_dep_counts FROM :HTDAG_SCHEMA.dependant_counts(p_run_id, v_done);
    IF v_dep_ids IS NOT NULL THEN
      FOR v_dep IN
        UPDATE :HTDAG_SCHEMA.tasks t
           SET remaining_deps = t.remaining_deps - d.n,
               status = CASE WHEN t.remaining_deps = d.n AND t.kind = 'atomic' AND CASE t.run_if
                              WHEN 'allDone' THEN true
                              WHEN 'anyFailed' THEN t.failed_deps > 0
                              ELSE t.failed_deps = 0 AND t.skipped_deps = 0 END
                             THEN 'ready' ELSE t.status END,
               ready_at = CASE WHEN t.remaining_deps = d.n THEN now() ELSE t.ready_at END,
               available_at = CASE WHEN t.remaining_deps = d.n THEN now() ELSE t.available_at END
          FROM unnest(v_dep_ids, v_dep_counts) AS d(id, n)
         WHERE t.ctid = ANY (:HTDAG_SCHEMA.task_tids(p_run_id, v_dep_ids)) AND t.id = d.id AND t.status = 'pending'
        RETURNING t.id, t.status, t.remaining_deps, t.failed_deps, t.skipped_deps, t.run_if,
                  (t.kind = 'composite' AND (coalesce(t.spec ->> 'expand', 'eager') = 'eager'
                    OR EXISTS (SELECT 1 FROM :HTDAG_SCHEMA.tasks c WHERE c.run_id = t.run_id AND c.parent_id = t.id))) AS joins
      LOOP
        CONTINUE WHEN v_dep.remaining_deps > 0 OR v_dep.status = 'ready';
        -- Decided otherwise (a composite's join, a runIf that skips or cancels): finish_task
        -- settles it and cascades, as it does for a single settle.
        v_next := :HTDAG_SCHEMA.dependant_outcome(v_dep.joins, v_dep.run_if, v_dep.failed_deps, v_dep.skipped_deps);
        IF v_next = 'ready' THEN
          -- A lazy composite to expand.
          UPDATE :HTDAG_SCHEMA.tasks SET status = 'ready', ready_at = now(), available_at = now()
           WHERE run_id = p_run_id AND id = v_dep.id;
        ELSE
          v_cascaded := true;
          PERFORM :HTDAG_SCHEMA.finish_task(p_run_id, v_dep.id, v_next,
            CASE WHEN v_next = 'completed' THEN
              (SELECT coalesce(jsonb_object_agg(c.id, c.output), '{}') FROM :HTDAG_SCHEMA.tasks c
                WHERE c.run_id = p_run_id AND c.parent_id = v_dep.id AND c.status = 'completed') END,
            CASE WHEN v_next IN ('cancelled', 'failed') THEN
              jsonb_build_object('message', 'a dependency of ' || v_dep.id || ' did not succeed') END,
            p_channel);
        END IF;
      END LOOP;
    END IF;
    -- Cascades (finish_task) changed the run row: read it again only then.
    IF v_cascaded THEN SELECT * INTO v_run FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id; END IF;
    IF v_run.remaining_tasks = 0 AND v_run.status IN ('running', 'paused') THEN
      PERFORM :HTDAG_SCHEMA.finish_run(p_run_id,
        CASE WHEN v_run.failed_tasks > 0 AND NOT v_run.recovered THEN 'failed' ELSE 'completed' END, NULL, p_channel);
      v_cascaded := true;
    END IF;
    SELECT jsonb_agg(jsonb_build_object('taskId', d.id, 'attempt', d.attempt, 'settled', true, 'status', 'completed'))
      INTO v_results FROM unnest(v_done, v_attempts) AS d(id, attempt);
  END IF;
  -- Everything the set-based path did not take, one by one, in the order given.
  IF v_done IS NULL AND jsonb_array_length(p_settlements) = 1 THEN
    -- The lone settlement of a chain, without a loop.
    v_one := p_settlements -> 0;
    v_status := :HTDAG_SCHEMA.settle_attempt(p_run_id, v_one ->> 'taskId', (v_one ->> 'attempt')::integer, p_worker,
      v_one ->> 'outcome', v_one -> 'output', v_one -> 'error', v_one ->> 'errorClass', (v_one ->> 'retryDelayMs')::integer,
      p_channel, v_run.status, v_run.workflow, (v_one ->> 'stepMs')::double precision);
    v_results := jsonb_build_array(jsonb_build_object('taskId', v_one ->> 'taskId', 'attempt', (v_one ->> 'attempt')::integer,
                                                      'settled', v_status IS NOT NULL, 'status', v_status));
    v_cascaded := true;
  ELSE FOR v_s IN
    SELECT x.value AS s, x.value ->> 'taskId' AS task_id, (x.value ->> 'attempt')::integer AS attempt
      FROM jsonb_array_elements(p_settlements) WITH ORDINALITY AS x(value, n)
     WHERE coalesce(cardinality(v_done), 0) < jsonb_array_length(p_settlements)
       AND (v_positions IS NULL OR x.n <> ALL (v_positions))
     ORDER BY x.n
  LOOP
    v_cascaded := true;
    v_status := :HTDAG_SCHEMA.settle_attempt(p_run_id, v_s.task_id, v_s.attempt, p_worker, v_s.s ->> 'outcome',
      -- As settle_task stores them: an absent key is SQL NULL, a JSON null is jsonb null.
      v_s.s -> 'output', v_s.s -> 'error', v_s.s ->> 'errorClass', (v_s.s ->> 'retryDelayMs')::integer, p_channel,
      v_run.status, v_run.workflow, (v_s.s ->> 'stepMs')::double precision);
    v_results := coalesce(v_results, '[]') || jsonb_build_object('taskId', v_s.task_id, 'attempt', v_s.attempt,
                                                                 'settled', v_status IS NOT NULL, 'status', v_status);
  END LOOP; END IF;
  IF v_cascaded THEN SELECT * INTO v_run FROM :HTDAG_SCHEMA.runs WHERE id = p_run_id; END IF;
  RETURN jsonb_build_object('results', coalesce(v_results, '[]'), 'runStatus', v_run.status,
    'claimed', :HTDAG_SCHEMA.claim_locked_run(v_run, p_worker, p_claim_limit, p_lease_ms, p_channel));
END $$;

-- The batch functions' statements are keyed lookups whose best plan does not depend on the values;
-- a generic plan saves planning them on every call (their custom plans look cheaper to the planner,
-- which then re-plans each time).
ALTER FUNCTION :HTDAG_SCHEMA.settle_tasks(uuid, text, jsonb, integer, integer, text) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION :HTDAG_SCHEMA.claim_locked_run(:HTDAG_SCHEMA.runs, text, integer, integer, text) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION :HTDAG_SCHEMA.task_tids(uuid, text[]) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION :HTDAG_SCHEMA.attempt_tids(uuid, text[], integer[]) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION :HTDAG_SCHEMA.dependant_counts(uuid, text[]) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION :HTDAG_SCHEMA.dependency_outputs(uuid, text) SET plan_cache_mode = force_generic_plan;
