-- 0001_init: the first PostgreSQL schema of mnemo, equivalent to SQLite migrations
-- 0001-0004 (records, vectors, index epochs, jobs, the memory change feed), so that several
-- mnemo servers can share one database.
--
-- Conventions:
-- * `pk bigserial` keeps insertion order (history order, missing_vectors order) like
--   SQLite's rowid; `id text` is the public id that export/import use.
-- * Every table carries `user_id`, and every query of the store filters on it where the
--   trait gives one, so the schema can later be distributed by user (Citus, partitions).
-- * Text that is sorted or compared (ids, names, user ids) uses the "C" collation: byte
--   order, the same as SQLite's, so exports of both backends come out in the same order
--   whatever locale the database was created with.
-- * Timestamps are timestamptz (microseconds, as mnemo keeps them). `meta`, `payload` and
--   `result` are JSON text exactly as written, so exports are byte-identical to SQLite's.
-- * Full text: a generated tsvector column with a GIN index per searchable table.
-- * Vectors: pgvector `vector` columns; HNSW indexes are created per dimension count the
--   first time vectors of that size are stored (vectors.rs), since an index needs a fixed
--   dimension and the model is the user's choice.

CREATE TABLE sessions (
    pk         bigserial PRIMARY KEY,
    id         text COLLATE "C" NOT NULL UNIQUE CHECK (id <> ''),
    user_id    text COLLATE "C" NOT NULL CHECK (user_id <> ''),
    agent_id   text COLLATE "C" CHECK (agent_id <> ''),
    started_at timestamptz NOT NULL,
    ended_at   timestamptz,
    meta       text NOT NULL DEFAULT 'null'
);
CREATE INDEX sessions_user_started ON sessions (user_id, started_at);

CREATE TABLE turns (
    pk         bigserial PRIMARY KEY,
    id         text COLLATE "C" NOT NULL UNIQUE,
    session_id text COLLATE "C" NOT NULL REFERENCES sessions (id),
    seq        bigint NOT NULL CHECK (seq >= 1),
    user_id    text COLLATE "C" NOT NULL CHECK (user_id <> ''),
    agent_id   text COLLATE "C" CHECK (agent_id <> ''),
    role       text NOT NULL,
    content    text NOT NULL,
    created_at timestamptz NOT NULL,
    tokens     bigint NOT NULL CHECK (tokens >= 0),
    meta       text NOT NULL DEFAULT 'null',
    fts        tsvector GENERATED ALWAYS AS (to_tsvector('english', content)) STORED,
    UNIQUE (session_id, seq)
);
CREATE INDEX turns_user_created ON turns (user_id, created_at);
CREATE INDEX turns_fts ON turns USING gin (fts);

CREATE TABLE memories (
    pk            bigserial PRIMARY KEY,
    id            text COLLATE "C" NOT NULL UNIQUE,
    user_id       text COLLATE "C" NOT NULL CHECK (user_id <> ''),
    agent_id      text COLLATE "C" CHECK (agent_id <> ''),
    session_id    text COLLATE "C",
    kind          text COLLATE "C" NOT NULL,
    key           text COLLATE "C",
    content       text NOT NULL,
    topic         text COLLATE "C",
    salience      real NOT NULL CHECK (salience >= 0.0 AND salience <= 1.0),
    pinned        boolean NOT NULL DEFAULT false,
    expires_at    timestamptz,
    valid_from    timestamptz NOT NULL,
    valid_to      timestamptz,
    superseded_by text COLLATE "C",
    deleted       boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    access_count  bigint NOT NULL DEFAULT 0 CHECK (access_count >= 0),
    last_accessed timestamptz,
    meta          text NOT NULL DEFAULT 'null',
    fts           tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', content), 'A')
        || setweight(to_tsvector('english', coalesce(topic, '') || ' ' || coalesce(key, '')), 'B')
        || setweight(to_tsvector('english', kind), 'D')) STORED
);
CREATE INDEX memories_scope_created ON memories (user_id, agent_id, created_at);
CREATE INDEX memories_current ON memories (user_id, created_at)
    WHERE NOT deleted AND valid_to IS NULL;
CREATE INDEX memories_key ON memories (user_id, key, agent_id) WHERE key IS NOT NULL;
CREATE INDEX memories_topic ON memories (user_id, topic) WHERE topic IS NOT NULL;
CREATE INDEX memories_session ON memories (session_id) WHERE session_id IS NOT NULL;
CREATE INDEX memories_fts ON memories USING gin (fts);

CREATE TABLE memory_sources (
    memory_id text COLLATE "C" NOT NULL REFERENCES memories (id) ON DELETE CASCADE
        ON UPDATE CASCADE,
    user_id   text COLLATE "C" NOT NULL,
    position  integer NOT NULL CHECK (position >= 0),
    turn_id   text COLLATE "C" NOT NULL,
    PRIMARY KEY (memory_id, position)
);
CREATE INDEX memory_sources_turn ON memory_sources (user_id, turn_id);

