//! [`VectorStore`] for SQLite: embedding vectors as BLOBs of little-endian f32, keyed by
//! their owner (turn or memory) and tagged with the model that made them (migration 0002).
//!
//! Why BLOBs and not a vector extension: the engine searches an in-memory index rebuilt
//! from these rows (a scan of one scope's vectors is faster in plain Rust than through a
//! virtual table), and plain BLOBs keep the file readable by any SQLite.

use mnemo_core::{MemoryChanges, ModelCount, OwnerKind, Result, VectorRecord, VectorStore};
use rusqlite::{params, Connection, OptionalExtension};

use crate::errors::DbResult;
use crate::SqliteStore;

/// Encodes a vector as little-endian f32 bytes.
pub fn encode(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Decodes little-endian f32 bytes (a trailing partial value is ignored).
pub fn decode(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// The owner table of a kind (a fixed name, never user input).
fn table(kind: OwnerKind) -> &'static str {
    match kind {
        OwnerKind::Turn => "turns",
        OwnerKind::Memory => "memories",
    }
}

fn put(conn: &Connection, records: &[VectorRecord]) -> DbResult<()> {
    for r in records {
        let owner = format!("SELECT user_id FROM {} WHERE id = ?1", table(r.owner_kind));
        let user: Option<String> = conn
            .prepare_cached(&owner)?
            .query_row([&r.owner_id], |row| row.get(0))
            .optional()?;
        let Some(user) = user else { continue };
        conn.prepare_cached(
            "INSERT OR REPLACE INTO vectors (owner_kind, owner_id, user_id, model_id, dims, vector) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            r.owner_kind.as_str(),
            r.owner_id,
            user,
            r.model_id,
            r.vector.len() as i64,
            encode(&r.vector)
        ])?;
    }
    Ok(())
}

fn load(
    conn: &Connection,
    kind: OwnerKind,
    user: &str,
    model: &str,
) -> DbResult<Vec<(String, Vec<f32>)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT owner_id, vector FROM vectors \
         WHERE user_id = ?1 AND owner_kind = ?2 AND model_id = ?3",
    )?;
    let rows = stmt
        .query_map(params![user, kind.as_str(), model], |r| {
            Ok((r.get::<_, String>(0)?, decode(&r.get::<_, Vec<u8>>(1)?)))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

fn missing(conn: &Connection, kind: OwnerKind, user: &str, model: &str) -> DbResult<Vec<String>> {
    let sql = format!(
        "SELECT o.id FROM {} o WHERE o.user_id = ?1 AND NOT EXISTS \
         (SELECT 1 FROM vectors v WHERE v.owner_kind = ?2 AND v.owner_id = o.id \
          AND v.model_id = ?3) ORDER BY o.pk",
        table(kind)
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let ids = stmt
        .query_map(params![user, kind.as_str(), model], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(ids)
}

fn count_missing(conn: &Connection, kind: OwnerKind, model: &str) -> DbResult<u64> {
    let sql = format!(
        "SELECT count(*) FROM {} o WHERE NOT EXISTS \
         (SELECT 1 FROM vectors v WHERE v.owner_kind = ?1 AND v.owner_id = o.id \
          AND v.model_id = ?2)",
        table(kind)
    );
    let n: i64 = conn
        .prepare_cached(&sql)?
        .query_row(params![kind.as_str(), model], |r| r.get(0))?;
    Ok(n as u64)
}

fn models(conn: &Connection, user: Option<&str>) -> DbResult<Vec<ModelCount>> {
    let mut stmt = conn.prepare_cached(
        "SELECT owner_kind, model_id, dims, count(*) FROM vectors \
         WHERE ?1 IS NULL OR user_id = ?1 \
         GROUP BY owner_kind, model_id, dims ORDER BY owner_kind, model_id",
    )?;
    let rows = stmt
        .query_map([user], |r| {
            let kind: String = r.get(0)?;
            Ok(ModelCount {
                owner_kind: if kind == "turn" {
                    OwnerKind::Turn
                } else {
                    OwnerKind::Memory
                },
                model_id: r.get(1)?,
                dims: r.get::<_, i64>(2)? as usize,
                count: r.get::<_, i64>(3)? as u64,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

fn epoch(conn: &Connection, kind: OwnerKind, user: &str) -> DbResult<u64> {
    let epoch: Option<i64> = conn
        .prepare_cached("SELECT epoch FROM index_epochs WHERE owner_kind = ?1 AND user_id = ?2")?
        .query_row([kind.as_str(), user], |r| r.get(0))
        .optional()?;
    Ok(epoch.unwrap_or(0) as u64)
}

impl VectorStore for SqliteStore {
    fn put_vectors(&self, records: &[VectorRecord]) -> Result<()> {
        self.write(|c| put(c, records))
    }

    fn vectors(
        &self,
        kind: OwnerKind,
        user_id: &str,
        model_id: &str,
    ) -> Result<Vec<(String, Vec<f32>)>> {
        self.read(|c| load(c, kind, user_id, model_id))
    }

    fn missing_vectors(
        &self,
        kind: OwnerKind,
        user_id: &str,
        model_id: &str,
    ) -> Result<Vec<String>> {
        self.read(|c| missing(c, kind, user_id, model_id))
    }

    fn count_missing_vectors(&self, kind: OwnerKind, model_id: &str) -> Result<u64> {
        self.read(|c| count_missing(c, kind, model_id))
    }

    fn vector_models(&self, user_id: Option<&str>) -> Result<Vec<ModelCount>> {
        self.read(|c| models(c, user_id))
    }

    fn delete_vectors_except(&self, keep_model: Option<&str>) -> Result<u64> {
        self.write(|c| {
            let n = c.execute(
                "DELETE FROM vectors WHERE ?1 IS NULL OR model_id <> ?1",
                [keep_model],
            )?;
            Ok(n as u64)
        })
    }

    fn index_epoch(&self, kind: OwnerKind, user_id: &str) -> Result<u64> {
        self.read(|c| epoch(c, kind, user_id))
    }

    fn vectors_of(
        &self,
        kind: OwnerKind,
        ids: &[String],
        model_id: &str,
    ) -> Result<Vec<(String, Vec<f32>)>> {
        self.read(|c| crate::changes::vectors_of(c, kind, ids, model_id))
    }

    fn memory_change_seq(&self) -> Result<u64> {
        self.read(crate::changes::newest)
    }

    fn memory_changes_since(&self, user_id: &str, after: u64) -> Result<Option<MemoryChanges>> {
        self.snapshot(|c| crate::changes::since(c, user_id, after))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_round_trip_through_bytes() {
        let v = vec![0.0, -1.5, f32::MIN_POSITIVE, 3.25];
        assert_eq!(decode(&encode(&v)), v);
        assert_eq!(encode(&[1.0]), 1.0f32.to_le_bytes().to_vec());
    }
}
