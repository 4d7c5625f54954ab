-- Schedules (docs/waits-and-flow-control.md, "Schedules"): recurring runs that every running worker
-- fires, once per tick across the cluster. A tick is fired in two guarded steps:
--   begin_schedule_tick pins the tick (firing_tick) or, for overlap "skip" while the last run is not
--   final, skips it (advances and writes schedule:fired with skipped true);
--   the worker submits the run of the pinned tick (idempotency key schedule:<name>:<tick ISO>);
--   finish_schedule_tick advances the schedule past it and writes schedule:fired.
-- Pinning makes every worker fire the same tick, whatever its clock or delay; a worker that dies
-- between the steps leaves the pinned tick to the next one, whose submit returns the same run.

CREATE TABLE :HTDAG_SCHEMA.schedules (
  name         text PRIMARY KEY CONSTRAINT schedules_name_check CHECK (name ~ '^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127}$'),
  cron         text NOT NULL CONSTRAINT schedules_cron_check CHECK (length(cron) BETWEEN 1 AND 200),
  timezone     text NOT NULL DEFAULT 'UTC' CONSTRAINT schedules_timezone_check CHECK (length(timezone) BETWEEN 1 AND 100),
  workflow     text NOT NULL CONSTRAINT schedules_workflow_check CHECK (workflow ~ '^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127}$'),
  -- The validated graph, task inputs sealed by the orchestrator's codec when it has one.
  graph        jsonb NOT NULL CONSTRAINT schedules_graph_check CHECK (jsonb_typeof(graph) = 'object'),
  input        jsonb,
  overlap      text NOT NULL DEFAULT 'allow' CONSTRAINT schedules_overlap_check CHECK (overlap IN ('allow', 'skip')),
  -- Whole milliseconds, as JavaScript holds them: a worker finds the row again by the value it read.
  next_tick_at timestamptz NOT NULL
               CONSTRAINT schedules_next_tick_at_check CHECK (next_tick_at = date_trunc('milliseconds', next_tick_at)),
  -- The tick a worker is firing (its run submitted or being submitted), until the schedule advances past it.
  firing_tick  timestamptz,
  last_tick_at timestamptz,
  last_run_id  uuid,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  -- A pinned tick is the latest tick due: at or after the first tick not yet fired.
  CONSTRAINT schedules_firing_tick_check CHECK (firing_tick IS NULL OR firing_tick >= next_tick_at)
);
-- Workers read the due schedules and the earliest next tick.
CREATE INDEX schedules_next_tick_idx ON :HTDAG_SCHEMA.schedules (next_tick_at);

-- Starts firing the tick p_tick of schedule p_name, which the caller read with next_tick_at = p_seen.
-- Returns 'fire' with the tick to submit (p_tick, or the one another worker pinned first), 'skipped'
-- when overlap "skip" skipped it (the schedule advanced to p_next, the event is written), or 'gone'
-- when the schedule advanced (or was replaced or removed) since the caller read it.
CREATE FUNCTION :HTDAG_SCHEMA.begin_schedule_tick(p_name text, p_seen timestamptz, p_tick timestamptz,
                                                  p_next timestamptz, p_channel text)
RETURNS TABLE (outcome text, tick timestamptz)
LANGUAGE plpgsql AS $$
DECLARE v_schedule :HTDAG_SCHEMA.schedules;
BEGIN
  -- GUARD: only the tick the caller saw is begun; the row is locked while the choice is made.
  SELECT * INTO v_schedule FROM :HTDAG_SCHEMA.schedules WHERE name = p_name AND next_tick_at = p_seen FOR UPDATE;
  IF NOT FOUND THEN RETURN QUERY SELECT 'gone'::text, NULL::timestamptz; RETURN; END IF;
  IF v_schedule.firing_tick IS NOT NULL THEN
    RETURN QUERY SELECT 'fire'::text, v_schedule.firing_tick; RETURN;
  END IF;
  IF v_schedule.overlap = 'skip' AND EXISTS (
       SELECT 1 FROM :HTDAG_SCHEMA.runs
        WHERE id = v_schedule.last_run_id AND status NOT IN ('completed', 'failed', 'cancelled', 'timed_out')) THEN
    UPDATE :HTDAG_SCHEMA.schedules SET next_tick_at = p_next, last_tick_at = p_tick, updated_at = now()
     WHERE name = p_name;
    PERFORM :HTDAG_SCHEMA.emit(p_channel, 'schedule:fired', NULL, NULL, v_schedule.workflow,
      jsonb_build_object('schedule', p_name, 'tick', to_char(p_tick AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                         'runId', NULL, 'skipped', true));
    RETURN QUERY SELECT 'skipped'::text, p_tick; RETURN;
  END IF;
  UPDATE :HTDAG_SCHEMA.schedules SET firing_tick = p_tick WHERE name = p_name;
  RETURN QUERY SELECT 'fire'::text, p_tick;
END $$;

-- Ends firing tick p_tick of schedule p_name with run p_run_id: the schedule advances to p_next and
-- schedule:fired is written. False (nothing written) when another worker finished it first, or the
-- schedule was replaced or removed meanwhile.
CREATE FUNCTION :HTDAG_SCHEMA.finish_schedule_tick(p_name text, p_tick timestamptz, p_next timestamptz,
                                                   p_run_id uuid, p_channel text)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE v_workflow text;
BEGIN
  UPDATE :HTDAG_SCHEMA.schedules
     SET next_tick_at = p_next, last_tick_at = p_tick, last_run_id = p_run_id,
         firing_tick = NULL, updated_at = now()
   -- GUARD: only the worker that finishes the pinned tick first advances the schedule.
   WHERE name = p_name AND firing_tick = p_tick
  RETURNING workflow INTO v_workflow;
  IF NOT FOUND THEN RETURN false; END IF;
  PERFORM :HTDAG_SCHEMA.emit(p_channel, 'schedule:fired', p_run_id, NULL, v_workflow,
    jsonb_build_object('schedule', p_name, 'tick', to_char(p_tick AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                       'runId', p_run_id, 'skipped', false));
  RETURN true;
END $$;
