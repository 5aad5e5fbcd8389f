-- 0002_api_keys: API keys of `mnemo serve`, so that servers on PostgreSQL authenticate
-- against the database they share (a key created through one replica works on every
-- replica, and a revocation reaches them all). Same rows as SQLite's migration 0005: only
-- the SHA-256 of the whole key is kept; `id` is the public part of the key text
-- (`mnemo_<id>_<secret>`); a revoked key keeps its row (who had access when). `user_id`
-- is the key's user, but keys are looked up by id before any user is known, so this
-- small table stays a reference table if the rest is ever distributed by user.
CREATE TABLE api_keys (
    id           text COLLATE "C" PRIMARY KEY,
    hash         text NOT NULL,
    user_id      text COLLATE "C" NOT NULL,
    agent_id     text COLLATE "C",
    admin        boolean NOT NULL DEFAULT false,
    name         text,
    created_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    last_used_at timestamptz
);
