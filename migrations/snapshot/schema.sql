TABLE :HTDAG_SCHEMA.attempts
  run_id uuid NOT NULL
  task_id text NOT NULL
  attempt integer NOT NULL
  workflow text NOT NULL
  step text
  status text NOT NULL DEFAULT 'running'::text
  worker_id text
  ready_at timestamp with time zone
  started_at timestamp with time zone NOT NULL DEFAULT now()
  finished_at timestamp with time zone
  queue_wait_ms double precision
  duration_ms double precision
  error_class text
  error jsonb
  step_ms double precision
  CONSTRAINT attempts_attempt_check CHECK ((attempt >= 1))
  CONSTRAINT attempts_pkey PRIMARY KEY (run_id, task_id, attempt)
  CONSTRAINT attempts_status_check CHECK ((status = ANY (ARRAY['running'::text, 'completed'::text, 'failed'::text, 'timed_out'::text, 'cancelled'::text, 'skipped'::text, 'lost'::text])))
  CONSTRAINT attempts_task_fk FOREIGN KEY (run_id, task_id) REFERENCES :HTDAG_SCHEMA.tasks(run_id, id) ON DELETE CASCADE
CREATE UNIQUE INDEX attempts_pkey ON :HTDAG_SCHEMA.attempts USING btree (run_id, task_id, attempt)
CREATE INDEX attempts_workflow_step_idx ON :HTDAG_SCHEMA.attempts USING btree (workflow, step, started_at DESC)

TABLE :HTDAG_SCHEMA.decomposition_cache
  cache_key text NOT NULL
  goal text NOT NULL
  decomposer text NOT NULL
  model text
  graph jsonb NOT NULL
  hits integer NOT NULL DEFAULT 0
  created_at timestamp with time zone NOT NULL DEFAULT now()
  last_hit_at timestamp with time zone
  CONSTRAINT decomposition_cache_pkey PRIMARY KEY (cache_key)
CREATE UNIQUE INDEX decomposition_cache_pkey ON :HTDAG_SCHEMA.decomposition_cache USING btree (cache_key)

TABLE :HTDAG_SCHEMA.decompositions
  id bigint NOT NULL
  graph_id text
  goal text NOT NULL
  decomposer text NOT NULL
  source text NOT NULL
  model text
  cache_key text
  llm_calls integer NOT NULL DEFAULT 0
  input_tokens integer NOT NULL DEFAULT 0
  output_tokens integer NOT NULL DEFAULT 0
  repairs integer NOT NULL DEFAULT 0
  latency_ms double precision NOT NULL DEFAULT 0
  error text
  created_at timestamp with time zone NOT NULL DEFAULT now()
  CONSTRAINT decompositions_graph_id_fkey FOREIGN KEY (graph_id) REFERENCES :HTDAG_SCHEMA.graphs(id) ON DELETE SET NULL
  CONSTRAINT decompositions_pkey PRIMARY KEY (id)
CREATE UNIQUE INDEX decompositions_pkey ON :HTDAG_SCHEMA.decompositions USING btree (id)

TABLE :HTDAG_SCHEMA.events
  id bigint NOT NULL
  type text NOT NULL
  channel text NOT NULL
  run_id uuid
  task_id text
  workflow text
  payload jsonb NOT NULL DEFAULT '{}'::jsonb
  created_at timestamp with time zone NOT NULL DEFAULT now()
  xid xid8 NOT NULL DEFAULT pg_current_xact_id()
  CONSTRAINT events_pkey PRIMARY KEY (id)
  CONSTRAINT events_type_check CHECK ((type ~ '^[a-z][a-z0-9_-]*:[a-z][a-z0-9_:-]*$'::text))
CREATE INDEX events_channel_xid_idx ON :HTDAG_SCHEMA.events USING btree (channel, xid)
CREATE INDEX events_created_idx ON :HTDAG_SCHEMA.events USING btree (created_at)
CREATE UNIQUE INDEX events_pkey ON :HTDAG_SCHEMA.events USING btree (id)
CREATE INDEX events_run_idx ON :HTDAG_SCHEMA.events USING btree (run_id, id)

TABLE :HTDAG_SCHEMA.graphs
  id text NOT NULL
  goal text NOT NULL
  decomposer text NOT NULL
  source text NOT NULL
  tasks jsonb NOT NULL
  decomposed_at timestamp with time zone NOT NULL
  created_at timestamp with time zone NOT NULL DEFAULT now()
  CONSTRAINT graphs_pkey PRIMARY KEY (id)
  CONSTRAINT graphs_source_check CHECK ((source = ANY (ARRAY['rules'::text, 'llm'::text, 'pattern'::text, 'cache'::text, 'function'::text, 'file'::text])))
  CONSTRAINT graphs_tasks_check CHECK ((jsonb_typeof(tasks) = 'array'::text))
CREATE UNIQUE INDEX graphs_pkey ON :HTDAG_SCHEMA.graphs USING btree (id)

TABLE :HTDAG_SCHEMA.patterns
  normalized_goal text NOT NULL
  structure_hash text NOT NULL
  workflow text
  graph jsonb NOT NULL
  successes integer NOT NULL DEFAULT 0
  failures integer NOT NULL DEFAULT 0
  last_run_id uuid
  updated_at timestamp with time zone NOT NULL DEFAULT now()
  CONSTRAINT patterns_failures_check CHECK ((failures >= 0))
  CONSTRAINT patterns_pkey PRIMARY KEY (normalized_goal, structure_hash)
  CONSTRAINT patterns_successes_check CHECK ((successes >= 0))
CREATE UNIQUE INDEX patterns_pkey ON :HTDAG_SCHEMA.patterns USING btree (normalized_goal, structure_hash)

TABLE :HTDAG_SCHEMA.queues
  name text NOT NULL
  concurrency integer
  running integer NOT NULL DEFAULT 0
  CONSTRAINT queues_concurrency_check CHECK (((concurrency IS NULL) OR (concurrency >= 1)))
  CONSTRAINT queues_pkey PRIMARY KEY (name)
  CONSTRAINT queues_running_check CHECK ((running >= 0))
CREATE UNIQUE INDEX queues_pkey ON :HTDAG_SCHEMA.queues USING btree (name)

TABLE :HTDAG_SCHEMA.rejected_completions
  id bigint NOT NULL
  run_id uuid NOT NULL
  task_id text NOT NULL
  attempt integer NOT NULL
  worker_id text
  outcome text NOT NULL
  reason text NOT NULL
  created_at timestamp with time zone NOT NULL DEFAULT now()
  CONSTRAINT rejected_completions_pkey PRIMARY KEY (id)
CREATE UNIQUE INDEX rejected_completions_pkey ON :HTDAG_SCHEMA.rejected_completions USING btree (id)

TABLE :HTDAG_SCHEMA.runs
  id uuid NOT NULL
  workflow text NOT NULL
  graph_id text
  goal text NOT NULL
  status text NOT NULL DEFAULT 'pending'::text
  priority integer NOT NULL DEFAULT 0
  max_parallel integer NOT NULL
  fail_fast boolean NOT NULL DEFAULT true
  options jsonb NOT NULL DEFAULT '{}'::jsonb
  input jsonb
  idempotency_key text
  run_at timestamp with time zone NOT NULL DEFAULT now()
  deadline_at timestamp with time zone
  total_tasks integer NOT NULL
  remaining_tasks integer NOT NULL
  failed_tasks integer NOT NULL DEFAULT 0
  recovered boolean NOT NULL DEFAULT false
  pause_reason text
  error jsonb
  created_at timestamp with time zone NOT NULL DEFAULT now()
  started_at timestamp with time zone
  finished_at timestamp with time zone
  CONSTRAINT runs_failed_tasks_check CHECK ((failed_tasks >= 0))
  CONSTRAINT runs_graph_id_fkey FOREIGN KEY (graph_id) REFERENCES :HTDAG_SCHEMA.graphs(id) ON DELETE SET NULL
  CONSTRAINT runs_idempotency_key_unique UNIQUE (idempotency_key)
  CONSTRAINT runs_max_parallel_check CHECK (((max_parallel >= 1) AND (max_parallel <= 10000)))
  CONSTRAINT runs_pkey PRIMARY KEY (id)
  CONSTRAINT runs_priority_check CHECK (((priority >= '-1000'::integer) AND (priority <= 1000)))
  CONSTRAINT runs_remaining_tasks_check CHECK ((remaining_tasks >= 0))
  CONSTRAINT runs_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'running'::text, 'paused'::text, 'completed'::text, 'failed'::text, 'cancelled'::text, 'timed_out'::text])))
  CONSTRAINT runs_total_tasks_check CHECK ((total_tasks >= 0))
  CONSTRAINT runs_workflow_fkey FOREIGN KEY (workflow) REFERENCES :HTDAG_SCHEMA.workflows(name)
