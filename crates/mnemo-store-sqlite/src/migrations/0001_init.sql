-- 0001_init: the first schema of mnemo. It creates the record tables (sessions, turns,
-- memories with their provenance and history, topics, summaries), the indexes behind the
-- store's filters, and external-content FTS5 indexes kept in sync by triggers so that the
-- full-text index can never drift from the rows it describes.
--
-- Conventions, relied on by every later migration:
-- * `pk INTEGER PRIMARY KEY` is the SQLite rowid (FTS5 rows and future tables such as
--   embeddings link to it); `id TEXT UNIQUE` is the public 32-hex id that export/import use.
-- * Timestamps are fixed-width RFC 3339 UTC text, so text order is time order.
-- * `agent_id` NULL means "user-wide"; the empty string is forbidden so that
--   `coalesce(agent_id, '')` is a faithful key for per-scope uniqueness.
-- * `meta` is JSON text: 'null' or an object.
-- * References to turns (memory provenance) and to superseding memories are plain text,
--   not foreign keys: forgetting turns must never be blocked by the memories they fed.

CREATE TABLE sessions (
    pk         INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE CHECK (id <> ''),
    user_id    TEXT NOT NULL CHECK (user_id <> ''),
    agent_id   TEXT CHECK (agent_id <> ''),
    started_at TEXT NOT NULL,
    ended_at   TEXT,
    meta       TEXT NOT NULL DEFAULT 'null'
);
CREATE INDEX sessions_user_started ON sessions (user_id, started_at);

CREATE TABLE turns (
    pk         INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    session_id TEXT NOT NULL REFERENCES sessions (id),
    seq        INTEGER NOT NULL CHECK (seq >= 1),
    user_id    TEXT NOT NULL CHECK (user_id <> ''),
    agent_id   TEXT CHECK (agent_id <> ''),
    role       TEXT NOT NULL,
    content    TEXT NOT NULL,
    created_at TEXT NOT NULL,
    tokens     INTEGER NOT NULL CHECK (tokens >= 0),
    meta       TEXT NOT NULL DEFAULT 'null',
    UNIQUE (session_id, seq)
);
CREATE INDEX turns_user_created ON turns (user_id, created_at);

CREATE TABLE memories (
    pk            INTEGER PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    user_id       TEXT NOT NULL CHECK (user_id <> ''),
    agent_id      TEXT CHECK (agent_id <> ''),
    session_id    TEXT,
    kind          TEXT NOT NULL,
    key           TEXT,
    content       TEXT NOT NULL,
    topic         TEXT,
    salience      REAL NOT NULL CHECK (salience >= 0.0 AND salience <= 1.0),
    pinned        INTEGER NOT NULL DEFAULT 0 CHECK (pinned IN (0, 1)),
    expires_at    TEXT,
    valid_from    TEXT NOT NULL,
    valid_to      TEXT,
    superseded_by TEXT,
    deleted       INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    access_count  INTEGER NOT NULL DEFAULT 0 CHECK (access_count >= 0),
    last_accessed TEXT,
    meta          TEXT NOT NULL DEFAULT 'null'
);
CREATE INDEX memories_scope_created ON memories (user_id, agent_id, created_at);
-- The current view is by far the most common read; this partial index serves it.
CREATE INDEX memories_current ON memories (user_id, created_at)
    WHERE deleted = 0 AND valid_to IS NULL;
-- Serves current_by_key (user, key, agent) and the key filter (user, key).
CREATE INDEX memories_key ON memories (user_id, key, agent_id) WHERE key IS NOT NULL;
CREATE INDEX memories_topic ON memories (user_id, topic) WHERE topic IS NOT NULL;
CREATE INDEX memories_kind ON memories (user_id, kind);
CREATE INDEX memories_session ON memories (session_id) WHERE session_id IS NOT NULL;
CREATE INDEX memories_valid_to ON memories (user_id, valid_to) WHERE valid_to IS NOT NULL;

-- Provenance: which turns a memory was derived from, in order.
CREATE TABLE memory_sources (
    memory_id TEXT NOT NULL REFERENCES memories (id) ON DELETE CASCADE,
    position  INTEGER NOT NULL CHECK (position >= 0),
    turn_id   TEXT NOT NULL,
    PRIMARY KEY (memory_id, position)
) WITHOUT ROWID;
CREATE INDEX memory_sources_turn ON memory_sources (turn_id);

CREATE TABLE history (
    pk          INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    memory_id   TEXT NOT NULL REFERENCES memories (id),
    user_id     TEXT NOT NULL CHECK (user_id <> ''),
    op          TEXT NOT NULL,
    old_content TEXT,
    new_content TEXT,
    actor       TEXT NOT NULL,
    reason      TEXT,
    at          TEXT NOT NULL,
    meta        TEXT NOT NULL DEFAULT 'null'
);
CREATE INDEX history_memory_at ON history (memory_id, at);
CREATE INDEX history_user_at ON history (user_id, at);

