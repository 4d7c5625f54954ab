-- Placeholder on the flow-control branch only: migration 0008 belongs to another part of issue 22
-- (the migrator wants versions without gaps). The lead drops this file when merging.
SELECT 1;