CREATE UNIQUE INDEX runs_idempotency_key_unique ON :HTDAG_SCHEMA.runs USING btree (idempotency_key)
CREATE UNIQUE INDEX runs_pkey ON :HTDAG_SCHEMA.runs USING btree (id)
CREATE INDEX runs_status_idx ON :HTDAG_SCHEMA.runs USING btree (status) WHERE (status = ANY (ARRAY['pending'::text, 'running'::text, 'paused'::text]))
CREATE INDEX runs_workflow_created_idx ON :HTDAG_SCHEMA.runs USING btree (workflow, created_at DESC)

TABLE :HTDAG_SCHEMA.task_edges
  run_id uuid NOT NULL
  task_id text NOT NULL
  depends_on text NOT NULL
  CONSTRAINT task_edges_dep_fk FOREIGN KEY (run_id, depends_on) REFERENCES :HTDAG_SCHEMA.tasks(run_id, id) ON DELETE CASCADE
  CONSTRAINT task_edges_no_self CHECK ((task_id <> depends_on))
  CONSTRAINT task_edges_pkey PRIMARY KEY (run_id, task_id, depends_on)
  CONSTRAINT task_edges_task_fk FOREIGN KEY (run_id, task_id) REFERENCES :HTDAG_SCHEMA.tasks(run_id, id) ON DELETE CASCADE
CREATE INDEX task_edges_dependants_idx ON :HTDAG_SCHEMA.task_edges USING btree (run_id, depends_on)
CREATE UNIQUE INDEX task_edges_pkey ON :HTDAG_SCHEMA.task_edges USING btree (run_id, task_id, depends_on)

TABLE :HTDAG_SCHEMA.task_logs
  id bigint NOT NULL
  run_id uuid NOT NULL
  task_id text NOT NULL
  attempt integer NOT NULL
  message text NOT NULL
  data jsonb
  created_at timestamp with time zone NOT NULL DEFAULT now()
  CONSTRAINT task_logs_pkey PRIMARY KEY (id)
CREATE UNIQUE INDEX task_logs_pkey ON :HTDAG_SCHEMA.task_logs USING btree (id)
CREATE INDEX task_logs_task_idx ON :HTDAG_SCHEMA.task_logs USING btree (run_id, task_id, id)

TABLE :HTDAG_SCHEMA.tasks
  run_id uuid NOT NULL
  id text NOT NULL
  position integer NOT NULL DEFAULT 0
  parent_id text
  kind text NOT NULL
  step text
  description text NOT NULL DEFAULT ''::text
  status text NOT NULL DEFAULT 'pending'::text
  remaining_deps integer NOT NULL
  failed_deps integer NOT NULL DEFAULT 0
  skipped_deps integer NOT NULL DEFAULT 0
  run_if text NOT NULL DEFAULT 'allSucceeded'::text
  spec jsonb NOT NULL
  input jsonb
  output jsonb
  priority integer NOT NULL DEFAULT 0
  queue text NOT NULL DEFAULT 'default'::text
  max_attempts integer NOT NULL
  timeout_ms integer NOT NULL
  backoff jsonb NOT NULL
  attempts integer NOT NULL DEFAULT 0
  attempt_budget integer NOT NULL DEFAULT 1
  available_at timestamp with time zone NOT NULL DEFAULT now()
  ready_at timestamp with time zone
  started_at timestamp with time zone
  finished_at timestamp with time zone
  lease_owner text
  lease_expires_at timestamp with time zone
  error jsonb
  CONSTRAINT tasks_attempt_budget_check CHECK ((attempt_budget >= 1))
  CONSTRAINT tasks_attempts_check CHECK ((attempts >= 0))
  CONSTRAINT tasks_composite_has_no_step CHECK (((kind = 'atomic'::text) OR (step IS NULL)))
  CONSTRAINT tasks_failed_deps_check CHECK ((failed_deps >= 0))
  CONSTRAINT tasks_kind_check CHECK ((kind = ANY (ARRAY['atomic'::text, 'composite'::text])))
  CONSTRAINT tasks_max_attempts_check CHECK (((max_attempts >= 1) AND (max_attempts <= 100000)))
  CONSTRAINT tasks_parent_fk FOREIGN KEY (run_id, parent_id) REFERENCES :HTDAG_SCHEMA.tasks(run_id, id) DEFERRABLE INITIALLY DEFERRED
  CONSTRAINT tasks_pkey PRIMARY KEY (run_id, id)
  CONSTRAINT tasks_priority_check CHECK (((priority >= '-1000'::integer) AND (priority <= 1000)))
  CONSTRAINT tasks_remaining_deps_check CHECK ((remaining_deps >= 0))
  CONSTRAINT tasks_run_id_fkey FOREIGN KEY (run_id) REFERENCES :HTDAG_SCHEMA.runs(id) ON DELETE CASCADE
  CONSTRAINT tasks_run_if_check CHECK ((run_if = ANY (ARRAY['allSucceeded'::text, 'allDone'::text, 'anyFailed'::text])))
  CONSTRAINT tasks_running_has_lease CHECK (((status <> 'running'::text) OR (kind = 'composite'::text) OR (lease_expires_at IS NOT NULL)))
  CONSTRAINT tasks_skipped_deps_check CHECK ((skipped_deps >= 0))
  CONSTRAINT tasks_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'ready'::text, 'running'::text, 'completed'::text, 'failed'::text, 'timed_out'::text, 'cancelled'::text, 'skipped'::text])))
  CONSTRAINT tasks_timeout_ms_check CHECK (((timeout_ms >= 1) AND (timeout_ms <= 86400000)))
CREATE INDEX tasks_children_idx ON :HTDAG_SCHEMA.tasks USING btree (run_id, parent_id) WHERE (parent_id IS NOT NULL)
CREATE INDEX tasks_lease_idx ON :HTDAG_SCHEMA.tasks USING btree (lease_expires_at) WHERE (status = 'running'::text)
CREATE UNIQUE INDEX tasks_pkey ON :HTDAG_SCHEMA.tasks USING btree (run_id, id)
CREATE INDEX tasks_ready_idx ON :HTDAG_SCHEMA.tasks USING btree (priority DESC, ready_at, run_id, id) WHERE (status = 'ready'::text)
CREATE INDEX tasks_run_ready_idx ON :HTDAG_SCHEMA.tasks USING btree (run_id, priority DESC, ready_at, id) WHERE (status = 'ready'::text)
CREATE INDEX tasks_run_running_idx ON :HTDAG_SCHEMA.tasks USING btree (run_id) WHERE (status = 'running'::text)

TABLE :HTDAG_SCHEMA.workers
  id text NOT NULL
  hostname text NOT NULL
  pid integer NOT NULL
  workflows text[] NOT NULL DEFAULT '{}'::text[]
  started_at timestamp with time zone NOT NULL DEFAULT now()
  heartbeat_at timestamp with time zone NOT NULL DEFAULT now()
  CONSTRAINT workers_pkey PRIMARY KEY (id)
CREATE UNIQUE INDEX workers_pkey ON :HTDAG_SCHEMA.workers USING btree (id)

TABLE :HTDAG_SCHEMA.workflow_tunings
  workflow text NOT NULL
  level text NOT NULL
  goal text NOT NULL
  changes jsonb NOT NULL
  applied_at timestamp with time zone NOT NULL DEFAULT now()
  CONSTRAINT workflow_tunings_changes_check CHECK ((jsonb_typeof(changes) = 'array'::text))
  CONSTRAINT workflow_tunings_level_check CHECK ((level = ANY (ARRAY['basic'::text, 'advanced'::text, 'aggressive'::text])))
  CONSTRAINT workflow_tunings_pkey PRIMARY KEY (workflow)
  CONSTRAINT workflow_tunings_workflow_fkey FOREIGN KEY (workflow) REFERENCES :HTDAG_SCHEMA.workflows(name) ON DELETE CASCADE
CREATE UNIQUE INDEX workflow_tunings_pkey ON :HTDAG_SCHEMA.workflow_tunings USING btree (workflow)

TABLE :HTDAG_SCHEMA.workflows
  name text NOT NULL
  created_at timestamp with time zone NOT NULL DEFAULT now()
  CONSTRAINT workflows_name_check CHECK ((name ~ '^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127}$'::text))
  CONSTRAINT workflows_pkey PRIMARY KEY (name)
CREATE UNIQUE INDEX workflows_pkey ON :HTDAG_SCHEMA.workflows USING btree (name)

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.attempt_tids(p_run_id uuid, p_ids text[], p_attempts integer[])
 RETURNS tid[]
 LANGUAGE plpgsql
 STABLE
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
BEGIN
  RETURN ARRAY(SELECT l.tid FROM unnest(p_ids, p_attempts) AS d(id, attempt),
    LATERAL (SELECT a.ctid AS tid FROM "htdag".attempts a
              WHERE a.run_id = p_run_id AND a.task_id = d.id AND a.attempt = d.attempt OFFSET 0) l);
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.claim_locked_run(p_run :HTDAG_SCHEMA.runs, p_worker text, p_limit integer, p_lease_ms integer, p_channel text)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
DECLARE
  v_free integer;
  v_queued boolean;
  v_ids text[];
  v_task record;
  v_claimed jsonb := '[]';
  v_notify boolean := p_channel IS NOT NULL AND coalesce((p_run.options ->> 'realTimeNotifications')::boolean, true);
