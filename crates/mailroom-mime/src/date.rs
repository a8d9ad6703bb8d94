//! The Date header as mail clients read it: RFC 5322's date-time with the obsolete syntax of its
//! section 4.3, and the shapes real mailers have written besides.
//!
//! Written here rather than taken from mail-parser, whose date reader takes two more bytes after an
//! alphabetic zone and so swallows the line break (and the header after it) behind `UT` or `AM`,
//! and which gives no date at all when the zone is missing; chrono's RFC 2822 reader refuses the
//! obsolete and the wild forms alike.
//!
//! The reader is token-based and lenient where RFC 5322 is: comments and folding anywhere, day
//! names optional, two- and three-digit years, the named zones of RFC 822, military zones. It also
//! reads twelve-hour clocks, asctime (`Sat Sep 21 08:18:08 2002`), numeric dates
//! (`2002/09/14`), `GMT+1`, a doubled sign (`+-0500`) and Windows zone names, all seen in mail.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};

/// Tokens beyond this many are not looked at: a date has a dozen, and a header of thousands of
/// words is not a date.
const MAX_TOKENS: usize = 64;

/// The instant a Date header's value names, or `None` when it names none. A missing or unknown
/// zone is `-0000` (RFC 5322 section 4.3): the time is taken as UTC.
pub(crate) fn read_date(value: &str) -> Option<DateTime<Utc>> {
    let text = without_comments(value);
    let mut date = Parts::default();
    let mut words = Vec::new();
    for token in text.split(|c: char| c.is_whitespace() || c == ',').filter(|t| !t.is_empty()).take(MAX_TOKENS) {
        split_token(token, &mut words);
    }
    let mut i = 0;
    while i < words.len() {
        i += date.take(&words[i..]);
    }
    date.instant()
}

/// `value` with its comments (nested, with quoted-pairs) turned into spaces; an unclosed comment
/// runs to the end.
fn without_comments(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut depth = 0usize;
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    out.push(' ');
                }
            }
            '\\' if depth > 0 => {
                chars.next();
            }
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// A piece of a date.
#[derive(Debug, Clone, PartialEq)]
enum Word {
    /// Digits, with how many there were (a year's meaning depends on it).
    Number { value: u32, digits: usize },
    /// `h:mm[:ss]`.
    Time { hour: u32, minute: u32, second: u32 },
    /// A signed offset, in minutes east of UTC.
    Offset(i32),
    /// A date written with slashes, read as year/month/day or month/day/year.
    Numeric { year: Year, month: u32, day: u32 },
    /// Letters, lowercase.
    Name(String),
}

/// A year as written, with its digit count: `02` and `2002` are the same year, `102` another reading.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Year {
    value: u32,
    digits: usize,
}

/// Splits one whitespace-free token into words: `14-Sep-2002`, `GMT+1`, `3:36:25PM`, `+-0500`.
fn split_token(token: &str, out: &mut Vec<Word>) {
    if out.len() >= MAX_TOKENS {
        return;
    }
    // A sign starts an offset unless letters or a date come before it in the token.
    if let Some(rest) = token.strip_prefix(['+', '-']) {
        let negative = token.starts_with('-') || rest.starts_with('-');
        let rest = rest.trim_start_matches(['+', '-']);
        if let Some(offset) = offset(rest, negative) {
            out.push(Word::Offset(offset));
        }
        return;
    }
    if token.contains('/') {
        if let Some(numeric) = numeric_date(token) {
            out.push(numeric);
        }
        return;
    }
    let letters_end = token.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(token.len());
    if letters_end > 0 {
        out.push(Word::Name(token[..letters_end].to_ascii_lowercase()));
        let rest = &token[letters_end..];
        if !rest.is_empty() {
            split_token(rest, out);
        }
        return;
    }
    let digits_end = token.find(|c: char| !c.is_ascii_digit()).unwrap_or(token.len());
    let (digits, rest) = token.split_at(digits_end);
    if let Some(after_colon) = rest.strip_prefix(':') {
        // A time, perhaps with AM/PM or a zone stuck to it.
        let time_end = after_colon.find(|c: char| !(c.is_ascii_digit() || c == ':')).unwrap_or(after_colon.len());
        if let Some(time) = time(digits, &after_colon[..time_end]) {
            out.push(time);
        }
        let rest = &after_colon[time_end..];
        if !rest.is_empty() {
            split_token(rest.trim_start_matches('.'), out);
        }
        return;
    }
    if !digits.is_empty() {
        if let Some(value) = number(digits) {
            out.push(Word::Number { value, digits: digits.len() });
        }
        // `14-Sep-2002`: the dash separates, it is not a sign.
        let rest = rest.trim_start_matches(['-', '.']);
        if !rest.is_empty() {
            split_token(rest, out);
        }
    }
    // Anything else (punctuation) says nothing.
}

