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
  llm_calls integer NOT NULL DEFAULT 0
  input_tokens bigint NOT NULL DEFAULT 0
  output_tokens bigint NOT NULL DEFAULT 0
  cost_usd numeric(18,8) NOT NULL DEFAULT 0
  CONSTRAINT attempts_attempt_check CHECK ((attempt >= 1))
  CONSTRAINT attempts_cost_usd_check CHECK ((cost_usd >= (0)::numeric))
  CONSTRAINT attempts_input_tokens_check CHECK ((input_tokens >= 0))
  CONSTRAINT attempts_llm_calls_check CHECK ((llm_calls >= 0))
  CONSTRAINT attempts_output_tokens_check CHECK ((output_tokens >= 0))
  CONSTRAINT attempts_pkey PRIMARY KEY (run_id, task_id, attempt)
  CONSTRAINT attempts_status_check CHECK ((status = ANY (ARRAY['running'::text, 'completed'::text, 'failed'::text, 'timed_out'::text, 'cancelled'::text, 'skipped'::text, 'lost'::text, 'revised'::text])))
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

TABLE :HTDAG_SCHEMA.listeners
  id uuid NOT NULL
  channel text NOT NULL
  scope text NOT NULL
  run_id uuid
  expires_at timestamp with time zone NOT NULL
  CONSTRAINT listeners_pkey PRIMARY KEY (id)
  CONSTRAINT listeners_scope_check CHECK ((scope = ANY (ARRAY['all'::text, 'runs'::text])))
CREATE INDEX listeners_channel_idx ON :HTDAG_SCHEMA.listeners USING btree (channel, run_id)
CREATE UNIQUE INDEX listeners_pkey ON :HTDAG_SCHEMA.listeners USING btree (id)

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
  channel text
  CONSTRAINT queues_concurrency_check CHECK (((concurrency IS NULL) OR (concurrency >= 1)))
  CONSTRAINT queues_pkey PRIMARY KEY (name)
  CONSTRAINT queues_running_check CHECK ((running >= 0))
CREATE INDEX queues_full_idx ON :HTDAG_SCHEMA.queues USING btree (name) WHERE (running >= concurrency)
CREATE UNIQUE INDEX queues_pkey ON :HTDAG_SCHEMA.queues USING btree (name)
CREATE TRIGGER queues_slot_freed AFTER UPDATE OF running ON :HTDAG_SCHEMA.queues FOR EACH ROW WHEN (((new.running < old.running) AND (old.concurrency IS NOT NULL) AND (old.running >= old.concurrency))) EXECUTE FUNCTION :HTDAG_SCHEMA.queue_slot_freed()

TABLE :HTDAG_SCHEMA.rate_limits
  key text NOT NULL
  tat timestamp with time zone NOT NULL
  CONSTRAINT rate_limits_pkey PRIMARY KEY (key)
CREATE UNIQUE INDEX rate_limits_pkey ON :HTDAG_SCHEMA.rate_limits USING btree (key)

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

TABLE :HTDAG_SCHEMA.run_revisions
  run_id uuid NOT NULL
  revision integer NOT NULL
  reason text NOT NULL
  task_id text
  added text[] NOT NULL DEFAULT '{}'::text[]
  removed text[] NOT NULL DEFAULT '{}'::text[]
  changed text[] NOT NULL DEFAULT '{}'::text[]
  plan jsonb NOT NULL
  decomposition jsonb
  created_at timestamp with time zone NOT NULL DEFAULT now()
  CONSTRAINT run_revisions_pkey PRIMARY KEY (run_id, revision)
  CONSTRAINT run_revisions_revision_check CHECK ((revision >= 1))
  CONSTRAINT run_revisions_run_id_fkey FOREIGN KEY (run_id) REFERENCES :HTDAG_SCHEMA.runs(id) ON DELETE CASCADE
CREATE UNIQUE INDEX run_revisions_pkey ON :HTDAG_SCHEMA.run_revisions USING btree (run_id, revision)

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
  revision integer NOT NULL DEFAULT 0
  planning_until timestamp with time zone
  llm_calls integer NOT NULL DEFAULT 0
  input_tokens bigint NOT NULL DEFAULT 0
  output_tokens bigint NOT NULL DEFAULT 0
  cost_usd numeric(18,8) NOT NULL DEFAULT 0
  CONSTRAINT runs_cost_usd_check CHECK ((cost_usd >= (0)::numeric))
  CONSTRAINT runs_failed_tasks_check CHECK ((failed_tasks >= 0))
  CONSTRAINT runs_graph_id_fkey FOREIGN KEY (graph_id) REFERENCES :HTDAG_SCHEMA.graphs(id) ON DELETE SET NULL
  CONSTRAINT runs_idempotency_key_unique UNIQUE (idempotency_key)
  CONSTRAINT runs_input_tokens_check CHECK ((input_tokens >= 0))
  CONSTRAINT runs_llm_calls_check CHECK ((llm_calls >= 0))
  CONSTRAINT runs_max_parallel_check CHECK (((max_parallel >= 1) AND (max_parallel <= 10000)))
  CONSTRAINT runs_output_tokens_check CHECK ((output_tokens >= 0))
  CONSTRAINT runs_pkey PRIMARY KEY (id)
  CONSTRAINT runs_priority_check CHECK (((priority >= '-1000'::integer) AND (priority <= 1000)))
  CONSTRAINT runs_remaining_tasks_check CHECK ((remaining_tasks >= 0))
  CONSTRAINT runs_revision_check CHECK ((revision >= 0))
  CONSTRAINT runs_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'awaiting_approval'::text, 'running'::text, 'paused'::text, 'completed'::text, 'failed'::text, 'cancelled'::text, 'timed_out'::text])))
  CONSTRAINT runs_total_tasks_check CHECK ((total_tasks >= 0))
  CONSTRAINT runs_workflow_fkey FOREIGN KEY (workflow) REFERENCES :HTDAG_SCHEMA.workflows(name)
CREATE UNIQUE INDEX runs_idempotency_key_unique ON :HTDAG_SCHEMA.runs USING btree (idempotency_key)
CREATE UNIQUE INDEX runs_pkey ON :HTDAG_SCHEMA.runs USING btree (id)
CREATE INDEX runs_status_idx ON :HTDAG_SCHEMA.runs USING btree (status) WHERE (status = ANY (ARRAY['pending'::text, 'awaiting_approval'::text, 'running'::text, 'paused'::text]))
CREATE INDEX runs_workflow_created_idx ON :HTDAG_SCHEMA.runs USING btree (workflow, created_at DESC)

TABLE :HTDAG_SCHEMA.schedules
  name text NOT NULL
  cron text NOT NULL
  timezone text NOT NULL DEFAULT 'UTC'::text
  workflow text NOT NULL
  graph jsonb NOT NULL
  input jsonb
  overlap text NOT NULL DEFAULT 'allow'::text
  next_tick_at timestamp with time zone NOT NULL
  firing_tick timestamp with time zone
  last_tick_at timestamp with time zone
  last_run_id uuid
  created_at timestamp with time zone NOT NULL DEFAULT now()
  updated_at timestamp with time zone NOT NULL DEFAULT now()
  CONSTRAINT schedules_cron_check CHECK (((length(cron) >= 1) AND (length(cron) <= 200)))
  CONSTRAINT schedules_firing_tick_check CHECK (((firing_tick IS NULL) OR (firing_tick >= next_tick_at)))
  CONSTRAINT schedules_graph_check CHECK ((jsonb_typeof(graph) = 'object'::text))
  CONSTRAINT schedules_name_check CHECK ((name ~ '^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127}$'::text))
  CONSTRAINT schedules_next_tick_at_check CHECK ((next_tick_at = date_trunc('milliseconds'::text, next_tick_at)))
  CONSTRAINT schedules_overlap_check CHECK ((overlap = ANY (ARRAY['allow'::text, 'skip'::text])))
  CONSTRAINT schedules_pkey PRIMARY KEY (name)
  CONSTRAINT schedules_timezone_check CHECK (((length(timezone) >= 1) AND (length(timezone) <= 100)))
  CONSTRAINT schedules_workflow_check CHECK ((workflow ~ '^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127}$'::text))
CREATE INDEX schedules_next_tick_idx ON :HTDAG_SCHEMA.schedules USING btree (next_tick_at)
CREATE UNIQUE INDEX schedules_pkey ON :HTDAG_SCHEMA.schedules USING btree (name)

TABLE :HTDAG_SCHEMA.signals
  run_id uuid NOT NULL
  id bigint NOT NULL
  name text NOT NULL
  payload jsonb NOT NULL
  received_at timestamp with time zone NOT NULL DEFAULT now()
  task_id text
  delivered_at timestamp with time zone
  CONSTRAINT signals_delivered_check CHECK (((task_id IS NULL) = (delivered_at IS NULL)))
  CONSTRAINT signals_pkey PRIMARY KEY (run_id, id)
  CONSTRAINT signals_run_id_fkey FOREIGN KEY (run_id) REFERENCES :HTDAG_SCHEMA.runs(id) ON DELETE CASCADE
CREATE INDEX signals_kept_idx ON :HTDAG_SCHEMA.signals USING btree (run_id, name, id) WHERE (delivered_at IS NULL)
CREATE UNIQUE INDEX signals_pkey ON :HTDAG_SCHEMA.signals USING btree (run_id, id)

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
  replan jsonb
  waiting_since timestamp with time zone
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
  CONSTRAINT tasks_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'ready'::text, 'running'::text, 'completed'::text, 'failed'::text, 'timed_out'::text, 'cancelled'::text, 'skipped'::text, 'superseded'::text])))
  CONSTRAINT tasks_timeout_ms_check CHECK (((timeout_ms >= 1) AND (timeout_ms <= 86400000)))
CREATE INDEX tasks_children_idx ON :HTDAG_SCHEMA.tasks USING btree (run_id, parent_id) WHERE (parent_id IS NOT NULL)
CREATE INDEX tasks_lease_idx ON :HTDAG_SCHEMA.tasks USING btree (lease_expires_at) WHERE (status = 'running'::text)
CREATE UNIQUE INDEX tasks_pkey ON :HTDAG_SCHEMA.tasks USING btree (run_id, id)
CREATE INDEX tasks_queue_ready_idx ON :HTDAG_SCHEMA.tasks USING btree (queue) WHERE ((status = 'ready'::text) AND (queue <> 'default'::text))
CREATE INDEX tasks_ready_idx ON :HTDAG_SCHEMA.tasks USING btree (priority DESC, ready_at, run_id, id) WHERE (status = 'ready'::text)
CREATE INDEX tasks_run_limited_ready_idx ON :HTDAG_SCHEMA.tasks USING btree (run_id) WHERE ((status = 'ready'::text) AND ((queue <> 'default'::text) OR (spec ? 'rateLimit'::text)))
CREATE INDEX tasks_run_ready_idx ON :HTDAG_SCHEMA.tasks USING btree (run_id, priority DESC, ready_at, id) WHERE (status = 'ready'::text)
CREATE INDEX tasks_run_running_idx ON :HTDAG_SCHEMA.tasks USING btree (run_id) WHERE (status = 'running'::text)
CREATE INDEX tasks_run_waits_idx ON :HTDAG_SCHEMA.tasks USING btree (run_id, available_at) WHERE ((status = 'ready'::text) AND (spec ? 'wait'::text))

TABLE :HTDAG_SCHEMA.usage_records
  id bigint NOT NULL
  run_id uuid NOT NULL
  task_id text
  attempt integer
  source text NOT NULL
  model text NOT NULL
  llm_calls integer NOT NULL DEFAULT 1
  input_tokens bigint NOT NULL DEFAULT 0
  output_tokens bigint NOT NULL DEFAULT 0
  cost_usd numeric(18,8)
  created_at timestamp with time zone NOT NULL DEFAULT now()
  CONSTRAINT usage_records_cost_usd_check CHECK (((cost_usd IS NULL) OR (cost_usd >= (0)::numeric)))
  CONSTRAINT usage_records_input_tokens_check CHECK ((input_tokens >= 0))
  CONSTRAINT usage_records_llm_calls_check CHECK ((llm_calls >= 0))
  CONSTRAINT usage_records_output_tokens_check CHECK ((output_tokens >= 0))
  CONSTRAINT usage_records_pkey PRIMARY KEY (id)
  CONSTRAINT usage_records_run_id_fkey FOREIGN KEY (run_id) REFERENCES :HTDAG_SCHEMA.runs(id) ON DELETE CASCADE
  CONSTRAINT usage_records_source_check CHECK ((source = ANY (ARRAY['decomposition'::text, 'revision'::text, 'step'::text])))
CREATE UNIQUE INDEX usage_records_pkey ON :HTDAG_SCHEMA.usage_records USING btree (id)
CREATE INDEX usage_records_run_idx ON :HTDAG_SCHEMA.usage_records USING btree (run_id, id)

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

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.add_plan_tasks(p_run_id uuid, p_tasks jsonb, p_edges jsonb, p_planning_ms integer, p_channel text)
 RETURNS jsonb
 LANGUAGE plpgsql
AS $function$
DECLARE
  v_run "htdag".runs;
  v_added text[];
  v_position integer;