BEGIN
  IF p_limit <= 0 OR p_run.status <> 'running' OR p_run.run_at > now() THEN RETURN v_claimed; END IF;
  SELECT least(p_limit, p_run.max_parallel - (SELECT count(*) FROM "htdag".tasks
                                              WHERE run_id = p_run.id AND status = 'running' AND kind = 'atomic')),
         EXISTS (SELECT 1 FROM "htdag".queues q
                  WHERE EXISTS (SELECT 1 FROM "htdag".tasks t
                                 WHERE t.run_id = p_run.id AND t.status = 'ready' AND t.queue = q.name))
    INTO v_free, v_queued;
  IF v_free <= 0 THEN RETURN v_claimed; END IF;
  IF v_queued THEN
    FOR v_task IN
      SELECT id, queue FROM "htdag".tasks
       WHERE run_id = p_run.id AND status = 'ready' AND available_at <= now()
       ORDER BY priority DESC, ready_at, id
       LIMIT p_limit * 4 FOR UPDATE SKIP LOCKED
    LOOP
      EXIT WHEN v_free <= 0;
      CONTINUE WHEN NOT "htdag".take_queue_slot(v_task.queue);
      v_claimed := v_claimed || "htdag".start_attempt(p_run.id, v_task.id, p_run.workflow, p_worker, p_lease_ms, p_channel);
      v_free := v_free - 1;
    END LOOP;
    RETURN v_claimed;
  END IF;
  SELECT array_agg(id) INTO v_ids FROM (
    SELECT id FROM "htdag".tasks
     WHERE run_id = p_run.id AND status = 'ready' AND available_at <= now()
     ORDER BY priority DESC, ready_at, id
     LIMIT v_free FOR UPDATE SKIP LOCKED) c;
  IF v_ids IS NULL THEN RETURN v_claimed; END IF;
  IF cardinality(v_ids) = 1 THEN
    RETURN jsonb_build_array("htdag".start_attempt(p_run.id, v_ids[1], p_run.workflow, p_worker, p_lease_ms, p_channel));
  END IF;
  WITH u AS (
    UPDATE "htdag".tasks
       SET status = 'running', attempts = attempts + 1, started_at = now(), lease_owner = p_worker,
           lease_expires_at = now() + p_lease_ms * interval '1 millisecond'
     WHERE ctid = ANY ("htdag".task_tids(p_run.id, v_ids))
    RETURNING *
  ), a AS (
    INSERT INTO "htdag".attempts (run_id, task_id, attempt, workflow, step, worker_id, ready_at, queue_wait_ms)
    SELECT p_run.id, u.id, u.attempts, p_run.workflow, u.step, p_worker, u.ready_at,
           extract(epoch FROM (now() - u.ready_at)) * 1000
      FROM u
  ), ev AS (
    INSERT INTO "htdag".events (type, channel, run_id, task_id, workflow, payload)
    SELECT 'task:started', coalesce(p_channel, 'htdag_events'), p_run.id, u.id, p_run.workflow,
           jsonb_build_object('attempt', u.attempts, 'step', u.step)
      FROM u ORDER BY u.priority DESC, u.ready_at, u.id
    RETURNING id, task_id
  )
  SELECT (SELECT jsonb_agg(jsonb_build_object(
            'runId', p_run.id, 'taskId', u.id, 'workflow', p_run.workflow, 'attempt', u.attempts, 'kind', u.kind,
            'step', u.step, 'input', u.input, 'spec', u.spec, 'timeoutMs', u.timeout_ms,
            'maxAttempts', u.max_attempts, 'backoff', u.backoff, 'queue', u.queue,
            'deps', "htdag".dependency_outputs(p_run.id, u.id))
            ORDER BY u.priority DESC, u.ready_at, u.id) FROM u),
         (SELECT count(pg_notify(p_channel, json_build_object('id', ev.id, 'type', 'task:started', 'runId', p_run.id,
                                                            'taskId', ev.task_id, 'workflow', p_run.workflow)::text))
            FROM ev WHERE v_notify)
    INTO v_claimed;
  RETURN coalesce(v_claimed, '[]'::jsonb);
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.claim_tasks(p_run_id uuid, p_workflows text[], p_worker text, p_limit integer, p_lease_ms integer, p_channel text)
 RETURNS jsonb
 LANGUAGE plpgsql
AS $function$
DECLARE
  v_claimed jsonb := '[]';
  v_got jsonb;
  v_run "htdag".runs;
  v_run_id uuid;
  v_free integer := p_limit;
BEGIN
  IF p_limit <= 0 THEN RETURN v_claimed; END IF;
  IF p_run_id IS NOT NULL THEN
    -- Serialises claims and settles of one run, so max_parallel holds exactly.
    SELECT * INTO v_run FROM "htdag".runs WHERE id = p_run_id FOR UPDATE;
    IF NOT FOUND THEN RETURN v_claimed; END IF;
    RETURN "htdag".claim_locked_run(v_run, p_worker, p_limit, p_lease_ms, p_channel);
  END IF;
  -- Workers: the runs of the best ready tasks (priority, then age), each claimed under its lock.
  -- A run another process holds (it is settling, and claims for itself) is skipped, not waited for,
  -- and none of its task rows is locked.
  FOR v_run_id IN
    SELECT x.run_id FROM (
      SELECT t.run_id, t.priority, t.ready_at FROM "htdag".tasks t JOIN "htdag".runs r ON r.id = t.run_id
       WHERE t.status = 'ready' AND t.available_at <= now() AND r.status = 'running' AND r.run_at <= now()
         AND (p_workflows IS NULL OR r.workflow = ANY (p_workflows))
       ORDER BY t.priority DESC, t.ready_at, t.run_id, t.id
       LIMIT p_limit * 4) x
     GROUP BY x.run_id
     ORDER BY max(x.priority) DESC, min(x.ready_at)
  LOOP
    SELECT * INTO v_run FROM "htdag".runs WHERE id = v_run_id FOR UPDATE SKIP LOCKED;
    CONTINUE WHEN NOT FOUND;
    v_got := "htdag".claim_locked_run(v_run, p_worker, v_free, p_lease_ms, p_channel);
    v_claimed := v_claimed || v_got;
    v_free := v_free - jsonb_array_length(v_got);
    EXIT WHEN v_free <= 0;
  END LOOP;
  RETURN v_claimed;
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.dependant_counts(p_run_id uuid, p_ids text[], OUT ids text[], OUT counts integer[])
 RETURNS record
 LANGUAGE plpgsql
 STABLE
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
BEGIN
  SELECT array_agg(task_id), array_agg(n) INTO ids, counts FROM (
    SELECT l.task_id, count(*)::integer AS n FROM unnest(p_ids) AS d(id),
      LATERAL (SELECT e.task_id FROM "htdag".task_edges e WHERE e.run_id = p_run_id AND e.depends_on = d.id OFFSET 0) l
     GROUP BY l.task_id) x;
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.dependant_outcome(p_joins boolean, p_run_if text, p_failed integer, p_skipped integer)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE
AS $function$
  SELECT CASE
    WHEN p_joins THEN CASE WHEN p_failed > 0 THEN 'failed' ELSE 'completed' END
    WHEN p_run_if = 'allDone' THEN 'ready'
    WHEN p_run_if = 'anyFailed' THEN CASE WHEN p_failed > 0 THEN 'ready' ELSE 'skipped' END
    WHEN p_failed > 0 THEN 'cancelled'
    WHEN p_skipped > 0 THEN 'skipped'
    ELSE 'ready' END
$function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.dependency_outputs(p_run_id uuid, p_task_id text)
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
BEGIN
  RETURN (SELECT coalesce(jsonb_object_agg(d.id, d.output) FILTER (WHERE d.status = 'completed'), '{}')
            FROM "htdag".task_edges e,
                 LATERAL (SELECT t.id, t.output, t.status FROM "htdag".tasks t
                           WHERE t.run_id = e.run_id AND t.id = e.depends_on OFFSET 0) d
           WHERE e.run_id = p_run_id AND e.task_id = p_task_id);
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.emit(p_channel text, p_type text, p_run_id uuid, p_task_id text, p_workflow text, p_payload jsonb)
 RETURNS bigint
 LANGUAGE plpgsql
