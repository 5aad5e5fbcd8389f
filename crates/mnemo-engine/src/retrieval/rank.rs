//! Combining the signals of a turn search into one explainable score.
//!
//! For every allowed turn `d`:
//! - `lexical` = BM25 / the best BM25 among allowed turns (0..1);
//! - `dense` = cosine similarity, rescaled so the best allowed turn is 1 and the mean 0
//!   (raw cosines of unrelated texts sit well above 0, which would drown the text signal);
//! - `base` = `lexical_weight * lexical + dense_weight * dense`;
//! - `context` = the mean score of the previous and next turn of the same session (their
//!   `lexical_weight * lexical + context_dense * dense_weight * dense`; further turns
//!   weigh half per step): in a conversation an answer ("I went to a support group")
//!   often shares no word with the question while the turn before or after it does;
//! - `session` = the best `base` in the turn's session, relative to the best overall: a
//!   session that talks about the subject makes each of its turns likelier;
//! - `speaker` = 1 when the query names the turn's speaker: in a transcript stored as
//!   "Anna: ..." lines, a question about Anna is mostly answered by Anna's own turns, while
//!   her name in the text marks the turns *addressed to* her;
//! - `asks` = 1 when the turn ends with a question mark: a question shares the words of
//!   a question about its subject, but the answer is the turn after it (which its words
//!   reach through `context`);
//! - `date` = 1 when the turn was said in the period the query names ("on 3 June, 2023",
//!   "in May 2023"), fading to 0 at `date_slack_days` outside it: what a question dates is
//!   mostly what was said then, which the words of the date cannot find;
//! - `total` = `base + context_weight * context + session_weight * session
//!   + speaker_weight * speaker - asks_penalty * asks + date_weight * date`.
//!
//! Hits come best `total` first, except for session coverage: when the scores are spread
//! over sessions (the best turn outside the first hit's session reaches `coverage_gate`
//! of the first hit), up to `coverage_slots` of the first `coverage_window` places go to
//! the best turn of a session not yet there, each replacing the last hit of a session
//! that has two or more there, if the newcomer scores within `coverage_tie` of it. A
//! question about several occasions ("what activities...") needs a turn from each, while
//! a confident single answer is left alone. Such a hit has `coverage` = 1.

use serde::Serialize;

use super::dates::Period;
use super::turn_index::TurnIndex;
use super::RetrievalParams;

/// The components of a turn hit's score; `total` combines them (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, schemars::JsonSchema)]
pub struct TurnScoreParts {
    /// Raw BM25 of the turn's own text.
    pub bm25: f64,
    /// BM25 normalised to 0..1 among the allowed turns.
    pub lexical: f64,
    /// Raw cosine similarity with the query (0 without an embedder).
    pub cosine: f64,
    /// Cosine rescaled (best allowed turn 1, mean 0).
    pub dense: f64,
    /// Mean score of the neighbouring turns (their dense part scaled by `context_dense`).
    pub context: f64,
    /// Best base score in the turn's session, relative to the best overall.
    pub session: f64,
    /// 1 when the query names the turn's speaker (its "Name:" label), else 0.
    pub speaker: f64,
    /// 1 when the turn ends with a question mark, else 0.
    pub asks: f64,
    /// 1 when the turn was said in the period the query names, fading to 0 at
    /// `date_slack_days` outside it (0 when the query names no date).
    pub date: f64,
    /// 1 when session coverage moved this hit into the first `coverage_window` places
    /// in place of a higher-scored turn of a session already there (its `total` is
    /// unchanged), else 0.
    pub coverage: f64,
    pub total: f64,
}

/// Raw per-document signals of one query.
pub(crate) struct Signals {
    pub bm25: Vec<f32>,
    pub cosine: Option<Vec<f32>>,
    /// Speakers (indexes into the index's `speakers`) that the query names.
    pub named: Vec<u32>,
    /// The period the query names, if any.
    pub period: Option<Period>,
    pub allowed: Vec<bool>,
}

