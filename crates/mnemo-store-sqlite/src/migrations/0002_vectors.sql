-- 0002: embedding vectors (issue 3: hybrid retrieval). Reserved; filled in by that work.
SELECT 1;