BEGIN
  SELECT * INTO v_run FROM "htdag".runs WHERE id = p_run_id FOR UPDATE;
  IF NOT FOUND OR v_run.status NOT IN ('pending', 'running', 'paused') OR v_run.planning_until IS NULL THEN
    RETURN jsonb_build_object('added', 0, 'runStatus', v_run.status);
  END IF;
  SELECT coalesce(max(position), 0) INTO v_position FROM "htdag".tasks WHERE run_id = p_run_id;
  WITH ins AS (
    INSERT INTO "htdag".tasks (run_id, id, position, parent_id, kind, step, description, remaining_deps, run_if,
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
  INSERT INTO "htdag".task_edges (run_id, task_id, depends_on)
  SELECT p_run_id, x.task_id, x.depends_on FROM jsonb_to_recordset(p_edges) AS x(task_id text, depends_on text);
  PERFORM "htdag".derive_dependency_counters(p_run_id, v_added);
  -- GUARD: the run is locked and not final (checked above).
  UPDATE "htdag".runs SET total_tasks = total_tasks + cardinality(v_added),
         remaining_tasks = remaining_tasks + cardinality(v_added),
         planning_until = now() + p_planning_ms * interval '1 millisecond'
   WHERE id = p_run_id
  RETURNING * INTO v_run;
  PERFORM "htdag".emit(p_channel, 'plan:task_added', p_run_id, x.id, v_run.workflow,
            jsonb_strip_nulls(jsonb_build_object('taskId', x.id, 'step', x.step,
                                                 'dependsOn', coalesce(x.spec -> 'dependsOn', '[]'::jsonb))))
    FROM jsonb_to_recordset(p_tasks) AS x(id text, step text, spec jsonb);
  IF v_run.status <> 'pending' THEN
    PERFORM "htdag".cascade_tasks(v_run, NULL, NULL, NULL, NULL,
      ARRAY(SELECT id FROM "htdag".tasks WHERE run_id = p_run_id AND id = ANY (v_added)
              AND status = 'pending' AND remaining_deps = 0),
      p_channel);
  END IF;
  RETURN jsonb_build_object('added', cardinality(v_added), 'runStatus', v_run.status);
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.apply_revision(p_run_id uuid, p_task_id text, p_attempt integer, p_worker text, p_revision integer, p_tasks jsonb, p_edges jsonb, p_record jsonb, p_claim_limit integer, p_lease_ms integer, p_channel text)
 RETURNS jsonb
 LANGUAGE plpgsql
AS $function$
DECLARE
  v_run "htdag".runs;
  v_task "htdag".tasks;
  v_settled jsonb;
  v_revised jsonb;
BEGIN
  SELECT * INTO v_run FROM "htdag".runs WHERE id = p_run_id FOR UPDATE;
  SELECT * INTO v_task FROM "htdag".tasks WHERE run_id = p_run_id AND id = p_task_id FOR UPDATE;
  -- GUARD: the live revision attempt of the task, held by p_worker, in a run that runs or is paused.
  IF NOT FOUND OR v_task.status <> 'running' OR v_task.attempts <> p_attempt OR v_task.replan IS NULL
     OR (p_worker IS NOT NULL AND v_task.lease_owner IS DISTINCT FROM p_worker)
     OR v_run.status IS NULL OR v_run.status NOT IN ('running', 'paused') THEN
    RETURN jsonb_build_object('settled', false, 'runStatus', v_run.status, 'claimed', '[]'::jsonb, 'aborted', '[]'::jsonb);
  END IF;
  IF v_run.revision <> p_revision OR v_run.revision >= coalesce((v_run.options -> 'replan' ->> 'maxRevisions')::integer, 2) THEN
    -- Stale: released (not charged, the mark kept), so it is asked again of the plan as it is now.
    -- Out of revisions (two asked at once for the last one): the task fails as it would have.
    v_settled := "htdag".settle_locked(v_run, p_worker, jsonb_build_array(
      CASE WHEN v_run.revision <> p_revision
           THEN jsonb_build_object('taskId', p_task_id, 'attempt', p_attempt, 'outcome', 'released',
                  'error', jsonb_build_object('name', 'StaleRevision', 'message',
                    'the plan was revised (revision ' || v_run.revision || ') while this revision was asked of revision ' || p_revision))
           ELSE jsonb_build_object('taskId', p_task_id, 'attempt', p_attempt,
                  'outcome', CASE WHEN v_task.replan ->> 'outcome' = 'timed_out' THEN 'timed_out' ELSE 'failed' END,
                  'error', v_task.replan -> 'error', 'errorClass', v_task.replan -> 'error' ->> 'name') END), p_channel);
    v_run := "htdag".finish_run_if_done(p_run_id, p_channel);
    RETURN jsonb_build_object('settled', false, 'stale', v_run.revision <> p_revision, 'runStatus', v_run.status,
      'aborted', v_settled -> 'aborted',
      'claimed', "htdag".claim_locked_run(v_run, p_worker, p_claim_limit, p_lease_ms, p_channel));
  END IF;

  -- The revision attempt, closed; its queue slot given back.
  UPDATE "htdag".attempts SET status = 'revised', finished_at = now(), error_class = 'Revision',
         duration_ms = extract(epoch FROM (now() - started_at)) * 1000
   WHERE run_id = p_run_id AND task_id = p_task_id AND attempt = p_attempt AND status = 'running';
  UPDATE "htdag".queues SET running = running - 1 WHERE name = v_task.queue AND running > 0;
  v_revised := "htdag".revise_locked(v_run, p_task_id, coalesce(v_task.replan ->> 'reason', 'revision asked'),
                                           p_tasks, p_edges, p_record, p_channel);
  v_run := "htdag".finish_run_if_done(p_run_id, p_channel);
  RETURN v_revised || jsonb_build_object('settled', true, 'runStatus', v_run.status,
    'claimed', "htdag".claim_locked_run(v_run, p_worker, p_claim_limit, p_lease_ms, p_channel));
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.approve_plan(p_run_id uuid, p_graph jsonb, p_tasks jsonb, p_edges jsonb, p_channel text)
 RETURNS text
 LANGUAGE plpgsql
AS $function$
DECLARE v_run "htdag".runs;
BEGIN
  SELECT * INTO v_run FROM "htdag".runs WHERE id = p_run_id FOR UPDATE;
  IF NOT FOUND THEN RETURN NULL; END IF;
  -- GUARD: only a run awaiting approval of its plan is approved (the run is locked).
  IF v_run.status <> 'awaiting_approval' THEN RETURN v_run.status; END IF;
  IF p_tasks IS NOT NULL THEN
    -- The edited plan is a graph of its own (a new id): the graph row of the recorded plan, which
    -- other runs may share, is left as it is.
    INSERT INTO "htdag".graphs (id, goal, decomposer, source, tasks, decomposed_at)
    VALUES (p_graph ->> 'id', p_graph ->> 'goal', p_graph ->> 'decomposer', p_graph ->> 'source', p_graph -> 'tasks',
            (p_graph ->> 'decomposedAt')::timestamptz);
    -- Nothing of the run ran: its tasks have no attempts, logs or outputs to keep. Edges go with them.
    DELETE FROM "htdag".tasks WHERE run_id = p_run_id;
    INSERT INTO "htdag".tasks (run_id, id, position, parent_id, kind, step, description, remaining_deps, run_if,
                                     spec, input, priority, queue, max_attempts, attempt_budget, timeout_ms, backoff,
                                     status)
    SELECT p_run_id, id, e.n, parent_id, kind, step, description, remaining_deps, run_if, spec, input,
           priority, queue, max_attempts, max_attempts, timeout_ms, backoff, 'pending'
      FROM jsonb_array_elements(p_tasks) WITH ORDINALITY AS e(value, n),
           jsonb_to_record(e.value) AS x(id text, parent_id text, kind text, step text, description text,
           remaining_deps integer, run_if text, spec jsonb, input jsonb, priority integer, queue text,
           max_attempts integer, timeout_ms integer, backoff jsonb);
    INSERT INTO "htdag".task_edges (run_id, task_id, depends_on)
    SELECT p_run_id, task_id, depends_on FROM jsonb_to_recordset(p_edges) AS x(task_id text, depends_on text);
    UPDATE "htdag".runs SET graph_id = p_graph ->> 'id', total_tasks = jsonb_array_length(p_tasks),
           remaining_tasks = jsonb_array_length(p_tasks), failed_tasks = 0
     WHERE id = p_run_id;
  END IF;
  PERFORM "htdag".emit(p_channel, 'plan:approved', p_run_id, NULL, v_run.workflow,
    jsonb_build_object('edited', p_tasks IS NOT NULL,
                       'tasks', (SELECT total_tasks FROM "htdag".runs WHERE id = p_run_id)));
  -- start_run starts pending runs only: the run goes through pending inside this transaction, unseen.
  UPDATE "htdag".runs SET status = 'pending' WHERE id = p_run_id;
  -- Claims nothing (limit 0): workers or the run's executor claim its ready tasks.
  PERFORM "htdag".start_run(p_run_id, NULL, 0, 0, p_channel);
  RETURN v_run.status;
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.backoff_delay_ms(p_backoff jsonb, p_attempt integer)
 RETURNS integer
 LANGUAGE sql
AS $function$
  SELECT greatest(0, round(least(c.max_ms, c.capped + c.capped * c.jitter * (random() * 2 - 1))))::integer
    FROM (SELECT least(CASE p_backoff ->> 'kind'
                         WHEN 'exponential' THEN b.base_ms * power(2::double precision, least(greatest(0, p_attempt - 1), 60))
                         WHEN 'linear' THEN b.base_ms * greatest(1, p_attempt)
                         ELSE b.base_ms END, b.max_ms) AS capped, b.max_ms, b.jitter
            FROM (SELECT coalesce((p_backoff ->> 'baseMs')::double precision, 0) AS base_ms,
                         coalesce((p_backoff ->> 'maxMs')::double precision, 0) AS max_ms,
                         coalesce((p_backoff ->> 'jitter')::double precision, 0) AS jitter) b) c
$function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.begin_schedule_tick(p_name text, p_seen timestamp with time zone, p_tick timestamp with time zone, p_next timestamp with time zone, p_channel text)
 RETURNS TABLE(outcome text, tick timestamp with time zone)
 LANGUAGE plpgsql
AS $function$
DECLARE v_schedule "htdag".schedules;
BEGIN
  -- GUARD: only the tick the caller saw is begun; the row is locked while the choice is made.
  SELECT * INTO v_schedule FROM "htdag".schedules WHERE name = p_name AND next_tick_at = p_seen FOR UPDATE;
  IF NOT FOUND THEN RETURN QUERY SELECT 'gone'::text, NULL::timestamptz; RETURN; END IF;
  IF v_schedule.firing_tick IS NOT NULL THEN
    RETURN QUERY SELECT 'fire'::text, v_schedule.firing_tick; RETURN;
  END IF;
  IF v_schedule.overlap = 'skip' AND EXISTS (
       SELECT 1 FROM "htdag".runs
        WHERE id = v_schedule.last_run_id AND status NOT IN ('completed', 'failed', 'cancelled', 'timed_out')) THEN
    UPDATE "htdag".schedules SET next_tick_at = p_next, last_tick_at = p_tick, updated_at = now()
     WHERE name = p_name;
    PERFORM "htdag".emit(p_channel, 'schedule:fired', NULL, NULL, v_schedule.workflow,
      jsonb_build_object('schedule', p_name, 'tick', to_char(p_tick AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                         'runId', NULL, 'skipped', true));
    RETURN QUERY SELECT 'skipped'::text, p_tick; RETURN;
  END IF;
  UPDATE "htdag".schedules SET firing_tick = p_tick WHERE name = p_name;
  RETURN QUERY SELECT 'fire'::text, p_tick;
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.budget_reached(p_run :HTDAG_SCHEMA.runs)
 RETURNS boolean
 LANGUAGE sql
 IMMUTABLE
AS $function$
  SELECT coalesce((p_run.options -> 'budget' ->> 'tokens')::numeric <= p_run.input_tokens + p_run.output_tokens, false)
      OR coalesce((p_run.options -> 'budget' ->> 'costUsd')::numeric <= p_run.cost_usd, false)
      OR coalesce((p_run.options -> 'budget' ->> 'llmCalls')::numeric <= p_run.llm_calls, false)
$function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.cascade_tasks(p_run :HTDAG_SCHEMA.runs, p_ids text[], p_statuses text[], p_outputs jsonb[], p_errors jsonb[], p_decide text[], p_channel text, p_locked tid[] DEFAULT NULL::tid[])
 RETURNS jsonb
 LANGUAGE plpgsql
AS $function$
DECLARE
  v_run "htdag".runs := p_run;
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
      SELECT * INTO v_wave FROM "htdag".finish_wave(v_run, v_ids, v_statuses, v_outputs, v_errors, p_channel,
                                                          v_locked);
      v_locked := NULL;
      v_ended := v_ended || v_wave.ended;
      v_decide := coalesce(v_decide, '{}') || coalesce(v_wave.decide, '{}');
      v_first_failed := v_wave.first_failed;
    END IF;
    v_ids := '{}'; v_statuses := '{}'; v_outputs := '{}'; v_errors := '{}';
    IF cardinality(v_decide) > 0 THEN
      -- The usual case, set-based: atomic tasks (and lazy composites not expanded yet) that may run.
      UPDATE "htdag".tasks t SET status = 'ready', ready_at = now(), available_at = now()
       WHERE t.run_id = p_run_id AND t.id = ANY (v_decide) AND t.status = 'pending' AND t.remaining_deps = 0
         AND (t.kind = 'atomic' OR (t.spec ->> 'expand' = 'lazy'
              AND NOT EXISTS (SELECT 1 FROM "htdag".tasks c WHERE c.run_id = t.run_id AND c.parent_id = t.id)))
         AND "htdag".dependant_outcome(t.run_if, t.failed_deps, t.skipped_deps) = 'ready';
      FOR v_dep IN
        SELECT t.id, t.run_if, t.failed_deps, t.skipped_deps,
               t.kind = 'composite' AND (coalesce(t.spec ->> 'expand', 'eager') = 'eager'
                 OR EXISTS (SELECT 1 FROM "htdag".tasks c WHERE c.run_id = t.run_id AND c.parent_id = t.id)) AS joins,
               (SELECT count(*) FROM "htdag".task_edges e JOIN "htdag".tasks d
                   ON d.run_id = e.run_id AND d.id = e.depends_on
                 WHERE e.run_id = t.run_id AND e.task_id = t.id AND d.parent_id IS DISTINCT FROM t.id
                   AND d.status = 'skipped') AS own_skipped
          FROM "htdag".tasks t
         WHERE t.run_id = p_run_id AND t.id = ANY (v_decide) AND t.status = 'pending' AND t.remaining_deps = 0
         ORDER BY t.position
      LOOP
        IF v_dep.joins THEN
          v_next := CASE WHEN v_dep.failed_deps > 0 THEN 'failed'
                         WHEN v_dep.own_skipped > 0 AND v_dep.run_if = 'allSucceeded' THEN 'skipped'
                         ELSE 'completed' END;
        ELSE
          v_next := "htdag".dependant_outcome(v_dep.run_if, v_dep.failed_deps, v_dep.skipped_deps);
        END IF;
        CONTINUE WHEN v_next = 'ready';
        v_ids := v_ids || v_dep.id::text;
        v_statuses := v_statuses || v_next;
        v_outputs := v_outputs || CASE WHEN v_next = 'completed' THEN
          (SELECT coalesce(jsonb_object_agg(c.id, c.output), '{}') FROM "htdag".tasks c
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
        FROM "htdag".tasks t
       WHERE t.run_id = p_run_id AND t.status IN ('pending', 'ready', 'running') AND t.run_if = 'allSucceeded'
         AND t.id <> ALL (v_ids);
    END IF;
    EXIT WHEN cardinality(v_ids) = 0;
  END LOOP;
  RETURN v_ended;
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
  v_mode text := CASE WHEN p_channel IS NOT NULL THEN "htdag".notify_mode(p_run.options) END;
  v_notify boolean := v_mode IS NOT NULL;
  -- FLOW CONTROL: the queues at their limit, and when a task refused by a rate limit may start.
  v_full text[];
  v_start_at timestamptz;
BEGIN
  IF p_run.status <> 'running' OR p_run.run_at > now() THEN RETURN v_claimed; END IF;
  -- GUARD: no task starts once the run's budget is reached (record_usage fails such a run at once;
  -- this holds if a claim ever finds one still running). One test on the row already loaded.
  IF p_run.options ? 'budget' AND "htdag".budget_reached(p_run) THEN RETURN v_claimed; END IF;
  -- Waits (0006): start the run's due waits, deliver kept signals, end the waits whose time came.
  -- One probe of the partial index tasks_run_waits_idx, empty for a run without waits. The run
  -- may end here (its last task was a wait). Done even with no slot to fill (p_limit 0).
  IF EXISTS (SELECT 1 FROM "htdag".tasks
              WHERE run_id = p_run.id AND status = 'ready' AND spec ? 'wait' AND available_at <= now()) THEN
    PERFORM "htdag".process_waits(p_run, p_channel);
    SELECT * INTO p_run FROM "htdag".runs WHERE id = p_run.id;
    IF p_run.status <> 'running' THEN RETURN v_claimed; END IF;
  END IF;
  IF p_limit <= 0 THEN RETURN v_claimed; END IF;
  SELECT least(p_limit, p_run.max_parallel - (SELECT count(*) FROM "htdag".tasks
                                              WHERE run_id = p_run.id AND status = 'running' AND kind = 'atomic')),
         -- FLOW CONTROL: from the run's ready tasks under flow control or in a named queue (a partial
         -- index, empty for most runs), the first with a rate limit, a concurrency key, or a queue
         -- that has a row; or a limit on the queue 'default' itself (one primary-key probe).
         EXISTS (SELECT 1 FROM "htdag".tasks t
                  WHERE t.run_id = p_run.id AND t.status = 'ready' AND (t.queue <> 'default' OR t.spec ? 'rateLimit')
                    AND (t.spec ? 'rateLimit' OR t.spec ? 'concurrency'
                         OR EXISTS (SELECT 1 FROM "htdag".queues q WHERE q.name = t.queue)))
         OR EXISTS (SELECT 1 FROM "htdag".queues WHERE name = 'default')
    INTO v_free, v_queued;
  IF v_free <= 0 THEN RETURN v_claimed; END IF;
  IF v_queued THEN
    -- FLOW CONTROL: task by task. The tasks of a queue at its limit are skipped, not locked, so they
    -- hide no other task (one busy key starves no other); each other one takes a slot of its queue
    -- (take_queue_slot, which re-checks under the queue's lock), then a token of its rate limit:
    -- refused, it gives the slot back and is not claimable before the key allows it.
    v_full := ARRAY(SELECT name FROM "htdag".queues WHERE running >= concurrency);
    FOR v_task IN
      SELECT id, queue, spec -> 'rateLimit' AS rate_limit, (spec -> 'concurrency' ->> 'limit')::integer AS concurrency
        FROM "htdag".tasks
       -- GUARD: a wait task is never claimed into running (0006).
       WHERE run_id = p_run.id AND status = 'ready' AND available_at <= now() AND queue <> ALL (v_full)
         AND NOT (spec ? 'wait')
       ORDER BY priority DESC, ready_at, id
       LIMIT p_limit * 4 FOR UPDATE SKIP LOCKED
    LOOP
      EXIT WHEN v_free <= 0;
      -- The channel a freed slot NOTIFYs on: none when the run NOTIFYs nothing (realTimeNotifications false).
      CONTINUE WHEN NOT "htdag".take_queue_slot(v_task.queue, v_task.concurrency,
                                                      CASE WHEN v_notify THEN p_channel END);
      IF v_task.rate_limit IS NOT NULL THEN
        v_start_at := "htdag".take_rate_token(v_task.rate_limit);
        IF v_start_at IS NOT NULL THEN
          -- GUARD: the ready task locked above; it stays ready, claimable from v_start_at.
          UPDATE "htdag".tasks SET available_at = v_start_at
           WHERE run_id = p_run.id AND id = v_task.id AND status = 'ready';
          UPDATE "htdag".queues SET running = running - 1 WHERE name = v_task.queue AND running > 0;
          PERFORM "htdag".note_wake_at(v_start_at);
          CONTINUE;
        END IF;
      END IF;
      v_claimed := v_claimed || "htdag".start_attempt(p_run.id, v_task.id, p_run.workflow, p_worker, p_lease_ms, p_channel);
      v_free := v_free - 1;
    END LOOP;
    RETURN v_claimed;
  END IF;
  SELECT array_agg(id) INTO v_ids FROM (
    SELECT id FROM "htdag".tasks
     -- GUARD: a wait task is never claimed into running (0006).
     WHERE run_id = p_run.id AND status = 'ready' AND available_at <= now() AND NOT (spec ? 'wait')
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
     -- GUARD: the rows were locked while ready, by the statement above (a status condition here would
     -- steer the planner to the ready index, filtering every ready task of the run by ctid).
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
            'maxAttempts', u.max_attempts, 'attemptBase', u.max_attempts - u.attempt_budget, 'backoff', u.backoff, 'queue', u.queue,
            'replan', u.replan, 'deps', "htdag".dependency_outputs(p_run.id, u.id))
            ORDER BY u.priority DESC, u.ready_at, u.id) FROM u),
         (SELECT count(pg_notify(p_channel, json_build_object('id', ev.id, 'type', 'task:started', 'runId', p_run.id,
                                                            'taskId', ev.task_id, 'workflow', p_run.workflow)::text))
            FROM ev WHERE v_notify AND (v_mode = 'all' OR "htdag".notify_scope(p_channel, p_run.id) = 'all'))
    INTO v_claimed;
  RETURN coalesce(v_claimed, '[]'::jsonb);
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.claim_tasks(p_run_id uuid, p_workflows text[], p_worker text, p_limit integer, p_lease_ms integer, p_channel text)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET enable_bitmapscan TO 'off'
 SET enable_seqscan TO 'off'
AS $function$
DECLARE
  v_claimed jsonb := '[]';
  v_got jsonb;
  v_run "htdag".runs;
  v_run_id uuid;
  v_free integer := p_limit;
  v_busy boolean := false;
  -- FLOW CONTROL: the queues at their limit (usually none): their tasks are passed over.
  v_full text[];
BEGIN
  IF p_run_id IS NOT NULL THEN
    -- Serialises claims and settles of one run, so max_parallel holds exactly.
    SELECT * INTO v_run FROM "htdag".runs WHERE id = p_run_id FOR UPDATE;
    IF FOUND THEN
      v_claimed := "htdag".claim_locked_run(v_run, p_worker, greatest(p_limit, 0), p_lease_ms, p_channel);
      SELECT * INTO v_run FROM "htdag".runs WHERE id = p_run_id;
    END IF;
    RETURN "htdag".with_flow_wake(jsonb_build_object('claimed', v_claimed, 'busy', false,
                                                           'runStatus', v_run.status));
  END IF;
  IF p_limit <= 0 THEN
    -- Waits (0006): a worker with no slot to fill still ends the due waits of its workflows' runs
    -- (a wait holds no slot), on its poll. The partial index holds only ready wait tasks.
    FOR v_run_id IN
      SELECT DISTINCT t.run_id FROM "htdag".tasks t
       WHERE t.status = 'ready' AND t.spec ? 'wait' AND t.available_at <= now()
       LIMIT 100
    LOOP
      SELECT * INTO v_run FROM "htdag".runs
       WHERE id = v_run_id AND status = 'running' AND (p_workflows IS NULL OR workflow = ANY (p_workflows))
         FOR UPDATE SKIP LOCKED;
      CONTINUE WHEN NOT FOUND;
      PERFORM "htdag".claim_locked_run(v_run, p_worker, 0, p_lease_ms, p_channel);
    END LOOP;
    RETURN "htdag".with_flow_wake(jsonb_build_object('claimed', v_claimed, 'busy', false));
  END IF;
  v_full := ARRAY(SELECT name FROM "htdag".queues WHERE running >= concurrency);
  -- Workers: the runs of the best ready tasks (priority, then age), each claimed under its lock.
  -- A run another transaction holds (a settle, which claims for itself) is skipped, not waited
  -- for, and none of its task rows is locked; the claim says it was busy.
  FOR v_run_id IN
    SELECT x.run_id FROM (
      -- Ready tasks in the ready index's order, each run looked up by primary key (OFFSET 0 keeps
      -- the planner from reading every running run first and sorting all their ready tasks, as it
      -- would on statistics that say there are few), until p_limit * 4 are found. FLOW CONTROL:
      -- not those of a queue at its limit, so one busy key hides no other run's tasks.
      SELECT t.run_id, t.priority, t.ready_at FROM "htdag".tasks t,
             LATERAL (SELECT 1 FROM "htdag".runs r
                       WHERE r.id = t.run_id AND r.status = 'running' AND r.run_at <= now()
                         AND (p_workflows IS NULL OR r.workflow = ANY (p_workflows)) OFFSET 0) r
       WHERE t.status = 'ready' AND t.available_at <= now() AND t.queue <> ALL (v_full)
       ORDER BY t.priority DESC, t.ready_at, t.run_id, t.id
       LIMIT p_limit * 4) x
     GROUP BY x.run_id
     ORDER BY max(x.priority) DESC, min(x.ready_at)
  LOOP
    SELECT * INTO v_run FROM "htdag".runs WHERE id = v_run_id FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
      v_busy := true;
      CONTINUE;
    END IF;
    v_got := "htdag".claim_locked_run(v_run, p_worker, v_free, p_lease_ms, p_channel);
    v_claimed := v_claimed || v_got;
    v_free := v_free - jsonb_array_length(v_got);
    EXIT WHEN v_free <= 0;
  END LOOP;
  RETURN "htdag".with_flow_wake(jsonb_build_object('claimed', v_claimed, 'busy', v_busy AND v_free > 0));
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.close_plan_stream(p_run_id uuid, p_graph_id text, p_tasks jsonb, p_edges jsonb, p_revise boolean, p_reason text, p_record jsonb, p_channel text)
 RETURNS jsonb
 LANGUAGE plpgsql
