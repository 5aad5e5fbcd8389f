//! Pipeline tools: the caller's jobs (waiting, running, failed with their error), one job,
//! retrying a failed one, and model token usage.

use mnemo_core::{
    Job, JobCounts, JobFilter, JobKind, JobStatus, UsageFilter, UsageGroup, UsageRow,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::memories::own_session;
use super::{limit, parse_time, Caller, ToolResult};
use crate::Engine;

/// Which jobs to list.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobsRequest {
    pub status: Option<JobStatus>,
    pub kind: Option<JobKind>,
    /// Only jobs of this session of the caller's.
    pub session_id: Option<String>,
    /// Most jobs (default 50, at most 500).
    #[schemars(range(min = 1))]
    pub limit: Option<u32>,
}

/// Jobs, newest first, and the caller's counts per status.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct JobsResponse {
    pub jobs: Vec<Job>,
    pub counts: JobCounts,
}

/// The caller's pipeline jobs.
pub fn jobs(engine: &Engine, caller: &Caller, req: JobsRequest) -> ToolResult<JobsResponse> {
    let filter = JobFilter {
        user_id: Some(caller.user_id.clone()),
        statuses: req.status.into_iter().collect(),
        kinds: req.kind.into_iter().collect(),
        session_id: req
            .session_id
            .map(|s| own_session(engine, caller, &s))
            .transpose()?,
        limit: Some(limit(req.limit, 50, 500)?),
    };
    Ok(JobsResponse {
        jobs: engine.jobs(&filter)?,
        counts: engine.job_counts(Some(&caller.user_id))?,
    })
}

/// One job of the caller's by id or prefix.
pub fn get_job(engine: &Engine, caller: &Caller, id: &str) -> ToolResult<Job> {
    Ok(engine.store().get_job(Some(&caller.user_id), id)?)
}

/// Queues a failed (or done) job of the caller's again, attempts reset.
pub fn retry_job(engine: &Engine, caller: &Caller, id: &str) -> ToolResult<Job> {
    let job = get_job(engine, caller, id)?;
    Ok(engine.retry_job(&job.id)?)
}

/// How usage is grouped.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UsageGroupName {
    #[default]
    Model,
    Task,
    Job,
    /// The UTC day (`YYYY-MM-DD`): a chart of usage per day in one request.
    Day,
}

/// Which usage to total.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageRequest {
    /// Only calls at or after this time (RFC 3339 or YYYY-MM-DD).
    pub since: Option<String>,
    /// `model` (default), `task`, `job` or `day`.
    pub group: Option<UsageGroupName>,
}

/// Token totals of the caller's model calls, largest first.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct UsageResponse {
    pub rows: Vec<UsageRow>,
}

/// The caller's model usage.
pub fn usage(engine: &Engine, caller: &Caller, req: UsageRequest) -> ToolResult<UsageResponse> {
    let filter = UsageFilter {
        user_id: Some(caller.user_id.clone()),
        since: parse_time("since", req.since.as_deref())?,
        group: match req.group.unwrap_or_default() {
            UsageGroupName::Model => UsageGroup::Model,
            UsageGroupName::Task => UsageGroup::Task,
            UsageGroupName::Job => UsageGroup::Job,
            UsageGroupName::Day => UsageGroup::Day,
        },
    };
    Ok(UsageResponse {
        rows: engine.usage(&filter)?,
    })
}
