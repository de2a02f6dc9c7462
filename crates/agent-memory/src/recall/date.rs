//! Conversation dates as ISO `YYYY-MM-DD` strings, which order correctly as text, so a
//! date range is a plain string range filter in every store backend.

use super::RecallError;

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

/// Reads a calendar date from free text: ISO (`2025-01-15`, `2025-01-15T10:00:00Z`),
/// `8 May, 2023`, `May 8, 2023`, or LoCoMo's `1:56 pm on 8 May, 2023`. Month names may be
/// abbreviated to three letters. `None` when no date is recognised.
///
/// ```
/// use agent_memory::recall::parse_date;
///
/// assert_eq!(parse_date("2025-01-15T10:00:00Z").as_deref(), Some("2025-01-15"));
/// assert_eq!(parse_date("1:56 pm on 8 May, 2023").as_deref(), Some("2023-05-08"));
/// assert_eq!(parse_date("Sep 3, 2024").as_deref(), Some("2024-09-03"));
/// assert_eq!(parse_date("last week"), None);
/// ```
pub fn parse_date(text: &str) -> Option<String> {
    let text = text.trim();
    if let Some(date) = parse_iso(text) {
        return Some(date);
    }
    let words: Vec<String> = text
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .map(|w| w.trim_end_matches('.').to_lowercase())
        .collect();
    let month_at = words.iter().position(|w| month_number(w).is_some())?;
    let month = month_number(&words[month_at])?;
    let number =
        |word: Option<&String>| word.and_then(|w| w.trim_end_matches(|c: char| c.is_alphabetic()).parse::<u32>().ok());
    let year =
        words[month_at + 1..].iter().find_map(|w| w.parse::<u32>().ok().filter(|y| (1000..=9999).contains(y)))?;
    let day = number(month_at.checked_sub(1).and_then(|i| words.get(i)))
        .filter(|d| (1..=31).contains(d))
        .or_else(|| number(words.get(month_at + 1)).filter(|d| (1..=31).contains(d)))?;
    valid(year, month, day)
}

/// Checks an inclusive date bound given by a caller.
pub(crate) fn check_bound(name: &str, date: &str) -> Result<String, RecallError> {
    parse_iso(date)
        .filter(|iso| iso == date)
        .ok_or_else(|| RecallError::InvalidOptions(format!("{name} must be a date written YYYY-MM-DD, got {date:?}")))
}

/// The UTC calendar date of a Unix time, as `YYYY-MM-DD` (what a conversation indexed
/// without a `date` is dated with).
///
/// ```
/// assert_eq!(agent_memory::recall::date_of_unix_seconds(1_736_899_200.0), "2025-01-15");
/// ```
pub fn date_of_unix_seconds(seconds: f64) -> String {
    let days = (seconds / 86_400.0).floor() as i64;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

fn parse_iso(text: &str) -> Option<String> {
    let head = text.get(..10)?;
    let bytes = head.as_bytes();
    if bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let year = head[..4].parse().ok()?;
    let month = head[5..7].parse().ok()?;
    let day = head[8..10].parse().ok()?;
    if text.len() > 10 && !text[10..].starts_with(['T', 't', ' ']) {
        return None;
    }
    valid(year, month, day)
}

fn month_number(word: &str) -> Option<u32> {
    if word.len() < 3 {
        return None;
    }
    MONTHS.iter().position(|m| *m == word || (word.len() == 3 && m.starts_with(word))).map(|i| i as u32 + 1)
}

fn valid(year: u32, month: u32, day: u32) -> Option<String> {
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    (year > 0 && (1..=days).contains(&day)).then(|| format!("{year:04}-{month:02}-{day:02}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_common_shapes() {
        assert_eq!(parse_date("2024-02-29").as_deref(), Some("2024-02-29"));
        assert_eq!(parse_date("2023-02-29"), None);
        assert_eq!(parse_date("2025-01-15 10:00").as_deref(), Some("2025-01-15"));
        assert_eq!(parse_date("2025-01-1x"), None);
        assert_eq!(parse_date("11:01 am on 17 December, 2022").as_deref(), Some("2022-12-17"));
        assert_eq!(parse_date("December 17th, 2022").as_deref(), Some("2022-12-17"));
        assert_eq!(parse_date("may"), None);
    }

    #[test]
    fn unix_seconds_to_dates() {
        assert_eq!(date_of_unix_seconds(0.0), "1970-01-01");
        assert_eq!(date_of_unix_seconds(1_736_899_200.0), "2025-01-15");
        assert_eq!(date_of_unix_seconds(951_782_400.0), "2000-02-29");
    }

    #[test]
    fn bounds_must_be_iso() {
        assert_eq!(check_bound("from", "2025-01-15").unwrap(), "2025-01-15");
        assert_eq!(
            check_bound("from", "15 Jan 2025").unwrap_err().to_string(),
            "invalid conversation memory options: from must be a date written YYYY-MM-DD, got \"15 Jan 2025\""
        );
    }
}
