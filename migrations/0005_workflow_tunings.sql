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
