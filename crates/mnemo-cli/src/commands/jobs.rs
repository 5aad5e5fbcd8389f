//! The memory pipeline from the command line: `mnemo jobs` (what is queued, running, done
//! or failed, why, and when the next attempt is due) and `mnemo usage` (tokens and cost of
//! model calls). `mnemo work` is in `work.rs`.
//!
//! `mnemo turn add` and `mnemo chat` queue work as they record turns (the chat also runs
//! it, in process); `mnemo work` runs it.

use std::collections::BTreeMap;

use anyhow::Result;
use clap::{Args, ValueEnum};
use mnemo_core::{
    ids, Job, JobFilter, JobKind, JobStatus, Timestamp, UsageFilter, UsageGroup, UsageRow,
};
use mnemo_engine::Engine;
use serde::Serialize;

use super::date;
use crate::config::{Config, Pricing};
use crate::output::{when, Out};

#[derive(Debug, Args)]
pub struct JobsArgs {
    /// Only jobs with this status (repeatable): queued, running, done, failed
    #[arg(long, short)]
    pub status: Vec<String>,
    /// Only jobs of this kind (repeatable): extract, reconcile, topic, summarize
    #[arg(long, short)]
    pub kind: Vec<String>,
    /// Jobs of every user, not only --user
    #[arg(long)]
    pub all_users: bool,
    /// Most jobs to list, newest first
    #[arg(long, short = 'n', default_value_t = 20)]
    pub limit: usize,
    /// Show one job in full: input, result, last error
    #[arg(long, value_name = "ID", conflicts_with_all = ["retry", "retry_failed"])]
    pub show: Option<String>,
    /// Run a job again: a failed (or done) one is queued with its attempts reset; a
    /// queued one waiting for its next attempt is made due now
    #[arg(long, value_name = "ID", conflicts_with = "retry_failed")]
    pub retry: Option<String>,
    /// Queue every failed job (of --user, or of everyone with --all-users) again
    #[arg(long)]
    pub retry_failed: bool,
}

/// How `mnemo usage` groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum By {
    Model,
    User,
    Task,
    Job,
    Day,
}

#[derive(Debug, Args)]
pub struct UsageArgs {
    /// Group by model, user, task (extract, reconcile, topic, summarize; chat, web-ui and
    /// proxy for the replies of each face), job or UTC day
    #[arg(long, value_enum, default_value_t = By::Model)]
    pub by: By,
    /// Only calls at or after this date
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Every user, not only --user
    #[arg(long)]
    pub all_users: bool,
}

pub fn jobs(engine: &Engine, cfg: &Config, a: JobsArgs) -> Result<()> {
    let mut out = Out::new();
    if let Some(id) = &a.show {
        let job = engine.job(id)?;
        if cfg.json {
            out.json(&job)?;
        } else {
            show(&mut out, &job, &engine.now())?;
        }
        return out.flush();
    }
    let user = (!a.all_users).then(|| cfg.user.clone());
    if a.retry.is_some() || a.retry_failed {
        let ids = match &a.retry {
            Some(id) => vec![engine.job(id)?.id],
            None => failed_ids(engine, user.clone())?,
        };
        let again = ids
            .iter()
            .map(|id| engine.retry_job(id))
            .collect::<mnemo_core::Result<Vec<Job>>>()?;
        if cfg.json {
            out.json(&again)?;
        } else {
            out.line(format!(
                "{} job(s) queued again; `mnemo work` runs them",
                again.len()
            ))?;
        }
        return out.flush();
    }
    let filter = JobFilter {
        user_id: user.clone(),
        statuses: parse_all(&a.status)?,
        kinds: parse_all(&a.kind)?,
        session_id: None,
        limit: Some(a.limit),
    };
    let list = engine.jobs(&filter)?;
    let counts = engine.job_counts(user.as_deref())?;
    if cfg.json {
        out.json(&serde_json::json!({ "counts": counts, "jobs": list }))?;
        return out.flush();
    }
    out.line(format!(
        "queued {} (due now {}) · running {} · done {} · failed {}",
        counts.queued, counts.ready, counts.running, counts.done, counts.failed
    ))?;
    let now = engine.now();
    if counts.queued > 0 && !engine.has_llm() {
        out.line("jobs wait for `mnemo work` (or `mnemo chat`) with a model; see [llm] in `mnemo config`")?;
    }
    for job in &list {
        out.line(job_line(job, &now))?;
    }
    out.flush()
}

