//! [`VectorStore`] for PostgreSQL: vectors in pgvector `vector` columns, tagged with the
//! model that made them; index epochs and the memory change feed of migration 0001.
//!
//! The engine's in-memory indexes are built from these rows and patched from the change
//! feed, whichever server wrote them. Searches that run in the database use
//! [`PgStore::nearest_memories`]: cosine distance over an HNSW index, one per dimension
//! count (an HNSW index needs a fixed dimension, and the model is the user's choice).
//!
//! The index is built by the first such search, not by the first write: keeping an HNSW
//! graph current costs milliseconds per inserted vector (measured: 100,000 vectors
//! embedded one batch after another took 767 s with the index in place), while building
//! it over existing rows is one bulk pass. A deployment that never searches vectors in
//! the database never pays for it.

use std::collections::HashSet;
use std::error::Error as StdError;

use crate::db::{Sql, Tx};
use bytes::{Buf, BufMut, BytesMut};
use mnemo_core::{MemoryChanges, ModelCount, OwnerKind, Result, VectorRecord, VectorStore};
use postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};

use crate::errors::DbResult;
use crate::PgStore;

/// pgvector's HNSW index takes at most this many dimensions of `vector`.
const HNSW_MAX_DIMS: usize = 2000;

/// A vector in pgvector's binary wire format: dimensions (int16), a reserved int16, then
/// the values as big-endian float4.
#[derive(Debug)]
pub(crate) struct PgVector(pub Vec<f32>);