/// The best `limit` documents with their score parts, best first.
pub(crate) fn rank(
    index: &TurnIndex,
    s: &Signals,
    p: &RetrievalParams,
    limit: usize,
) -> Vec<(usize, TurnScoreParts)> {
    let n = index.len();
    let lex_max = masked_max(&s.bm25, &s.allowed);
    let dense = s.cosine.as_deref().map(|c| rescale(c, &s.allowed));
    let mut base = vec![0.0f32; n];
    // What a turn passes to its neighbours as context.
    let mut lent = vec![0.0f32; n];
    for d in (0..n).filter(|&d| s.allowed[d]) {
        let lex = if lex_max > 0.0 {
            s.bm25[d] / lex_max
        } else {
            0.0
        };
        let den = dense.as_ref().map_or(0.0, |v| v[d]);
        base[d] = p.lexical_weight * lex + p.dense_weight * den;
        lent[d] = p.lexical_weight * lex + p.context_dense * p.dense_weight * den;
    }
    let base_max = base.iter().copied().fold(0.0, f32::max);
    let session_best = session_scores(index, &base, p.session_top.max(1) as usize);
    let mut scored: Vec<(usize, TurnScoreParts)> = Vec::new();
    for d in (0..n).filter(|&d| s.allowed[d]) {
        let context = context_of(index, &lent, d, p);
        let session = if base_max > 0.0 {
            session_best[index.session_of[d] as usize] / base_max
        } else {
            0.0
        };
        let speaker = match index.speaker_of[d] {
            Some(sp) if s.named.contains(&sp) => 1.0,
            _ => 0.0,
        };
        let asks = if index.asks[d] { 1.0 } else { 0.0 };
        let date = s.period.map_or(0.0, |period| {
            period.closeness(index.turns[d].created_at, p.date_slack_days)
        });
        let total = base[d]
            + p.context_weight * context
            + p.session_weight * session
            + p.speaker_weight * speaker
            - p.asks_penalty * asks
            + p.date_weight * date;
        if total <= 0.0 {
            continue;
        }
        scored.push((
            d,
            TurnScoreParts {
                bm25: f64::from(s.bm25[d]),
                lexical: if lex_max > 0.0 {
                    f64::from(s.bm25[d] / lex_max)
                } else {
                    0.0
                },
                cosine: s.cosine.as_ref().map_or(0.0, |c| f64::from(c[d])),
                dense: dense.as_ref().map_or(0.0, |v| f64::from(v[d])),
                context: f64::from(context),
                session: f64::from(session),
                speaker: f64::from(speaker),
                asks: f64::from(asks),
                date: f64::from(date),
                coverage: 0.0,
                total: f64::from(total),
            },
        ));
    }
    let pool = top(scored, limit.saturating_mul(4));
    let keep = pool.len();
    let mut hits = diversify(index, pool, p.session_diversity, keep);
    cover_sessions(index, &mut hits, p);
    hits.truncate(limit);
    hits
}

/// Session coverage among near-ties (see the module docs); `hits` is best first.
fn cover_sessions(index: &TurnIndex, hits: &mut Vec<(usize, TurnScoreParts)>, p: &RetrievalParams) {
    let window = (p.coverage_window as usize).min(hits.len());
    if p.coverage_slots == 0 || window == 0 {
        return;
    }
    let session = |h: &(usize, TurnScoreParts)| index.session_of[h.0];
    let first = session(&hits[0]);
    let runner_up = hits.iter().find(|h| session(h) != first);
    if runner_up.is_none_or(|h| h.1.total < f64::from(p.coverage_gate) * hits[0].1.total) {
        return;
    }
    let mut rest = hits.split_off(window);
    for _ in 0..p.coverage_slots {
        let present: Vec<u32> = hits.iter().map(session).collect();
        let Some(c) = rest.iter().position(|h| !present.contains(&session(h))) else {
            break;
        };
        let shared = |i: usize| present.iter().filter(|&&s| s == present[i]).count() > 1;
        let Some(v) = (0..hits.len()).rev().find(|&i| shared(i)) else {
            break;
        };
        if rest[c].1.total < f64::from(p.coverage_tie) * hits[v].1.total {
            break;
        }
        let mut newcomer = rest.remove(c);
        newcomer.1.coverage = 1.0;
        let out = hits.remove(v);
        hits.push(newcomer);
        let at = rest.partition_point(|h| {
            h.1.total > out.1.total || (h.1.total == out.1.total && h.0 < out.0)
        });
        rest.insert(at, out);
    }
    hits.append(&mut rest);
}

