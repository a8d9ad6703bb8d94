//! The `q` parameter: a subset of Gmail's search operators. Terms are ANDed; `-term` negates,
//! `a OR b` (also `{a b}`) alternates. Supported: `from:`, `to:`, `cc:`, `bcc:`, `subject:`,
//! `label:`, `in:`, `is:`, `category:`, `has:attachment`, `filename:`, `after:`/`before:` (also
//! `newer:`/`older:`), `newer_than:`/`older_than:`, `larger:`/`smaller:`, `rfc822msgid:`, and
//! plain words (searched in the subject, addresses and body). Dates like `2024/01/31` are
//! midnight Pacific Standard Time, as the search guide says; epoch seconds are exact.

use super::mailbox::{Mailbox, Message};

#[derive(Debug, Clone, PartialEq)]
enum Term {
    Not(Box<Term>),
    Any(Vec<Term>),
    Field(String, String),
    Word(String),
}

#[derive(Debug, Default)]
pub struct Query {
    terms: Vec<Term>,
}

/// Splits on whitespace outside double quotes; quotes are dropped.
fn tokens(q: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in q.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn term(token: &str) -> Term {
    if let Some(rest) = token.strip_prefix('-').filter(|r| !r.is_empty()) {
        return Term::Not(Box::new(term(rest)));
    }
    match token.split_once(':') {
        Some((field, value)) if !field.is_empty() && field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
            Term::Field(field.to_ascii_lowercase(), value.to_lowercase())
        }
        _ => Term::Word(token.to_lowercase()),
    }
}

/// `2024/01/31`, `2024-1-31` (midnight PST) or epoch seconds, as epoch milliseconds.
fn date_ms(value: &str) -> Option<i64> {
    if let Ok(seconds) = value.parse::<i64>() {
        return Some(seconds * 1000);
    }
    let date = chrono::NaiveDate::parse_from_str(&value.replace('-', "/"), "%Y/%m/%d").ok()?;
    let pst = chrono::FixedOffset::west_opt(8 * 3600)?;
    Some(date.and_hms_opt(0, 0, 0)?.and_local_timezone(pst).single()?.timestamp_millis())
}

/// `3d`, `2m`, `1y` (and `h`) as milliseconds.
fn span_ms(value: &str) -> Option<i64> {
    let (number, unit) = value.split_at(value.len().checked_sub(1)?);
    let number: i64 = number.parse().ok()?;
    let day = 86_400_000;
    Some(
        number
            * match unit {
                "h" => 3_600_000,
                "d" => day,
                "m" => 30 * day,
                "y" => 365 * day,
                _ => return None,
            },
    )
}

/// `10k`, `2M`, `5000` as bytes.
fn size(value: &str) -> Option<usize> {
    let lower = value.to_ascii_lowercase();
    let (number, factor) = match lower.strip_suffix('k').or_else(|| lower.strip_suffix("kb")) {
        Some(n) => (n.to_owned(), 1024),
        None => match lower.strip_suffix('m').or_else(|| lower.strip_suffix("mb")) {
            Some(n) => (n.to_owned(), 1024 * 1024),
            None => (lower.clone(), 1),
        },
    };
    number.parse::<usize>().ok().map(|n| n * factor)
}

/// The system label an `in:`/`is:` word stands for.
fn system_label(word: &str) -> Option<&'static str> {
    Some(match word {
        "inbox" => "INBOX",
        "sent" => "SENT",
        "draft" | "drafts" => "DRAFT",
        "spam" => "SPAM",
        "trash" => "TRASH",
        "starred" => "STARRED",
        "important" => "IMPORTANT",
        "unread" => "UNREAD",
        "chats" | "chat" => "CHAT",
        _ => return None,
    })
}

impl Query {
    pub fn parse(q: &str) -> Query {
        let mut terms: Vec<Term> = Vec::new();
        let mut pending_or = false;
        let mut group: Option<Vec<Term>> = None;
        for token in tokens(q) {
            if token == "OR" {
                pending_or = !terms.is_empty();
                continue;
            }
            let mut token = token.as_str();
            if let Some(rest) = token.strip_prefix('{') {
                group = Some(Vec::new());
                token = rest;
            }
            let closes = token.ends_with('}') && group.is_some();
            let token = token.trim_end_matches('}').trim_matches(['(', ')']);
            let next = (!token.is_empty()).then(|| term(token));
            if let Some(members) = group.as_mut() {
                members.extend(next);
                if closes {
                    terms.push(Term::Any(group.take().unwrap_or_default()));
                }
                continue;
            }
            let Some(next) = next else { continue };
            match terms.pop() {
                Some(Term::Any(mut alternatives)) if pending_or => {
                    alternatives.push(next);
                    terms.push(Term::Any(alternatives));
                }
                Some(previous) if pending_or => terms.push(Term::Any(vec![previous, next])),
                Some(previous) => {
                    terms.push(previous);
                    terms.push(next);
                }
                None => terms.push(next),
            }
            pending_or = false;
        }
        if let Some(members) = group {
            terms.push(Term::Any(members));
        }
        Query { terms }
    }

