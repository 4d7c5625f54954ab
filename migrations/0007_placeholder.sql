-- Placeholder of another part of issue 22 (merged from its branch); not to be merged.
SELECT 1;