AS $function$
DECLARE v_id bigint;
BEGIN
  INSERT INTO "htdag".events (type, channel, run_id, task_id, workflow, payload)
  VALUES (p_type, coalesce(p_channel, 'htdag_events'), p_run_id, p_task_id, p_workflow, coalesce(p_payload, '{}'))
  RETURNING id INTO v_id;
  -- A run created with realTimeNotifications: false keeps its events without NOTIFY.
  IF p_channel IS NOT NULL AND (p_run_id IS NULL OR coalesce(
       (SELECT (options ->> 'realTimeNotifications')::boolean FROM "htdag".runs WHERE id = p_run_id), true)) THEN
    PERFORM pg_notify(p_channel, json_build_object('id', v_id, 'type', p_type, 'runId', p_run_id,
                                                   'taskId', p_task_id, 'workflow', p_workflow)::text);
  END IF;
  RETURN v_id;
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.expand_task(p_run_id uuid, p_task_id text, p_attempt integer, p_worker text, p_tasks jsonb, p_edges jsonb, p_claim_limit integer, p_lease_ms integer, p_channel text)
 RETURNS jsonb
 LANGUAGE plpgsql
AS $function$
DECLARE
  v_run "htdag".runs;
  v_task "htdag".tasks;
  v_children integer;
  v_direct integer;
  v_position integer;
BEGIN
  SELECT * INTO v_run FROM "htdag".runs WHERE id = p_run_id FOR UPDATE;
  SELECT * INTO v_task FROM "htdag".tasks WHERE run_id = p_run_id AND id = p_task_id FOR UPDATE;
  -- GUARD: only the live attempt of a running lazy composite, held by this worker, expands it.
  IF NOT FOUND OR v_task.status <> 'running' OR v_task.attempts <> p_attempt OR v_task.kind <> 'composite'
     OR (p_worker IS NOT NULL AND v_task.lease_owner IS DISTINCT FROM p_worker) OR v_run.status <> 'running' THEN
    RETURN jsonb_build_object('settled', false, 'claimed', '[]'::jsonb);
  END IF;
  SELECT coalesce(max(position), 0) INTO v_position FROM "htdag".tasks WHERE run_id = p_run_id;
  INSERT INTO "htdag".tasks (run_id, id, position, parent_id, kind, step, description, remaining_deps, run_if,
                                   spec, input, priority, queue, max_attempts, attempt_budget, timeout_ms, backoff)
  SELECT p_run_id, x.id, v_position + e.n, coalesce(x.parent_id, p_task_id), x.kind, x.step, x.description,
         x.remaining_deps, x.run_if, x.spec, x.input, x.priority, x.queue, x.max_attempts, x.max_attempts, x.timeout_ms, x.backoff
    FROM jsonb_array_elements(p_tasks) WITH ORDINALITY AS e(value, n),
         jsonb_to_record(e.value) AS x(id text, parent_id text, kind text, step text, description text,
           remaining_deps integer, run_if text, spec jsonb, input jsonb, priority integer, queue text,
           max_attempts integer, timeout_ms integer, backoff jsonb);
  GET DIAGNOSTICS v_children = ROW_COUNT;
  INSERT INTO "htdag".task_edges (run_id, task_id, depends_on)
  SELECT p_run_id, x.task_id, x.depends_on FROM jsonb_to_recordset(p_edges) AS x(task_id text, depends_on text);
  -- Inherited dependencies are settled already: they feed the children's deps but are not counted.
  INSERT INTO "htdag".task_edges (run_id, task_id, depends_on)
  SELECT p_run_id, c.id, e.depends_on
    FROM jsonb_to_recordset(p_tasks) AS c(id text), "htdag".task_edges e
   WHERE e.run_id = p_run_id AND e.task_id = p_task_id
  ON CONFLICT DO NOTHING;
  INSERT INTO "htdag".task_edges (run_id, task_id, depends_on)
  SELECT p_run_id, p_task_id, c.id FROM jsonb_to_recordset(p_tasks) AS c(id text, parent_id text) WHERE c.parent_id IS NULL;
  GET DIAGNOSTICS v_direct = ROW_COUNT;
  UPDATE "htdag".attempts SET status = 'completed', finished_at = now(),
         duration_ms = extract(epoch FROM (now() - started_at)) * 1000
   WHERE run_id = p_run_id AND task_id = p_task_id AND attempt = p_attempt;
  UPDATE "htdag".queues SET running = running - 1 WHERE name = v_task.queue AND running > 0;
  UPDATE "htdag".tasks SET status = 'pending', remaining_deps = v_direct, failed_deps = 0, skipped_deps = 0,
         lease_owner = NULL, lease_expires_at = NULL
   WHERE run_id = p_run_id AND id = p_task_id;
  UPDATE "htdag".runs SET total_tasks = total_tasks + v_children, remaining_tasks = remaining_tasks + v_children
   WHERE id = p_run_id;
  UPDATE "htdag".tasks SET status = 'ready', ready_at = now(), available_at = now()
   WHERE run_id = p_run_id AND parent_id IS NOT NULL AND status = 'pending' AND remaining_deps = 0
     AND id IN (SELECT c.id FROM jsonb_to_recordset(p_tasks) AS c(id text));
  PERFORM "htdag".emit(p_channel, 'decomposition:completed', p_run_id, p_task_id, v_run.workflow,
                             jsonb_build_object('lazy', true, 'tasks', v_children));
  RETURN jsonb_build_object('settled', true, 'status', 'pending', 'runStatus', v_run.status,
    'claimed', "htdag".claim_tasks(p_run_id, NULL, p_worker, p_claim_limit, p_lease_ms, p_channel));
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.finish_run(p_run_id uuid, p_status text, p_error jsonb, p_channel text)
 RETURNS boolean
 LANGUAGE plpgsql
AS $function$
DECLARE v_run "htdag".runs;
BEGIN
  UPDATE "htdag".runs SET status = p_status, finished_at = now(),
         error = coalesce(p_error, CASE WHEN p_status = 'failed' THEN
           (SELECT jsonb_build_object('message', 'task ' || id || ' ' || status, 'taskId', id, 'cause', error)
              FROM "htdag".tasks WHERE run_id = p_run_id AND status IN ('failed', 'timed_out')
             ORDER BY finished_at LIMIT 1) END)
   WHERE id = p_run_id AND status IN ('pending', 'running', 'paused')
  RETURNING * INTO v_run;
  IF NOT FOUND THEN RETURN false; END IF;
  PERFORM "htdag".emit(p_channel, 'execution:' || p_status, p_run_id, NULL, v_run.workflow,
    jsonb_strip_nulls(jsonb_build_object('error', v_run.error,
      'durationMs', extract(epoch FROM (v_run.finished_at - coalesce(v_run.started_at, v_run.created_at))) * 1000)));
  RETURN true;
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.finish_task(p_run_id uuid, p_task_id text, p_status text, p_output jsonb, p_error jsonb, p_channel text)
 RETURNS void
 LANGUAGE plpgsql
AS $function$
DECLARE
  v_run "htdag".runs;
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
  SELECT * INTO v_run FROM "htdag".runs WHERE id = p_run_id FOR UPDATE;
  UPDATE "htdag".tasks
     SET status = p_status, output = p_output, error = p_error, finished_at = now(),
         lease_owner = NULL, lease_expires_at = NULL
   WHERE run_id = p_run_id AND id = p_task_id
  RETURNING coalesce((spec ->> 'recovers')::boolean, false) INTO v_recovers;
  -- A timed-out task is reported as task:failed with its status, as the event catalogue has it.
  PERFORM "htdag".emit(p_channel, 'task:' || CASE p_status WHEN 'timed_out' THEN 'failed' ELSE p_status END,
                             p_run_id, p_task_id, v_run.workflow,
                             jsonb_strip_nulls(jsonb_build_object('status', p_status, 'error', p_error)));
  IF p_status = 'completed' AND v_recovers THEN
    UPDATE "htdag".runs SET recovered = true WHERE id = p_run_id;
  END IF;
  -- failFast: a failure cancels every task that waits for all its dependencies to succeed
  -- (tasks with runIf allDone/anyFailed stay, so cleanup and compensation still run).
  IF p_status IN ('failed', 'timed_out') AND v_run.fail_fast AND v_run.status = 'running' THEN
    FOR v_next IN
      UPDATE "htdag".tasks SET status = 'cancelled', finished_at = now(),
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
      SELECT task_id FROM "htdag".task_edges WHERE run_id = p_run_id AND depends_on = v_work[v_i]
    LOOP
      -- An atomic task whose last dependency settled becomes ready in this same UPDATE when its
      -- runIf lets it run; every other outcome is decided below.
      UPDATE "htdag".tasks t
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
                  OR EXISTS (SELECT 1 FROM "htdag".tasks c WHERE c.run_id = t.run_id AND c.parent_id = t.id))) AS joins
      INTO v_dep;
      CONTINUE WHEN NOT FOUND;
      CONTINUE WHEN v_dep.remaining_deps > 0 OR v_dep.status = 'ready';
      v_next := "htdag".dependant_outcome(v_dep.joins, v_dep.run_if, v_dep.failed_deps, v_dep.skipped_deps);
      IF v_next = 'ready' THEN
        UPDATE "htdag".tasks SET status = 'ready', ready_at = now(), available_at = now()
         WHERE run_id = p_run_id AND id = v_dep.id;
      ELSE
        UPDATE "htdag".tasks SET status = v_next, finished_at = now(),
               output = CASE WHEN v_next = 'completed' THEN
                 (SELECT coalesce(jsonb_object_agg(c.id, c.output), '{}') FROM "htdag".tasks c
                   WHERE c.run_id = p_run_id AND c.parent_id = v_dep.id AND c.status = 'completed') END,
               error = CASE WHEN v_next IN ('cancelled', 'failed') THEN
                 jsonb_build_object('message', 'a dependency of ' || v_dep.id || ' did not succeed') END
         WHERE run_id = p_run_id AND id = v_dep.id;
        PERFORM "htdag".emit(p_channel, 'task:' || v_next, p_run_id, v_dep.id, v_run.workflow,
                                   jsonb_build_object('status', v_next));
        v_work := v_work || v_dep.id::text;
        v_status := v_status || v_next;
      END IF;
    END LOOP;
    v_i := v_i + 1;
  END LOOP;
  UPDATE "htdag".runs
     SET remaining_tasks = remaining_tasks - array_length(v_work, 1),
         failed_tasks = failed_tasks + (SELECT count(*) FROM unnest(v_status) s WHERE s IN ('failed', 'timed_out'))
   WHERE id = p_run_id
  RETURNING * INTO v_run;
  IF v_run.remaining_tasks = 0 AND v_run.status IN ('running', 'paused') THEN
    PERFORM "htdag".finish_run(p_run_id,
      CASE WHEN v_run.failed_tasks > 0 AND NOT v_run.recovered THEN 'failed' ELSE 'completed' END, NULL, p_channel);
  END IF;
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.reap_expired(p_limit integer, p_channel text)
 RETURNS integer
 LANGUAGE plpgsql
