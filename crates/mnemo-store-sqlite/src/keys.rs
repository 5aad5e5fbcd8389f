//! API keys (migration 0005): rows of [`ApiKey`], looked up by public id.

use mnemo_core::{ApiKey, Error, KeyStore, Result, Timestamp};
use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::errors::DbResult;
use crate::lookup::{self, API_KEYS};
use crate::rows::{opt_ts, opt_ts_text, ts, ts_text};
use crate::SqliteStore;

const COLS: &str = "id, hash, user_id, agent_id, admin, name, created_at, revoked_at, last_used_at";

fn row(r: &Row<'_>) -> rusqlite::Result<ApiKey> {
    Ok(ApiKey {
        id: r.get(0)?,
        hash: r.get(1)?,
        user_id: r.get(2)?,
        agent_id: r.get(3)?,
        admin: r.get(4)?,
        name: r.get(5)?,
        created_at: ts(r, 6)?,
        revoked_at: opt_ts(r, 7)?,
        last_used_at: opt_ts(r, 8)?,
    })
}

fn by_id(c: &Connection, id: &str) -> DbResult<Option<ApiKey>> {
    Ok(
        c.prepare_cached(&format!("SELECT {COLS} FROM api_keys WHERE id = ?1"))?
            .query_row([id], row)
            .optional()?,
    )
}

/// The one key whose id is `input` (with or without `mnemo_`) or starts with it.
fn resolve(c: &Connection, input: &str) -> DbResult<ApiKey> {
    let input = input.trim().trim_start_matches("mnemo_");
    let id = lookup::resolve(c, API_KEYS, None, input)?;
    by_id(c, &id)?.ok_or_else(|| Error::not_found("API key", id).into())
}

impl KeyStore for SqliteStore {
    fn insert_key(&self, k: &ApiKey) -> Result<()> {
        self.write(|c| {
            c.prepare_cached(&format!(
                "INSERT INTO api_keys ({COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
            ))?
            .execute(params![
                k.id,
                k.hash,
                k.user_id,
                k.agent_id,
                k.admin,
                k.name,
                ts_text(&k.created_at),
                opt_ts_text(&k.revoked_at),
                opt_ts_text(&k.last_used_at),
            ])?;
            Ok(())
        })
    }

    fn key_by_id(&self, id: &str) -> Result<Option<ApiKey>> {
        self.read(|c| by_id(c, id))
    }

    fn list_keys(&self) -> Result<Vec<ApiKey>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {COLS} FROM api_keys ORDER BY created_at DESC, id"
            ))?;
            let keys = stmt.query_map([], row)?.collect::<rusqlite::Result<_>>()?;
            Ok(keys)
        })
    }

    fn revoke_key(&self, id_or_prefix: &str, at: Timestamp) -> Result<ApiKey> {
        self.write(|c| {
            let mut k = resolve(c, id_or_prefix)?;
            if k.revoked_at.is_none() {
                c.prepare_cached("UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1")?
                    .execute(params![k.id, ts_text(&at)])?;
                k.revoked_at = Some(at);
            }
            Ok(k)
        })
    }

    fn touch_key(&self, id: &str, at: Timestamp) -> Result<()> {
        self.write(|c| {
            c.prepare_cached("UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1")?
                .execute(params![id, ts_text(&at)])?;
            Ok(())
        })
    }
}