AS $function$
DECLARE
  v_run "htdag".runs;
  v_revised jsonb := '{}';
BEGIN
  SELECT * INTO v_run FROM "htdag".runs WHERE id = p_run_id FOR UPDATE;
  IF NOT FOUND OR v_run.status NOT IN ('pending', 'running', 'paused') OR v_run.planning_until IS NULL THEN
    RETURN jsonb_build_object('closed', false, 'runStatus', v_run.status, 'aborted', '[]'::jsonb);
  END IF;
  IF p_revise THEN
    v_revised := "htdag".revise_locked(v_run, NULL, p_reason, p_tasks, p_edges, p_record, p_channel);
  ELSIF jsonb_array_length(p_tasks) > 0 THEN
    PERFORM "htdag".add_plan_tasks(p_run_id, p_tasks, p_edges, 0, p_channel);
  END IF;
  -- GUARD: the run is locked and not final (checked above).
  UPDATE "htdag".runs SET planning_until = NULL, graph_id = p_graph_id WHERE id = p_run_id;
  v_run := "htdag".finish_run_if_done(p_run_id, p_channel);
  RETURN jsonb_build_object('closed', true, 'runStatus', v_run.status, 'aborted', coalesce(v_revised -> 'aborted', '[]'::jsonb));
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.deliver_signal(p_run_id uuid, p_name text, p_payload jsonb, p_channel text)
 RETURNS jsonb
 LANGUAGE plpgsql
AS $function$
DECLARE
  v_run "htdag".runs;
  v_task "htdag".tasks;
  v_waits integer;
  v_kept integer;
