-- 0005_api_keys: API keys for `mnemo serve` (issue 11). A key is shown once when it is
-- created; only the SHA-256 of the whole key is kept, so a copy of the database does not
-- hand out access. `id` is the public part embedded in the key (`mnemo_<id>_<secret>`)
-- and finds the row without scanning; a revoked key keeps its row (who had access when).
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL,
    user_id TEXT NOT NULL,
    agent_id TEXT,
    admin INTEGER NOT NULL DEFAULT 0 CHECK (admin IN (0, 1)),
    name TEXT,
    created_at TEXT NOT NULL,
    revoked_at TEXT,
    last_used_at TEXT
);