/// Greedy re-ranking: a candidate's score is scaled by `(1 - diversity)^k` where `k` is
/// how many hits of its session were already taken. The reported `total` is unchanged.
fn diversify(
    index: &TurnIndex,
    mut pool: Vec<(usize, TurnScoreParts)>,
    diversity: f32,
    limit: usize,
) -> Vec<(usize, TurnScoreParts)> {
    if diversity <= 0.0 {
        pool.truncate(limit);
        return pool;
    }
    let keep = f64::from(1.0 - diversity.min(1.0));
    let mut taken: std::collections::HashMap<u32, i32> = std::collections::HashMap::new();
    let mut out = Vec::with_capacity(limit.min(pool.len()));
    while out.len() < limit && !pool.is_empty() {
        let adjusted = |(d, parts): &(usize, TurnScoreParts)| {
            let k = taken.get(&index.session_of[*d]).copied().unwrap_or(0);
            parts.total * keep.powi(k)
        };
        let best = (0..pool.len())
            .max_by(|&a, &b| {
                adjusted(&pool[a])
                    .total_cmp(&adjusted(&pool[b]))
                    .then(b.cmp(&a))
            })
            .unwrap_or(0);
        let hit = pool.remove(best);
        *taken.entry(index.session_of[hit.0]).or_default() += 1;
        out.push(hit);
    }
    out
}

/// The weighted `lent` score of the turns around `d` in its session.
fn context_of(index: &TurnIndex, lent: &[f32], d: usize, p: &RetrievalParams) -> f32 {
    let mut total = 0.0;
    let mut weight = 1.0;
    let (mut before, mut after) = (index.prev[d], index.next[d]);
    for _ in 0..p.context_span.max(1) {
        let near = |o: Option<u32>| o.map_or(0.0, |i| lent[i as usize]);
        total += weight
            * ((1.0 - p.context_next_share) * near(before) + p.context_next_share * near(after));
        weight *= 0.5;
        before = before.and_then(|i| index.prev[i as usize]);
        after = after.and_then(|i| index.next[i as usize]);
    }
    total
}

/// Per session: the mean of its `top` best base scores (the best alone when `top` is 1).
fn session_scores(index: &TurnIndex, base: &[f32], top: usize) -> Vec<f32> {
    let mut best = vec![Vec::<f32>::with_capacity(top + 1); index.session_ids.len()];
    for (d, &b) in base.iter().enumerate() {
        let list = &mut best[index.session_of[d] as usize];
        if list.len() < top || list.last().is_some_and(|&l| b > l) {
            let at = list.iter().position(|&x| b > x).unwrap_or(list.len());
            list.insert(at, b);
            list.truncate(top);
        }
    }
    best.iter()
        .map(|l| l.iter().sum::<f32>() / top as f32)
        .collect()
}

/// Keeps the best `limit`, best first; ties go to the earlier turn.
fn top(mut scored: Vec<(usize, TurnScoreParts)>, limit: usize) -> Vec<(usize, TurnScoreParts)> {
    let by_score = |a: &(usize, TurnScoreParts), b: &(usize, TurnScoreParts)| {
        b.1.total.total_cmp(&a.1.total).then(a.0.cmp(&b.0))
    };
    if scored.len() > limit {
        scored.select_nth_unstable_by(limit, by_score);
        scored.truncate(limit);
    }
    scored.sort_by(by_score);
    scored
}

fn masked_max(v: &[f32], allowed: &[bool]) -> f32 {
    v.iter()
        .zip(allowed)
        .filter(|(_, a)| **a)
        .map(|(x, _)| *x)
        .fold(0.0, f32::max)
}

