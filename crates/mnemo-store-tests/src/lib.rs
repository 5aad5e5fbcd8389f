//! The backend-agnostic conformance suite: every behaviour the engine relies on from a
//! store (supersession, as-of views, cascading forget, history, jobs and leases, the
//! change feed, vectors and model ids, export/import, concurrent writers, API keys), written once
//! as functions over a [`Backend`] and run against each backend by
//! [`conformance_tests!`] (see `tests/sqlite.rs` and `tests/postgres.rs`).
//!
//! Why a separate crate: both store crates, and the engine and CLI tests that want a
//! PostgreSQL database ([`PgBackend`], [`server_url`]), share it without depending on each
//! other.

mod backends;
mod concurrency;
mod feed_vectors;
pub mod fixtures;
mod keys;
mod lifecycle;
mod memories;
mod search;
mod transfer;
mod turns_jobs;

pub use backends::{server_url, with_database, Backend, PgBackend, SqliteBackend};
pub use concurrency::{
    concurrent_turns_get_range_jobs_without_gaps_or_overlaps, concurrent_workers_run_each_job_once,
    concurrent_writers_never_collide,
};
pub use feed_vectors::{
    epochs_and_the_change_feed_reach_other_handles, vectors_keep_their_model_ids,
};
pub use keys::api_keys_are_shared_revoked_and_touched;
pub use lifecycle::{
    idle_sessions_are_found_oldest_first, keyset_pages_of_memories,
    leases_are_handed_back_and_queued_jobs_forced, records_waiting_for_vectors_are_counted,
};
pub use memories::{
    edits_history_touches_and_purge, expiry_agents_and_filters, forgetting_a_user_cascades,
    id_prefixes_resolve_or_say_why_not, supersession_and_as_of_views, topics_and_summaries,
};
pub use search::full_text_search_respects_scope_and_view;
pub use transfer::{
    copy_all, copy_between_backends_is_lossless, export_import_round_trip,
    imports_are_all_or_nothing, sample_data,
};
pub use turns_jobs::{
    a_crash_on_the_last_attempt_fails_the_job, jobs_deduplicate_lease_and_fail,
    range_jobs_commit_with_their_turns, turns_sessions_and_sequence_numbers,
    two_users_share_a_session_id, usage_totals,
};

/// Declares one `#[test]` per conformance function, each on a fresh database made by
/// `$make` (an expression evaluating to a [`Backend`]).
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::conformance_tests!(@each $make;
            supersession_and_as_of_views,
            expiry_agents_and_filters,
            edits_history_touches_and_purge,
            id_prefixes_resolve_or_say_why_not,
            topics_and_summaries,
            forgetting_a_user_cascades,
            turns_sessions_and_sequence_numbers,
            two_users_share_a_session_id,
            range_jobs_commit_with_their_turns,
            jobs_deduplicate_lease_and_fail,
            a_crash_on_the_last_attempt_fails_the_job,
            usage_totals,
            vectors_keep_their_model_ids,
            epochs_and_the_change_feed_reach_other_handles,
            full_text_search_respects_scope_and_view,
            export_import_round_trip,
            imports_are_all_or_nothing,
            concurrent_writers_never_collide,
            concurrent_workers_run_each_job_once,
            concurrent_turns_get_range_jobs_without_gaps_or_overlaps,
            idle_sessions_are_found_oldest_first,
            leases_are_handed_back_and_queued_jobs_forced,
            records_waiting_for_vectors_are_counted,
            keyset_pages_of_memories,
            api_keys_are_shared_revoked_and_touched,
        );
    };
    (@each $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let backend = $make;
                $crate::$name(&backend);
            }
        )*
    };
}