BEGIN
  SELECT * INTO v_run FROM "htdag".runs WHERE id = p_run_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN jsonb_build_object('delivered', false, 'reason', 'no run has this id', 'runStatus', NULL);
  END IF;
  -- GUARD: only a run that is not final takes a signal (one awaiting approval of its plan keeps it
  -- for its wait, as a pending run does).
  IF v_run.status NOT IN ('pending', 'awaiting_approval', 'running', 'paused') THEN
    RETURN jsonb_build_object('delivered', false, 'reason', 'the run is ' || v_run.status, 'runStatus', v_run.status);
  END IF;
  -- GUARD: a wait for the name that is not final, and not already promised a kept signal.
  SELECT count(*) INTO v_waits FROM "htdag".tasks
   WHERE run_id = p_run_id AND status IN ('pending', 'ready') AND spec -> 'wait' ->> 'signal' = p_name;
  SELECT count(*) INTO v_kept FROM "htdag".signals
   WHERE run_id = p_run_id AND name = p_name AND delivered_at IS NULL;
  IF v_waits <= v_kept THEN
    RETURN jsonb_build_object('delivered', false, 'runStatus', v_run.status, 'reason',
      CASE WHEN v_waits = 0 THEN 'no wait task of the run that is not final waits for it'
           ELSE 'every wait task for it that is not final has a signal kept for it already' END);
  END IF;
  SELECT * INTO v_task FROM "htdag".tasks
   WHERE run_id = p_run_id AND status = 'ready' AND spec -> 'wait' ->> 'signal' = p_name
     AND waiting_since >= ready_at
   ORDER BY position LIMIT 1 FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO "htdag".signals (run_id, name, payload) VALUES (p_run_id, p_name, p_payload);
    PERFORM "htdag".emit(p_channel, 'signal:received', p_run_id, NULL, v_run.workflow,
      jsonb_build_object('name', p_name, 'delivered', false, 'taskId', NULL));
    RETURN jsonb_build_object('delivered', false, 'taskId', NULL, 'runStatus', v_run.status);
  END IF;
  INSERT INTO "htdag".signals (run_id, name, payload, task_id, delivered_at)
  VALUES (p_run_id, p_name, p_payload, v_task.id, now());
  PERFORM "htdag".emit(p_channel, 'signal:received', p_run_id, v_task.id, v_run.workflow,
    jsonb_build_object('name', p_name, 'delivered', true, 'taskId', v_task.id));
  PERFORM "htdag".record_wait_attempt(v_run, v_task, 'completed', NULL);
  PERFORM "htdag".cascade_tasks(v_run, ARRAY[v_task.id], ARRAY['completed'], ARRAY[p_payload],
                                      ARRAY[NULL::jsonb], NULL, p_channel);
  v_run := "htdag".finish_run_if_done(p_run_id, p_channel);
  RETURN jsonb_build_object('delivered', true, 'taskId', v_task.id, 'runStatus', v_run.status);
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.dependant_outcome(p_run_if text, p_failed integer, p_skipped integer)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE
AS $function$
  SELECT CASE
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

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.derive_dependency_counters(p_run_id uuid, p_ids text[])
 RETURNS integer
 LANGUAGE plpgsql
AS $function$
DECLARE v_changed integer;
BEGIN
  WITH d AS (
    SELECT t.id,
           count(dep.id) FILTER (WHERE dep.status IN ('pending', 'ready', 'running'))::integer AS remaining,
           count(dep.id) FILTER (WHERE dep.status IN ('failed', 'timed_out', 'cancelled'))::integer AS failed,
           count(dep.id) FILTER (WHERE dep.status = 'skipped')::integer AS skipped
      FROM "htdag".tasks t
      LEFT JOIN "htdag".task_edges e ON e.run_id = t.run_id AND e.task_id = t.id
      LEFT JOIN "htdag".tasks dep ON dep.run_id = e.run_id AND dep.id = e.depends_on
     WHERE t.run_id = p_run_id AND t.id = ANY (p_ids) AND t.status IN ('pending', 'running')
     GROUP BY t.id
  ), changed AS (
    UPDATE "htdag".tasks t SET remaining_deps = d.remaining, failed_deps = d.failed, skipped_deps = d.skipped
      FROM d
     WHERE t.run_id = p_run_id AND t.id = d.id
       AND (t.remaining_deps, t.failed_deps, t.skipped_deps) IS DISTINCT FROM (d.remaining, d.failed, d.skipped)
    RETURNING t.id
  )
  SELECT count(*) INTO v_changed FROM changed;
  RETURN v_changed;
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.emit(p_channel text, p_type text, p_run_id uuid, p_task_id text, p_workflow text, p_payload jsonb, p_always boolean DEFAULT false)
 RETURNS bigint
 LANGUAGE plpgsql
AS $function$
DECLARE
  v_id bigint;
  v_mode text;
BEGIN
  INSERT INTO "htdag".events (type, channel, run_id, task_id, workflow, payload)
  VALUES (p_type, coalesce(p_channel, 'htdag_events'), p_run_id, p_task_id, p_workflow, coalesce(p_payload, '{}'))
  RETURNING id INTO v_id;
  -- The run's mode (notify_mode); an event of no run is NOTIFYed.
  v_mode := CASE WHEN p_run_id IS NULL THEN 'all'
                 ELSE "htdag".notify_mode((SELECT options FROM "htdag".runs WHERE id = p_run_id)) END;
  IF p_channel IS NOT NULL AND v_mode IS NOT NULL
     AND (p_always OR v_mode = 'all' OR "htdag".notify_wanted(p_channel, p_type, p_run_id)) THEN
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
  v_children text[];
  v_position integer;