/// Cosines rescaled so the mean allowed document is 0 and the best is 1 (below-mean is 0).
fn rescale(cos: &[f32], allowed: &[bool]) -> Vec<f32> {
    let (sum, count) = cos
        .iter()
        .zip(allowed)
        .filter(|(_, a)| **a)
        .fold((0.0f64, 0usize), |(s, c), (x, _)| {
            (s + f64::from(*x), c + 1)
        });
    if count == 0 {
        return vec![0.0; cos.len()];
    }
    let mean = (sum / count as f64) as f32;
    let max = cos
        .iter()
        .zip(allowed)
        .filter(|(_, a)| **a)
        .map(|(x, _)| *x)
        .fold(f32::MIN, f32::max);
    let span = max - mean;
    cos.iter()
        .map(|c| {
            if span > 0.0 {
                ((c - mean) / span).max(0.0)
            } else {
                0.0
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retrieval::text::Analyzer;
    use crate::retrieval::turn_index::tests::turn;

    #[test]
    fn the_named_speakers_turn_wins_a_tie() {
        let a = Analyzer::default();
        let index = TurnIndex::build(
            &a,
            vec![
                turn("s1", 1, "Bob: Anna, I like tea"),
                turn("s2", 1, "Anna: I like tea"),
            ],
        );
        let signals = Signals {
            bm25: vec![1.0, 1.0],
            cosine: None,
            named: vec![index.speaker_of[1].unwrap()],
            period: None,
            allowed: vec![true, true],
        };
        let p = RetrievalParams {
            context_weight: 0.0,
            session_weight: 0.0,
            ..RetrievalParams::default()
        };
        let ranked = rank(&index, &signals, &p, 2);
        assert_eq!(ranked[0].0, 1);
        assert_eq!((ranked[0].1.speaker, ranked[1].1.speaker), (1.0, 0.0));
        let total = ranked[0].1.lexical + f64::from(p.speaker_weight);
        assert!((ranked[0].1.total - total).abs() < 1e-6);
    }

    #[test]
    fn coverage_swaps_in_another_session_only_among_near_ties() {
        let a = Analyzer::default();
        let index = TurnIndex::build(
            &a,
            vec![
                turn("s1", 1, "a"),
                turn("s1", 2, "b"),
                turn("s1", 3, "c"),
                turn("s2", 1, "d"),
            ],
        );
        let hits = |totals: [f64; 4]| -> Vec<(usize, TurnScoreParts)> {
            let mut v: Vec<(usize, TurnScoreParts)> = totals
                .iter()
                .enumerate()
                .map(|(d, &total)| {
                    let parts = TurnScoreParts {
                        total,
                        ..Default::default()
                    };
                    (d, parts)
                })
                .collect();
            v.sort_by(|x, y| y.1.total.total_cmp(&x.1.total));
            v
        };
        let p = RetrievalParams {
            coverage_slots: 1,
            coverage_window: 2,
            coverage_gate: 0.85,
            coverage_tie: 0.9,
            ..RetrievalParams::default()
        };
        // Spread scores: session s2's turn (0.88) takes the window's last place from the
        // second turn of s1 (0.95), which comes back right after the window.
        let mut spread = hits([1.0, 0.95, 0.9, 0.88]);
        cover_sessions(&index, &mut spread, &p);
        let order: Vec<usize> = spread.iter().map(|h| h.0).collect();
        assert_eq!(order, vec![0, 3, 1, 2]);
        assert_eq!(spread[1].1.coverage, 1.0);
        assert_eq!(spread[1].1.total, 0.88, "the total is reported unchanged");
        assert_eq!(spread[0].1.coverage + spread[2].1.coverage, 0.0);
        // One clear answer: the best of s2 is far under the first hit, nothing moves.
        let mut clear = hits([1.0, 0.95, 0.9, 0.5]);
        cover_sessions(&index, &mut clear, &p);
        assert_eq!(
            clear.iter().map(|h| h.0).collect::<Vec<_>>(),
            vec![0, 1, 2, 3]
        );
        // Spread, but the newcomer is not within `coverage_tie` of the hit it would replace.
        let p = RetrievalParams {
            coverage_gate: 0.5,
            ..p
        };
        let mut far = hits([1.0, 0.95, 0.9, 0.6]);
        cover_sessions(&index, &mut far, &p);
        assert_eq!(
            far.iter().map(|h| h.0).collect::<Vec<_>>(),
            vec![0, 1, 2, 3]
        );
        // Off.
        let off = RetrievalParams {
            coverage_slots: 0,
            ..p
        };
        let mut same = hits([1.0, 0.95, 0.9, 0.88]);
        cover_sessions(&index, &mut same, &off);
        assert_eq!(
            same.iter().map(|h| h.0).collect::<Vec<_>>(),
            vec![0, 1, 2, 3]
        );
    }
}
