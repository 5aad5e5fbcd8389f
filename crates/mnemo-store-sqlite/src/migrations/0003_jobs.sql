-- 0003: the durable job queue and token usage (issue 4: memory pipeline). Reserved; filled in by that work.
SELECT 1;