    /// Whether the query asks for spam or trash itself (`in:spam`, `in:anywhere`, …), which lifts
    /// the default exclusion of those labels.
    pub fn reaches_spam_or_trash(&self) -> bool {
        fn reaches(term: &Term) -> bool {
            match term {
                Term::Field(f, v) if f == "in" || f == "label" || f == "is" => {
                    matches!(v.as_str(), "spam" | "trash" | "anywhere")
                }
                Term::Any(terms) => terms.iter().any(reaches),
                _ => false,
            }
        }
        self.terms.iter().any(reaches)
    }

    pub fn matches(&self, mailbox: &Mailbox, message: &Message, now_ms: i64) -> bool {
        self.terms.iter().all(|t| matches(t, mailbox, message, now_ms))
    }
}

fn addresses_contain(list: &[crate::mime::Mailbox], value: &str) -> bool {
    list.iter()
        .any(|a| a.address.contains(value) || a.name.as_deref().is_some_and(|n| n.to_lowercase().contains(value)))
}

fn matches(term: &Term, mailbox: &Mailbox, m: &Message, now_ms: i64) -> bool {
    let s = &m.summary;
    match term {
        Term::Not(inner) => !matches(inner, mailbox, m, now_ms),
        Term::Any(terms) => terms.iter().any(|t| matches(t, mailbox, m, now_ms)),
        Term::Word(word) => {
            s.subject.to_lowercase().contains(word)
                || addresses_contain(s.from.as_slice(), word)
                || addresses_contain(&s.to, word)
                || addresses_contain(&s.cc, word)
                || s.text.as_deref().or(s.html.as_deref()).is_some_and(|t| t.to_lowercase().contains(word))
        }
        Term::Field(field, value) => {
            let value = value.as_str();
            match field.as_str() {
                "from" => addresses_contain(s.from.as_slice(), value),
                "to" => {
                    addresses_contain(&s.to, value)
                        || addresses_contain(&s.cc, value)
                        || addresses_contain(&s.bcc, value)
                }
                "cc" => addresses_contain(&s.cc, value),
                "bcc" => addresses_contain(&s.bcc, value),
                "subject" => s.subject.to_lowercase().contains(value),
                "rfc822msgid" => {
                    s.message_id.as_deref().is_some_and(|id| id.eq_ignore_ascii_case(value.trim_matches(['<', '>'])))
                }
                "in" if value == "anywhere" => true,
                "in" | "is" => match value {
                    "read" => !m.has("UNREAD"),
                    other => system_label(other).is_some_and(|l| m.has(l)),
                },
                "label" => {
                    let spaced = value.replace(['-', '_'], " ");
                    mailbox
                        .labels()
                        .iter()
                        .filter(|l| {
                            let name = l.name.to_lowercase();
                            name == value || name == spaced || l.id.eq_ignore_ascii_case(value)
                        })
                        .any(|l| m.has(&l.id))
                }
                "has" => match value {
                    "attachment" => !s.attachments.is_empty(),
                    "userlabels" => m.labels.iter().any(|l| l.starts_with("Label_")),
                    "nouserlabels" => !m.labels.iter().any(|l| l.starts_with("Label_")),
                    _ => false,
                },
                "category" => m.has(&format!("CATEGORY_{}", value.to_ascii_uppercase())),
                "filename" => s.attachments.iter().any(|a| a.name.to_lowercase().contains(value)),
                "after" | "newer" => date_ms(value).is_some_and(|t| m.internal_date_ms >= t),
                "before" | "older" => date_ms(value).is_some_and(|t| m.internal_date_ms < t),
                "newer_than" => span_ms(value).is_some_and(|d| m.internal_date_ms >= now_ms - d),
                "older_than" => span_ms(value).is_some_and(|d| m.internal_date_ms < now_ms - d),
                "larger" => size(value).is_some_and(|n| m.raw.len() > n),
                "smaller" => size(value).is_some_and(|n| m.raw.len() < n),
                _ => matches(&Term::Word(format!("{field}:{value}")), mailbox, m, now_ms),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_parse_into_terms() {
        let q = Query::parse("from:ann -is:unread subject:\"big plans\" a OR b");
        assert_eq!(q.terms.len(), 4);
        assert_eq!(q.terms[2], Term::Field("subject".into(), "big plans".into()));
        assert_eq!(q.terms[3], Term::Any(vec![Term::Word("a".into()), Term::Word("b".into())]));
        assert!(Query::parse("in:anywhere").reaches_spam_or_trash());
    }

    #[test]
    fn dates_are_pacific_midnight_or_epoch_seconds() {
        assert_eq!(date_ms("2024/01/31"), Some(1_706_688_000_000));
        assert_eq!(date_ms("1700000000"), Some(1_700_000_000_000));
        assert_eq!(span_ms("2d"), Some(172_800_000));
        assert_eq!(size("1k"), Some(1024));
    }
}
