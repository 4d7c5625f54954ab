-- The reconciler's sweep: no run stays stuck for want of a process to own it. Every worker (with its
-- reaper) and every process executing runs (once per lease) calls it; it skips runs others hold, so
-- it never waits.
-- - A run still pending p_grace_ms after it was due was recorded by a process that died before
--   starting it: it is started (its first tasks become ready; workers claim them).
-- - A run that is not final although every task of it is, is finished with the status its tasks
--   give it, its counters set to what its tasks say.
-- Each repair writes an `execution:reconciled` event that says what was repaired and why. Returns
-- the number of runs repaired.
CREATE FUNCTION :HTDAG_SCHEMA.reconcile_runs(p_limit integer, p_grace_ms integer, p_channel text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_run :HTDAG_SCHEMA.runs;
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
       AND NOT EXISTS (SELECT 1 FROM :HTDAG_SCHEMA.tasks t WHERE t.run_id = r.id
                         AND t.status IN ('pending', 'ready', 'running'))
     ORDER BY created_at LIMIT p_limit FOR UPDATE SKIP LOCKED
  LOOP
    SELECT count(*) FILTER (WHERE status IN ('failed', 'timed_out')) INTO v_failed
      FROM :HTDAG_SCHEMA.tasks WHERE run_id = v_run.id;
    v_status := CASE WHEN v_failed > 0 AND NOT v_run.recovered THEN 'failed' ELSE 'completed' END;
    -- GUARD: the run is locked and still not final (the loop's query, under the lock).
    UPDATE :HTDAG_SCHEMA.runs SET remaining_tasks = 0, failed_tasks = v_failed
     WHERE id = v_run.id AND status IN ('running', 'paused');
    PERFORM :HTDAG_SCHEMA.emit(p_channel, 'execution:reconciled', v_run.id, NULL, v_run.workflow,
      jsonb_build_object('repair', 'finished', 'status', v_status, 'reason',
                         'every task of the run was final, but the run was ' || v_run.status ||
                         ' (remaining_tasks ' || v_run.remaining_tasks || ')'));
    PERFORM :HTDAG_SCHEMA.finish_run(v_run.id, v_status, NULL, p_channel);
    v_repaired := v_repaired + 1;
  END LOOP;
  RETURN v_repaired;
END $$;
