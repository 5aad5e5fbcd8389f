-- 0003_jobs: the durable job queue of the memory pipeline and the token usage of every
-- model call. Jobs live in the same database as the turns they process so that a turn and
-- the job that will process it commit in one transaction, and a crash loses neither.
--
-- * (kind, user_id, subject) identifies a job. `Once` jobs are unique over all time (the
--   store checks before inserting, inside the write transaction); a partial unique index
--   keeps at most one *queued* job per identity, which is what `Coalesce` relies on.
-- * A running job carries a lease token (`lease_owner`) and `lease_until`; a job whose
--   lease expired is due again, which is how a crashed worker's job is picked up.
-- * Range jobs (extraction, session summaries) record the turns they cover
--   (session_id, first_seq, last_seq); the next range starts after the highest last_seq
--   of that kind, so no turn is skipped or covered twice.
-- * Jobs and usage die with their user: forgetting a user deletes their sessions, and the
--   triggers below take the user's jobs and usage rows with them.

CREATE TABLE jobs (
    pk           INTEGER PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL,
    user_id      TEXT NOT NULL CHECK (user_id <> ''),
    agent_id     TEXT CHECK (agent_id <> ''),
    subject      TEXT NOT NULL,
    session_id   TEXT,
    first_seq    INTEGER,
    last_seq     INTEGER,
    payload      TEXT NOT NULL DEFAULT 'null',
    status       TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    attempts     INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts INTEGER NOT NULL CHECK (max_attempts >= 1),
    next_run_at  TEXT NOT NULL,
    lease_owner  TEXT,
    lease_until  TEXT,
    last_error   TEXT,
    result       TEXT NOT NULL DEFAULT 'null',
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    finished_at  TEXT
);
CREATE INDEX jobs_identity ON jobs (kind, user_id, subject);
CREATE UNIQUE INDEX jobs_one_queued ON jobs (kind, user_id, subject) WHERE status = 'queued';
-- The worker's question: what is due? (queued by next_run_at, running by lease expiry)
CREATE INDEX jobs_due ON jobs (status, next_run_at);
CREATE INDEX jobs_lease ON jobs (status, lease_until) WHERE status = 'running';
CREATE INDEX jobs_range ON jobs (session_id, kind, last_seq) WHERE session_id IS NOT NULL;
CREATE INDEX jobs_user_created ON jobs (user_id, created_at);

CREATE TABLE llm_usage (
    pk            INTEGER PRIMARY KEY,
    job_id        TEXT,
    user_id       TEXT NOT NULL,
    agent_id      TEXT,
    task          TEXT NOT NULL,
    provider      TEXT NOT NULL,
    model         TEXT NOT NULL,
    input_tokens  INTEGER NOT NULL CHECK (input_tokens >= 0),
    output_tokens INTEGER NOT NULL CHECK (output_tokens >= 0),
    at            TEXT NOT NULL
);
CREATE INDEX llm_usage_user_at ON llm_usage (user_id, at);
CREATE INDEX llm_usage_job ON llm_usage (job_id) WHERE job_id IS NOT NULL;

CREATE TRIGGER jobs_forget_user AFTER DELETE ON sessions BEGIN
    DELETE FROM jobs WHERE user_id = old.user_id;
    DELETE FROM llm_usage WHERE user_id = old.user_id;
END;
