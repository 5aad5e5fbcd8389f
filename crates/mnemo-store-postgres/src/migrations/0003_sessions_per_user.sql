-- 0003_sessions_per_user: a session id belongs to its user (SQLite's 0006). Until now
-- `sessions.id` was unique over the whole database, so two users whose clients chose the
-- same natural name ("default", "chat") collided and the second learned that the first
-- existed. The key of a session is now (user_id, id); turns and summaries refer to it by
-- that pair, so a turn can only join a session of its own user. PostgreSQL changes the
-- constraints in place; the constraint names dropped are those PostgreSQL gave 0001's.

ALTER TABLE turns DROP CONSTRAINT turns_session_id_fkey;
ALTER TABLE summaries DROP CONSTRAINT summaries_session_id_fkey;
ALTER TABLE sessions DROP CONSTRAINT sessions_id_key;
ALTER TABLE sessions ADD CONSTRAINT sessions_user_id_id_key UNIQUE (user_id, id);
ALTER TABLE turns DROP CONSTRAINT turns_session_id_seq_key;
ALTER TABLE turns ADD CONSTRAINT turns_user_session_seq_key UNIQUE (user_id, session_id, seq);
ALTER TABLE turns ADD CONSTRAINT turns_session_fkey
    FOREIGN KEY (user_id, session_id) REFERENCES sessions (user_id, id);
ALTER TABLE summaries ADD CONSTRAINT summaries_session_fkey
    FOREIGN KEY (user_id, session_id) REFERENCES sessions (user_id, id);

DROP INDEX summaries_session;
CREATE INDEX summaries_session ON summaries (user_id, session_id, first_seq);
DROP INDEX memories_session;
CREATE INDEX memories_session ON memories (user_id, session_id) WHERE session_id IS NOT NULL;
DROP INDEX jobs_range;
CREATE INDEX jobs_range ON jobs (user_id, session_id, kind, last_seq)
    WHERE session_id IS NOT NULL;