CREATE TABLE history (
    pk          bigserial PRIMARY KEY,
    id          text COLLATE "C" NOT NULL UNIQUE,
    memory_id   text COLLATE "C" NOT NULL REFERENCES memories (id),
    user_id     text COLLATE "C" NOT NULL CHECK (user_id <> ''),
    op          text NOT NULL,
    old_content text,
    new_content text,
    actor       text NOT NULL,
    reason      text,
    at          timestamptz NOT NULL,
    meta        text NOT NULL DEFAULT 'null'
);
CREATE INDEX history_memory_at ON history (memory_id, at);
CREATE INDEX history_user_at ON history (user_id, at);

CREATE TABLE topics (
    pk         bigserial PRIMARY KEY,
    id         text COLLATE "C" NOT NULL UNIQUE,
    user_id    text COLLATE "C" NOT NULL CHECK (user_id <> ''),
    agent_id   text COLLATE "C" CHECK (agent_id <> ''),
    name       text COLLATE "C" NOT NULL CHECK (name <> ''),
    summary    text NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL,
    meta       text NOT NULL DEFAULT 'null',
    fts        tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', name), 'A')
        || setweight(to_tsvector('english', summary), 'B')) STORED
);
CREATE UNIQUE INDEX topics_scope_name ON topics (user_id, coalesce(agent_id, ''), name);
CREATE INDEX topics_fts ON topics USING gin (fts);

CREATE TABLE summaries (
    pk         bigserial PRIMARY KEY,
    id         text COLLATE "C" NOT NULL UNIQUE,
    user_id    text COLLATE "C" NOT NULL CHECK (user_id <> ''),
    agent_id   text COLLATE "C" CHECK (agent_id <> ''),
    session_id text COLLATE "C" NOT NULL REFERENCES sessions (id),
    first_seq  bigint NOT NULL,
    last_seq   bigint NOT NULL CHECK (last_seq >= first_seq),
    summary    text NOT NULL,
    created_at timestamptz NOT NULL,
    meta       text NOT NULL DEFAULT 'null',
    fts        tsvector GENERATED ALWAYS AS (to_tsvector('english', summary)) STORED
);
CREATE INDEX summaries_session ON summaries (session_id, first_seq);
CREATE INDEX summaries_user_created ON summaries (user_id, created_at);
CREATE INDEX summaries_fts ON summaries USING gin (fts);

-- Embedding vectors, the source of truth for in-memory indexes and for pgvector search.
CREATE TABLE vectors (
    owner_kind text COLLATE "C" NOT NULL CHECK (owner_kind IN ('turn', 'memory')),
    owner_id   text COLLATE "C" NOT NULL,
    user_id    text COLLATE "C" NOT NULL CHECK (user_id <> ''),
    model_id   text COLLATE "C" NOT NULL CHECK (model_id <> ''),
    dims       integer NOT NULL CHECK (dims > 0),
    embedding  vector NOT NULL,
    PRIMARY KEY (owner_kind, owner_id)
);
CREATE INDEX vectors_user_model ON vectors (user_id, owner_kind, model_id);

