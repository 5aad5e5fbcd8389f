//! [`VectorStore`] for SQLite: embedding vectors as BLOBs (issue 3).

use mnemo_core::VectorStore;

use crate::SqliteStore;

impl VectorStore for SqliteStore {}