AS $function$
DECLARE
  v_task record;
  v_run "htdag".runs;
  v_error jsonb;
  v_reaped integer := 0;
BEGIN
  FOR v_task IN
    SELECT run_id, id, attempts, max_attempts, queue, lease_owner FROM "htdag".tasks
     WHERE status = 'running' AND lease_expires_at < now()
     ORDER BY lease_expires_at LIMIT p_limit FOR UPDATE SKIP LOCKED
  LOOP
    SELECT * INTO v_run FROM "htdag".runs WHERE id = v_task.run_id FOR UPDATE SKIP LOCKED;
    CONTINUE WHEN NOT FOUND;
    v_error := jsonb_build_object('name', 'LeaseExpired', 'message',
      'the lease of worker ' || coalesce(v_task.lease_owner, '?') || ' expired: it stopped heartbeating (died or hung)');
    UPDATE "htdag".attempts SET status = 'lost', finished_at = now(), error = v_error, error_class = 'LeaseExpired',
           duration_ms = extract(epoch FROM (now() - started_at)) * 1000
     WHERE run_id = v_task.run_id AND task_id = v_task.id AND attempt = v_task.attempts;
    UPDATE "htdag".queues SET running = running - 1 WHERE name = v_task.queue AND running > 0;
    IF v_run.status NOT IN ('running', 'paused') THEN
      PERFORM "htdag".finish_task(v_task.run_id, v_task.id, 'cancelled', NULL, v_error, p_channel);
    ELSIF v_task.attempts < v_task.max_attempts THEN
      UPDATE "htdag".tasks SET status = 'ready', ready_at = now(), available_at = now(), error = v_error,
             lease_owner = NULL, lease_expires_at = NULL
       WHERE run_id = v_task.run_id AND id = v_task.id;
      PERFORM "htdag".emit(p_channel, 'task:retried', v_task.run_id, v_task.id, v_run.workflow,
        jsonb_build_object('attempt', v_task.attempts, 'outcome', 'lost', 'delayMs', 0, 'error', v_error));
    ELSE
      PERFORM "htdag".finish_task(v_task.run_id, v_task.id, 'failed', NULL, v_error, p_channel);
    END IF;
    v_reaped := v_reaped + 1;
  END LOOP;
  FOR v_run IN
    SELECT * FROM "htdag".runs WHERE status IN ('running', 'paused') AND deadline_at < now()
     LIMIT p_limit FOR UPDATE SKIP LOCKED
  LOOP
    PERFORM "htdag".stop_run(v_run.id, 'timed_out', 'the run''s timeoutMs elapsed', p_channel);
  END LOOP;
  RETURN v_reaped;
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.reconcile_runs(p_limit integer, p_grace_ms integer, p_channel text)
 RETURNS integer
 LANGUAGE plpgsql
AS $function$
DECLARE
  v_run "htdag".runs;
  v_failed integer;
  v_status text;
  v_repaired integer := 0;
