//! Reads of the memory change feed (migration 0004) and of the vectors of a few owners:
//! what an in-memory memory index needs to patch itself after a write instead of being
//! rebuilt from every row.

use std::collections::HashSet;

use mnemo_core::{MemoryChanges, OwnerKind};
use rusqlite::{params, Connection, OptionalExtension};

use crate::errors::DbResult;
use crate::vectors::decode;

/// The last feed position handed out (0 before the first change). `sqlite_sequence` keeps
/// it even when the newest rows were pruned.
pub(crate) fn newest(conn: &Connection) -> DbResult<u64> {
    let seq: Option<i64> = conn
        .prepare_cached("SELECT seq FROM sqlite_sequence WHERE name = 'memory_changes'")?
        .query_row([], |r| r.get(0))
        .optional()?;
    Ok(seq.unwrap_or(0).max(0) as u64)
}

/// See [`mnemo_core::VectorStore::memory_changes_since`]; run inside one read transaction.
pub(crate) fn since(conn: &Connection, user: &str, after: u64) -> DbResult<Option<MemoryChanges>> {
    let newest = newest(conn)?;
    if newest <= after {
        return Ok(Some(MemoryChanges {
            ids: Vec::new(),
            seq: newest,
        }));
    }
    let oldest: Option<i64> = conn
        .prepare_cached("SELECT min(seq) FROM memory_changes")?
        .query_row([], |r| r.get(0))?;
    // Positions are handed out without gaps, so a first row past `after + 1` (or none at
    // all) means the rows in between were pruned.
    if oldest.is_none_or(|o| o as u64 > after + 1) {
        return Ok(None);
    }
    let mut stmt = conn.prepare_cached(
        "SELECT memory_id FROM memory_changes WHERE user_id = ?1 AND seq > ?2 AND seq <= ?3 \
         ORDER BY seq",
    )?;
    let mut seen = HashSet::new();
    let mut ids = Vec::new();
    let rows = stmt.query_map(params![user, after as i64, newest as i64], |r| {
        r.get::<_, String>(0)
    })?;
    for id in rows {
        let id = id?;
        if seen.insert(id.clone()) {
            ids.push(id);
        }
    }
    Ok(Some(MemoryChanges { ids, seq: newest }))
}

/// The vectors of `model` of the given owners of `kind` (those that have one).
pub(crate) fn vectors_of(
    conn: &Connection,
    kind: OwnerKind,
    ids: &[String],
    model: &str,
) -> DbResult<Vec<(String, Vec<f32>)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT vector FROM vectors WHERE owner_kind = ?1 AND owner_id = ?2 AND model_id = ?3",
    )?;
    let mut out = Vec::new();
    for id in ids {
        let blob: Option<Vec<u8>> = stmt
            .query_row(params![kind.as_str(), id, model], |r| r.get(0))
            .optional()?;
        if let Some(blob) = blob {
            out.push((id.clone(), decode(&blob)));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_older_than_the_pruned_feed_is_told_to_rebuild() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::schema::migrate(&mut conn).unwrap();
        let tx = conn.transaction().unwrap();
        for i in 0..100_500 {
            let user = if i % 2 == 0 { "alice" } else { "bob" };
            tx.execute(
                "INSERT INTO memory_changes (user_id, memory_id) VALUES (?1, ?2)",
                params![user, format!("m{}", i % 7)],
            )
            .unwrap();
        }
        tx.commit().unwrap();
        assert_eq!(newest(&conn).unwrap(), 100_500);
        // Pruned up to 100,000 - 100,000 at the 100,000th insert: position 0 is still whole.
        assert!(since(&conn, "alice", 0).unwrap().is_some());
        conn.execute(
            "INSERT INTO memory_changes (user_id, memory_id) \
             SELECT 'carol', 'x' FROM memory_changes LIMIT 500",
            [],
        )
        .unwrap();
        // The 101,000th insert pruned everything up to 1,000.
        assert_eq!(newest(&conn).unwrap(), 101_000);
        assert_eq!(
            since(&conn, "alice", 1_000).unwrap().map(|c| c.seq),
            Some(101_000)
        );
        assert_eq!(since(&conn, "alice", 999).unwrap(), None);
        let tail = since(&conn, "bob", 100_490).unwrap().unwrap();
        assert_eq!(tail.ids.len(), 5, "{:?}", tail.ids);
        assert!(since(&conn, "carol", 100_990).unwrap().unwrap().ids == vec!["x".to_string()]);
    }
}
