-- htdag initial schema. `:HTDAG_SCHEMA` is replaced by the (validated, quoted) schema name.
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
  max_attempts     integer NOT NULL CONSTRAINT tasks_max_attempts_check CHECK (max_attempts BETWEEN 1 AND 100),
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
                  CHECK (status IN ('running', 'completed', 'failed', 'timed_out', 'cancelled', 'lost')),
  worker_id     text,
  ready_at      timestamptz,
  started_at    timestamptz NOT NULL DEFAULT now(),
  finished_at   timestamptz,
  queue_wait_ms double precision,
  duration_ms   double precision,
  error_class   text,
  error         jsonb,
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

CREATE TABLE :HTDAG_SCHEMA.events (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  type       text NOT NULL CONSTRAINT events_type_check CHECK (type ~ '^[a-z][a-z0-9_-]*:[a-z][a-z0-9_:-]*$'),
  channel    text NOT NULL,
  run_id     uuid,
  task_id    text,
  workflow   text,
  payload    jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_run_idx ON :HTDAG_SCHEMA.events (run_id, id);
CREATE INDEX events_created_idx ON :HTDAG_SCHEMA.events (created_at);

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