fn failed_ids(engine: &Engine, user: Option<String>) -> Result<Vec<String>> {
    let filter = JobFilter {
        user_id: user,
        statuses: vec![JobStatus::Failed],
        ..JobFilter::default()
    };
    Ok(engine.jobs(&filter)?.into_iter().map(|j| j.id).collect())
}

fn parse_all<T: std::str::FromStr<Err = mnemo_core::Error>>(values: &[String]) -> Result<Vec<T>> {
    Ok(values.iter().map(|v| v.parse()).collect::<Result<_, _>>()?)
}

/// `1a2b3c4d  extract    done     1/5  s1:1-2  alex  2026-03-01 09:00  [error]`
fn job_line(j: &Job, now: &Timestamp) -> String {
    let mut line = format!(
        "{}  {:<9}  {:<7}  {}/{}  {}  {}  {}",
        ids::short(&j.id),
        j.kind.as_str(),
        j.status.as_str(),
        j.attempts,
        j.max_attempts,
        subject(j),
        j.user_id,
        when(&j.updated_at),
    );
    if j.status == JobStatus::Queued && j.next_run_at > *now {
        line.push_str(&format!(
            "  next attempt {} ({})",
            when(&j.next_run_at),
            until(&j.next_run_at, now)
        ));
    }
    if matches!(j.status, JobStatus::Queued | JobStatus::Failed) {
        if let Some(e) = &j.last_error {
            line.push_str(&format!("  ({})", one_line(e, 100)));
        }
    }
    line
}

/// "in 42s", "in 3m", "in 2h", or "now".
pub(crate) fn until(t: &Timestamp, now: &Timestamp) -> String {
    let s = (*t - *now).num_seconds();
    match s {
        i64::MIN..=0 => "now".into(),
        1..=119 => format!("in {s}s"),
        120..=7199 => format!("in {}m", s / 60),
        _ => format!("in {}h", s / 3600),
    }
}

/// Text squeezed onto one line (a multi-line error must not break a table), cut at `max`
/// characters.
pub(crate) fn one_line(s: &str, max: usize) -> String {
    let flat = s.split_whitespace().collect::<Vec<_>>().join(" ");
    short_text(&flat, max)
}

fn subject(j: &Job) -> String {
    match (&j.session_id, j.first_seq, j.last_seq, j.kind) {
        (Some(s), Some(a), Some(b), JobKind::Extract | JobKind::Summarize) => {
            format!("session {} turns {a}-{b}", ids::short(s))
        }
        _ => match j.kind {
            JobKind::Topic => format!(
                "topic {}",
                j.payload["topic"].as_str().unwrap_or(&j.subject)
            ),
            JobKind::Reconcile => format!(
                "\"{}\"",
                short_text(j.payload["cell"]["content"].as_str().unwrap_or(""), 40)
            ),
            _ => j.subject.clone(),
        },
    }
}

fn short_text(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_owned(),
    }
}

fn show(out: &mut Out, j: &Job, now: &Timestamp) -> Result<()> {
    out.line(format!("job {} ({})", j.id, j.kind))?;
    out.line(format!(
        "  status:   {} after {} of {} attempts",
        j.status, j.attempts, j.max_attempts
    ))?;
    out.line(format!("  subject:  {}", subject(j)))?;
    out.line(format!(
        "  user:     {}{}",
        j.user_id,
        j.agent_id
            .as_deref()
            .map(|a| format!(" (agent {a})"))
            .unwrap_or_default()
    ))?;
    out.line(format!("  created:  {}", when(&j.created_at)))?;
    if j.status == JobStatus::Queued {
        out.line(format!(
            "  runs at:  {} ({})",
            when(&j.next_run_at),
            until(&j.next_run_at, now)
        ))?;
    }
    if let Some(e) = &j.last_error {
        // A done job keeps the error of an earlier attempt, for diagnosis only.
        let label = match j.status {
            JobStatus::Done => "  earlier attempt failed:",
            _ => "  error:   ",
        };
        out.line(format!("{label} {e}"))?;
    }
    if !j.payload.is_null() {
        out.line(format!("  input:    {}", j.payload))?;
    }
    if !j.result.is_null() {
        out.line(format!("  result:   {}", j.result))?;
    }
    Ok(())
}

/// One line of `mnemo usage`.
#[derive(Debug, Serialize)]
struct UsageLine {
    key: String,
    models: Vec<String>,
    calls: u64,
    input_tokens: u64,
    output_tokens: u64,
    /// USD, when every model of the line has a price.
    cost_usd: Option<f64>,
}

