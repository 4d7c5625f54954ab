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
  INSERT INTO :HTDAG_SCHEMA.workflows (name) VALUES (v_workflow) ON CONFLICT DO NOTHING;
  INSERT INTO :HTDAG_SCHEMA.graphs (id, goal, decomposer, source, tasks, decomposed_at)
  VALUES (p_graph ->> 'id', p_graph ->> 'goal', p_graph ->> 'decomposer', p_graph ->> 'source', p_graph -> 'tasks',
          (p_graph ->> 'decomposedAt')::timestamptz)
  ON CONFLICT (id) DO UPDATE SET tasks = excluded.tasks, goal = excluded.goal;
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