-- Index epochs: bumped by every insert, delete or text change of a user's turns or
-- memories. A user's first row starts from a sequence, so no lock is shared by users;
-- forget_user moves the sequence past the forgotten user's epochs before deleting them,
-- so a re-created user never repeats an old epoch.
CREATE SEQUENCE index_epoch_seq;
CREATE TABLE index_epochs (
    owner_kind text COLLATE "C" NOT NULL,
    user_id    text COLLATE "C" NOT NULL,
    epoch      bigint NOT NULL,
    PRIMARY KEY (owner_kind, user_id)
);
CREATE FUNCTION mnemo_bump_epoch(k text, uid text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO index_epochs VALUES (k, uid, nextval('index_epoch_seq'))
    ON CONFLICT (owner_kind, user_id) DO UPDATE SET epoch = index_epochs.epoch + 1;
END $$;

-- The memory change feed. Positions are handed out by updating one row, whose lock is
-- held to commit, so positions become visible in order and without gaps: a reader that
-- saw position n has seen every change up to n. Pruned to the last 100,000 changes.
CREATE TABLE memory_feed_head (
    id  integer PRIMARY KEY CHECK (id = 1),
    seq bigint NOT NULL
);
INSERT INTO memory_feed_head VALUES (1, 0);
CREATE TABLE memory_changes (
    seq       bigint PRIMARY KEY,
    user_id   text COLLATE "C" NOT NULL,
    memory_id text COLLATE "C" NOT NULL
);
CREATE INDEX memory_changes_user ON memory_changes (user_id, seq);
CREATE FUNCTION mnemo_memory_changed(uid text, mid text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE s bigint;
BEGIN
    UPDATE memory_feed_head SET seq = seq + 1 WHERE id = 1 RETURNING seq INTO s;
    INSERT INTO memory_changes VALUES (s, uid, mid);
    IF s % 1000 = 0 THEN
        DELETE FROM memory_changes WHERE seq <= s - 100000;
    END IF;
END $$;

CREATE FUNCTION mnemo_turns_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM mnemo_bump_epoch('turn', NEW.user_id);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM mnemo_bump_epoch('turn', OLD.user_id);
        DELETE FROM vectors WHERE owner_kind = 'turn' AND owner_id = OLD.id;
    ELSIF OLD.content IS DISTINCT FROM NEW.content THEN
        PERFORM mnemo_bump_epoch('turn', NEW.user_id);
        DELETE FROM vectors WHERE owner_kind = 'turn' AND owner_id = OLD.id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER turns_changed AFTER INSERT OR UPDATE OR DELETE ON turns
    FOR EACH ROW EXECUTE FUNCTION mnemo_turns_changed();

-- Any change of a memory but access bookkeeping (access_count, last_accessed) moves the
-- epoch and the feed: the in-memory index holds whole memories. The feed's row is locked
-- first, so writers of memories always take their locks in the same order (no deadlock
-- between two users' epoch rows).
CREATE FUNCTION mnemo_memories_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM mnemo_memory_changed(NEW.user_id, NEW.id);
        PERFORM mnemo_bump_epoch('memory', NEW.user_id);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM mnemo_memory_changed(OLD.user_id, OLD.id);
        PERFORM mnemo_bump_epoch('memory', OLD.user_id);
        DELETE FROM vectors WHERE owner_kind = 'memory' AND owner_id = OLD.id;
    ELSE
        IF OLD.content IS DISTINCT FROM NEW.content THEN
            DELETE FROM vectors WHERE owner_kind = 'memory' AND owner_id = OLD.id;
        END IF;
        IF (OLD.id, OLD.user_id, OLD.agent_id, OLD.session_id, OLD.kind, OLD.key,
            OLD.content, OLD.topic, OLD.salience, OLD.pinned, OLD.expires_at,
            OLD.valid_from, OLD.valid_to, OLD.superseded_by, OLD.deleted, OLD.updated_at,
            OLD.meta)
           IS DISTINCT FROM
           (NEW.id, NEW.user_id, NEW.agent_id, NEW.session_id, NEW.kind, NEW.key,
            NEW.content, NEW.topic, NEW.salience, NEW.pinned, NEW.expires_at,
            NEW.valid_from, NEW.valid_to, NEW.superseded_by, NEW.deleted, NEW.updated_at,
            NEW.meta) THEN
            PERFORM mnemo_memory_changed(OLD.user_id, OLD.id);
            IF NEW.id IS DISTINCT FROM OLD.id OR NEW.user_id IS DISTINCT FROM OLD.user_id THEN
                PERFORM mnemo_memory_changed(NEW.user_id, NEW.id);
            END IF;
            PERFORM mnemo_bump_epoch('memory', NEW.user_id);
        END IF;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER memories_changed AFTER INSERT OR UPDATE OR DELETE ON memories
    FOR EACH ROW EXECUTE FUNCTION mnemo_memories_changed();

-- The job queue (see SQLite's 0003_jobs for the model). Workers of every replica lease
-- with FOR UPDATE SKIP LOCKED.
CREATE TABLE jobs (
    pk           bigserial PRIMARY KEY,
    id           text COLLATE "C" NOT NULL UNIQUE,
    kind         text COLLATE "C" NOT NULL,
    user_id      text COLLATE "C" NOT NULL CHECK (user_id <> ''),
    agent_id     text COLLATE "C" CHECK (agent_id <> ''),
    subject      text COLLATE "C" NOT NULL,
    session_id   text COLLATE "C",
    first_seq    bigint,
    last_seq     bigint,
    payload      text NOT NULL DEFAULT 'null',
    status       text COLLATE "C" NOT NULL
        CHECK (status IN ('queued', 'running', 'done', 'failed')),
    attempts     integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts integer NOT NULL CHECK (max_attempts >= 1),
    next_run_at  timestamptz NOT NULL,
    lease_owner  text,
    lease_until  timestamptz,
    last_error   text,
    result       text NOT NULL DEFAULT 'null',
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    finished_at  timestamptz
);
CREATE INDEX jobs_identity ON jobs (kind, user_id, subject);
CREATE UNIQUE INDEX jobs_one_queued ON jobs (kind, user_id, subject) WHERE status = 'queued';
CREATE INDEX jobs_due ON jobs (status, next_run_at);
CREATE INDEX jobs_lease ON jobs (status, lease_until) WHERE status = 'running';
CREATE INDEX jobs_range ON jobs (session_id, kind, last_seq) WHERE session_id IS NOT NULL;
CREATE INDEX jobs_user_created ON jobs (user_id, created_at);

CREATE TABLE llm_usage (
    pk            bigserial PRIMARY KEY,
    job_id        text COLLATE "C",
    user_id       text COLLATE "C" NOT NULL,
    agent_id      text COLLATE "C",
    task          text COLLATE "C" NOT NULL,
    provider      text COLLATE "C" NOT NULL,
    model         text COLLATE "C" NOT NULL,
    input_tokens  bigint NOT NULL CHECK (input_tokens >= 0),
    output_tokens bigint NOT NULL CHECK (output_tokens >= 0),
    at            timestamptz NOT NULL
);
CREATE INDEX llm_usage_user_at ON llm_usage (user_id, at);
CREATE INDEX llm_usage_job ON llm_usage (job_id) WHERE job_id IS NOT NULL;