BEGIN
  SELECT * INTO v_run FROM "htdag".runs WHERE id = p_run_id FOR UPDATE;
  SELECT * INTO v_task FROM "htdag".tasks WHERE run_id = p_run_id AND id = p_task_id FOR UPDATE;
  IF NOT FOUND OR v_task.status <> 'running' OR v_task.attempts <> p_attempt OR v_task.kind <> 'composite'
     OR (p_worker IS NOT NULL AND v_task.lease_owner IS DISTINCT FROM p_worker)
     OR v_run.status NOT IN ('running', 'paused') THEN
    RETURN jsonb_build_object('settled', false, 'runStatus', v_run.status, 'claimed', '[]'::jsonb);
  END IF;
  SELECT coalesce(max(position), 0) INTO v_position FROM "htdag".tasks WHERE run_id = p_run_id;
  WITH ins AS (
    INSERT INTO "htdag".tasks (run_id, id, position, parent_id, kind, step, description, remaining_deps, run_if,
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
  INSERT INTO "htdag".task_edges (run_id, task_id, depends_on)
  SELECT p_run_id, x.task_id, x.depends_on FROM jsonb_to_recordset(p_edges) AS x(task_id text, depends_on text);
  -- Inherited dependencies: every child waits for what the composite waited for.
  INSERT INTO "htdag".task_edges (run_id, task_id, depends_on)
  SELECT p_run_id, c.id, e.depends_on
    FROM unnest(v_children) AS c(id), "htdag".task_edges e
   WHERE e.run_id = p_run_id AND e.task_id = p_task_id
  ON CONFLICT DO NOTHING;
  INSERT INTO "htdag".task_edges (run_id, task_id, depends_on)
  SELECT p_run_id, p_task_id, c.id FROM jsonb_to_recordset(p_tasks) AS c(id text, parent_id text) WHERE c.parent_id IS NULL;
  -- The children's and the composite's counters, derived from their dependencies' statuses.
  PERFORM "htdag".derive_dependency_counters(p_run_id, v_children || p_task_id);
  UPDATE "htdag".attempts SET status = 'completed', finished_at = now(),
         duration_ms = extract(epoch FROM (now() - started_at)) * 1000
   WHERE run_id = p_run_id AND task_id = p_task_id AND attempt = p_attempt AND status = 'running';
  UPDATE "htdag".queues SET running = running - 1 WHERE name = v_task.queue AND running > 0;
  -- GUARD: the running composite, locked above.
  UPDATE "htdag".tasks SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL
   WHERE run_id = p_run_id AND id = p_task_id AND status = 'running';
  UPDATE "htdag".runs SET total_tasks = total_tasks + cardinality(v_children),
         remaining_tasks = remaining_tasks + cardinality(v_children)
   WHERE id = p_run_id;
  PERFORM "htdag".emit(p_channel, 'decomposition:completed', p_run_id, p_task_id, v_run.workflow,
                             jsonb_build_object('lazy', true, 'tasks', cardinality(v_children)));
  IF cardinality(v_children) = 0 THEN
    -- Nothing to wait for: the composite completes at once.
    PERFORM "htdag".cascade_tasks(v_run, ARRAY[p_task_id], ARRAY['completed'], ARRAY['{}'::jsonb],
                                        ARRAY[NULL::jsonb], NULL, p_channel);
  ELSE
    PERFORM "htdag".cascade_tasks(v_run, NULL, NULL, NULL, NULL,
      ARRAY(SELECT id FROM "htdag".tasks WHERE run_id = p_run_id AND id = ANY (v_children)
              AND status = 'pending' AND remaining_deps = 0),
      p_channel);
  END IF;
  v_run := "htdag".finish_run_if_done(p_run_id, p_channel);
  RETURN jsonb_build_object('settled', true, 'status', 'pending', 'runStatus', v_run.status,
    'claimed', "htdag".claim_locked_run(v_run, p_worker, p_claim_limit, p_lease_ms, p_channel));
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.fail_over_budget(p_run :HTDAG_SCHEMA.runs, p_channel text)
 RETURNS void
 LANGUAGE plpgsql
AS $function$
DECLARE
  v_spent jsonb := "htdag".spend_of(p_run);
  v_budget jsonb := p_run.options -> 'budget';
  v_reached text;
  v_error jsonb;
BEGIN
  SELECT string_agg(k || ' ' || (v_spent ->> k) || ' of ' || (v_budget ->> k), ', ' ORDER BY o) INTO v_reached
    FROM unnest(ARRAY['tokens', 'costUsd', 'llmCalls']) WITH ORDINALITY AS x(k, o)
   WHERE v_budget ? k AND (v_budget ->> k)::numeric <= (v_spent ->> k)::numeric;
  v_error := jsonb_build_object('name', 'BudgetExceededError', 'code', 'BUDGET_EXCEEDED', 'spent', v_spent,
    'budget', v_budget, 'message', 'run ' || p_run.id || ' reached its budget (' || coalesce(v_reached, 'a limit') ||
    '): no task starts and no LLM call is made; raise it with retryRun(runId, { budget: { … } }) to go on');
  PERFORM "htdag".emit(p_channel, 'budget:exceeded', p_run.id, NULL, p_run.workflow,
                             jsonb_build_object('spent', v_spent, 'budget', v_budget));
  PERFORM "htdag".cascade_tasks(p_run, ids, array_fill('cancelled'::text, ARRAY[cardinality(ids)]),
                                      array_fill(NULL::jsonb, ARRAY[cardinality(ids)]),
                                      array_fill(v_error, ARRAY[cardinality(ids)]), NULL, p_channel)
    FROM (SELECT ARRAY(SELECT id FROM "htdag".tasks WHERE run_id = p_run.id
                          AND status IN ('pending', 'ready', 'running') ORDER BY position) AS ids) x;
  PERFORM "htdag".finish_run(p_run.id, 'failed', v_error, p_channel);
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
   WHERE id = p_run_id AND status IN ('pending', 'awaiting_approval', 'running', 'paused')
  RETURNING * INTO v_run;
  IF NOT FOUND THEN RETURN false; END IF;
  PERFORM "htdag".emit(p_channel, 'execution:' || p_status, p_run_id, NULL, v_run.workflow,
    jsonb_strip_nulls(jsonb_build_object('error', v_run.error,
      'durationMs', extract(epoch FROM (v_run.finished_at - coalesce(v_run.started_at, v_run.created_at))) * 1000)));
  RETURN true;
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.finish_run_if_done(p_run_id uuid, p_channel text)
 RETURNS :HTDAG_SCHEMA.runs
 LANGUAGE plpgsql
AS $function$
DECLARE v_run "htdag".runs;
BEGIN
  SELECT * INTO v_run FROM "htdag".runs WHERE id = p_run_id;
  IF v_run.remaining_tasks = 0 AND v_run.status IN ('running', 'paused') AND v_run.planning_until IS NULL THEN
    PERFORM "htdag".finish_run(p_run_id,
      CASE WHEN v_run.failed_tasks > 0 AND NOT v_run.recovered THEN 'failed' ELSE 'completed' END, NULL, p_channel);
    SELECT * INTO v_run FROM "htdag".runs WHERE id = p_run_id;
  END IF;
  RETURN v_run;
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.finish_schedule_tick(p_name text, p_tick timestamp with time zone, p_next timestamp with time zone, p_run_id uuid, p_channel text)
 RETURNS boolean
 LANGUAGE plpgsql
AS $function$
DECLARE v_workflow text;
BEGIN
  UPDATE "htdag".schedules
     SET next_tick_at = p_next, last_tick_at = p_tick, last_run_id = p_run_id,
         firing_tick = NULL, updated_at = now()
   -- GUARD: only the worker that finishes the pinned tick first advances the schedule.
   WHERE name = p_name AND firing_tick = p_tick
  RETURNING workflow INTO v_workflow;
  IF NOT FOUND THEN RETURN false; END IF;
  PERFORM "htdag".emit(p_channel, 'schedule:fired', p_run_id, NULL, v_workflow,
    jsonb_build_object('schedule', p_name, 'tick', to_char(p_tick AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                       'runId', p_run_id, 'skipped', false));
  RETURN true;
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.finish_wave(p_run :HTDAG_SCHEMA.runs, p_ids text[], p_statuses text[], p_outputs jsonb[], p_errors jsonb[], p_channel text, p_locked tid[], OUT decide text[], OUT ended jsonb, OUT first_failed text)
 RETURNS record
 LANGUAGE plpgsql
 SET plan_cache_mode TO 'force_generic_plan'
 SET enable_seqscan TO 'off'
AS $function$
DECLARE
  v_mode text := CASE WHEN p_channel IS NOT NULL THEN "htdag".notify_mode(p_run.options) END;
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
           LATERAL (SELECT t.ctid AS tid, t.status, t.attempts FROM "htdag".tasks t
                     WHERE t.run_id = p_run.id AND t.id = d.id AND t.status IN ('pending', 'ready', 'running')
                    OFFSET 0 FOR UPDATE) l
           LEFT JOIN LATERAL (SELECT a.ctid AS tid FROM "htdag".attempts a
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
    UPDATE "htdag".tasks t
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
        FROM fin f, LATERAL (SELECT e.task_id FROM "htdag".task_edges e
                              WHERE e.run_id = p_run.id AND e.depends_on = f.id OFFSET 0) e
       WHERE e.task_id <> ALL (p_ids)
       GROUP BY e.task_id) c,
      LATERAL (SELECT t.ctid AS tid FROM "htdag".tasks t
                WHERE t.run_id = p_run.id AND t.id = c.id AND t.status = 'pending' OFFSET 0) l
  ), deps AS (
    UPDATE "htdag".tasks t
       SET remaining_deps = t.remaining_deps - c.n,
           failed_deps = t.failed_deps + c.failed,
           skipped_deps = t.skipped_deps + c.skipped,
           status = CASE WHEN t.remaining_deps = c.n AND t.kind = 'atomic'
                          AND "htdag".dependant_outcome(t.run_if, t.failed_deps + c.failed,
                                                              t.skipped_deps + c.skipped) = 'ready'
                         THEN 'ready' ELSE t.status END,
           ready_at = CASE WHEN t.remaining_deps = c.n THEN now() ELSE t.ready_at END,
           available_at = CASE WHEN t.remaining_deps = c.n THEN now() ELSE t.available_at END
      FROM counts c
     -- GUARD: only a task still waiting counts down.
     WHERE t.ctid = ANY (ARRAY(SELECT tid FROM counts)) AND t.id = c.id AND t.status = 'pending'
    RETURNING t.id, t.status, t.remaining_deps
  ), run AS (
    UPDATE "htdag".runs r
       SET remaining_tasks = r.remaining_tasks - f.n, failed_tasks = r.failed_tasks + f.failed,
           recovered = r.recovered OR f.recovers
      FROM (SELECT count(*)::integer AS n, count(*) FILTER (WHERE status IN ('failed', 'timed_out'))::integer AS failed,
                   coalesce(bool_or(status = 'completed' AND recovers), false) AS recovers FROM fin) f
     WHERE r.id = p_run.id
  ), ev AS (
    -- A timed-out task is reported as task:failed with its status, as the event catalogue has it.
    INSERT INTO "htdag".events (type, channel, run_id, task_id, workflow, payload)
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
                               OR "htdag".notify_scope(p_channel, p_run.id) = 'all'))
    INTO decide, first_failed, v_notified;
  ended := '[]';
  IF v_attempt_tids IS NOT NULL THEN
    -- Running tasks this wave ended otherwise than by their own settle (failFast, a stop): their
    -- attempts close as cancelled (GUARD: once), and their queue slots are given back.
    WITH closed AS (
      UPDATE "htdag".attempts a
         SET status = 'cancelled', finished_at = now(), error = t.error, error_class = 'Cancelled',
             duration_ms = extract(epoch FROM (now() - a.started_at)) * 1000
        FROM "htdag".tasks t
       WHERE a.ctid = ANY (v_attempt_tids) AND t.run_id = p_run.id AND t.id = a.task_id AND a.status = 'running'
      RETURNING a.task_id, a.attempt, t.queue
    ), slots AS (
      UPDATE "htdag".queues q SET running = greatest(0, q.running - c.n)
        FROM (SELECT queue, count(*)::integer AS n FROM closed GROUP BY queue) c
       WHERE q.name = c.queue AND q.running > 0
    )
    SELECT coalesce(jsonb_agg(jsonb_build_object('taskId', task_id, 'attempt', attempt)), '[]') INTO ended FROM closed;
  END IF;
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.iso_time(p_at timestamp with time zone)
 RETURNS text
 LANGUAGE sql
 STABLE
AS $function$
  SELECT CASE WHEN isfinite(p_at) THEN to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') END
$function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.note_wake_at(p_at timestamp with time zone)
 RETURNS void
 LANGUAGE plpgsql
AS $function$
DECLARE v_before timestamptz := nullif(current_setting(':HTDAG_SCHEMA.wake_at', true), '')::timestamptz;
BEGIN
  IF v_before IS NULL OR p_at < v_before THEN
    PERFORM set_config(':HTDAG_SCHEMA.wake_at', p_at::text, true);
  END IF;
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.notify_mode(p_options jsonb)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE
AS $function$
  SELECT CASE coalesce(p_options ->> 'realTimeNotifications', 'true')
    WHEN 'false' THEN NULL WHEN 'on-demand' THEN 'on-demand' ELSE 'all' END
$function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.notify_scope(p_channel text, p_run_id uuid)
 RETURNS text
 LANGUAGE plpgsql
 STABLE
AS $function$
BEGIN
  RETURN (SELECT CASE WHEN bool_or(scope = 'all') THEN 'all' WHEN count(*) > 0 THEN 'runs' END
            FROM "htdag".listeners
           WHERE channel = p_channel AND (run_id IS NULL OR run_id = p_run_id) AND expires_at > now());
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.notify_wanted(p_channel text, p_type text, p_run_id uuid)
 RETURNS boolean
 LANGUAGE plpgsql
 STABLE
AS $function$
DECLARE v_scope text;
BEGIN
  IF p_channel IS NULL THEN RETURN false; END IF;
  -- WAKE_TYPES
  IF p_type IN ('execution:started', 'execution:resumed', 'execution:reconciled', 'execution:cancelled',
                'execution:failed', 'execution:timed_out', 'task:cancelled', 'task:retried',
                'decomposition:completed') THEN
    RETURN true;
  END IF;
  v_scope := "htdag".notify_scope(p_channel, p_run_id);
  RETURN v_scope = 'all' OR (v_scope = 'runs' AND p_type LIKE 'execution:%');
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.open_plan_stream(p_run_id uuid, p_planning_ms integer)
 RETURNS boolean
 LANGUAGE plpgsql
AS $function$
BEGIN
  UPDATE "htdag".runs SET planning_until = now() + p_planning_ms * interval '1 millisecond'
   WHERE id = p_run_id AND status = 'pending' AND planning_until IS NULL;
  RETURN FOUND;
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.process_waits(p_run :HTDAG_SCHEMA.runs, p_channel text)
 RETURNS integer
 LANGUAGE plpgsql
AS $function$
DECLARE
  v_task "htdag".tasks;
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
    SELECT * FROM "htdag".tasks
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
        UPDATE "htdag".signals s SET task_id = v_task.id, delivered_at = now()
         WHERE (s.run_id, s.id) = (SELECT k.run_id, k.id FROM "htdag".signals k
                                    WHERE k.run_id = p_run.id AND k.name = v_wait ->> 'signal' AND k.delivered_at IS NULL
                                    ORDER BY k.id LIMIT 1 FOR UPDATE)
           AND s.delivered_at IS NULL
        RETURNING s.payload INTO v_payload;
      END IF;
      v_due := CASE WHEN v_payload IS NULL THEN "htdag".wait_due_at(v_wait, now()) ELSE now() END;
      -- GUARD: the row is locked, ready, and its wait not started.
      UPDATE "htdag".tasks SET attempts = v_task.attempts, waiting_since = now(), started_at = now(),
             available_at = v_due
       WHERE run_id = p_run.id AND id = v_task.id AND status = 'ready'
      RETURNING * INTO v_task;
      IF v_payload IS NOT NULL THEN
        PERFORM "htdag".record_wait_attempt(p_run, v_task, 'completed', NULL);
        v_ids := v_ids || v_task.id; v_statuses := v_statuses || 'completed'::text;
        v_outputs := v_outputs || v_payload; v_errors := v_errors || NULL::jsonb;
        CONTINUE;
      END IF;
      PERFORM "htdag".emit(p_channel, 'task:waiting', p_run.id, v_task.id, p_run.workflow,
        jsonb_build_object('attempt', v_task.attempts, 'until', "htdag".iso_time(v_due))
          || CASE WHEN v_wait ? 'signal' THEN jsonb_build_object('signal', v_wait ->> 'signal') ELSE '{}' END);
      -- A past `until` (or forMs 0) is due at once: it ends below, in this same pass.
      CONTINUE WHEN v_due > now();
    END IF;
    -- Started, and its time came.
    IF v_wait ? 'signal' THEN
      v_error := "htdag".signal_timeout_error(v_task.id, v_wait);
      PERFORM "htdag".record_wait_attempt(p_run, v_task, 'timed_out', v_error);
      IF v_task.attempts < v_task.max_attempts THEN
        -- Retried as a step's timeout is: ready again after the backoff, the wait to start again.
        v_delay := "htdag".backoff_delay_ms(v_task.backoff,
                                                  v_task.attempts - (v_task.max_attempts - v_task.attempt_budget));
        UPDATE "htdag".tasks SET ready_at = now(), waiting_since = NULL, error = v_error,
               available_at = now() + v_delay * interval '1 millisecond'
         WHERE run_id = p_run.id AND id = v_task.id AND status = 'ready';
        PERFORM "htdag".emit(p_channel, 'task:retried', p_run.id, v_task.id, p_run.workflow,
          jsonb_build_object('attempt', v_task.attempts, 'outcome', 'timed_out', 'delayMs', v_delay, 'error', v_error));
      ELSE
        v_ids := v_ids || v_task.id; v_statuses := v_statuses || 'timed_out'::text;
        v_outputs := v_outputs || NULL::jsonb; v_errors := v_errors || v_error;
      END IF;
    ELSE
      PERFORM "htdag".record_wait_attempt(p_run, v_task, 'completed', NULL);
      v_ids := v_ids || v_task.id; v_statuses := v_statuses || 'completed'::text;
      v_outputs := v_outputs || jsonb_build_object('waitedUntil', "htdag".iso_time(v_task.available_at));
      v_errors := v_errors || NULL::jsonb;
    END IF;
  END LOOP;
  IF cardinality(v_ids) > 0 THEN
    PERFORM "htdag".cascade_tasks(p_run, v_ids, v_statuses, v_outputs, v_errors, NULL, p_channel);
    PERFORM "htdag".finish_run_if_done(p_run.id, p_channel);
  END IF;
  RETURN cardinality(v_ids);
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.queue_slot_freed()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
  IF EXISTS (SELECT 1 FROM "htdag".tasks t
              WHERE t.queue = NEW.name AND t.status = 'ready' AND t.queue <> 'default'
                AND t.available_at <= now()) THEN
    PERFORM pg_notify(NEW.channel, json_build_object('id', 0, 'type', 'queue:freed', 'runId', NULL, 'taskId', NULL,
                                                     'workflow', NULL, 'queue', NEW.name)::text)
      WHERE NEW.channel IS NOT NULL;
    PERFORM set_config(':HTDAG_SCHEMA.slot_freed', 'on', true);
  END IF;
  RETURN NULL;
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.reap_expired(p_limit integer, p_channel text)
 RETURNS integer
 LANGUAGE plpgsql
AS $function$
DECLARE
  v_run_id uuid;
  v_run "htdag".runs;
  v_lost jsonb;
  v_reaped integer := 0;
BEGIN
  FOR v_run_id IN
    SELECT DISTINCT run_id FROM (SELECT run_id FROM "htdag".tasks
                                  WHERE status = 'running' AND lease_expires_at < now()
                                  ORDER BY lease_expires_at LIMIT p_limit) x
  LOOP
    SELECT * INTO v_run FROM "htdag".runs WHERE id = v_run_id FOR UPDATE SKIP LOCKED;
    CONTINUE WHEN NOT FOUND;
    SELECT jsonb_agg(jsonb_build_object('taskId', id, 'attempt', attempts, 'outcome', 'lost',
             'errorClass', 'LeaseExpired',
             'error', jsonb_build_object('name', 'LeaseExpired', 'message', 'the lease of worker ' ||
               coalesce(lease_owner, '?') || ' expired: it stopped heartbeating (died or hung)')) ORDER BY lease_expires_at)
      INTO v_lost
      FROM "htdag".tasks
     WHERE run_id = v_run_id AND status = 'running' AND lease_expires_at < now();
    CONTINUE WHEN v_lost IS NULL;
    PERFORM "htdag".settle_locked(v_run, NULL, v_lost, p_channel);
    PERFORM "htdag".finish_run_if_done(v_run_id, p_channel);
    v_reaped := v_reaped + jsonb_array_length(v_lost);
  END LOOP;
  FOR v_run IN
    SELECT * FROM "htdag".runs WHERE status IN ('awaiting_approval', 'running', 'paused') AND deadline_at < now()
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
  v_tasks_fixed integer;
  v_remaining integer;
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
     WHERE r.status IN ('running', 'paused') AND r.planning_until IS NULL
       AND NOT EXISTS (SELECT 1 FROM "htdag".tasks t WHERE t.run_id = r.id AND t.status IN ('ready', 'running'))
     ORDER BY created_at LIMIT p_limit FOR UPDATE SKIP LOCKED
  LOOP
    -- GUARD: still stuck now that the run is locked (the loop's query read an earlier snapshot).
    CONTINUE WHEN EXISTS (SELECT 1 FROM "htdag".tasks t WHERE t.run_id = v_run.id AND t.status IN ('ready', 'running'))
               OR (SELECT status FROM "htdag".runs WHERE id = v_run.id) NOT IN ('running', 'paused');
    v_tasks_fixed := "htdag".derive_dependency_counters(v_run.id,
      ARRAY(SELECT id FROM "htdag".tasks WHERE run_id = v_run.id AND status = 'pending'));
    SELECT count(*) FILTER (WHERE status IN ('pending', 'ready', 'running')),
           count(*) FILTER (WHERE status IN ('failed', 'timed_out'))
      INTO v_remaining, v_failed
      FROM "htdag".tasks WHERE run_id = v_run.id;
    CONTINUE WHEN v_tasks_fixed = 0 AND v_remaining > 0
              AND (v_run.remaining_tasks, v_run.failed_tasks) = (v_remaining, v_failed);
    UPDATE "htdag".runs SET remaining_tasks = v_remaining, failed_tasks = v_failed WHERE id = v_run.id;
    PERFORM "htdag".cascade_tasks(v_run, NULL, NULL, NULL, NULL,
      ARRAY(SELECT id FROM "htdag".tasks WHERE run_id = v_run.id AND status = 'pending' AND remaining_deps = 0),
      p_channel);
    SELECT count(*) FILTER (WHERE status IN ('failed', 'timed_out')) INTO v_failed
      FROM "htdag".tasks WHERE run_id = v_run.id;
    SELECT CASE WHEN remaining_tasks = 0 THEN CASE WHEN failed_tasks > 0 AND NOT recovered THEN 'failed' ELSE 'completed' END END
      INTO v_status FROM "htdag".runs WHERE id = v_run.id;
    PERFORM "htdag".emit(p_channel, 'execution:reconciled', v_run.id, NULL, v_run.workflow,
      jsonb_strip_nulls(jsonb_build_object(
        'repair', CASE WHEN v_status IS NULL THEN 'counters' ELSE 'finished' END, 'status', v_status,
        'tasksRepaired', nullif(v_tasks_fixed, 0),
        'reason', 'no task of the run was ready or running, but the run was ' || v_run.status ||
                  ' (remaining_tasks ' || v_run.remaining_tasks || ', derived ' || v_remaining ||
                  CASE WHEN v_tasks_fixed > 0 THEN ', ' || v_tasks_fixed || ' tasks with wrong dependency counters'
                       ELSE '' END || ')')));
    PERFORM "htdag".finish_run_if_done(v_run.id, p_channel);
    v_repaired := v_repaired + 1;
  END LOOP;
  -- A plan still being written whose writer stopped renewing it (its process died): the run fails,
  -- as no one can finish the plan.
  FOR v_run IN
    SELECT * FROM "htdag".runs
     WHERE planning_until < now() - p_grace_ms * interval '1 millisecond' AND status IN ('pending', 'running', 'paused')
     ORDER BY planning_until LIMIT p_limit FOR UPDATE SKIP LOCKED
  LOOP
    UPDATE "htdag".runs SET planning_until = NULL WHERE id = v_run.id;
    PERFORM "htdag".emit(p_channel, 'execution:reconciled', v_run.id, NULL, v_run.workflow,
      jsonb_build_object('repair', 'failed', 'reason', 'the plan was still being written (streamPlan) but its process '
                         || 'stopped renewing it ' || p_grace_ms || ' ms ago: it died'));
    PERFORM "htdag".stop_run(v_run.id, 'failed',
      'the plan stream was interrupted: the process writing the plan stopped before the plan was complete', p_channel);
    v_repaired := v_repaired + 1;
  END LOOP;
  RETURN v_repaired;
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.record_usage(p_run_id uuid, p_task_id text, p_attempt integer, p_source text, p_model text, p_llm_calls integer, p_input_tokens bigint, p_output_tokens bigint, p_cost_usd numeric, p_channel text)
 RETURNS jsonb
 LANGUAGE plpgsql
AS $function$
DECLARE v_run "htdag".runs;
BEGIN
  -- The run's row first (the lock order everywhere: the run, then its tasks and attempts).
  UPDATE "htdag".runs SET llm_calls = llm_calls + p_llm_calls, input_tokens = input_tokens + p_input_tokens,
         output_tokens = output_tokens + p_output_tokens, cost_usd = cost_usd + coalesce(p_cost_usd, 0)
   WHERE id = p_run_id
  RETURNING * INTO v_run;
  IF NOT FOUND THEN RETURN NULL; END IF;
  INSERT INTO "htdag".usage_records (run_id, task_id, attempt, source, model, llm_calls, input_tokens,
                                           output_tokens, cost_usd)
  VALUES (p_run_id, p_task_id, p_attempt, p_source, p_model, p_llm_calls, p_input_tokens, p_output_tokens, p_cost_usd);
  IF p_task_id IS NOT NULL AND p_attempt IS NOT NULL THEN
    UPDATE "htdag".attempts SET llm_calls = llm_calls + p_llm_calls, input_tokens = input_tokens + p_input_tokens,
           output_tokens = output_tokens + p_output_tokens, cost_usd = cost_usd + coalesce(p_cost_usd, 0)
     WHERE run_id = p_run_id AND task_id = p_task_id AND attempt = p_attempt;
  END IF;
  -- GUARD: a run that is not final and reached its budget fails, once (finish_run's guard).
  IF v_run.status IN ('pending', 'awaiting_approval', 'running', 'paused') AND "htdag".budget_reached(v_run) THEN
    PERFORM "htdag".fail_over_budget(v_run, p_channel);
    SELECT * INTO v_run FROM "htdag".runs WHERE id = p_run_id;
  END IF;
  RETURN jsonb_build_object('spent', "htdag".spend_of(v_run), 'budget', v_run.options -> 'budget',
                            'reached', "htdag".budget_reached(v_run), 'runStatus', v_run.status);
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.record_wait_attempt(p_run :HTDAG_SCHEMA.runs, p_task :HTDAG_SCHEMA.tasks, p_status text, p_error jsonb)
 RETURNS void
 LANGUAGE sql
AS $function$
  INSERT INTO "htdag".attempts (run_id, task_id, attempt, workflow, step, status, worker_id, ready_at,
                                      started_at, finished_at, queue_wait_ms, duration_ms, error_class, error)
  VALUES (p_run.id, p_task.id, p_task.attempts, p_run.workflow, NULL, p_status, NULL, p_task.ready_at,
          coalesce(p_task.waiting_since, now()), now(),
          extract(epoch FROM (coalesce(p_task.waiting_since, now()) - coalesce(p_task.ready_at, now()))) * 1000,
          extract(epoch FROM (now() - coalesce(p_task.waiting_since, now()))) * 1000,
          p_error ->> 'name', p_error)
$function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.reject_plan(p_run_id uuid, p_reason text, p_channel text)
 RETURNS text
 LANGUAGE plpgsql
AS $function$
DECLARE v_run "htdag".runs;
BEGIN
  SELECT * INTO v_run FROM "htdag".runs WHERE id = p_run_id FOR UPDATE;
  IF NOT FOUND THEN RETURN NULL; END IF;
  -- GUARD: only a run awaiting approval of its plan is rejected (the run is locked).
  IF v_run.status <> 'awaiting_approval' THEN RETURN v_run.status; END IF;
  PERFORM "htdag".emit(p_channel, 'plan:rejected', p_run_id, NULL, v_run.workflow,
                             jsonb_build_object('reason', p_reason));
  PERFORM "htdag".stop_run(p_run_id, 'cancelled', p_reason, p_channel);
  RETURN v_run.status;
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.release_tasks(p_worker text, p_channel text)
 RETURNS integer
 LANGUAGE plpgsql
AS $function$
DECLARE
  v_run_id uuid;
  v_run "htdag".runs;
  v_held jsonb;
  v_released integer := 0;
BEGIN
  FOR v_run_id IN
    SELECT DISTINCT run_id FROM "htdag".tasks WHERE lease_owner = p_worker AND status = 'running'
  LOOP
    SELECT * INTO v_run FROM "htdag".runs WHERE id = v_run_id FOR UPDATE;
    SELECT jsonb_agg(jsonb_build_object('taskId', id, 'attempt', attempts, 'outcome', 'released',
             'error', jsonb_build_object('name', 'Released',
                                         'message', 'worker ' || p_worker || ' stopped and released the task')))
      INTO v_held
      FROM "htdag".tasks WHERE run_id = v_run_id AND lease_owner = p_worker AND status = 'running';
    CONTINUE WHEN v_held IS NULL;
    PERFORM "htdag".settle_locked(v_run, p_worker, v_held, p_channel);
    v_released := v_released + jsonb_array_length(v_held);
  END LOOP;
  RETURN v_released;
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.renew_plan_stream(p_run_id uuid, p_planning_ms integer)
 RETURNS boolean
 LANGUAGE plpgsql
AS $function$
BEGIN
  UPDATE "htdag".runs SET planning_until = now() + p_planning_ms * interval '1 millisecond'
   WHERE id = p_run_id AND planning_until IS NOT NULL AND status IN ('pending', 'running', 'paused');
  RETURN FOUND;
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.retry_run(p_run_id uuid, p_from_task text, p_channel text)
 RETURNS integer
 LANGUAGE plpgsql
AS $function$
DECLARE v_run "htdag".runs; v_reset text[];
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
  ), reset AS (
    UPDATE "htdag".tasks t SET status = 'pending', output = NULL, error = NULL, started_at = NULL,
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
  PERFORM "htdag".derive_dependency_counters(p_run_id, v_reset);
  -- GUARD: the run is locked and final (checked above).
  UPDATE "htdag".runs SET status = 'running', finished_at = NULL, error = NULL,
         remaining_tasks = (SELECT count(*) FROM "htdag".tasks WHERE run_id = p_run_id
                             AND status IN ('pending', 'ready', 'running')),
         failed_tasks = (SELECT count(*) FROM "htdag".tasks WHERE run_id = p_run_id AND status IN ('failed', 'timed_out')),
         -- A completed `recovers` task that was not reset still recovers the run.
         recovered = EXISTS (SELECT 1 FROM "htdag".tasks WHERE run_id = p_run_id AND status = 'completed'
                              AND coalesce((spec ->> 'recovers')::boolean, false)),
         deadline_at = CASE WHEN deadline_at IS NULL THEN NULL
                            ELSE now() + (deadline_at - coalesce(started_at, created_at)) END
   WHERE id = p_run_id AND status IN ('completed', 'failed', 'cancelled', 'timed_out')
  RETURNING * INTO v_run;
  PERFORM "htdag".emit(p_channel, 'execution:resumed', p_run_id, NULL, v_run.workflow,
    jsonb_strip_nulls(jsonb_build_object('retry', true, 'fromTask', p_from_task, 'tasksReset', cardinality(v_reset))));
  PERFORM "htdag".cascade_tasks(v_run, NULL, NULL, NULL, NULL,
    ARRAY(SELECT id FROM "htdag".tasks WHERE run_id = p_run_id AND id = ANY (v_reset)
            AND status = 'pending' AND remaining_deps = 0),
    p_channel);
  PERFORM "htdag".finish_run_if_done(p_run_id, p_channel);
  RETURN cardinality(v_reset);
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.retry_run_within_budget(p_run_id uuid, p_from_task text, p_budget jsonb, p_channel text)
 RETURNS integer
 LANGUAGE plpgsql
AS $function$
DECLARE v_run "htdag".runs; v_reset integer;
BEGIN
  SELECT * INTO v_run FROM "htdag".runs WHERE id = p_run_id FOR UPDATE;
  IF NOT FOUND OR v_run.status NOT IN ('completed', 'failed', 'cancelled', 'timed_out') THEN RETURN -1; END IF;
  IF p_budget IS NOT NULL THEN
    v_run.options := v_run.options || jsonb_build_object('budget', p_budget);
  END IF;
  IF "htdag".budget_reached(v_run) THEN RETURN -2; END IF;
  v_reset := "htdag".retry_run(p_run_id, p_from_task, p_channel);
  -- GUARD: the run is locked; it was re-opened (tasks reset) in this transaction.
  IF v_reset > 0 AND p_budget IS NOT NULL THEN
    UPDATE "htdag".runs SET options = v_run.options WHERE id = p_run_id;
  END IF;
  RETURN v_reset;
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.revise_locked(p_run :HTDAG_SCHEMA.runs, p_task_id text, p_reason text, p_tasks jsonb, p_edges jsonb, p_record jsonb, p_channel text)
 RETURNS jsonb
 LANGUAGE plpgsql
AS $function$
DECLARE v_revised jsonb;
BEGIN
  v_revised := "htdag".revise_plan_locked(p_run, p_task_id, p_reason, p_tasks, p_edges, p_record, p_channel);
  IF coalesce((p_record ->> 'llmCalls')::integer, 0) > 0 OR coalesce((p_record ->> 'inputTokens')::bigint, 0) > 0
     OR coalesce((p_record ->> 'outputTokens')::bigint, 0) > 0 OR p_record ? 'costUsd' THEN
    PERFORM "htdag".record_usage(p_run.id, NULL, NULL, 'revision', coalesce(p_record ->> 'model', 'unknown'),
      coalesce((p_record ->> 'llmCalls')::integer, 0), coalesce((p_record ->> 'inputTokens')::bigint, 0),
      coalesce((p_record ->> 'outputTokens')::bigint, 0), (p_record ->> 'costUsd')::numeric, p_channel);
  END IF;
  RETURN v_revised;
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.revise_plan_locked(p_run :HTDAG_SCHEMA.runs, p_task_id text, p_reason text, p_tasks jsonb, p_edges jsonb, p_record jsonb, p_channel text)
 RETURNS jsonb
 LANGUAGE plpgsql
AS $function$
DECLARE
  v_run "htdag".runs := p_run;
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
    FROM "htdag".tasks t WHERE t.run_id = p_run.id;
  SELECT coalesce(array_agg(x.id), '{}') INTO v_added
    FROM unnest(v_listed) AS x(id)
   WHERE NOT EXISTS (SELECT 1 FROM "htdag".tasks t WHERE t.run_id = p_run.id AND t.id = x.id);

  -- Superseded: the running ones' attempts closed as cancelled (their processes abort them), their
  -- queue slots given back, then the tasks (GUARD: not final).
  WITH a AS (
    UPDATE "htdag".attempts a SET status = 'cancelled', finished_at = now(), error_class = 'Superseded',
           error = jsonb_build_object('name', 'Superseded', 'message',
                     'revision ' || (p_run.revision + 1) || ' of the plan removed task ' || a.task_id),
           duration_ms = extract(epoch FROM (now() - a.started_at)) * 1000
     WHERE a.run_id = p_run.id AND a.task_id = ANY (v_removed) AND a.task_id IS DISTINCT FROM p_task_id
       AND a.status = 'running'
    RETURNING a.task_id, a.attempt
  ), q AS (
    UPDATE "htdag".queues q SET running = greatest(0, q.running - c.n)
      FROM (SELECT t.queue, count(*)::integer AS n FROM a JOIN "htdag".tasks t ON t.run_id = p_run.id AND t.id = a.task_id
             GROUP BY t.queue) c
     WHERE q.name = c.queue AND q.running > 0
  )
  SELECT coalesce(jsonb_agg(jsonb_build_object('taskId', a.task_id, 'attempt', a.attempt)), '[]') INTO v_aborted FROM a;
  UPDATE "htdag".tasks SET status = 'superseded', finished_at = now(), lease_owner = NULL, lease_expires_at = NULL,
         replan = NULL
   WHERE run_id = p_run.id AND id = ANY (v_removed) AND status IN ('pending', 'ready', 'running');

  -- Changed in place: pending again, with a fresh attempt budget.
  UPDATE "htdag".tasks t
     SET parent_id = x.parent_id, kind = x.kind, step = x.step, description = x.description, run_if = x.run_if,
         spec = x.spec, input = x.input, priority = x.priority, queue = x.queue,
         max_attempts = t.attempts + x.max_attempts, attempt_budget = x.max_attempts, timeout_ms = x.timeout_ms,
         backoff = x.backoff, status = 'pending', output = NULL, error = NULL, started_at = NULL, finished_at = NULL,
         ready_at = NULL, lease_owner = NULL, lease_expires_at = NULL, replan = NULL,
         remaining_deps = 0, failed_deps = 0, skipped_deps = 0
    FROM jsonb_to_recordset(p_tasks) AS x(id text, parent_id text, kind text, step text, description text, run_if text,
           spec jsonb, input jsonb, priority integer, queue text, max_attempts integer, timeout_ms integer, backoff jsonb)
   WHERE t.run_id = p_run.id AND t.id = x.id AND t.id = ANY (v_changed);

  SELECT coalesce(max(position), 0) INTO v_position FROM "htdag".tasks WHERE run_id = p_run.id;
  INSERT INTO "htdag".tasks (run_id, id, position, parent_id, kind, step, description, remaining_deps, run_if,
                                   spec, input, priority, queue, max_attempts, attempt_budget, timeout_ms, backoff)
  SELECT p_run.id, x.id, v_position + e.n, x.parent_id, x.kind, x.step, x.description, 0, x.run_if, x.spec, x.input,
         x.priority, x.queue, x.max_attempts, x.max_attempts, x.timeout_ms, x.backoff
    FROM jsonb_array_elements(p_tasks) WITH ORDINALITY AS e(value, n),
         jsonb_to_record(e.value) AS x(id text, parent_id text, kind text, step text, description text, run_if text,
           spec jsonb, input jsonb, priority integer, queue text, max_attempts integer, timeout_ms integer, backoff jsonb)
   WHERE x.id = ANY (v_added);

  -- Edges: the changed and superseded tasks' are replaced by the plan's; a kept composite gains
  -- its new children.
  DELETE FROM "htdag".task_edges
   WHERE run_id = p_run.id AND (task_id = ANY (v_changed || v_removed) OR depends_on = ANY (v_removed));
  INSERT INTO "htdag".task_edges (run_id, task_id, depends_on)
  SELECT p_run.id, x.task_id, x.depends_on FROM jsonb_to_recordset(p_edges) AS x(task_id text, depends_on text)
   WHERE x.task_id = ANY (v_changed || v_added || v_composites)
  ON CONFLICT DO NOTHING;
  PERFORM "htdag".derive_dependency_counters(p_run.id, v_changed || v_added || v_composites);

  -- GUARD: the caller locked the run, running or paused.
  UPDATE "htdag".runs SET revision = revision + 1,
         total_tasks = (SELECT count(*) FROM "htdag".tasks WHERE run_id = p_run.id AND status <> 'superseded'),
         remaining_tasks = (SELECT count(*) FROM "htdag".tasks WHERE run_id = p_run.id
                             AND status IN ('pending', 'ready', 'running')),
         failed_tasks = (SELECT count(*) FROM "htdag".tasks WHERE run_id = p_run.id AND status IN ('failed', 'timed_out'))
   WHERE id = p_run.id AND status IN ('running', 'paused')
  RETURNING * INTO v_run;

  INSERT INTO "htdag".decompositions (graph_id, goal, decomposer, source, model, llm_calls, input_tokens,
                                            output_tokens, repairs, latency_ms)
  VALUES (v_run.graph_id, v_run.goal, coalesce(p_record ->> 'decomposer', 'unknown'), coalesce(p_record ->> 'source', 'function'),
          p_record ->> 'model', coalesce((p_record ->> 'llmCalls')::integer, 0), coalesce((p_record ->> 'inputTokens')::integer, 0),
          coalesce((p_record ->> 'outputTokens')::integer, 0), coalesce((p_record ->> 'repairs')::integer, 0),
          coalesce((p_record ->> 'latencyMs')::double precision, 0))
  RETURNING id INTO v_decomposition;
  INSERT INTO "htdag".run_revisions (run_id, revision, reason, task_id, added, removed, changed, plan, decomposition)
  VALUES (p_run.id, v_run.revision, p_reason, p_task_id, v_added, v_removed, v_changed,
          (SELECT coalesce(jsonb_agg(x.value -> 'spec' ORDER BY x.n), '[]')
             FROM jsonb_array_elements(p_tasks) WITH ORDINALITY AS x(value, n)),
          coalesce(p_record, '{}') || jsonb_build_object('decompositionId', v_decomposition));
  PERFORM "htdag".emit(p_channel, 'plan:revised', p_run.id, p_task_id, v_run.workflow,
    jsonb_build_object('revision', v_run.revision, 'reason', p_reason, 'taskId', p_task_id,
                       'added', to_jsonb(v_added), 'removed', to_jsonb(v_removed), 'changed', to_jsonb(v_changed)));

  PERFORM "htdag".cascade_tasks(v_run, NULL, NULL, NULL, NULL,
    ARRAY(SELECT id FROM "htdag".tasks WHERE run_id = p_run.id AND id = ANY (v_changed || v_added)
            AND status = 'pending' AND remaining_deps = 0),
    p_channel);
  RETURN jsonb_build_object('revision', v_run.revision, 'aborted', v_aborted, 'added', to_jsonb(v_added),
                            'removed', to_jsonb(v_removed), 'changed', to_jsonb(v_changed));
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.run_budget(p_run_id uuid)
 RETURNS jsonb
 LANGUAGE sql
 STABLE
AS $function$
  SELECT jsonb_build_object('spent', "htdag".spend_of(r), 'budget', r.options -> 'budget',
                            'reached', "htdag".budget_reached(r), 'runStatus', r.status)
    FROM "htdag".runs r WHERE r.id = p_run_id
$function$

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

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.settle_locked(p_run :HTDAG_SCHEMA.runs, p_worker text, p_settlements jsonb, p_channel text)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET plan_cache_mode TO 'force_generic_plan'
 SET enable_seqscan TO 'off'
AS $function$
DECLARE
  v_mode text := CASE WHEN p_channel IS NOT NULL THEN "htdag".notify_mode(p_run.options) END;
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
      LEFT JOIN LATERAL (SELECT t.ctid AS tid, t.max_attempts, t.attempts, t.queue, t.replan FROM "htdag".tasks t
                          WHERE t.run_id = p_run.id AND t.id = s.id AND t.status = 'running' AND t.attempts = s.attempt
                            AND (p_worker IS NULL OR t.lease_owner = p_worker)
                         OFFSET 0 FOR UPDATE) l ON true
      LEFT JOIN LATERAL (SELECT a.ctid AS tid FROM "htdag".attempts a
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
    UPDATE "htdag".attempts t
       SET status = CASE WHEN a.outcome IN ('lost', 'released') THEN 'lost' ELSE a.outcome END,
           finished_at = now(), error = a.error,
           error_class = CASE WHEN a.outcome = 'released' THEN 'Released' ELSE a.error_class END,
           duration_ms = extract(epoch FROM (now() - t.started_at)) * 1000, step_ms = a.step_ms
      FROM live a
     WHERE t.ctid = ANY (ARRAY(SELECT attempt_tid FROM live WHERE attempt_tid IS NOT NULL))
       AND t.task_id = a.id AND t.attempt = a.attempt AND t.status = 'running'
  ), slots AS (
    UPDATE "htdag".queues q SET running = greatest(0, q.running - c.n)
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
        UPDATE "htdag".tasks t
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
        INSERT INTO "htdag".events (type, channel, run_id, task_id, workflow, payload)
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
      v_aborted := "htdag".cascade_tasks(p_run, v_final_ids, v_final_statuses, v_final_outputs,
                                               v_final_errors, NULL, p_channel, v_final_tids);
    END IF;
    IF v_revising THEN
      -- A revision attempt that ended for good (its revision failed): the mark goes with it. After
      -- the cascade, which finds the tasks by the row versions locked above.
      UPDATE "htdag".tasks SET replan = NULL
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
      LEFT JOIN LATERAL (SELECT t.id, t.status, t.attempts, t.lease_owner FROM "htdag".tasks t
                          WHERE t.run_id = p_run.id AND t.id = x.id OFFSET 0) t ON true
      LEFT JOIN LATERAL (SELECT true AS applied FROM "htdag".attempts a
                          WHERE a.run_id = p_run.id AND a.task_id = x.id AND a.attempt = x.attempt
                            AND a.worker_id IS NOT DISTINCT FROM coalesce(p_worker, a.worker_id)
                            AND a.status = CASE WHEN x.outcome IN ('lost', 'released') THEN 'lost' ELSE x.outcome END
                         OFFSET 0) a ON true
     WHERE x.tid IS NULL
  ), recorded AS (
    INSERT INTO "htdag".rejected_completions (run_id, task_id, attempt, worker_id, outcome, reason)
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
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.settle_tasks(p_run_id uuid, p_worker text, p_settlements jsonb, p_claim_limit integer, p_lease_ms integer, p_channel text, p_workflows text[])
 RETURNS jsonb
 LANGUAGE plpgsql
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
DECLARE
  v_run "htdag".runs;
  v_settled jsonb;
  v_claimed jsonb;
  v_fill jsonb;
BEGIN
  SELECT * INTO v_run FROM "htdag".runs WHERE id = p_run_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN jsonb_build_object('results', (SELECT coalesce(jsonb_agg(jsonb_build_object('taskId', x.value ->> 'taskId',
             'attempt', (x.value ->> 'attempt')::integer, 'settled', false, 'status', NULL)), '[]')
             FROM jsonb_array_elements(p_settlements) AS x(value)),
           'aborted', '[]'::jsonb, 'runStatus', NULL, 'claimed', '[]'::jsonb, 'busy', false);
  END IF;
  v_settled := "htdag".settle_locked(v_run, p_worker, p_settlements, p_channel);
  v_run := "htdag".finish_run_if_done(p_run_id, p_channel);
  v_claimed := "htdag".claim_locked_run(v_run, p_worker, p_claim_limit, p_lease_ms, p_channel);
  IF jsonb_array_length(v_claimed) = 0 AND v_run.status = 'running' THEN
    -- Waits (0006): the claim may have finished the run.
    v_run.status := (SELECT status FROM "htdag".runs WHERE id = p_run_id);
  END IF;
  IF p_workflows IS NOT NULL AND jsonb_array_length(v_claimed) < p_claim_limit THEN
    v_fill := "htdag".claim_tasks(NULL, p_workflows, p_worker,
                                        p_claim_limit - jsonb_array_length(v_claimed), p_lease_ms, p_channel);
    v_claimed := v_claimed || (v_fill -> 'claimed');
  END IF;
  -- FLOW CONTROL: when to claim again for tasks refused by a rate limit, and whether a slot that
  -- tasks wait on was freed (queue_slot_freed).
  RETURN "htdag".with_flow_wake(v_settled || jsonb_build_object('runStatus', v_run.status, 'claimed', v_claimed,
                                         'busy', coalesce((v_fill ->> 'busy')::boolean, false)), true);
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.signal_timeout_error(p_task_id text, p_wait jsonb)
 RETURNS jsonb
 LANGUAGE sql
 IMMUTABLE
AS $function$
  SELECT jsonb_build_object('name', 'SignalTimeoutError', 'code', 'SIGNAL_TIMEOUT', 'message',
    'task ' || to_jsonb(p_task_id)::text || ' waited ' || (p_wait ->> 'timeoutMs') || ' ms (wait.timeoutMs) for signal ' ||
    to_jsonb(p_wait ->> 'signal')::text || ', which did not arrive; send it with orch.signal(runId, ' ||
    to_jsonb(p_wait ->> 'signal')::text || ', payload) or raise wait.timeoutMs')
$function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.spend_of(p_run :HTDAG_SCHEMA.runs)
 RETURNS jsonb
 LANGUAGE sql
 IMMUTABLE
AS $function$
  SELECT jsonb_build_object('tokens', p_run.input_tokens + p_run.output_tokens,
                            'costUsd', p_run.cost_usd::double precision, 'llmCalls', p_run.llm_calls)
$function$

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
   WHERE run_id = p_run_id AND id = p_task_id AND status = 'ready'
  RETURNING * INTO v_task;
  INSERT INTO "htdag".attempts (run_id, task_id, attempt, workflow, step, worker_id, ready_at, queue_wait_ms)
  VALUES (p_run_id, p_task_id, v_task.attempts, p_workflow, v_task.step, p_worker, v_task.ready_at,
          extract(epoch FROM (now() - v_task.ready_at)) * 1000);
  PERFORM "htdag".emit(p_channel, 'task:started', p_run_id, p_task_id, p_workflow,
                             jsonb_build_object('attempt', v_task.attempts, 'step', v_task.step));
  RETURN jsonb_build_object(
    'runId', p_run_id, 'taskId', p_task_id, 'workflow', p_workflow, 'attempt', v_task.attempts, 'kind', v_task.kind,
    'step', v_task.step, 'input', v_task.input, 'spec', v_task.spec, 'timeoutMs', v_task.timeout_ms,
    'maxAttempts', v_task.max_attempts, 'attemptBase', v_task.max_attempts - v_task.attempt_budget, 'backoff', v_task.backoff, 'queue', v_task.queue,
    'replan', v_task.replan, 'deps', "htdag".dependency_outputs(p_run_id, p_task_id));
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.start_run(p_run_id uuid, p_worker text, p_claim_limit integer, p_lease_ms integer, p_channel text)
 RETURNS jsonb
 LANGUAGE plpgsql
AS $function$
DECLARE
  v_run "htdag".runs;
  v_claimed jsonb;
BEGIN
  -- GUARD: only a pending run starts.
  UPDATE "htdag".runs SET status = 'running', started_at = coalesce(started_at, now())
   WHERE id = p_run_id AND status = 'pending'
  RETURNING * INTO v_run;
  IF NOT FOUND THEN
    SELECT * INTO v_run FROM "htdag".runs WHERE id = p_run_id;
    RETURN jsonb_build_object('started', false, 'runStatus', v_run.status, 'claimed', '[]'::jsonb);
  END IF;
  PERFORM "htdag".emit(p_channel, 'execution:started', p_run_id, NULL, v_run.workflow,
                             jsonb_build_object('goal', v_run.goal, 'tasks', v_run.total_tasks));
  PERFORM "htdag".cascade_tasks(v_run, NULL, NULL, NULL, NULL,
    ARRAY(SELECT id FROM "htdag".tasks WHERE run_id = p_run_id AND status = 'pending' AND remaining_deps = 0),
    p_channel);
  v_run := "htdag".finish_run_if_done(p_run_id, p_channel);
  v_claimed := "htdag".claim_locked_run(v_run, p_worker, p_claim_limit, p_lease_ms, p_channel);
  -- FLOW CONTROL: wakeInMs, when to claim again for tasks refused by a rate limit (after the claim).
  RETURN "htdag".with_flow_wake(jsonb_build_object('started', true, 'runStatus', v_run.status,
                                                         'claimed', v_claimed));
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.stop_run(p_run_id uuid, p_status text, p_reason text, p_channel text)
 RETURNS text
 LANGUAGE plpgsql
AS $function$
DECLARE
  v_run "htdag".runs;
  v_error jsonb := jsonb_build_object('message', coalesce(p_reason, 'run ' || p_status));
BEGIN
  SELECT * INTO v_run FROM "htdag".runs WHERE id = p_run_id FOR UPDATE;
  IF NOT FOUND THEN RETURN NULL; END IF;
  -- GUARD: only a run that is not final can be stopped.
  IF v_run.status NOT IN ('pending', 'awaiting_approval', 'running', 'paused') THEN RETURN v_run.status; END IF;
  PERFORM "htdag".cascade_tasks(v_run, ids, array_fill('cancelled'::text, ARRAY[cardinality(ids)]),
                                      array_fill(NULL::jsonb, ARRAY[cardinality(ids)]),
                                      array_fill(v_error, ARRAY[cardinality(ids)]), NULL, p_channel)
    FROM (SELECT ARRAY(SELECT id FROM "htdag".tasks WHERE run_id = p_run_id
                          AND status IN ('pending', 'ready', 'running') ORDER BY position) AS ids) x;
  PERFORM "htdag".finish_run(p_run_id, p_status, v_error, p_channel);
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
  v_tuned timestamptz;
  v_stored timestamptz;
  v_started boolean;
BEGIN
  IF v_key IS NOT NULL THEN
    SELECT id INTO v_existing FROM "htdag".runs WHERE idempotency_key = v_key;
    IF FOUND THEN
      RETURN jsonb_build_object('runId', v_existing, 'existing', true, 'runStatus', NULL);
    END IF;
  END IF;
  -- The caller tuned the graph with the workflow's stored tuning as it knew it (p_run.tuningAppliedAt,
  -- its time, which JavaScript keeps to the millisecond; null: none). Another one stored since:
  -- nothing is written, and the caller tunes again.
  IF p_run ? 'tuningAppliedAt' THEN
    v_tuned := (p_run ->> 'tuningAppliedAt')::timestamptz;
    v_stored := (SELECT applied_at FROM "htdag".workflow_tunings WHERE workflow = v_workflow);
    IF NOT coalesce((v_tuned IS NULL AND v_stored IS NULL) OR abs(extract(epoch FROM v_stored - v_tuned)) < 0.001,
                    false) THEN
      RETURN jsonb_build_object('runId', NULL, 'existing', false, 'runStatus', NULL, 'staleTuning', true);
    END IF;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM "htdag".workflows WHERE name = v_workflow) THEN
    INSERT INTO "htdag".workflows (name) VALUES (v_workflow) ON CONFLICT DO NOTHING;
  END IF;
  -- A graph submitted again unchanged (many runs of one graph) is only read: no row lock for
  -- concurrent submits to queue on, no new row version.
  IF NOT EXISTS (SELECT 1 FROM "htdag".graphs WHERE id = p_graph ->> 'id' AND goal = p_graph ->> 'goal'
                    AND tasks = p_graph -> 'tasks') THEN
    INSERT INTO "htdag".graphs (id, goal, decomposer, source, tasks, decomposed_at)
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
  INSERT INTO "htdag".runs (id, workflow, graph_id, goal, status, priority, max_parallel, fail_fast, options,
                                  input, idempotency_key, run_at, deadline_at, total_tasks, remaining_tasks, started_at)
  VALUES (v_run_id, v_workflow, p_graph ->> 'id', p_run ->> 'goal', CASE WHEN v_started THEN 'running' ELSE 'pending' END,
          (p_run ->> 'priority')::integer, (p_run ->> 'maxParallel')::integer, (p_run ->> 'failFast')::boolean,
          p_run -> 'options', p_run -> 'input', v_key, coalesce((p_run ->> 'runAt')::timestamptz, now()),
          now() + (p_run ->> 'deadlineMs')::integer * interval '1 millisecond',
          jsonb_array_length(p_tasks), jsonb_array_length(p_tasks), CASE WHEN v_started THEN now() END)
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
  INSERT INTO "htdag".task_edges (run_id, task_id, depends_on)
  SELECT v_run_id, task_id, depends_on FROM jsonb_to_recordset(p_edges) AS x(task_id text, depends_on text);
  FOR v_event IN SELECT value FROM jsonb_array_elements(coalesce(p_events, '[]'::jsonb)) LOOP
    PERFORM "htdag".emit(p_channel, v_event ->> 'type', v_run_id, v_event ->> 'taskId', v_workflow,
                               v_event -> 'payload');
  END LOOP;
  IF v_started THEN
    -- What start_run writes, with its tasks already ready.
    PERFORM "htdag".emit(p_channel, 'execution:started', v_run_id, NULL, v_workflow,
                               jsonb_build_object('goal', p_run ->> 'goal', 'tasks', jsonb_array_length(p_tasks)));
    v_status := 'running';
  ELSIF p_start THEN
    -- Claims nothing (limit 0): workers or the executor claim the ready tasks.
    v_status := "htdag".start_run(v_run_id, NULL, 0, 0, p_channel) ->> 'runStatus';
  END IF;
  RETURN jsonb_build_object('runId', v_run_id, 'existing', false, 'runStatus', v_status);
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.submit_run_for_approval(p_run jsonb, p_graph jsonb, p_tasks jsonb, p_edges jsonb, p_queues jsonb, p_events jsonb, p_channel text)
 RETURNS jsonb
 LANGUAGE plpgsql
AS $function$
DECLARE
  v_submitted jsonb := "htdag".submit_run(p_run, p_graph, p_tasks, p_edges, p_queues, p_events, false,
                                                p_channel);
  v_run "htdag".runs;
BEGIN
  IF (v_submitted ->> 'existing')::boolean OR v_submitted ->> 'runId' IS NULL THEN
    RETURN v_submitted;
  END IF;
  -- GUARD: the run this call recorded, still pending (nothing else has seen it).
  UPDATE "htdag".runs SET status = 'awaiting_approval'
   WHERE id = (v_submitted ->> 'runId')::uuid AND status = 'pending'
  RETURNING * INTO v_run;
  PERFORM "htdag".emit(p_channel, 'plan:awaiting_approval', v_run.id, NULL, v_run.workflow,
                             jsonb_build_object('tasks', v_run.total_tasks));
  RETURN v_submitted || jsonb_build_object('runStatus', v_run.status);
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.take_queue_slot(p_queue text, p_limit integer, p_channel text)
 RETURNS boolean
 LANGUAGE plpgsql
AS $function$
DECLARE v_queue "htdag".queues;
BEGIN
  -- GUARD: a queue with a limit is locked while its counter is checked and raised.
  SELECT * INTO v_queue FROM "htdag".queues WHERE name = p_queue FOR UPDATE;
  IF NOT FOUND THEN
    IF p_limit IS NULL THEN RETURN true; END IF;
    INSERT INTO "htdag".queues (name, concurrency, running, channel) VALUES (p_queue, p_limit, 1, p_channel)
    ON CONFLICT (name) DO NOTHING;
    IF FOUND THEN RETURN true; END IF;
    SELECT * INTO v_queue FROM "htdag".queues WHERE name = p_queue FOR UPDATE;
  END IF;
  v_queue.concurrency := coalesce(p_limit, v_queue.concurrency);
  IF v_queue.concurrency IS NOT NULL AND v_queue.running >= v_queue.concurrency THEN
    IF p_limit IS NOT NULL THEN
      UPDATE "htdag".queues SET concurrency = p_limit WHERE name = p_queue AND concurrency IS DISTINCT FROM p_limit;
    END IF;
    RETURN false;
  END IF;
  UPDATE "htdag".queues
     SET running = running + 1, concurrency = v_queue.concurrency, channel = coalesce(p_channel, channel)
   WHERE name = p_queue;
  RETURN true;
END $function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.take_rate_token(p_rate jsonb)
 RETURNS timestamp with time zone
 LANGUAGE plpgsql
AS $function$
DECLARE
  v_key text := p_rate ->> 'key';
  v_interval interval := ((p_rate ->> 'perMs')::double precision / (p_rate ->> 'limit')::double precision)
                         * interval '1 millisecond';
  v_tolerance interval := (coalesce((p_rate ->> 'burst')::integer, 1) - 1) * v_interval;
  v_tat timestamptz;
  v_now timestamptz;
BEGIN
  -- GUARD: the key's cell is locked while it is checked and advanced.
  SELECT tat INTO v_tat FROM "htdag".rate_limits WHERE key = v_key FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO "htdag".rate_limits (key, tat) VALUES (v_key, clock_timestamp()) ON CONFLICT (key) DO NOTHING;
    SELECT tat INTO v_tat FROM "htdag".rate_limits WHERE key = v_key FOR UPDATE;
  END IF;
  v_now := clock_timestamp();
  IF v_now < v_tat - v_tolerance THEN
    RETURN v_tat - v_tolerance;
  END IF;
  UPDATE "htdag".rate_limits SET tat = greatest(v_tat, v_now) + v_interval WHERE key = v_key;
  RETURN NULL;
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

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.wait_due_at(p_wait jsonb, p_from timestamp with time zone)
 RETURNS timestamp with time zone
 LANGUAGE sql
 STABLE
AS $function$
  SELECT CASE WHEN p_wait ? 'forMs' THEN p_from + (p_wait ->> 'forMs')::bigint * interval '1 millisecond'
              WHEN p_wait ? 'until' THEN (p_wait ->> 'until')::timestamptz
              WHEN p_wait ? 'timeoutMs' THEN p_from + (p_wait ->> 'timeoutMs')::bigint * interval '1 millisecond'
              ELSE 'infinity'::timestamptz END
$function$

CREATE OR REPLACE FUNCTION :HTDAG_SCHEMA.with_flow_wake(p_result jsonb, p_freed boolean DEFAULT false)
 RETURNS jsonb
 LANGUAGE sql
AS $function$
  SELECT p_result
         || CASE WHEN at IS NULL THEN '{}'::jsonb
                 ELSE jsonb_build_object('wakeInMs',
                        greatest(0, ceil(extract(epoch FROM (at - clock_timestamp())) * 1000))::integer) END
         || CASE WHEN p_freed AND current_setting(':HTDAG_SCHEMA.slot_freed', true) = 'on'
                 THEN jsonb_build_object('slotFreed', true) ELSE '{}'::jsonb END
    FROM (SELECT nullif(current_setting(':HTDAG_SCHEMA.wake_at', true), '')::timestamptz AS at) x
$function$
