//! Dates named in a query ("on 3 June, 2023", "in January 2022", "August 3, 2023"), so
//! that turns said around that time can rank higher.
//!
//! Why: every turn carries the time it was said, and a question that names a date is
//! mostly answered by what was said on that day (or, for a month, in that month). Words
//! alone cannot use that: "June" and "3" match whatever mentions them, not what was said
//! then. Only explicit calendar dates are read (day month year, month day year, month
//! year); relative ones ("last week") would need the asker's "now".

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use mnemo_core::Timestamp;

use super::text::words;

/// A period of time a query names: from `start` (inclusive) to `end` (exclusive).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Period {
    pub start: Timestamp,
    pub end: Timestamp,
}

impl Period {
    /// 1 inside the period, falling linearly to 0 at `slack_days` outside it.
    pub fn closeness(&self, t: Timestamp, slack_days: f32) -> f32 {
        let outside = if t < self.start {
            self.start - t
        } else if t >= self.end {
            t - self.end
        } else {
            return 1.0;
        };
        let days = outside.num_seconds() as f32 / 86_400.0;
        if slack_days <= 0.0 {
            0.0
        } else {
            (1.0 - days / slack_days).max(0.0)
        }
    }
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// The month (1-12) a word names: its full name, its first three letters, or "sept".
fn month(word: &str) -> Option<u32> {
    MONTHS
        .iter()
        .position(|m| {
            *m == word
                || (word.len() == 3 && m.starts_with(word))
                || (word == "sept" && m.starts_with(word))
        })
        .map(|i| i as u32 + 1)
}

/// A day of the month: 1-31, with an optional ordinal suffix ("3rd").
fn day(word: &str) -> Option<u32> {
    let digits = word.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let suffix = &word[digits.len()..];
    if !matches!(suffix, "" | "st" | "nd" | "rd" | "th") || digits.is_empty() || digits.len() > 2 {
        return None;
    }
    digits.parse().ok().filter(|d| (1..=31).contains(d))
}

/// A four-digit year from 1900 to 2199.
fn year(word: &str) -> Option<i32> {
    (word.len() == 4)
        .then(|| word.parse().ok())
        .flatten()
        .filter(|y| (1900..2200).contains(y))
}

fn at(date: NaiveDate) -> Timestamp {
    Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).unwrap_or_default())
}

/// The first calendar date that `text` names, as a period (a day or a month).
pub(crate) fn named_period(text: &str) -> Option<Period> {
    let w: Vec<String> = words(text).collect();
    for i in 0..w.len() {
        let get = |k: usize| w.get(i + k).map(String::as_str).unwrap_or("");
        // 3 June 2023 / June 3 2023
        let dmy = match (day(get(0)), month(get(1)), month(get(0)), day(get(1))) {
            (Some(d), Some(m), _, _) | (_, _, Some(m), Some(d)) => year(get(2)).map(|y| (y, m, d)),
            _ => None,
        };
        if let Some((y, m, d)) = dmy {
            if let Some(date) = NaiveDate::from_ymd_opt(y, m, d) {
                let start = at(date);
                let period = Period {
                    start,
                    end: start + Duration::days(1),
                };
                return Some(period);
            }
        }
        // June 2023
        if let (Some(m), Some(y)) = (month(get(0)), year(get(1))) {
            let first = NaiveDate::from_ymd_opt(y, m, 1)?;
            let next = if m == 12 {
                NaiveDate::from_ymd_opt(y + 1, 1, 1)?
            } else {
                NaiveDate::from_ymd_opt(y, m + 1, 1)?
            };
            let period = Period {
                start: at(first),
                end: at(next),
            };
            return Some(period);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day_at(y: i32, m: u32, d: u32) -> Timestamp {
        at(NaiveDate::from_ymd_opt(y, m, d).unwrap())
    }

    #[test]
    fn calendar_dates_are_read_in_the_usual_orders() {
        let p = named_period("What did she do on 3 June, 2023?").unwrap();
        assert_eq!((p.start, p.end), (day_at(2023, 6, 3), day_at(2023, 6, 4)));
        let p = named_period("the week before August 3rd, 2023").unwrap();
        assert_eq!(p.start, day_at(2023, 8, 3));
        let p = named_period("What happened in Dec 2022?").unwrap();
        assert_eq!((p.start, p.end), (day_at(2022, 12, 1), day_at(2023, 1, 1)));
        assert_eq!(named_period("May I ask about 2023?"), None);
        // An impossible day falls back to its month.
        let p = named_period("on 31 February 2023").unwrap();
        assert_eq!(p.start, day_at(2023, 2, 1));
        assert_eq!(named_period("she has 3 cats"), None);
    }

    #[test]
    fn closeness_is_one_inside_and_fades_outside() {
        let p = named_period("3 June 2023").unwrap();
        assert_eq!(
            p.closeness(day_at(2023, 6, 3) + Duration::hours(5), 7.0),
            1.0
        );
        assert!((p.closeness(day_at(2023, 6, 7), 7.0) - 4.0 / 7.0).abs() < 1e-6);
        assert_eq!(p.closeness(day_at(2023, 5, 1), 7.0), 0.0);
        assert_eq!(p.closeness(day_at(2023, 6, 5), 0.0), 0.0);
    }
}