fn number(digits: &str) -> Option<u32> {
    // More than nine digits is no part of a date (and would overflow).
    if digits.len() > 9 { None } else { digits.parse().ok() }
}

/// `hh[:mm]` after a sign, or `hhmm`, or `h`, as minutes east of UTC.
fn offset(text: &str, negative: bool) -> Option<i32> {
    let digits: String = text.chars().take_while(|c| c.is_ascii_digit() || *c == ':').filter(|c| *c != ':').collect();
    let (hours, minutes) = match digits.len() {
        1 | 2 => (number(&digits)?, 0),
        3 | 4 => {
            let value = number(&digits)?;
            (value / 100, value % 100)
        }
        _ => return None,
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    let minutes = (hours * 60 + minutes) as i32;
    Some(if negative { -minutes } else { minutes })
}

/// `hh:mm[:ss]` given the hour's digits and what followed the first colon.
fn time(hour: &str, rest: &str) -> Option<Word> {
    let mut parts = rest.split(':');
    let minute = parts.next().filter(|m| !m.is_empty())?;
    let second = parts.next().filter(|s| !s.is_empty()).unwrap_or("0");
    if parts.next().is_some() || hour.len() > 2 || minute.len() > 2 || second.len() > 2 {
        return None;
    }
    Some(Word::Time { hour: number(hour)?, minute: number(minute)?, second: number(second)? })
}

/// `2002/09/14` or `09/14/2002` (or with a two-digit year last).
fn numeric_date(token: &str) -> Option<Word> {
    let parts: Vec<&str> = token.split('/').collect();
    let [a, b, c] = parts.as_slice() else { return None };
    let year_of = |s: &str| number(s).map(|value| Year { value, digits: s.len() });
    if a.len() == 4 {
        Some(Word::Numeric { year: year_of(a)?, month: number(b)?, day: number(c)? })
    } else {
        Some(Word::Numeric { year: year_of(c)?, month: number(a)?, day: number(b)? })
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
const DAYS: [&str; 7] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];

/// Whether `word` is `full` or a prefix of it of at least three letters (`sep`, `sept`, `tues`).
fn abbreviates(word: &str, full: &str) -> bool {
    word.len() >= 3 && full.starts_with(word)
}

/// The zones RFC 822 named, in minutes east of UTC. Military letters are not here: RFC 5322 reads
/// them as -0000, since RFC 822 gave them the wrong signs.
fn named_zone(name: &str) -> Option<i32> {
    Some(match name {
        "ut" | "utc" | "gmt" | "z" => 0,
        "edt" => -4 * 60,
        "est" | "cdt" => -5 * 60,
        "cst" | "mdt" => -6 * 60,
        "mst" | "pdt" => -7 * 60,
        "pst" => -8 * 60,
        _ => return None,
    })
}

/// What has been read so far.
#[derive(Debug, Default)]
struct Parts {
    day: Option<u32>,
    month: Option<u32>,
    year: Option<Year>,
    time: Option<(u32, u32, u32)>,
    /// Minutes east of UTC; `None` is -0000.
    offset: Option<i32>,
    /// `Some(true)` for PM.
    afternoon: Option<bool>,
}

impl Parts {
    /// Takes the first of `words` (and the ones after it that belong to it); returns how many.
    fn take(&mut self, words: &[Word]) -> usize {
        let Some(word) = words.first() else { return 1 };
        match word {
            Word::Time { hour, minute, second } if self.time.is_none() => {
                self.time = Some((*hour, *minute, *second));
            }
            Word::Offset(minutes) if self.time.is_some() && self.offset.is_none() => self.offset = Some(*minutes),
            Word::Numeric { year, month, day } if self.year.is_none() && self.month.is_none() => {
                self.year = Some(*year);
                self.month = Some(*month);
                self.day = Some(*day);
            }
            Word::Number { value, digits } => self.number(*value, *digits),
            Word::Name(name) => return self.name(name, &words[1..]),
            _ => {}
        }
        1
    }

    fn number(&mut self, value: u32, digits: usize) {
        let year = Year { value, digits };
        if digits >= 3 || value > 31 {
            if self.year.is_none() {
                self.year = Some(year);
            }
        } else if self.day.is_none() {
            self.day = Some(value);
        } else if self.year.is_none() {
            self.year = Some(year);
        }
        // Further numbers (a stray zone without a sign, a repeated field) say nothing reliable.
    }

    fn name(&mut self, name: &str, after: &[Word]) -> usize {
        if let Some(month) = MONTHS.iter().position(|m| abbreviates(name, m)) {
            if self.month.is_none() {
                self.month = Some(month as u32 + 1);
            }
            return 1;
        }
        if DAYS.iter().any(|d| abbreviates(name, d)) {
            return 1;
        }
        match name {
            "am" | "pm" if self.time.is_some() => self.afternoon = Some(name == "pm"),
            // Windows writes zones out: "Eastern Daylight Time", "Greenwich Standard Time".
            "eastern" | "central" | "mountain" | "pacific" | "greenwich" if self.time.is_some() => {
                let daylight = matches!(after.first(), Some(Word::Name(n)) if n == "daylight");
                let standard_hours = match name {
                    "eastern" => -5,
                    "central" => -6,
                    "mountain" => -7,
                    "pacific" => -8,
                    _ => 0,
                };
                let hours = if daylight && standard_hours != 0 { standard_hours + 1 } else { standard_hours };
                self.offset.get_or_insert(hours * 60);
            }
            _ if self.time.is_some() && self.offset.is_none() => {
                // A named zone; a zone after it (`GMT+1`) refines it. Single letters are military zones,
                // -0000 (they are read, so that nothing after them is taken for a zone).
                if let Some(zone) = named_zone(name) {
                    self.offset = Some(zone);
                    if let Some(Word::Offset(refined)) = after.first() {
                        self.offset = Some(zone + refined);
                        return 2;
                    }
                } else if name.len() == 1 && name != "j" {
                    self.offset = Some(0);
                }
            }
            _ => {}
        }
        1
    }

    fn instant(&self) -> Option<DateTime<Utc>> {
        let year = self.year?;
        let year = match year.digits {
            // RFC 5322 section 4.3: 00-49 are 2000-2049, 50-99 are 1950-1999, three digits add 1900.
            1 | 2 if year.value < 50 => year.value + 2000,
            1 | 2 => year.value + 1900,
            3 => year.value + 1900,
            _ => year.value,
        };
        let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, self.month?, self.day?)?;
        let (mut hour, minute, second) = self.time?;
        match self.afternoon {
            Some(false) if hour == 12 => hour = 0,
            Some(true) if hour < 12 => hour += 12,
            _ => {}
        }
        // A leap second is read as the second before it.
        let time = NaiveTime::from_hms_opt(hour, minute, second.min(59))?;
        let zone = FixedOffset::east_opt(self.offset.unwrap_or(0) * 60)?;
        let local = NaiveDateTime::new(date, time);
        zone.from_local_datetime(&local).single().map(|t| t.with_timezone(&Utc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_nest_and_escape_and_an_unclosed_one_runs_to_the_end() {
        let words: Vec<String> =
            without_comments("a (b (c) \\) d)e (f").split_whitespace().map(str::to_owned).collect();
        assert_eq!(words, ["a", "e"]);
    }

    #[test]
    fn an_offset_beyond_a_day_is_no_offset() {
        assert_eq!(offset("2400", false), None);
        assert_eq!(offset("0160", true), None);
        assert_eq!(offset("0130", true), Some(-90));
    }
}
