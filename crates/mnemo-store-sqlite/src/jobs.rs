//! [`JobStore`] for SQLite: the durable job queue (issue 4).

use mnemo_core::JobStore;

use crate::SqliteStore;

impl JobStore for SqliteStore {}
