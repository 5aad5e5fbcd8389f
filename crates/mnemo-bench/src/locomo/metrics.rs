//! The protocol's metrics: fractional turn recall@k and session any/all@10 per question,
//! averaged per category, overall (categories 1-4) and for adversarial questions apart.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use super::data::session_of;

/// Scores of one question.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct QuestionScore {
    pub recall_at_5: f64,
    pub recall_at_10: f64,
    pub recall_at_25: f64,
    pub session_any_at_10: f64,
    pub session_all_at_10: f64,
}

/// Scores `ranked` dia_ids (de-duplicated, best first) against `evidence` (not empty).
pub fn score(evidence: &[String], ranked: &[String]) -> QuestionScore {
    let recall = |k: usize| {
        let top: HashSet<&str> = ranked.iter().take(k).map(String::as_str).collect();
        let found = evidence.iter().filter(|e| top.contains(e.as_str())).count();
        found as f64 / evidence.len() as f64
    };
    let wanted: HashSet<u32> = evidence.iter().filter_map(|e| session_of(e)).collect();
    let got: HashSet<u32> = ranked
        .iter()
        .take(10)
        .filter_map(|d| session_of(d))
        .collect();
    let hit = |b: bool| if b { 1.0 } else { 0.0 };
    QuestionScore {
        recall_at_5: recall(5),
        recall_at_10: recall(10),
        recall_at_25: recall(25),
        session_any_at_10: hit(wanted.iter().any(|s| got.contains(s))),
        session_all_at_10: hit(!wanted.is_empty() && wanted.iter().all(|s| got.contains(s))),
    }
}

/// Averages over a group of questions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Averages {
    pub n: usize,
    pub recall_at_5: f64,
    pub recall_at_10: f64,
    pub recall_at_25: f64,
    pub session_any_at_10: f64,
    pub session_all_at_10: f64,
}

impl Averages {
    /// The mean of `scores`.
    pub fn of(scores: &[QuestionScore]) -> Averages {
        let n = scores.len();
        let mean = |f: fn(&QuestionScore) -> f64| {
            if n == 0 {
                0.0
            } else {
                round(scores.iter().map(f).sum::<f64>() / n as f64)
            }
        };
        Averages {
            n,
            recall_at_5: mean(|s| s.recall_at_5),
            recall_at_10: mean(|s| s.recall_at_10),
            recall_at_25: mean(|s| s.recall_at_25),
            session_any_at_10: mean(|s| s.session_any_at_10),
            session_all_at_10: mean(|s| s.session_all_at_10),
        }
    }
}

/// Scores grouped by category.
#[derive(Debug, Default)]
pub struct Tally {
    pub by_category: BTreeMap<u32, Vec<QuestionScore>>,
    pub skipped: usize,
}

impl Tally {
    /// Overall averages of categories 1-4.
    pub fn overall(&self) -> Averages {
        let all: Vec<QuestionScore> = self
            .by_category
            .iter()
            .filter(|(c, _)| (1..=4).contains(*c))
            .flat_map(|(_, s)| s.iter().copied())
            .collect();
        Averages::of(&all)
    }

    /// Averages of each scored category (1-4), keyed by its number as text.
    pub fn per_category(&self) -> BTreeMap<String, Averages> {
        self.by_category
            .iter()
            .filter(|(c, _)| (1..=4).contains(*c))
            .map(|(c, s)| (c.to_string(), Averages::of(s)))
            .collect()
    }

    /// Averages of the adversarial questions (category 5).
    pub fn adversarial(&self) -> Averages {
        Averages::of(self.by_category.get(&5).map_or(&[][..], Vec::as_slice))
    }
}

/// The `p`-th percentile (0..=100) of `values`, by nearest rank.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// Four decimals: enough to compare runs, short enough to read.
pub fn round(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn recall_is_fractional_and_sessions_are_any_or_all() {
        let s = score(&ids(&["D1:1", "D3:2"]), &ids(&["D1:1", "D2:5"]));
        assert_eq!(s.recall_at_5, 0.5);
        assert_eq!(s.session_any_at_10, 1.0);
        assert_eq!(s.session_all_at_10, 0.0);
        let mut far = ids(&["D9:1"; 0]);
        for i in 0..20 {
            far.push(format!("D2:{i}"));
        }
        far.push("D3:2".into());
        let s = score(&ids(&["D3:2"]), &far);
        assert_eq!((s.recall_at_10, s.recall_at_25), (0.0, 1.0));
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 95.0), 95.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }
}
