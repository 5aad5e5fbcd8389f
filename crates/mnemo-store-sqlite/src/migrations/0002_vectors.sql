-- 0002_vectors: embedding vectors for hybrid retrieval. One row per (owner kind, owner id):
-- the turn or memory it describes, the model that made it (vectors of two models are never
-- compared), its length, and the vector as little-endian f32 bytes. This table is the source
-- of truth; in-memory search indexes are rebuilt from it. `user_id` is copied from the
-- owner so one scope's vectors load with one index range scan.
CREATE TABLE vectors (
    owner_kind TEXT NOT NULL CHECK (owner_kind IN ('turn', 'memory')),
    owner_id   TEXT NOT NULL,
    user_id    TEXT NOT NULL CHECK (user_id <> ''),
    model_id   TEXT NOT NULL CHECK (model_id <> ''),
    dims       INTEGER NOT NULL CHECK (dims > 0),
    vector     BLOB NOT NULL CHECK (length(vector) = 4 * dims),
    PRIMARY KEY (owner_kind, owner_id)
) WITHOUT ROWID;
CREATE INDEX vectors_user_model ON vectors (user_id, owner_kind, model_id);

-- A vector dies with its owner, so forgetting a user or purging a memory leaves no
-- embedding of the text behind.
CREATE TRIGGER vectors_turn_delete AFTER DELETE ON turns BEGIN
    DELETE FROM vectors WHERE owner_kind = 'turn' AND owner_id = old.id;
END;
CREATE TRIGGER vectors_memory_delete AFTER DELETE ON memories BEGIN
    DELETE FROM vectors WHERE owner_kind = 'memory' AND owner_id = old.id;
END;
-- A vector of old text is wrong: drop it when the text changes; the engine embeds the
-- new text when it next builds the scope's index.
CREATE TRIGGER vectors_memory_update AFTER UPDATE OF content ON memories
WHEN old.content IS NOT new.content BEGIN
    DELETE FROM vectors WHERE owner_kind = 'memory' AND owner_id = old.id;
END;
CREATE TRIGGER vectors_turn_update AFTER UPDATE OF content ON turns
WHEN old.content IS NOT new.content BEGIN
    DELETE FROM vectors WHERE owner_kind = 'turn' AND owner_id = old.id;
END;

-- Index epochs: a per-user, per-kind number bumped by every insert, delete or text change
-- of a turn or memory, so an in-memory index knows in one lookup whether it is stale. The
-- row ('*', '*') holds the highest epoch ever written; a user's first change starts above
-- it, so a forgotten and re-created user never repeats an old epoch. A user's rows are
-- removed with their last record (forgetting a user leaves no trace of them here).
CREATE TABLE index_epochs (
    owner_kind TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    epoch      INTEGER NOT NULL,
    PRIMARY KEY (owner_kind, user_id)
) WITHOUT ROWID;
INSERT INTO index_epochs VALUES ('*', '*', 0);
CREATE TRIGGER epochs_turn_insert AFTER INSERT ON turns BEGIN
    INSERT INTO index_epochs VALUES ('turn', new.user_id,
        (SELECT epoch + 1 FROM index_epochs WHERE owner_kind = '*'))
    ON CONFLICT (owner_kind, user_id) DO UPDATE SET epoch = epoch + 1;
    UPDATE index_epochs SET epoch = max(epoch,
        (SELECT epoch FROM index_epochs WHERE owner_kind = 'turn' AND user_id = new.user_id))
    WHERE owner_kind = '*';
END;
CREATE TRIGGER epochs_memory_insert AFTER INSERT ON memories BEGIN
    INSERT INTO index_epochs VALUES ('memory', new.user_id,
        (SELECT epoch + 1 FROM index_epochs WHERE owner_kind = '*'))
    ON CONFLICT (owner_kind, user_id) DO UPDATE SET epoch = epoch + 1;
    UPDATE index_epochs SET epoch = max(epoch,
        (SELECT epoch FROM index_epochs WHERE owner_kind = 'memory' AND user_id = new.user_id))
    WHERE owner_kind = '*';
END;
CREATE TRIGGER epochs_turn_change AFTER UPDATE OF content ON turns
WHEN old.content IS NOT new.content BEGIN
    UPDATE index_epochs SET epoch = epoch + 1 WHERE owner_kind = 'turn' AND user_id = new.user_id;
    UPDATE index_epochs SET epoch = max(epoch,
        (SELECT epoch FROM index_epochs WHERE owner_kind = 'turn' AND user_id = new.user_id))
    WHERE owner_kind = '*';
END;
-- Any change of a memory but access bookkeeping (access_count, last_accessed) moves the
-- epoch: the in-memory index holds whole memories (validity, kind, topic, ...).
CREATE TRIGGER epochs_memory_change AFTER UPDATE ON memories
WHEN old.content IS NOT new.content OR old.valid_to IS NOT new.valid_to
  OR old.deleted IS NOT new.deleted OR old.expires_at IS NOT new.expires_at
  OR old.kind IS NOT new.kind OR old.topic IS NOT new.topic OR old.key IS NOT new.key
  OR old.salience IS NOT new.salience OR old.pinned IS NOT new.pinned
  OR old.superseded_by IS NOT new.superseded_by OR old.agent_id IS NOT new.agent_id
  OR old.session_id IS NOT new.session_id OR old.updated_at IS NOT new.updated_at
  OR old.valid_from IS NOT new.valid_from OR old.meta IS NOT new.meta
  OR old.id IS NOT new.id OR old.user_id IS NOT new.user_id BEGIN
    UPDATE index_epochs SET epoch = epoch + 1 WHERE owner_kind = 'memory' AND user_id = new.user_id;
    UPDATE index_epochs SET epoch = max(epoch,
        (SELECT epoch FROM index_epochs WHERE owner_kind = 'memory' AND user_id = new.user_id))
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
CREATE TRIGGER epochs_memory_delete AFTER DELETE ON memories BEGIN
    UPDATE index_epochs SET epoch = epoch + 1 WHERE owner_kind = 'memory' AND user_id = old.user_id;
    UPDATE index_epochs SET epoch = max(epoch,
        (SELECT epoch FROM index_epochs WHERE owner_kind = 'memory' AND user_id = old.user_id))
    WHERE owner_kind = '*';
    DELETE FROM index_epochs WHERE owner_kind = 'memory' AND user_id = old.user_id
        AND NOT EXISTS (SELECT 1 FROM memories WHERE user_id = old.user_id);
END;
