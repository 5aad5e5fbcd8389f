//! The conformance suite on SQLite (a real file in a temporary directory).

mnemo_store_tests::conformance_tests!(mnemo_store_tests::SqliteBackend::new());
