-- 0004_memory_changes: a feed of which memories changed, so that an in-memory index of a
-- user's memories can patch itself instead of being rebuilt from every row. At a million
-- memories a rebuild takes minutes (full-text indexing and loading every vector), while a
-- write changes one or two rows.
--
-- * Every insert, delete, and change that moves the index epoch (0002: anything but access
--   bookkeeping) appends (user, memory id) with a new sequence number. The row says only
--   *that* the memory changed: a reader fetches its current state (or finds it gone).
-- * An index remembers the highest sequence number it has applied. A change written while
--   it reads is either applied now or seen next time; applying one twice is harmless.
-- * The feed is pruned to the last 100,000 changes (in batches, every 1,000 inserts). An
--   index older than the oldest row left cannot patch itself and rebuilds, as before.
-- * Forgetting a user cuts the feed up to that user's newest entry (see admin.rs), so no
--   trace of the user stays here either.

CREATE TABLE memory_changes (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id   TEXT NOT NULL,
    memory_id TEXT NOT NULL
);
CREATE INDEX memory_changes_user ON memory_changes (user_id, seq);

CREATE TRIGGER memory_changes_insert AFTER INSERT ON memories BEGIN
    INSERT INTO memory_changes (user_id, memory_id) VALUES (new.user_id, new.id);
END;
CREATE TRIGGER memory_changes_update AFTER UPDATE ON memories
WHEN old.content IS NOT new.content OR old.valid_to IS NOT new.valid_to
  OR old.deleted IS NOT new.deleted OR old.expires_at IS NOT new.expires_at
  OR old.kind IS NOT new.kind OR old.topic IS NOT new.topic OR old.key IS NOT new.key
  OR old.salience IS NOT new.salience OR old.pinned IS NOT new.pinned
  OR old.superseded_by IS NOT new.superseded_by OR old.agent_id IS NOT new.agent_id
  OR old.session_id IS NOT new.session_id OR old.updated_at IS NOT new.updated_at
  OR old.valid_from IS NOT new.valid_from OR old.meta IS NOT new.meta
  OR old.id IS NOT new.id OR old.user_id IS NOT new.user_id BEGIN
    INSERT INTO memory_changes (user_id, memory_id) VALUES (old.user_id, old.id);
    INSERT INTO memory_changes (user_id, memory_id)
        SELECT new.user_id, new.id WHERE new.id IS NOT old.id OR new.user_id IS NOT old.user_id;
END;
CREATE TRIGGER memory_changes_delete AFTER DELETE ON memories BEGIN
    INSERT INTO memory_changes (user_id, memory_id) VALUES (old.user_id, old.id);
END;
CREATE TRIGGER memory_changes_prune AFTER INSERT ON memory_changes
WHEN new.seq % 1000 = 0 BEGIN
    DELETE FROM memory_changes WHERE seq <= new.seq - 100000;
END;
