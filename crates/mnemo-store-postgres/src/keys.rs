//! API keys (migration 0002): rows of [`ApiKey`], looked up by public id. The same
//! contract as the SQLite store's `keys.rs`, so `mnemo serve` replicas on one database
//! share their keys: one created or revoked through any replica holds on all of them.

use mnemo_core::{ApiKey, Error, KeyStore, Result, Timestamp};
use postgres::Row;

use crate::db::{Sql, Tx};
use crate::errors::DbResult;
use crate::lookup::{self, API_KEYS};
use crate::PgStore;

const COLS: &str = "id, hash, user_id, agent_id, admin, name, created_at, revoked_at, last_used_at";

fn row(r: &Row) -> DbResult<ApiKey> {
    Ok(ApiKey {
        id: r.try_get(0)?,
        hash: r.try_get(1)?,
        user_id: r.try_get(2)?,
        agent_id: r.try_get(3)?,
        admin: r.try_get(4)?,
        name: r.try_get(5)?,
        created_at: r.try_get(6)?,
        revoked_at: r.try_get(7)?,
        last_used_at: r.try_get(8)?,
    })
}

fn by_id(c: &mut impl Sql, id: &str) -> DbResult<Option<ApiKey>> {
    c.query_opt(
        &format!("SELECT {COLS} FROM api_keys WHERE id = $1"),
        &[&id],
    )?
    .as_ref()
    .map(row)
    .transpose()
}

/// The one key whose id is `input` (with or without `mnemo_`) or starts with it.
fn resolve(c: &mut Tx<'_>, input: &str) -> DbResult<ApiKey> {
    let input = input.trim().trim_start_matches("mnemo_");
    let id = lookup::resolve(c, API_KEYS, None, input)?;
    by_id(c, &id)?.ok_or_else(|| Error::not_found("API key", id).into())
}

impl KeyStore for PgStore {
    fn insert_key(&self, k: &ApiKey) -> Result<()> {
        self.write(|c| {
            c.execute(
                &format!(
                    "INSERT INTO api_keys ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                ),
                &[
                    &k.id,
                    &k.hash,
                    &k.user_id,
                    &k.agent_id,
                    &k.admin,
                    &k.name,
                    &k.created_at,
                    &k.revoked_at,
                    &k.last_used_at,
                ],
            )?;
            Ok(())
        })
    }

    fn key_by_id(&self, id: &str) -> Result<Option<ApiKey>> {
        self.read_one(|c| by_id(c, id))
    }

    fn list_keys(&self) -> Result<Vec<ApiKey>> {
        self.read(|c| {
            c.query(
                &format!("SELECT {COLS} FROM api_keys ORDER BY created_at DESC, id"),
                &[],
            )?
            .iter()
            .map(row)
            .collect()
        })
    }

    fn revoke_key(&self, id_or_prefix: &str, at: Timestamp) -> Result<ApiKey> {
        self.write(|c| {
            let mut k = resolve(c, id_or_prefix)?;
            if k.revoked_at.is_none() {
                c.execute(
                    "UPDATE api_keys SET revoked_at = $2 WHERE id = $1",
                    &[&k.id, &at],
                )?;
                k.revoked_at = Some(at);
            }
            Ok(k)
        })
    }

    fn touch_key(&self, id: &str, at: Timestamp) -> Result<()> {
        self.write(|c| {
            c.execute(
                "UPDATE api_keys SET last_used_at = $2 WHERE id = $1",
                &[&id, &at],
            )?;
            Ok(())
        })
    }
}
