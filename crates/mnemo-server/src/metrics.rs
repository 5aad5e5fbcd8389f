//! Prometheus text exposition, hand-written: request counts and latency histograms per
//! route, the job queue's depth per status, and model calls and tokens per model (from the
//! usage the pipeline records). Read from the database at scrape time, so the figures are
//! right even when `mnemo work` runs the jobs in another process.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use mnemo_core::{UsageFilter, UsageGroup};
use mnemo_engine::Engine;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct RouteStats {
    /// Count per status code.
    statuses: BTreeMap<u16, u64>,
    /// Cumulative counts per bucket, then +Inf.
    buckets: [u64; BUCKETS.len() + 1],
    sum_secs: f64,
}

/// Counters of the process.
#[derive(Default)]
pub(crate) struct Metrics {
    routes: Mutex<BTreeMap<(String, String), RouteStats>>,
}

impl Metrics {
    pub(crate) fn observe(&self, method: &str, route: &str, status: u16, took: Duration) {
        let mut routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        let r = routes
            .entry((method.to_owned(), route.to_owned()))
            .or_default();
        *r.statuses.entry(status).or_default() += 1;
        let secs = took.as_secs_f64();
        r.sum_secs += secs;
        let first = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        for b in &mut r.buckets[first..] {
            *b += 1;
        }
    }

    /// The exposition text; `engine` supplies the queue and model figures.
    pub(crate) fn render(&self, engine: &Engine) -> mnemo_core::Result<String> {
        let mut out = String::new();
        self.render_requests(&mut out);
        let counts = engine.job_counts(None)?;
        out.push_str("# HELP mnemo_jobs Pipeline jobs by status.\n# TYPE mnemo_jobs gauge\n");
        for (status, n) in [
            ("queued", counts.queued),
            ("running", counts.running),
            ("done", counts.done),
            ("failed", counts.failed),
        ] {
            let _ = writeln!(out, "mnemo_jobs{{status=\"{status}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP mnemo_jobs_ready Queued jobs that are due now.\n# TYPE mnemo_jobs_ready gauge\nmnemo_jobs_ready {}",
            counts.ready
        );
        let usage = engine.usage(&UsageFilter {
            group: UsageGroup::Model,
            ..Default::default()
        })?;
        out.push_str("# HELP mnemo_model_calls_total Model calls recorded.\n# TYPE mnemo_model_calls_total counter\n");
        for u in &usage {
            let _ = writeln!(
                out,
                "mnemo_model_calls_total{{model=\"{}\"}} {}",
                esc(&u.model),
                u.calls
            );
        }
        out.push_str("# HELP mnemo_model_tokens_total Model tokens recorded.\n# TYPE mnemo_model_tokens_total counter\n");
        for u in &usage {
            let m = esc(&u.model);
            let _ = writeln!(
                out,
                "mnemo_model_tokens_total{{model=\"{m}\",direction=\"input\"}} {}",
                u.input_tokens
            );
            let _ = writeln!(
                out,
                "mnemo_model_tokens_total{{model=\"{m}\",direction=\"output\"}} {}",
                u.output_tokens
            );
        }
        Ok(out)
    }

    fn render_requests(&self, out: &mut String) {
        let routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        out.push_str("# HELP mnemo_http_requests_total HTTP requests by route and status.\n# TYPE mnemo_http_requests_total counter\n");
        for ((method, route), r) in routes.iter() {
            for (status, n) in &r.statuses {
                let _ = writeln!(
                    out,
                    "mnemo_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                    esc(route)
                );
            }
        }
        out.push_str("# HELP mnemo_http_request_duration_seconds Request latency.\n# TYPE mnemo_http_request_duration_seconds histogram\n");
        for ((method, route), r) in routes.iter() {
            let labels = format!("method=\"{method}\",route=\"{}\"", esc(route));
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "mnemo_http_request_duration_seconds_bucket{{{labels},le=\"{b}\"}} {}",
                    r.buckets[i]
                );
            }
            let total = r.buckets[BUCKETS.len()];
            let _ = writeln!(
                out,
                "mnemo_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {total}"
            );
            let _ = writeln!(
                out,
                "mnemo_http_request_duration_seconds_sum{{{labels}}} {}",
                r.sum_secs
            );
            let _ = writeln!(
                out,
                "mnemo_http_request_duration_seconds_count{{{labels}}} {total}"
            );
        }
    }
}

/// Escapes a label value.
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