pub fn usage(engine: &Engine, cfg: &Config, a: UsageArgs) -> Result<()> {
    let group = match a.by {
        By::Model => UsageGroup::Model,
        By::User => UsageGroup::User,
        By::Task => UsageGroup::Task,
        By::Job => UsageGroup::Job,
        By::Day => UsageGroup::Day,
    };
    let filter = UsageFilter {
        user_id: (!a.all_users && a.by != By::User).then(|| cfg.user.clone()),
        since: date(a.since.as_deref())?,
        group,
    };
    let lines = merge(engine.usage(&filter)?, &cfg.pricing);
    let mut out = Out::new();
    if cfg.json {
        out.json(&lines)?;
        return out.flush();
    }
    if lines.is_empty() {
        out.line("no model calls recorded")?;
        return out.flush();
    }
    // As wide as the longest name: model names are never cut.
    let w = lines
        .iter()
        .map(|l| l.key.chars().count())
        .max()
        .unwrap_or(0)
        .max(5);
    out.line(format!(
        "{:<w$} {:>6} {:>12} {:>12} {:>10}",
        "group", "calls", "tokens in", "tokens out", "cost USD"
    ))?;
    for l in &lines {
        let cost = l.cost_usd.map_or("-".to_owned(), |c| format!("{c:.4}"));
        out.line(format!(
            "{:<w$} {:>6} {:>12} {:>12} {:>10}",
            l.key, l.calls, l.input_tokens, l.output_tokens, cost
        ))?;
    }
    out.flush()
}

/// Sums the per-model rows of each group, pricing each model separately.
fn merge(rows: Vec<UsageRow>, pricing: &Pricing) -> Vec<UsageLine> {
    let mut by_key: BTreeMap<String, UsageLine> = BTreeMap::new();
    for r in rows {
        let model_name = r.model.split_once('/').map_or(r.model.as_str(), |(_, m)| m);
        let cost = pricing
            .get(model_name)
            .or_else(|| pricing.get(&r.model))
            .map(|[i, o]| (r.input_tokens as f64 * i + r.output_tokens as f64 * o) / 1_000_000.0);
        let line = by_key.entry(r.key.clone()).or_insert_with(|| UsageLine {
            key: r.key.clone(),
            models: Vec::new(),
            calls: 0,
            input_tokens: 0,
            output_tokens: 0,
            cost_usd: Some(0.0),
        });
        line.models.push(r.model.clone());
        line.calls += r.calls;
        line.input_tokens += r.input_tokens;
        line.output_tokens += r.output_tokens;
        line.cost_usd = line.cost_usd.zip(cost).map(|(a, b)| a + b);
    }
    let mut lines: Vec<UsageLine> = by_key.into_values().collect();
    lines.sort_by_key(|l| std::cmp::Reverse(l.input_tokens + l.output_tokens));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key: &str, model: &str, i: u64, o: u64) -> UsageRow {
        UsageRow {
            key: key.into(),
            model: model.into(),
            calls: 1,
            input_tokens: i,
            output_tokens: o,
        }
    }

    #[test]
    fn errors_are_squeezed_onto_one_line_and_waits_read_naturally() {
        let e = "HTTP 400: bad request\n  at line 3\r\n\tcontext overflow";
        assert_eq!(
            one_line(e, 100),
            "HTTP 400: bad request at line 3 context overflow"
        );
        assert_eq!(one_line(e, 8), "HTTP 400...");
        let now = mnemo_core::time::parse_user("2026-03-01 09:00").unwrap();
        let at = |s: i64| now + chrono::Duration::seconds(s);
        assert_eq!(until(&at(-5), &now), "now");
        assert_eq!(until(&at(42), &now), "in 42s");
        assert_eq!(until(&at(600), &now), "in 10m");
        assert_eq!(until(&at(7200), &now), "in 2h");
    }

    #[test]
    fn costs_are_priced_per_model_and_unknown_prices_show_none() {
        let mut pricing = Pricing::new();
        pricing.insert("gpt-4o-mini".into(), [0.15, 0.60]);
        pricing.insert("openai/gpt-4o".into(), [2.5, 10.0]);
        let lines = merge(
            vec![
                row("alex", "openai/gpt-4o-mini", 1_000_000, 1_000_000),
                row("alex", "openai/gpt-4o", 1_000_000, 0),
                row("bo", "ollama/qwen2.5:7b", 10, 10),
            ],
            &pricing,
        );
        assert_eq!(lines[0].key, "alex");
        assert_eq!(lines[0].calls, 2);
        assert!((lines[0].cost_usd.unwrap() - 3.25).abs() < 1e-9);
        assert_eq!(lines[1].cost_usd, None);
    }
}