CREATE TABLE topics (
    pk         INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    user_id    TEXT NOT NULL CHECK (user_id <> ''),
    agent_id   TEXT CHECK (agent_id <> ''),
    name       TEXT NOT NULL CHECK (name <> ''),
    summary    TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL,
    meta       TEXT NOT NULL DEFAULT 'null'
);
CREATE UNIQUE INDEX topics_scope_name ON topics (user_id, coalesce(agent_id, ''), name);

CREATE TABLE summaries (
    pk         INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    user_id    TEXT NOT NULL CHECK (user_id <> ''),
    agent_id   TEXT CHECK (agent_id <> ''),
    session_id TEXT NOT NULL REFERENCES sessions (id),
    first_seq  INTEGER NOT NULL,
    last_seq   INTEGER NOT NULL CHECK (last_seq >= first_seq),
    summary    TEXT NOT NULL,
    created_at TEXT NOT NULL,
    meta       TEXT NOT NULL DEFAULT 'null'
);
CREATE INDEX summaries_session ON summaries (session_id, first_seq);
CREATE INDEX summaries_user_created ON summaries (user_id, created_at);

-- Full-text indexes. External content: the text lives once, in the record tables; the
-- triggers below are the only writers of the indexes.
CREATE VIRTUAL TABLE memories_fts USING fts5 (
    content, topic, key, kind,
    content = 'memories', content_rowid = 'pk',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories BEGIN
    INSERT INTO memories_fts (rowid, content, topic, key, kind)
    VALUES (new.pk, new.content, new.topic, new.key, new.kind);
END;
CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories BEGIN
    INSERT INTO memories_fts (memories_fts, rowid, content, topic, key, kind)
    VALUES ('delete', old.pk, old.content, old.topic, old.key, old.kind);
END;
-- Only text changes touch the index; bookkeeping updates (access counts) do not.
CREATE TRIGGER memories_fts_update AFTER UPDATE OF pk, content, topic, key, kind ON memories BEGIN
    INSERT INTO memories_fts (memories_fts, rowid, content, topic, key, kind)
    VALUES ('delete', old.pk, old.content, old.topic, old.key, old.kind);
    INSERT INTO memories_fts (rowid, content, topic, key, kind)
    VALUES (new.pk, new.content, new.topic, new.key, new.kind);
END;

CREATE VIRTUAL TABLE turns_fts USING fts5 (
    content,
    content = 'turns', content_rowid = 'pk',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER turns_fts_insert AFTER INSERT ON turns BEGIN
    INSERT INTO turns_fts (rowid, content) VALUES (new.pk, new.content);
END;
CREATE TRIGGER turns_fts_delete AFTER DELETE ON turns BEGIN
    INSERT INTO turns_fts (turns_fts, rowid, content) VALUES ('delete', old.pk, old.content);
END;
CREATE TRIGGER turns_fts_update AFTER UPDATE OF pk, content ON turns BEGIN
    INSERT INTO turns_fts (turns_fts, rowid, content) VALUES ('delete', old.pk, old.content);
    INSERT INTO turns_fts (rowid, content) VALUES (new.pk, new.content);
END;

CREATE VIRTUAL TABLE topics_fts USING fts5 (
    name, summary,
    content = 'topics', content_rowid = 'pk',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER topics_fts_insert AFTER INSERT ON topics BEGIN
    INSERT INTO topics_fts (rowid, name, summary) VALUES (new.pk, new.name, new.summary);
END;
CREATE TRIGGER topics_fts_delete AFTER DELETE ON topics BEGIN
    INSERT INTO topics_fts (topics_fts, rowid, name, summary)
    VALUES ('delete', old.pk, old.name, old.summary);
END;
CREATE TRIGGER topics_fts_update AFTER UPDATE OF pk, name, summary ON topics BEGIN
    INSERT INTO topics_fts (topics_fts, rowid, name, summary)
    VALUES ('delete', old.pk, old.name, old.summary);
    INSERT INTO topics_fts (rowid, name, summary) VALUES (new.pk, new.name, new.summary);
END;

CREATE VIRTUAL TABLE summaries_fts USING fts5 (
    summary,
    content = 'summaries', content_rowid = 'pk',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER summaries_fts_insert AFTER INSERT ON summaries BEGIN
    INSERT INTO summaries_fts (rowid, summary) VALUES (new.pk, new.summary);
END;
CREATE TRIGGER summaries_fts_delete AFTER DELETE ON summaries BEGIN
    INSERT INTO summaries_fts (summaries_fts, rowid, summary) VALUES ('delete', old.pk, old.summary);
END;
CREATE TRIGGER summaries_fts_update AFTER UPDATE OF pk, summary ON summaries BEGIN
    INSERT INTO summaries_fts (summaries_fts, rowid, summary) VALUES ('delete', old.pk, old.summary);
    INSERT INTO summaries_fts (rowid, summary) VALUES (new.pk, new.summary);
END;
