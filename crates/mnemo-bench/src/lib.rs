//! Benchmarks of mnemo, as a library so that the `mnemo bench` command, the scale-bench
//! binary and CI's regression test run the very same code.
//!
//! - [`locomo`]: the LoCoMo retrieval protocol of `../shared/bench/README.md`: ingest every
//!   turn through the public engine API, search per question, score turn recall@k and
//!   session hit rates per category, latency and ingest throughput.
//! - [`scale`]: a synthetic, seeded store of N memories: insert throughput, full-text and
//!   hybrid recall latency, resident memory.
//! - [`serve`]: `mnemo serve` (on SQLite or PostgreSQL) under concurrent loopback HTTP clients (throughput, p50/p99
//!   per operation, cross-tenant results, server RSS; optionally a SIGKILL and what a
//!   restart finds).
//! - [`replicas`]: two `mnemo serve` replicas on one PostgreSQL database, one killed with
//!   SIGKILL mid-run: acknowledged turns, jobs run once, memories searchable through both.

pub mod locomo;
pub mod recall;
pub mod replicas;
pub mod scale;
pub mod serve;
pub mod setup;