BEGIN
  FOR v_run IN
    SELECT * FROM "htdag".runs
     WHERE status = 'pending' AND run_at < now() - p_grace_ms * interval '1 millisecond'
       AND created_at < now() - p_grace_ms * interval '1 millisecond'
     ORDER BY run_at LIMIT p_limit FOR UPDATE SKIP LOCKED
  LOOP
    PERFORM "htdag".emit(p_channel, 'execution:reconciled', v_run.id, NULL, v_run.workflow,
      jsonb_build_object('repair', 'started', 'reason', 'the run was still pending ' || p_grace_ms ||
                         ' ms after it was due: the process that recorded it did not start it'));
    PERFORM "htdag".start_run(v_run.id, NULL, 0, 0, p_channel);
    v_repaired := v_repaired + 1;
  END LOOP;
  FOR v_run IN
    SELECT * FROM "htdag".runs r
     WHERE r.status IN ('running', 'paused')
       AND NOT EXISTS (SELECT 1 FROM "htdag".tasks t WHERE t.run_id = r.id
                         AND t.status IN ('pending', 'ready', 'running'))
     ORDER BY created_at LIMIT p_limit FOR UPDATE SKIP LOCKED
  LOOP
    SELECT count(*) FILTER (WHERE status IN ('failed', 'timed_out')) INTO v_failed
      FROM "htdag".tasks WHERE run_id = v_run.id;
    v_status := CASE WHEN v_failed > 0 AND NOT v_run.recovered THEN 'failed' ELSE 'completed' END;
    -- GUARD: the run is locked and still not final (the loop's query, under the lock).
    UPDATE "htdag".runs SET remaining_tasks = 0, failed_tasks = v_failed
     WHERE id = v_run.id AND status IN ('running', 'paused');
    PERFORM "htdag".emit(p_channel, 'execution:reconciled', v_run.id, NULL, v_run.workflow,
      jsonb_build_object('repair', 'finished', 'status', v_status, 'reason',
                         'every task of the run was final, but the run was ' || v_run.status ||
                         ' (remaining_tasks ' || v_run.remaining_tasks || ')'));
    PERFORM "htdag".finish_run(v_run.id, v_status, NULL, p_channel);
    v_repaired := v_repaired + 1;
  END LOOP;
  RETURN v_repaired;
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.release_tasks(p_worker text, p_channel text)
 RETURNS integer
 LANGUAGE plpgsql
AS $function$
DECLARE v_task record; v_released integer := 0;
BEGIN
  FOR v_task IN
    SELECT t.run_id, t.id, t.attempts, t.queue, r.workflow FROM "htdag".tasks t
      JOIN "htdag".runs r ON r.id = t.run_id
     WHERE t.lease_owner = p_worker AND t.status = 'running' FOR UPDATE OF t
  LOOP
    UPDATE "htdag".attempts SET status = 'lost', finished_at = now(), error_class = 'Released',
           error = jsonb_build_object('name', 'Released', 'message', 'worker ' || p_worker || ' stopped and released the task'),
           duration_ms = extract(epoch FROM (now() - started_at)) * 1000
     WHERE run_id = v_task.run_id AND task_id = v_task.id AND attempt = v_task.attempts;
    UPDATE "htdag".queues SET running = running - 1 WHERE name = v_task.queue AND running > 0;
    UPDATE "htdag".tasks SET status = 'ready', ready_at = now(), available_at = now(), max_attempts = max_attempts + 1,
           lease_owner = NULL, lease_expires_at = NULL
     WHERE run_id = v_task.run_id AND id = v_task.id;
    PERFORM "htdag".emit(p_channel, 'task:retried', v_task.run_id, v_task.id, v_task.workflow,
      jsonb_build_object('attempt', v_task.attempts, 'outcome', 'released', 'delayMs', 0));
    v_released := v_released + 1;
  END LOOP;
  RETURN v_released;
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.retry_run(p_run_id uuid, p_from_task text, p_channel text)
 RETURNS integer
 LANGUAGE plpgsql
AS $function$
DECLARE v_run "htdag".runs; v_reset integer;
BEGIN
  SELECT * INTO v_run FROM "htdag".runs WHERE id = p_run_id FOR UPDATE;
  -- GUARD: only a final run is re-opened.
  IF NOT FOUND OR v_run.status NOT IN ('completed', 'failed', 'cancelled', 'timed_out') THEN RETURN -1; END IF;
  WITH RECURSIVE seed(id) AS (
    SELECT id FROM "htdag".tasks WHERE run_id = p_run_id
       AND (CASE WHEN p_from_task IS NULL THEN status <> 'completed' ELSE id = p_from_task END)
  ), subtree(id) AS (
    SELECT id FROM seed
    UNION SELECT c.id FROM "htdag".tasks c JOIN subtree p ON c.parent_id = p.id WHERE c.run_id = p_run_id
  ), downstream(id) AS (
    SELECT id FROM subtree
    UNION SELECT e.task_id FROM "htdag".task_edges e JOIN downstream d ON e.depends_on = d.id
     WHERE e.run_id = p_run_id
  )
  UPDATE "htdag".tasks t SET status = 'pending', output = NULL, error = NULL, started_at = NULL,
         finished_at = NULL, ready_at = NULL, lease_owner = NULL, lease_expires_at = NULL,
         max_attempts = t.attempts + t.attempt_budget
    FROM (SELECT DISTINCT id FROM downstream) d
   WHERE t.run_id = p_run_id AND t.id = d.id;
  GET DIAGNOSTICS v_reset = ROW_COUNT;
  IF v_reset = 0 THEN RETURN 0; END IF;
  UPDATE "htdag".tasks t SET
         remaining_deps = (SELECT count(*) FROM "htdag".task_edges e JOIN "htdag".tasks d
                             ON d.run_id = e.run_id AND d.id = e.depends_on
                            WHERE e.run_id = t.run_id AND e.task_id = t.id AND d.status = 'pending'),
         failed_deps = (SELECT count(*) FROM "htdag".task_edges e JOIN "htdag".tasks d
                             ON d.run_id = e.run_id AND d.id = e.depends_on
                            WHERE e.run_id = t.run_id AND e.task_id = t.id AND d.status IN ('failed', 'timed_out', 'cancelled')),
         skipped_deps = (SELECT count(*) FROM "htdag".task_edges e JOIN "htdag".tasks d
                             ON d.run_id = e.run_id AND d.id = e.depends_on
                            WHERE e.run_id = t.run_id AND e.task_id = t.id AND d.status = 'skipped')
   WHERE t.run_id = p_run_id AND t.status = 'pending';
  UPDATE "htdag".runs SET status = 'running', finished_at = NULL, error = NULL, recovered = false,
         remaining_tasks = (SELECT count(*) FROM "htdag".tasks WHERE run_id = p_run_id AND status = 'pending'),
         failed_tasks = (SELECT count(*) FROM "htdag".tasks WHERE run_id = p_run_id AND status IN ('failed', 'timed_out')),
         deadline_at = CASE WHEN deadline_at IS NULL THEN NULL
                            ELSE now() + (deadline_at - coalesce(started_at, created_at)) END
   WHERE id = p_run_id;
  PERFORM "htdag".emit(p_channel, 'execution:resumed', p_run_id, NULL, v_run.workflow,
    jsonb_strip_nulls(jsonb_build_object('retry', true, 'fromTask', p_from_task, 'tasksReset', v_reset)));
  UPDATE "htdag".tasks SET status = 'ready', ready_at = now(), available_at = now()
   WHERE run_id = p_run_id AND status = 'pending' AND remaining_deps = 0
     AND (kind = 'atomic' OR spec ->> 'expand' = 'lazy');
  RETURN v_reset;
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.set_run_paused(p_run_id uuid, p_paused boolean, p_reason text, p_channel text)
 RETURNS text
 LANGUAGE plpgsql
AS $function$
DECLARE v_run "htdag".runs; v_before text;
BEGIN
  SELECT status INTO v_before FROM "htdag".runs WHERE id = p_run_id FOR UPDATE;
  IF NOT FOUND THEN RETURN NULL; END IF;
  -- GUARD: pause only a running run, resume only a paused one.
  UPDATE "htdag".runs SET status = CASE WHEN p_paused THEN 'paused' ELSE 'running' END,
         pause_reason = CASE WHEN p_paused THEN p_reason END
   WHERE id = p_run_id AND status = CASE WHEN p_paused THEN 'running' ELSE 'paused' END
  RETURNING * INTO v_run;
  IF FOUND THEN
    PERFORM "htdag".emit(p_channel, CASE WHEN p_paused THEN 'execution:paused' ELSE 'execution:resumed' END,
                               p_run_id, NULL, v_run.workflow, jsonb_strip_nulls(jsonb_build_object('reason', p_reason)));
  END IF;
  RETURN v_before;
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.settle_attempt(p_run_id uuid, p_task_id text, p_attempt integer, p_worker text, p_outcome text, p_output jsonb, p_error jsonb, p_error_class text, p_retry_delay_ms integer, p_channel text, p_run_status text, p_workflow text, p_step_ms double precision)
 RETURNS text
 LANGUAGE plpgsql
AS $function$
DECLARE
  v_task "htdag".tasks;
  v_run_status text := p_run_status;
  v_workflow text := p_workflow;
  v_final text := p_outcome;
BEGIN
  SELECT * INTO v_task FROM "htdag".tasks WHERE run_id = p_run_id AND id = p_task_id FOR UPDATE;
  -- GUARD: only the live attempt of a running task, held by this worker, may settle it.
  IF NOT FOUND OR v_task.status <> 'running' OR v_task.attempts <> p_attempt
     OR (p_worker IS NOT NULL AND v_task.lease_owner IS DISTINCT FROM p_worker) THEN
    INSERT INTO "htdag".rejected_completions (run_id, task_id, attempt, worker_id, outcome, reason)
    VALUES (p_run_id, p_task_id, p_attempt, p_worker, p_outcome,
            CASE WHEN NOT FOUND THEN 'no such task' ELSE 'task is ' || v_task.status || ' at attempt ' || v_task.attempts END);
    RETURN NULL;
  END IF;
  UPDATE "htdag".attempts
     SET status = p_outcome, finished_at = now(), error = p_error, error_class = p_error_class,
         duration_ms = extract(epoch FROM (now() - started_at)) * 1000, step_ms = p_step_ms
   WHERE run_id = p_run_id AND task_id = p_task_id AND attempt = p_attempt;
  UPDATE "htdag".queues SET running = running - 1 WHERE name = v_task.queue AND running > 0;
  IF v_run_status NOT IN ('running', 'paused') AND p_outcome <> 'completed' THEN
    v_final := 'cancelled';
  ELSIF p_outcome IN ('failed', 'timed_out') AND p_retry_delay_ms IS NOT NULL AND v_run_status IN ('running', 'paused') THEN
    UPDATE "htdag".tasks
       SET status = 'ready', ready_at = now(), error = p_error, lease_owner = NULL, lease_expires_at = NULL,
           available_at = now() + p_retry_delay_ms * interval '1 millisecond'
     WHERE run_id = p_run_id AND id = p_task_id;
    PERFORM "htdag".emit(p_channel, 'task:retried', p_run_id, p_task_id, v_workflow,
      jsonb_build_object('attempt', p_attempt, 'outcome', p_outcome, 'delayMs', p_retry_delay_ms, 'error', p_error));
    RETURN 'ready';
  END IF;
  PERFORM "htdag".finish_task(p_run_id, p_task_id, v_final, p_output, p_error, p_channel);
  RETURN v_final;
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.settle_task(p_run_id uuid, p_task_id text, p_attempt integer, p_worker text, p_outcome text, p_output jsonb, p_error jsonb, p_error_class text, p_retry_delay_ms integer, p_claim_limit integer, p_lease_ms integer, p_channel text)
 RETURNS jsonb
 LANGUAGE plpgsql
AS $function$
DECLARE
  v_status text;
  v_run_status text;
  v_run "htdag".runs;
BEGIN
  -- Lock order everywhere: the run row, then task rows (claims by other runs skip locked runs).
  SELECT * INTO v_run FROM "htdag".runs WHERE id = p_run_id FOR UPDATE;
  v_status := "htdag".settle_attempt(p_run_id, p_task_id, p_attempt, p_worker, p_outcome, p_output, p_error,
                                           p_error_class, p_retry_delay_ms, p_channel, v_run.status, v_run.workflow, NULL);
  IF v_status IS NULL THEN
    RETURN jsonb_build_object('settled', false, 'claimed', '[]'::jsonb);
  END IF;
  SELECT status INTO v_run_status FROM "htdag".runs WHERE id = p_run_id;
  RETURN jsonb_build_object('settled', true, 'status', v_status, 'runStatus', v_run_status,
    'claimed', CASE WHEN v_run_status = 'running'
                 THEN "htdag".claim_tasks(p_run_id, NULL, p_worker, p_claim_limit, p_lease_ms, p_channel)
                 ELSE '[]'::jsonb END);
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.settle_tasks(p_run_id uuid, p_worker text, p_settlements jsonb, p_claim_limit integer, p_lease_ms integer, p_channel text)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
DECLARE
  v_run "htdag".runs;
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
  SELECT * INTO v_run FROM "htdag".runs WHERE id = p_run_id FOR UPDATE;
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
           LATERAL (SELECT 1 FROM "htdag".tasks t
                     WHERE t.run_id = p_run_id AND t.id = b.id AND t.status = 'running' AND t.attempts = b.attempt
                       AND (p_worker IS NULL OR t.lease_owner = p_worker)
                    OFFSET 0 FOR UPDATE) l;
  END IF;
  IF v_done IS NOT NULL THEN
    WITH u AS (
      UPDATE "htdag".tasks t
         SET status = 'completed', output = d.output, error = NULL, finished_at = now(),
             lease_owner = NULL, lease_expires_at = NULL
        FROM unnest(v_done, v_outputs) AS d(id, output)
       WHERE t.ctid = ANY ("htdag".task_tids(p_run_id, v_done)) AND t.id = d.id
      RETURNING t.queue, coalesce((t.spec ->> 'recovers')::boolean, false) AS recovers
    )
    SELECT array_agg(queue), bool_or(recovers) INTO v_queues, v_recovers FROM u;
    UPDATE "htdag".attempts a
       SET status = 'completed', finished_at = now(), error = NULL, error_class = NULL,
           duration_ms = extract(epoch FROM (now() - a.started_at)) * 1000, step_ms = d.step_ms
      FROM unnest(v_done, v_attempts, v_step_ms) AS d(id, attempt, step_ms)
     WHERE a.ctid = ANY ("htdag".attempt_tids(p_run_id, v_done, v_attempts)) AND a.task_id = d.id AND a.attempt = d.attempt;
    UPDATE "htdag".queues q SET running = greatest(0, q.running - d.n)
      FROM (SELECT queue, count(*)::integer AS n FROM unnest(v_queues) AS queue GROUP BY queue) d
     WHERE q.name = d.queue AND q.running > 0;
    WITH ev AS (
      INSERT INTO "htdag".events (type, channel, run_id, task_id, workflow, payload)
      SELECT 'task:completed', coalesce(p_channel, 'htdag_events'), p_run_id, d.id, v_run.workflow, '{"status": "completed"}'
        FROM unnest(v_done) WITH ORDINALITY AS d(id, n) ORDER BY d.n
      RETURNING id, task_id
    )
    SELECT count(pg_notify(p_channel, json_build_object('id', ev.id, 'type', 'task:completed', 'runId', p_run_id,
                                                      'taskId', ev.task_id, 'workflow', v_run.workflow)::text))
      INTO v_notified FROM ev
     WHERE p_channel IS NOT NULL AND coalesce((v_run.options ->> 'realTimeNotifications')::boolean, true);
    UPDATE "htdag".runs SET remaining_tasks = remaining_tasks - cardinality(v_done),
           recovered = recovered OR coalesce(v_recovers, false)
     WHERE id = p_run_id
    RETURNING * INTO v_run;
    -- Count the dependants down, each by the number of its dependencies that just completed; an
    -- atomic one that reaches zero and may run becomes ready in the same UPDATE.
    SELECT ids, counts INTO v_dep_ids, v_dep_counts FROM "htdag".dependant_counts(p_run_id, v_done);
    IF v_dep_ids IS NOT NULL THEN
      FOR v_dep IN
        UPDATE "htdag".tasks t
           SET remaining_deps = t.remaining_deps - d.n,
               status = CASE WHEN t.remaining_deps = d.n AND t.kind = 'atomic' AND CASE t.run_if
                              WHEN 'allDone' THEN true
                              WHEN 'anyFailed' THEN t.failed_deps > 0
                              ELSE t.failed_deps = 0 AND t.skipped_deps = 0 END
                             THEN 'ready' ELSE t.status END,
               ready_at = CASE WHEN t.remaining_deps = d.n THEN now() ELSE t.ready_at END,
               available_at = CASE WHEN t.remaining_deps = d.n THEN now() ELSE t.available_at END
          FROM unnest(v_dep_ids, v_dep_counts) AS d(id, n)
         WHERE t.ctid = ANY ("htdag".task_tids(p_run_id, v_dep_ids)) AND t.id = d.id AND t.status = 'pending'
        RETURNING t.id, t.status, t.remaining_deps, t.failed_deps, t.skipped_deps, t.run_if,
                  (t.kind = 'composite' AND (coalesce(t.spec ->> 'expand', 'eager') = 'eager'
                    OR EXISTS (SELECT 1 FROM "htdag".tasks c WHERE c.run_id = t.run_id AND c.parent_id = t.id))) AS joins
      LOOP
        CONTINUE WHEN v_dep.remaining_deps > 0 OR v_dep.status = 'ready';
        -- Decided otherwise (a composite's join, a runIf that skips or cancels): finish_task
        -- settles it and cascades, as it does for a single settle.
        v_next := "htdag".dependant_outcome(v_dep.joins, v_dep.run_if, v_dep.failed_deps, v_dep.skipped_deps);
        IF v_next = 'ready' THEN
          -- A lazy composite to expand.
          UPDATE "htdag".tasks SET status = 'ready', ready_at = now(), available_at = now()
           WHERE run_id = p_run_id AND id = v_dep.id;
        ELSE
          v_cascaded := true;
          PERFORM "htdag".finish_task(p_run_id, v_dep.id, v_next,
            CASE WHEN v_next = 'completed' THEN
              (SELECT coalesce(jsonb_object_agg(c.id, c.output), '{}') FROM "htdag".tasks c
                WHERE c.run_id = p_run_id AND c.parent_id = v_dep.id AND c.status = 'completed') END,
            CASE WHEN v_next IN ('cancelled', 'failed') THEN
              jsonb_build_object('message', 'a dependency of ' || v_dep.id || ' did not succeed') END,
            p_channel);
        END IF;
      END LOOP;
    END IF;
    -- Cascades (finish_task) changed the run row: read it again only then.
    IF v_cascaded THEN SELECT * INTO v_run FROM "htdag".runs WHERE id = p_run_id; END IF;
    IF v_run.remaining_tasks = 0 AND v_run.status IN ('running', 'paused') THEN
      PERFORM "htdag".finish_run(p_run_id,
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
    v_status := "htdag".settle_attempt(p_run_id, v_one ->> 'taskId', (v_one ->> 'attempt')::integer, p_worker,
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
    v_status := "htdag".settle_attempt(p_run_id, v_s.task_id, v_s.attempt, p_worker, v_s.s ->> 'outcome',
      -- As settle_task stores them: an absent key is SQL NULL, a JSON null is jsonb null.
      v_s.s -> 'output', v_s.s -> 'error', v_s.s ->> 'errorClass', (v_s.s ->> 'retryDelayMs')::integer, p_channel,
      v_run.status, v_run.workflow, (v_s.s ->> 'stepMs')::double precision);
    v_results := coalesce(v_results, '[]') || jsonb_build_object('taskId', v_s.task_id, 'attempt', v_s.attempt,
                                                                 'settled', v_status IS NOT NULL, 'status', v_status);
  END LOOP; END IF;
  IF v_cascaded THEN SELECT * INTO v_run FROM "htdag".runs WHERE id = p_run_id; END IF;
  RETURN jsonb_build_object('results', coalesce(v_results, '[]'), 'runStatus', v_run.status,
    'claimed', "htdag".claim_locked_run(v_run, p_worker, p_claim_limit, p_lease_ms, p_channel));
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.start_attempt(p_run_id uuid, p_task_id text, p_workflow text, p_worker text, p_lease_ms integer, p_channel text)
 RETURNS jsonb
 LANGUAGE plpgsql
AS $function$
DECLARE v_task "htdag".tasks;
BEGIN
  -- GUARD: the caller holds this row's lock, taken while it was ready (claim_tasks). Matching by
  -- primary key alone keeps the planner off the partial ready indexes.
  UPDATE "htdag".tasks
     SET status = 'running', attempts = attempts + 1, started_at = now(), lease_owner = p_worker,
         lease_expires_at = now() + p_lease_ms * interval '1 millisecond'
   WHERE run_id = p_run_id AND id = p_task_id
  RETURNING * INTO v_task;
  INSERT INTO "htdag".attempts (run_id, task_id, attempt, workflow, step, worker_id, ready_at, queue_wait_ms)
  VALUES (p_run_id, p_task_id, v_task.attempts, p_workflow, v_task.step, p_worker, v_task.ready_at,
          extract(epoch FROM (now() - v_task.ready_at)) * 1000);
  PERFORM "htdag".emit(p_channel, 'task:started', p_run_id, p_task_id, p_workflow,
                             jsonb_build_object('attempt', v_task.attempts, 'step', v_task.step));
  RETURN jsonb_build_object(
    'runId', p_run_id, 'taskId', p_task_id, 'workflow', p_workflow, 'attempt', v_task.attempts, 'kind', v_task.kind,
    'step', v_task.step, 'input', v_task.input, 'spec', v_task.spec, 'timeoutMs', v_task.timeout_ms,
    'maxAttempts', v_task.max_attempts, 'backoff', v_task.backoff, 'queue', v_task.queue,
    'deps', "htdag".dependency_outputs(p_run_id, p_task_id));
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.start_run(p_run_id uuid, p_worker text, p_claim_limit integer, p_lease_ms integer, p_channel text)
 RETURNS jsonb
 LANGUAGE plpgsql
AS $function$
DECLARE v_run "htdag".runs;
BEGIN
  UPDATE "htdag".runs SET status = 'running', started_at = coalesce(started_at, now())
   WHERE id = p_run_id AND status = 'pending'
  RETURNING * INTO v_run;
  IF NOT FOUND THEN
    SELECT * INTO v_run FROM "htdag".runs WHERE id = p_run_id;
    RETURN jsonb_build_object('started', false, 'runStatus', v_run.status, 'claimed', '[]'::jsonb);
  END IF;
  PERFORM "htdag".emit(p_channel, 'execution:started', p_run_id, NULL, v_run.workflow,
                             jsonb_build_object('goal', v_run.goal, 'tasks', v_run.total_tasks));
  UPDATE "htdag".tasks SET status = 'ready', ready_at = now(), available_at = now()
   WHERE run_id = p_run_id AND status = 'pending' AND remaining_deps = 0;
  IF v_run.remaining_tasks = 0 THEN
    PERFORM "htdag".finish_run(p_run_id, 'completed', NULL, p_channel);
  END IF;
  RETURN jsonb_build_object('started', true, 'runStatus', 'running',
    'claimed', "htdag".claim_tasks(p_run_id, NULL, p_worker, p_claim_limit, p_lease_ms, p_channel));
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.stop_run(p_run_id uuid, p_status text, p_reason text, p_channel text)
 RETURNS text
 LANGUAGE plpgsql
AS $function$
DECLARE v_run "htdag".runs; v_cancelled integer;
BEGIN
  SELECT * INTO v_run FROM "htdag".runs WHERE id = p_run_id FOR UPDATE;
  IF NOT FOUND THEN RETURN NULL; END IF;
  -- GUARD: only a run that is not final can be stopped.
  IF v_run.status NOT IN ('pending', 'running', 'paused') THEN RETURN v_run.status; END IF;
  UPDATE "htdag".tasks SET status = 'cancelled', finished_at = now(),
         error = jsonb_build_object('message', coalesce(p_reason, 'run ' || p_status))
   WHERE run_id = p_run_id AND status IN ('pending', 'ready');
  GET DIAGNOSTICS v_cancelled = ROW_COUNT;
  UPDATE "htdag".runs SET remaining_tasks = remaining_tasks - v_cancelled WHERE id = p_run_id;
  PERFORM "htdag".finish_run(p_run_id, p_status,
    jsonb_build_object('message', coalesce(p_reason, 'run ' || p_status)), p_channel);
  RETURN v_run.status;
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.submit_run(p_run jsonb, p_graph jsonb, p_tasks jsonb, p_edges jsonb, p_queues jsonb, p_events jsonb, p_start boolean, p_channel text)
 RETURNS jsonb
 LANGUAGE plpgsql
AS $function$
DECLARE
  v_run_id uuid := (p_run ->> 'id')::uuid;
  v_workflow text := p_run ->> 'workflow';
  v_key text := p_run ->> 'idempotencyKey';
  v_existing uuid;
  v_event jsonb;
  v_status text := 'pending';
BEGIN
  IF v_key IS NOT NULL THEN
    SELECT id INTO v_existing FROM "htdag".runs WHERE idempotency_key = v_key;
    IF FOUND THEN
      RETURN jsonb_build_object('runId', v_existing, 'existing', true, 'runStatus', NULL);
    END IF;
  END IF;
  INSERT INTO "htdag".workflows (name) VALUES (v_workflow) ON CONFLICT DO NOTHING;
  INSERT INTO "htdag".graphs (id, goal, decomposer, source, tasks, decomposed_at)
  VALUES (p_graph ->> 'id', p_graph ->> 'goal', p_graph ->> 'decomposer', p_graph ->> 'source', p_graph -> 'tasks',
          (p_graph ->> 'decomposedAt')::timestamptz)
  ON CONFLICT (id) DO UPDATE SET tasks = excluded.tasks, goal = excluded.goal;
  INSERT INTO "htdag".runs (id, workflow, graph_id, goal, priority, max_parallel, fail_fast, options, input,
                                  idempotency_key, run_at, deadline_at, total_tasks, remaining_tasks)
  VALUES (v_run_id, v_workflow, p_graph ->> 'id', p_run ->> 'goal', (p_run ->> 'priority')::integer,
          (p_run ->> 'maxParallel')::integer, (p_run ->> 'failFast')::boolean, p_run -> 'options', p_run -> 'input',
          v_key, coalesce((p_run ->> 'runAt')::timestamptz, now()),
          now() + (p_run ->> 'deadlineMs')::integer * interval '1 millisecond',
          jsonb_array_length(p_tasks), jsonb_array_length(p_tasks))
  -- GUARD: one run per idempotency key; a concurrent caller that took it first wins.
  ON CONFLICT ON CONSTRAINT runs_idempotency_key_unique DO NOTHING;
  IF NOT FOUND THEN
    SELECT id INTO v_existing FROM "htdag".runs WHERE idempotency_key = v_key;
    RETURN jsonb_build_object('runId', v_existing, 'existing', true, 'runStatus', NULL);
  END IF;
  IF p_queues IS NOT NULL THEN
    INSERT INTO "htdag".queues (name, concurrency) SELECT key, value::integer FROM jsonb_each_text(p_queues)
    ON CONFLICT (name) DO UPDATE SET concurrency = excluded.concurrency;
  END IF;
  INSERT INTO "htdag".tasks (run_id, id, position, parent_id, kind, step, description, remaining_deps, run_if,
                                   spec, input, priority, queue, max_attempts, attempt_budget, timeout_ms, backoff)
  SELECT v_run_id, id, e.n, parent_id, kind, step, description, remaining_deps, run_if, spec, input,
         priority, queue, max_attempts, max_attempts, timeout_ms, backoff
    FROM jsonb_array_elements(p_tasks) WITH ORDINALITY AS e(value, n),
         jsonb_to_record(e.value) AS x(id text, parent_id text, kind text, step text, description text,
         remaining_deps integer, run_if text, spec jsonb, input jsonb, priority integer, queue text,
         max_attempts integer, timeout_ms integer, backoff jsonb);
  INSERT INTO "htdag".task_edges (run_id, task_id, depends_on)
  SELECT v_run_id, task_id, depends_on FROM jsonb_to_recordset(p_edges) AS x(task_id text, depends_on text);
  FOR v_event IN SELECT value FROM jsonb_array_elements(coalesce(p_events, '[]'::jsonb)) LOOP
    PERFORM "htdag".emit(p_channel, v_event ->> 'type', v_run_id, v_event ->> 'taskId', v_workflow,
                               v_event -> 'payload');
  END LOOP;
  IF p_start THEN
    -- Claims nothing (limit 0): workers or the executor claim the ready tasks.
    v_status := "htdag".start_run(v_run_id, NULL, 0, 0, p_channel) ->> 'runStatus';
  END IF;
  RETURN jsonb_build_object('runId', v_run_id, 'existing', false, 'runStatus', v_status);
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.take_queue_slot(p_queue text)
 RETURNS boolean
 LANGUAGE plpgsql
AS $function$
DECLARE v_queue "htdag".queues;
BEGIN
  -- GUARD: a queue with a limit is locked while its counter is checked and raised.
  SELECT * INTO v_queue FROM "htdag".queues WHERE name = p_queue FOR UPDATE;
  IF NOT FOUND THEN RETURN true; END IF;
  IF v_queue.concurrency IS NOT NULL AND v_queue.running >= v_queue.concurrency THEN RETURN false; END IF;
  UPDATE "htdag".queues SET running = running + 1 WHERE name = p_queue;
  RETURN true;
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.task_tids(p_run_id uuid, p_ids text[])
 RETURNS tid[]
 LANGUAGE plpgsql
 STABLE
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
BEGIN
  RETURN ARRAY(SELECT l.tid FROM unnest(p_ids) AS d(id),
    LATERAL (SELECT t.ctid AS tid FROM "htdag".tasks t WHERE t.run_id = p_run_id AND t.id = d.id OFFSET 0) l);
END $function$
