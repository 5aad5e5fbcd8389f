//! The databases the suite runs on: a SQLite file in a temporary directory, and a fresh
//! PostgreSQL database on a test server.
//!
//! The PostgreSQL server is `MNEMO_TEST_PG_URL` when set (CI or a developer's own server),
//! or else one that `scripts/pg.sh` starts once per test process on a free loopback port
//! and stops when the process exits. When neither works the tests FAIL with the reason:
//! a PostgreSQL test never passes by skipping. Each test gets its own database (a random
//! name), so tests run in parallel; it is dropped when the test ends.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};

use mnemo_core::{FixedClock, KeyStore, Store};
use mnemo_store_postgres::PgStore;
use mnemo_store_sqlite::SqliteStore;

use crate::fixtures::now;

/// A database of one backend. Every [`Backend::open`] is a new handle on the same data,
/// as another process or another server would have.
pub trait Backend: Sync {
    /// A new handle (new connections) on this database; "now" is [`now`].
    fn open(&self) -> Arc<dyn Store>;
    /// A new handle on the same database's API keys (what `mnemo serve` authenticates with).
    fn open_keys(&self) -> Arc<dyn KeyStore>;
    /// A short name for messages ("sqlite", "postgres").
    fn name(&self) -> &'static str;
}

/// A SQLite database file in a temporary directory (removed on drop).
pub struct SqliteBackend {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl SqliteBackend {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("mnemo.db");
        SqliteBackend { _dir: dir, path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Default for SqliteBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl Backend for SqliteBackend {
    fn open(&self) -> Arc<dyn Store> {
        Arc::new(
            SqliteStore::open(&self.path)
                .expect("open SQLite store")
                .with_clock(Arc::new(FixedClock(now()))),
        )
    }

    fn open_keys(&self) -> Arc<dyn KeyStore> {
        Arc::new(SqliteStore::open(&self.path).expect("open SQLite store"))
    }

    fn name(&self) -> &'static str {
        "sqlite"
    }
}

/// A fresh PostgreSQL database on the test server (dropped on drop).
pub struct PgBackend {
    url: String,
    name: String,
}

impl PgBackend {
    pub fn new() -> Self {
        let server = server_url();
        let name = format!("mnemo_test_{}", &mnemo_core::ids::new_id()[..16]);
        let mut admin = postgres::Client::connect(server, postgres::NoTls)
            .unwrap_or_else(|e| panic!("cannot connect to the test server {server}: {e}"));
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("CREATE DATABASE on {server}: {e}"));
        PgBackend {
            url: with_database(server, &name),
            name,
        }
    }

    /// The URL of this test's database.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Default for PgBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl Backend for PgBackend {
    fn open(&self) -> Arc<dyn Store> {
        Arc::new(
            PgStore::open(&self.url)
                .expect("open PostgreSQL store")
                .with_clock(Arc::new(FixedClock(now()))),
        )
    }

    fn open_keys(&self) -> Arc<dyn KeyStore> {
        Arc::new(PgStore::open(&self.url).expect("open PostgreSQL store"))
    }

    fn name(&self) -> &'static str {
        "postgres"
    }
}

impl Drop for PgBackend {
    fn drop(&mut self) {
        if let Ok(mut admin) = postgres::Client::connect(server_url(), postgres::NoTls) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// `url` naming database `db` instead of its own.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    format!("{base}/{db}{query}")
}

/// The test server's URL: `MNEMO_TEST_PG_URL`, or a server started by `scripts/pg.sh`
/// for this process. Panics, saying why and what to do, when there is none.
pub fn server_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Some(url) = std::env::var("MNEMO_TEST_PG_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())
        {
            return url.trim().to_owned();
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/pg.sh");
        let dir = std::env::temp_dir().join(format!("mnemo-pg-test-{}", std::process::id()));
        let out = Command::new("bash")
            .arg(&script)
            .args(["start", "--owner-pid", &std::process::id().to_string()])
            .env("MNEMO_PG_DIR", &dir)
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .output();
        match out {
            Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_owned(),
            Ok(o) => panic!(
                "PostgreSQL tests need a server and none could be started.\n\
                 {} start failed ({}):\n{}\n\
                 Fix the script's problem, or set MNEMO_TEST_PG_URL to a PostgreSQL 16 \
                 server with pgvector (a superuser URL: each test creates its own database).",
                script.display(),
                o.status,
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => panic!(
                "PostgreSQL tests need a server: cannot run {}: {e}; \
                 or set MNEMO_TEST_PG_URL",
                script.display()
            ),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_get_their_database_replaced() {
        assert_eq!(
            with_database("postgres://u@h:5/mnemo", "t1"),
            "postgres://u@h:5/t1"
        );
        assert_eq!(
            with_database("postgres://u@h:5", "t1"),
            "postgres://u@h:5/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@h/x?sslmode=disable", "t"),
            "postgres://u:p@h/t?sslmode=disable"
        );
    }
}
