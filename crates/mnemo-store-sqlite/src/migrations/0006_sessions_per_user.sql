-- 0006_sessions_per_user: a session id belongs to its user. Until now `sessions.id` was
-- unique over the whole database, so two users whose clients both chose a natural name
-- ("default", "chat") collided, and the second learned that the first existed. The key of
-- a session is now (user_id, id), and what hangs off a session (turns, summaries) refers
-- to it by that pair, so a turn can only ever join a session of its own user.
--
-- SQLite cannot change a table's constraints in place, so sessions, turns and summaries are
-- rebuilt: new tables are filled from the old ones (rowids kept, so the external-content
-- FTS indexes, which point at rowids, stay valid), the old tables are dropped children
-- first (no foreign key ever dangles), the new ones take the old names (SQLite rewrites the
-- REFERENCES clauses that name them), and the indexes and triggers dropped with the old
-- tables are created again, unchanged but for the keys that now include the user.

CREATE TABLE sessions_v6 (
    pk         INTEGER PRIMARY KEY,
    id         TEXT NOT NULL CHECK (id <> ''),
    user_id    TEXT NOT NULL CHECK (user_id <> ''),
    agent_id   TEXT CHECK (agent_id <> ''),
    started_at TEXT NOT NULL,
    ended_at   TEXT,
    meta       TEXT NOT NULL DEFAULT 'null',
    UNIQUE (user_id, id)
);
INSERT INTO sessions_v6 (pk, id, user_id, agent_id, started_at, ended_at, meta)
    SELECT pk, id, user_id, agent_id, started_at, ended_at, meta FROM sessions;

CREATE TABLE turns_v6 (
    pk         INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    session_id TEXT NOT NULL,
    seq        INTEGER NOT NULL CHECK (seq >= 1),
    user_id    TEXT NOT NULL CHECK (user_id <> ''),
    agent_id   TEXT CHECK (agent_id <> ''),
    role       TEXT NOT NULL,
    content    TEXT NOT NULL,
    created_at TEXT NOT NULL,
    tokens     INTEGER NOT NULL CHECK (tokens >= 0),
    meta       TEXT NOT NULL DEFAULT 'null',
    UNIQUE (user_id, session_id, seq),
    FOREIGN KEY (user_id, session_id) REFERENCES sessions_v6 (user_id, id)
);
INSERT INTO turns_v6 (pk, id, session_id, seq, user_id, agent_id, role, content, created_at,
                      tokens, meta)
    SELECT pk, id, session_id, seq, user_id, agent_id, role, content, created_at, tokens, meta
    FROM turns;

CREATE TABLE summaries_v6 (
    pk         INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    user_id    TEXT NOT NULL CHECK (user_id <> ''),
    agent_id   TEXT CHECK (agent_id <> ''),
    session_id TEXT NOT NULL,
    first_seq  INTEGER NOT NULL,
    last_seq   INTEGER NOT NULL CHECK (last_seq >= first_seq),
    summary    TEXT NOT NULL,
    created_at TEXT NOT NULL,
    meta       TEXT NOT NULL DEFAULT 'null',
    FOREIGN KEY (user_id, session_id) REFERENCES sessions_v6 (user_id, id)
);
INSERT INTO summaries_v6 (pk, id, user_id, agent_id, session_id, first_seq, last_seq, summary,
                          created_at, meta)
    SELECT pk, id, user_id, agent_id, session_id, first_seq, last_seq, summary, created_at, meta
    FROM summaries;

DROP TABLE summaries;
DROP TABLE turns;
DROP TABLE sessions;
ALTER TABLE sessions_v6 RENAME TO sessions;
ALTER TABLE turns_v6 RENAME TO turns;
ALTER TABLE summaries_v6 RENAME TO summaries;

CREATE INDEX sessions_user_started ON sessions (user_id, started_at);
CREATE INDEX turns_user_created ON turns (user_id, created_at);
CREATE INDEX summaries_session ON summaries (user_id, session_id, first_seq);
CREATE INDEX summaries_user_created ON summaries (user_id, created_at);
DROP INDEX memories_session;
CREATE INDEX memories_session ON memories (user_id, session_id) WHERE session_id IS NOT NULL;
DROP INDEX jobs_range;
CREATE INDEX jobs_range ON jobs (user_id, session_id, kind, last_seq)
    WHERE session_id IS NOT NULL;

-- The triggers of 0001 (full text), 0002 (vectors, index epochs) and 0003 (jobs and usage
-- die with their user), as they were.
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
CREATE TRIGGER vectors_turn_delete AFTER DELETE ON turns BEGIN
    DELETE FROM vectors WHERE owner_kind = 'turn' AND owner_id = old.id;
END;
CREATE TRIGGER vectors_turn_update AFTER UPDATE OF content ON turns
WHEN old.content IS NOT new.content BEGIN
    DELETE FROM vectors WHERE owner_kind = 'turn' AND owner_id = old.id;
END;
CREATE TRIGGER epochs_turn_insert AFTER INSERT ON turns BEGIN
    INSERT INTO index_epochs VALUES ('turn', new.user_id,
        (SELECT epoch + 1 FROM index_epochs WHERE owner_kind = '*'))
    ON CONFLICT (owner_kind, user_id) DO UPDATE SET epoch = epoch + 1;
    UPDATE index_epochs SET epoch = max(epoch,
        (SELECT epoch FROM index_epochs WHERE owner_kind = 'turn' AND user_id = new.user_id))
    WHERE owner_kind = '*';
END;
CREATE TRIGGER epochs_turn_change AFTER UPDATE OF content ON turns
WHEN old.content IS NOT new.content BEGIN
    UPDATE index_epochs SET epoch = epoch + 1 WHERE owner_kind = 'turn' AND user_id = new.user_id;
    UPDATE index_epochs SET epoch = max(epoch,
        (SELECT epoch FROM index_epochs WHERE owner_kind = 'turn' AND user_id = new.user_id))
    WHERE owner_kind = '*';
END;
CREATE TRIGGER epochs_turn_delete AFTER DELETE ON turns BEGIN
    UPDATE index_epochs SET epoch = epoch + 1 WHERE owner_kind = 'turn' AND user_id = old.user_id;
    UPDATE index_epochs SET epoch = max(epoch,
        (SELECT epoch FROM index_epochs WHERE owner_kind = 'turn' AND user_id = old.user_id))
    WHERE owner_kind = '*';
    DELETE FROM index_epochs WHERE owner_kind = 'turn' AND user_id = old.user_id
        AND NOT EXISTS (SELECT 1 FROM turns WHERE user_id = old.user_id);
END;
CREATE TRIGGER jobs_forget_user AFTER DELETE ON sessions BEGIN
    DELETE FROM jobs WHERE user_id = old.user_id;
    DELETE FROM llm_usage WHERE user_id = old.user_id;
END;