impl ToSql for PgVector {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn StdError + Sync + Send>> {
        let dims = i16::try_from(self.0.len()).map_err(|_| "vector has too many dimensions")?;
        out.put_i16(dims);
        out.put_i16(0);
        for x in &self.0 {
            out.put_f32(*x);
        }
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        ty.name() == "vector"
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for PgVector {
    fn from_sql(
        _ty: &Type,
        mut raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn StdError + Sync + Send>> {
        if raw.len() < 4 {
            return Err("truncated vector".into());
        }
        let dims = usize::try_from(raw.get_i16()).map_err(|_| "negative vector size")?;
        raw.get_i16();
        if raw.len() != dims * 4 {
            return Err("vector size does not match its data".into());
        }
        Ok(PgVector((0..dims).map(|_| raw.get_f32()).collect()))
    }

    fn accepts(ty: &Type) -> bool {
        ty.name() == "vector"
    }
}

/// The owner table of a kind (a fixed name, never user input).
fn table(kind: OwnerKind) -> &'static str {
    match kind {
        OwnerKind::Turn => "turns",
        OwnerKind::Memory => "memories",
    }
}

fn kind_of(name: &str) -> OwnerKind {
    if name == "turn" {
        OwnerKind::Turn
    } else {
        OwnerKind::Memory
    }
}

/// Records per statement when storing vectors.
const PUT_BATCH: usize = 1000;

fn put(c: &mut Tx<'_>, records: &[VectorRecord]) -> DbResult<()> {
    for r in records {
        if r.vector.is_empty() || r.vector.iter().any(|x| !x.is_finite()) {
            return Err(mnemo_core::Error::invalid(
                "vector",
                format!("the vector of {} is empty or not finite", r.owner_id),
            )
            .into());
        }
    }
    for kind in [OwnerKind::Turn, OwnerKind::Memory] {
        // One vector per owner: a later record for the same owner replaces an earlier one.
        let mut latest: std::collections::HashMap<&str, &VectorRecord> = Default::default();
        let mut order = Vec::new();
        for r in records.iter().filter(|r| r.owner_kind == kind) {
            if latest.insert(r.owner_id.as_str(), r).is_none() {
                order.push(r.owner_id.as_str());
            }
        }
        let unique: Vec<&VectorRecord> = order.iter().map(|id| latest[id]).collect();
        for chunk in unique.chunks(PUT_BATCH) {
            put_batch(c, kind, chunk)?;
        }
    }
    Ok(())
}

/// Stores vectors of one kind in one statement; owners that no longer exist are skipped.
fn put_batch(c: &mut Tx<'_>, kind: OwnerKind, batch: &[&VectorRecord]) -> DbResult<()> {
    let ids: Vec<&str> = batch.iter().map(|r| r.owner_id.as_str()).collect();
    let models: Vec<&str> = batch.iter().map(|r| r.model_id.as_str()).collect();
    let dims: Vec<i32> = batch.iter().map(|r| r.vector.len() as i32).collect();
    let vectors: Vec<PgVector> = batch.iter().map(|r| PgVector(r.vector.clone())).collect();
    let sql = format!(
        "INSERT INTO vectors (owner_kind, owner_id, user_id, model_id, dims, embedding) \
         SELECT $1, o.id, o.user_id, x.model, x.dims, x.embedding \
         FROM unnest($2::text[], $3::text[], $4::integer[], $5::vector[]) \
              AS x(id, model, dims, embedding) \
         JOIN {} o ON o.id = x.id \
         ON CONFLICT (owner_kind, owner_id) DO UPDATE SET \
         user_id = EXCLUDED.user_id, model_id = EXCLUDED.model_id, dims = EXCLUDED.dims, \
         embedding = EXCLUDED.embedding",
        table(kind)
    );
    c.execute(&sql, &[&kind.as_str(), &ids, &models, &dims, &vectors])?;
    Ok(())
}

fn load(
    c: &mut Tx<'_>,
    kind: OwnerKind,
    user: &str,
    model: &str,
) -> DbResult<Vec<(String, Vec<f32>)>> {
    Ok(c.query(
        "SELECT owner_id, embedding FROM vectors \
             WHERE user_id = $1 AND owner_kind = $2 AND model_id = $3",
        &[&user, &kind.as_str(), &model],
    )?
    .iter()
    .map(|r| (r.get(0), r.get::<_, PgVector>(1).0))
    .collect())
}

fn missing(c: &mut Tx<'_>, kind: OwnerKind, user: &str, model: &str) -> DbResult<Vec<String>> {
    let sql = format!(
        "SELECT o.id FROM {} o WHERE o.user_id = $1 AND NOT EXISTS \
         (SELECT 1 FROM vectors v WHERE v.owner_kind = $2 AND v.owner_id = o.id \
          AND v.model_id = $3) ORDER BY o.pk",
        table(kind)
    );
    Ok(c.query(&sql, &[&user, &kind.as_str(), &model])?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

fn count_missing(c: &mut Tx<'_>, kind: OwnerKind, model: &str) -> DbResult<u64> {
    let sql = format!(
        "SELECT count(*) FROM {} o WHERE NOT EXISTS \
         (SELECT 1 FROM vectors v WHERE v.owner_kind = $1 AND v.owner_id = o.id \
          AND v.model_id = $2)",
        table(kind)
    );
    let n: i64 = c.query_one(&sql, &[&kind.as_str(), &model])?.get(0);
    Ok(n as u64)
}

fn models(c: &mut Tx<'_>, user: Option<&str>) -> DbResult<Vec<ModelCount>> {
    Ok(c.query(
        "SELECT owner_kind, model_id, dims, count(*) FROM vectors \
             WHERE $1::text IS NULL OR user_id = $1 \
             GROUP BY owner_kind, model_id, dims ORDER BY owner_kind, model_id",
        &[&user],
    )?
    .iter()
    .map(|r| ModelCount {
        owner_kind: kind_of(r.get(0)),
        model_id: r.get(1),
        dims: r.get::<_, i32>(2) as usize,
        count: r.get::<_, i64>(3) as u64,
    })
    .collect())
}

fn epoch(c: &mut impl Sql, kind: OwnerKind, user: &str) -> DbResult<u64> {
    let row = c.query_opt(
        "SELECT epoch FROM index_epochs WHERE owner_kind = $1 AND user_id = $2",
        &[&kind.as_str(), &user],
    )?;
    Ok(row.map_or(0, |r| r.get::<_, i64>(0).max(0) as u64))
}

/// The newest feed position (0 before the first change).
fn newest(c: &mut impl Sql) -> DbResult<u64> {
    let seq: i64 = c
        .query_one("SELECT seq FROM memory_feed_head WHERE id = 1", &[])?
        .get(0);
    Ok(seq.max(0) as u64)
}

/// See [`VectorStore::memory_changes_since`]; runs in one snapshot.
fn since(c: &mut Tx<'_>, user: &str, after: u64) -> DbResult<Option<MemoryChanges>> {
    let newest = newest(c)?;
    if newest <= after {
        return Ok(Some(MemoryChanges {
            ids: Vec::new(),
            seq: newest,
        }));
    }
    let oldest: Option<i64> = c
        .query_one("SELECT min(seq) FROM memory_changes", &[])?
        .get(0);
    // Positions have no gaps, so a first row past `after + 1` means rows were pruned.
    if oldest.is_none_or(|o| o as u64 > after + 1) {
        return Ok(None);
    }
    let after = i64::try_from(after).unwrap_or(i64::MAX);
    let rows = c.query(
        "SELECT memory_id FROM memory_changes WHERE user_id = $1 AND seq > $2 AND seq <= $3 \
         ORDER BY seq",
        &[&user, &after, &(newest as i64)],
    )?;
    let mut seen = HashSet::new();
    let ids = rows
        .iter()
        .map(|r| r.get::<_, String>(0))
        .filter(|id| seen.insert(id.clone()))
        .collect();
    Ok(Some(MemoryChanges { ids, seq: newest }))
}

fn vectors_of(
    c: &mut Tx<'_>,
    kind: OwnerKind,
    ids: &[String],
    model: &str,
) -> DbResult<Vec<(String, Vec<f32>)>> {
    let found = c.query(
        "SELECT owner_id, embedding FROM vectors \
         WHERE owner_kind = $1 AND owner_id = ANY($2) AND model_id = $3",
        &[&kind.as_str(), &ids, &model],
    )?;
    let mut by_id: std::collections::HashMap<String, Vec<f32>> = found
        .iter()
        .map(|r| (r.get(0), r.get::<_, PgVector>(1).0))
        .collect();
    Ok(ids
        .iter()
        .filter_map(|id| by_id.remove(id).map(|v| (id.clone(), v)))
        .collect())
}

impl PgStore {
    /// The `k` memories of `user_id` whose vectors of `model_id` are nearest to `query` by
    /// cosine distance, with their cosine similarity, best first — searched in the
    /// database through the HNSW index of that dimension count (approximate, like any
    /// HNSW search). Memories of every state are candidates; callers filter.
    pub fn nearest_memories(
        &self,
        user_id: &str,
        model_id: &str,
        query: &[f32],
        k: usize,
    ) -> Result<Vec<(String, f32)>> {
        let dims = query.len();
        let k = i64::try_from(k).unwrap_or(i64::MAX);
        self.ensure_hnsw(dims)?;
        self.read(|c| {
            // pgvector >= 0.8: keep scanning the graph until k rows pass the user filter.
            c.execute(
                "SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true)",
                &[],
            )?;
            let sql = format!(
                "SELECT owner_id, (1 - (embedding::vector({dims}) <=> $1::vector({dims})))::real \
                 FROM vectors WHERE owner_kind = 'memory' AND dims = {dims} \
                 AND user_id = $2 AND model_id = $3 \
                 ORDER BY embedding::vector({dims}) <=> $1::vector({dims}) LIMIT $4"
            );
            let mut hits: Vec<(String, f32)> = c
                .query(&sql, &[&PgVector(query.to_vec()), &user_id, &model_id, &k])?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            // Iterative scans may return rows slightly out of order.
            hits.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            Ok(hits)
        })
    }

    /// Creates the HNSW index for memory vectors of `dims` dimensions (a bulk build over
    /// the rows already there), once.
    fn ensure_hnsw(&self, dims: usize) -> Result<()> {
        if dims == 0 || dims > HNSW_MAX_DIMS {
            return Ok(());
        }
        let mut known = self.hnsw_dims.lock().unwrap_or_else(|p| p.into_inner());
        if known.contains(&dims) {
            return Ok(());
        }
        let created = self.execute_alone(&format!(
            "CREATE INDEX IF NOT EXISTS vectors_hnsw_{dims} ON vectors \
             USING hnsw ((embedding::vector({dims})) vector_cosine_ops) \
             WHERE owner_kind = 'memory' AND dims = {dims}"
        ));
        // Two servers creating it at once: one of them may fail on the catalog's unique
        // index; the index exists either way.
        if let Err(e) = created {
            let exists = self.read(|c| {
                let name = format!("vectors_hnsw_{dims}");
                Ok(c.query_one("SELECT to_regclass($1) IS NOT NULL", &[&name])?
                    .get::<_, bool>(0))
            })?;
            if !exists {
                return Err(e);
            }
        }
        known.push(dims);
        Ok(())
    }
}

impl VectorStore for PgStore {
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
            Ok(c.execute(
                "DELETE FROM vectors WHERE $1::text IS NULL OR model_id <> $1",
                &[&keep_model],
            )?)
        })
    }

    fn index_epoch(&self, kind: OwnerKind, user_id: &str) -> Result<u64> {
        self.read_one(|c| epoch(c, kind, user_id))
    }

    fn vectors_of(
        &self,
        kind: OwnerKind,
        ids: &[String],
        model_id: &str,
    ) -> Result<Vec<(String, Vec<f32>)>> {
        self.read(|c| vectors_of(c, kind, ids, model_id))
    }

    fn memory_change_seq(&self) -> Result<u64> {
        self.read_one(|c| newest(c))
    }

    fn memory_changes_since(&self, user_id: &str, after: u64) -> Result<Option<MemoryChanges>> {
        self.read(|c| since(c, user_id, after))
    }
}
