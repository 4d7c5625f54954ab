-- Placeholder for migration 0006 of another part of issue 22 (migrations are numbered without gaps):
-- on merge, this file gives way to that part's 0006.
SELECT 1;
