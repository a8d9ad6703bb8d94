//! The search query language, as Gmail's search box speaks it: free words and "phrases",
//! `field:value` operators, `-` for not, `OR` between alternatives, parentheses to group. Words
//! side by side must all match. A malformed query is an error that says what is wrong and where,
//! for the search box to show; it is never run half-understood.

use std::fmt;

mod plan;
pub mod text;

pub use plan::{Cond, Field, Plan, TextExpr};

/// A parsed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// Every part must match.
    And(Vec<Query>),
    /// One part at least must match.
    Or(Vec<Query>),
    Not(Box<Query>),
    Term(Term),
}

/// One condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// A word anywhere in the message (subject, people, text, attachment names).
    Word(String),
    /// Words next to each other, in this order.
    Phrase(String),
    From(String),
    To(String),
    Cc(String),
    Subject(String),
    HasAttachment,
    Filename(String),
    Is(Flag),
    /// A folder or label kind or name: `in:inbox`, `in:sent`, `in:"Clients 2024"`.
    In(String),
    Label(String),
    /// One of the user's mailboxes, by address.
    Account(String),
    /// Received before the start of the day.
    Before(Date),
    /// Received on or after the day.
    After(Date),
    /// Larger than this many bytes.
    Larger(u64),
    Smaller(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    Unread,
    Read,
    Starred,
}

/// A calendar day, checked (`YYYY-MM-DD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

impl Date {
    pub fn new(year: u16, month: u8, day: u8) -> Option<Date> {
        let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        (year >= 1970 && (1..=days).contains(&day)).then_some(Date { year, month, day })
    }

    fn parse(text: &str) -> Option<Date> {
        let mut parts = text.split(['-', '/']);
        let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || year.len() != 4 || month.is_empty() || month.len() > 2 || day.is_empty() {
            return None;
        }
        Date::new(year.parse().ok()?, month.parse().ok()?, day.parse().ok()?)
    }

    /// Days since 1970-01-01 (for a Unix time of the day's start, in UTC).
    pub fn days_since_epoch(self) -> i64 {
        // Howard Hinnant's days_from_civil.
        let (y, m, d) = (i64::from(self.year), i64::from(self.month), i64::from(self.day));
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// What is wrong with a query, and at which character it was noticed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("the quote opened at character {0} is not closed")]
    UnclosedQuote(usize),
    #[error("the parenthesis opened at character {0} is not closed")]
    UnclosedParen(usize),
    #[error("the parenthesis at character {0} closes nothing")]
    StrayParen(usize),
    #[error("{field}: needs a value (character {at})")]
    MissingValue { field: String, at: usize },
    #[error("{value:?} is not a date: write it as YYYY-MM-DD")]
    BadDate { value: String },
    #[error("{value:?} is not a size: write it as a number, optionally with K, M or G (5M)")]
    BadSize { value: String },
    #[error("is:{value} is not known: use is:unread, is:read or is:starred")]
    BadFlag { value: String },
    #[error("has:{value} is not known: use has:attachment")]
    BadHas { value: String },
    #[error("OR needs something on both sides (character {0})")]
    DanglingOr(usize),
    #[error("- needs something to leave out (character {0})")]
    DanglingNot(usize),
    #[error("the query is empty")]
    Empty,
    #[error("parentheses and - are nested more than {MAX_NESTING} deep (character {0})")]
    TooDeep(usize),
}

/// The longest query taken, in characters.
pub const QUERY_MAX: usize = 1_000;

/// How deep parentheses and `-` may nest. A person nests two or three; a query nested hundreds
/// deep (`------a`) is not a search, and would pass the databases' own limits on an expression.
pub const MAX_NESTING: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Open(usize),
    Close(usize),
    Or(usize),
    Not(usize),
    /// `field:` with its value, or a bare word (`field` empty); `quoted` when the value was in
    /// quotes (a phrase, or a value with spaces).
    Item {
        at: usize,
        field: String,
        value: String,
        quoted: bool,
    },
}

fn tokens(input: &str) -> Result<Vec<Token>, QueryError> {
    let chars: Vec<char> = input.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let quoted = |i: &mut usize| -> Result<String, QueryError> {
        let open = *i;
        *i += 1;
        let start = *i;
        while *i < chars.len() && chars[*i] != '"' {
            *i += 1;
        }
        if *i == chars.len() {
            return Err(QueryError::UnclosedQuote(open));
        }
        let text: String = chars[start..*i].iter().collect();
        *i += 1;
        Ok(text)
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Token::Open(i));
                i += 1;
            }
            ')' => {
                out.push(Token::Close(i));
                i += 1;
            }
            '-' if i + 1 < chars.len() && !chars[i + 1].is_whitespace() => {
                out.push(Token::Not(i));
                i += 1;
            }
            '"' => {
                let at = i;
                let value = quoted(&mut i)?;
                // An empty phrase asks for nothing.
                if !value.trim().is_empty() {
                    out.push(Token::Item { at, field: String::new(), value, quoted: true });
                }
            }
            _ => {
                let at = i;
                let start = i;
                while i < chars.len() && !chars[i].is_whitespace() && !matches!(chars[i], '(' | ')' | '"' | ':') {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                if i < chars.len() && chars[i] == ':' {
                    i += 1;
                    let field = word.to_lowercase();
                    if i < chars.len() && chars[i] == '"' {
                        let value = quoted(&mut i)?;
                        out.push(Token::Item { at, field, value, quoted: true });
                    } else {
                        let start = i;
                        // A quote ends the value as it ends a word: the language has no way to
                        // write a quote inside a value, so none may be read into one.
                        while i < chars.len() && !chars[i].is_whitespace() && !matches!(chars[i], '(' | ')' | '"') {
                            i += 1;
                        }
                        let value: String = chars[start..i].iter().collect();
                        out.push(Token::Item { at, field, value, quoted: false });
                    }
                } else if word == "OR" {
                    out.push(Token::Or(at));
                } else if word.chars().any(char::is_alphanumeric) {
                    out.push(Token::Item { at, field: String::new(), value: word, quoted: false });
                } else if !word.is_empty() {
                    // Punctuation alone ("-" between spaces, "…") is no word of any text: the
                    // index holds letters and digits only, so it asks for nothing, and neither
                    // does a `-` written right before it.
                    let mut next = at;
                    while let Some(Token::Not(not)) = out.last() {
                        if *not + 1 != next {
                            break;
                        }
                        next = *not;
                        out.pop();
                    }
                } else {
                    // A lone quote or parenthesis was handled above; anything else is skipped.
                    i += 1;
                }
            }
        }
    }
    Ok(out)
}

fn size(value: &str) -> Option<u64> {
    let upper = value.trim().to_ascii_uppercase();
    let upper = upper.strip_suffix('B').unwrap_or(&upper);
    let (number, unit) = match upper.chars().last()? {
        'K' => (&upper[..upper.len() - 1], 1024),
        'M' => (&upper[..upper.len() - 1], 1024 * 1024),
        'G' => (&upper[..upper.len() - 1], 1024 * 1024 * 1024),
        _ => (upper, 1),
    };
    number.parse::<u64>().ok()?.checked_mul(unit)
}

fn term(at: usize, field: &str, value: String, quoted: bool) -> Result<Term, QueryError> {
    if field.is_empty() {
        return Ok(if quoted { Term::Phrase(value) } else { Term::Word(value) });
    }
    let known = [
        "from", "to", "cc", "subject", "has", "filename", "is", "in", "label", "account", "before", "after", "larger",
        "smaller",
    ];
    if !known.contains(&field) {
        // Not an operator: the text as typed (a URL, a time such as 10:30).
        let text = format!("{field}:{value}");
        return Ok(if quoted { Term::Phrase(text) } else { Term::Word(text) });
    }
    if value.trim().is_empty() {
        return Err(QueryError::MissingValue { field: field.to_owned(), at });
    }
    Ok(match field {
        "from" => Term::From(value),
        "to" => Term::To(value),
        "cc" => Term::Cc(value),
        "subject" => Term::Subject(value),
        "filename" => Term::Filename(value),
        "in" => Term::In(value),
        "label" => Term::Label(value),
        "account" => Term::Account(value),
        "has" => match value.to_lowercase().as_str() {
            "attachment" | "attachments" => Term::HasAttachment,
            _ => return Err(QueryError::BadHas { value }),
        },
        "is" => Term::Is(match value.to_lowercase().as_str() {
            "unread" => Flag::Unread,
            "read" => Flag::Read,
            "starred" => Flag::Starred,
            _ => return Err(QueryError::BadFlag { value }),
        }),
        "before" | "after" => {
            let date = Date::parse(&value).ok_or_else(|| QueryError::BadDate { value: value.clone() })?;
            if field == "before" { Term::Before(date) } else { Term::After(date) }
        }
        _ => {
            let bytes = size(&value).ok_or_else(|| QueryError::BadSize { value: value.clone() })?;
            if field == "larger" { Term::Larger(bytes) } else { Term::Smaller(bytes) }
        }
    })
}

struct Parser {
    tokens: Vec<Token>,
    next: usize,
    /// Parentheses and `-` open around the token being read.
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next)
    }

    /// Groups side by side, all of which must match, up to a closing parenthesis or the end.
    fn and(&mut self) -> Result<Query, QueryError> {
        let mut parts = Vec::new();
        loop {
            match self.peek() {
                None | Some(Token::Close(_)) => break,
                Some(Token::Or(at)) => return Err(QueryError::DanglingOr(*at)),
                Some(_) => parts.push(self.or()?),
            }
        }
        match parts.len() {
            0 => Err(QueryError::Empty),
            1 => Ok(parts.remove(0)),
            _ => Ok(Query::And(parts)),
        }
    }

    /// `unary (OR unary)*`: OR binds tighter than the space between words, as in Gmail, so
    /// `a b OR c` is `a (b OR c)`.
    fn or(&mut self) -> Result<Query, QueryError> {
        let mut parts = vec![self.unary()?];
        while let Some(Token::Or(at)) = self.peek().cloned() {
            self.next += 1;
            match self.peek() {
                None | Some(Token::Close(_) | Token::Or(_)) => return Err(QueryError::DanglingOr(at)),
                _ => parts.push(self.unary()?),
            }
        }
        Ok(if parts.len() == 1 { parts.remove(0) } else { Query::Or(parts) })
    }

    fn unary(&mut self) -> Result<Query, QueryError> {
        let token = self.tokens[self.next].clone();
        self.next += 1;
        match token {
            Token::Not(at) => self.deeper(at, |p| match p.peek() {
                None | Some(Token::Close(_) | Token::Or(_)) => Err(QueryError::DanglingNot(at)),
                _ => Ok(Query::Not(Box::new(p.unary()?))),
            }),
            Token::Open(at) => self.deeper(at, |p| {
                if matches!(p.peek(), Some(Token::Close(_))) {
                    p.next += 1;
                    return Err(QueryError::Empty);
                }
                let inner = p.and()?;
                match p.peek() {
                    Some(Token::Close(_)) => {
                        p.next += 1;
                        Ok(inner)
                    }
                    _ => Err(QueryError::UnclosedParen(at)),
                }
            }),
            Token::Item { at, field, value, quoted } => Ok(Query::Term(term(at, &field, value, quoted)?)),
            Token::Close(at) => Err(QueryError::StrayParen(at)),
            Token::Or(at) => Err(QueryError::DanglingOr(at)),
        }
    }

    /// Reads what a `-` or a parenthesis at `at` holds, one level deeper.
    fn deeper(
        &mut self,
        at: usize,
        read: impl FnOnce(&mut Parser) -> Result<Query, QueryError>,
    ) -> Result<Query, QueryError> {
        if self.depth == MAX_NESTING {
            return Err(QueryError::TooDeep(at));
        }
        self.depth += 1;
        let read = read(self);
        self.depth -= 1;
        read
    }
}

impl Query {
    /// Parses what the user typed.
    pub fn parse(input: &str) -> Result<Query, QueryError> {
        // Control characters (a pasted tab or line break, a NUL) separate words like spaces: no
        // index may be handed one, and none means anything in a query.
        let input: String = input.chars().take(QUERY_MAX).map(|c| if c.is_control() { ' ' } else { c }).collect();
        let tokens = tokens(&input)?;
        if tokens.is_empty() {
            return Err(QueryError::Empty);
        }
        let mut parser = Parser { tokens, next: 0, depth: 0 };
        let query = parser.and()?;
        match parser.peek() {
            None => Ok(query),
            Some(Token::Close(at)) => Err(QueryError::StrayParen(*at)),
            // `and` stops only at a closing parenthesis or the end.
            Some(_) => Err(QueryError::Empty),
        }
    }
}

fn value(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    if text.is_empty() || text.chars().any(|c| c.is_whitespace() || matches!(c, '(' | ')' | '"' | ':')) {
        write!(f, "\"{text}\"")
    } else {
        f.write_str(text)
    }
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = |f: &mut fmt::Formatter<'_>, name: &str, text: &str| {
            write!(f, "{name}:")?;
            value(f, text)
        };
        match self {
            Term::Word(text) => f.write_str(text),
            Term::Phrase(text) => write!(f, "\"{text}\""),
            Term::From(text) => field(f, "from", text),
            Term::To(text) => field(f, "to", text),
            Term::Cc(text) => field(f, "cc", text),
            Term::Subject(text) => field(f, "subject", text),
            Term::HasAttachment => f.write_str("has:attachment"),
            Term::Filename(text) => field(f, "filename", text),
            Term::Is(Flag::Unread) => f.write_str("is:unread"),
            Term::Is(Flag::Read) => f.write_str("is:read"),
            Term::Is(Flag::Starred) => f.write_str("is:starred"),
            Term::In(text) => field(f, "in", text),
            Term::Label(text) => field(f, "label", text),
            Term::Account(text) => field(f, "account", text),
            Term::Before(date) => write!(f, "before:{date}"),
            Term::After(date) => write!(f, "after:{date}"),
            Term::Larger(bytes) => write!(f, "larger:{bytes}"),
            Term::Smaller(bytes) => write!(f, "smaller:{bytes}"),
        }
    }
}

/// The query written back in the language, parenthesised where grouping needs it.
impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let part = |f: &mut fmt::Formatter<'_>, q: &Query| match q {
            Query::And(_) | Query::Or(_) => write!(f, "({q})"),
            _ => write!(f, "{q}"),
        };
        match self {
            Query::Term(term) => write!(f, "{term}"),
            Query::Not(inner) => {
                f.write_str("-")?;
                part(f, inner)
            }
            Query::And(parts) | Query::Or(parts) => {
                let joiner = if matches!(self, Query::And(_)) { " " } else { " OR " };
                for (n, q) in parts.iter().enumerate() {
                    if n > 0 {
                        f.write_str(joiner)?;
                    }
                    part(f, q)?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn word(w: &str) -> Query {
        Query::Term(Term::Word(w.to_owned()))
    }

    #[test]
    fn words_phrases_and_operators() {
        let q = Query::parse(r#"invoice "due date" from:petr@example.cz has:attachment is:Unread"#).unwrap();
        assert_eq!(
            q,
            Query::And(vec![
                word("invoice"),
                Query::Term(Term::Phrase("due date".into())),
                Query::Term(Term::From("petr@example.cz".into())),
                Query::Term(Term::HasAttachment),
                Query::Term(Term::Is(Flag::Unread)),
            ])
        );
        let q = Query::parse(r#"subject:"Q3 report" in:inbox label:Clients account:ann@example.test"#).unwrap();
        assert_eq!(q.to_string(), r#"subject:"Q3 report" in:inbox label:Clients account:ann@example.test"#);
    }

    #[test]
    fn dates_and_sizes() {
        let q = Query::parse("after:2024-02-29 before:2024/3/1 larger:5M smaller:100k").unwrap();
        assert_eq!(
            q,
            Query::And(vec![
                Query::Term(Term::After(Date::new(2024, 2, 29).unwrap())),
                Query::Term(Term::Before(Date::new(2024, 3, 1).unwrap())),
                Query::Term(Term::Larger(5 * 1024 * 1024)),
                Query::Term(Term::Smaller(100 * 1024)),
            ])
        );
        assert_eq!(Date::new(2024, 3, 1).unwrap().days_since_epoch(), 19_783);
        assert_eq!(Date::new(1970, 1, 1).unwrap().days_since_epoch(), 0);
    }

    #[test]
    fn not_or_and_parentheses_bind_as_in_gmail() {
        // OR binds tighter than the space between words: `c OR d` is one group.
        let q = Query::parse("-spam (from:a OR from:b) c OR d").unwrap();
        assert_eq!(
            q,
            Query::And(vec![
                Query::Not(Box::new(word("spam"))),
                Query::Or(vec![Query::Term(Term::From("a".into())), Query::Term(Term::From("b".into()))]),
                Query::Or(vec![word("c"), word("d")]),
            ])
        );
        let grouped = Query::parse("(a b) OR c").unwrap();
        assert_eq!(grouped, Query::Or(vec![Query::And(vec![word("a"), word("b")]), word("c")]));
        // A hyphen inside a word is part of it; `or` in lower case is a word.
        assert_eq!(Query::parse("e-mail or").unwrap(), Query::And(vec![word("e-mail"), word("or")]));
    }

    #[test]
    fn unknown_operators_are_words() {
        assert_eq!(Query::parse("10:30").unwrap(), word("10:30"));
        assert_eq!(Query::parse("https://example.org").unwrap(), word("https://example.org"));
    }

    #[test]
    fn malformed_queries_say_what_is_wrong() {
        let error = |q: &str| Query::parse(q).unwrap_err();
        assert_eq!(error(r#"subject:"open"#), QueryError::UnclosedQuote(8));
        assert_eq!(error("(a OR b"), QueryError::UnclosedParen(0));
        assert_eq!(error("a)"), QueryError::StrayParen(1));
        assert_eq!(error("from: x"), QueryError::MissingValue { field: "from".into(), at: 0 });
        assert_eq!(error("before:2024-02-30"), QueryError::BadDate { value: "2024-02-30".into() });
        assert_eq!(error("larger:huge"), QueryError::BadSize { value: "huge".into() });
        assert_eq!(error("is:important"), QueryError::BadFlag { value: "important".into() });
        assert_eq!(error("has:drive"), QueryError::BadHas { value: "drive".into() });
        assert_eq!(error("a OR"), QueryError::DanglingOr(2));
        assert_eq!(error("OR a"), QueryError::DanglingOr(0));
        assert_eq!(error("a -)"), QueryError::DanglingNot(2));
        assert_eq!(error("  "), QueryError::Empty);
        assert_eq!(error("()"), QueryError::Empty);
    }

    fn term_strategy() -> impl Strategy<Value = Term> {
        let text = "[a-zA-Z0-9@._ ěščřžýáíé-]{1,12}".prop_filter("not blank, not OR", |s| {
            !s.trim().is_empty() && s.trim() != "OR" && !s.starts_with('-') && !s.contains(" -")
        });
        let plain = "[a-z0-9ěščř]{1,10}".prop_filter("not OR", |s| s != "OR");
        prop_oneof![
            plain.prop_map(Term::Word),
            text.clone().prop_map(|s| Term::Phrase(s.trim().to_owned())),
            text.clone().prop_map(|s| Term::From(s.trim().to_owned())),
            text.clone().prop_map(|s| Term::Subject(s.trim().to_owned())),
            text.prop_map(|s| Term::Label(s.trim().to_owned())),
            Just(Term::HasAttachment),
            Just(Term::Is(Flag::Starred)),
            (1970u16..2100, 1u8..13, 1u8..29).prop_map(|(y, m, d)| Term::Before(Date::new(y, m, d).unwrap())),
            (0u64..1_000_000_000).prop_map(Term::Larger),
        ]
    }

    fn query_strategy() -> impl Strategy<Value = Query> {
        term_strategy().prop_map(Query::Term).prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 2..4).prop_map(Query::And),
                prop::collection::vec(inner.clone(), 2..4).prop_map(Query::Or),
                inner.prop_map(|q| Query::Not(Box::new(q))),
            ]
        })
    }

    /// Flattens nested groups of the same kind, which the text cannot tell apart.
    fn normal(q: Query) -> Query {
        match q {
            Query::And(parts) => Query::And(
                parts
                    .into_iter()
                    .map(normal)
                    .flat_map(|p| if let Query::And(inner) = p { inner } else { vec![p] })
                    .collect(),
            ),
            Query::Or(parts) => Query::Or(
                parts
                    .into_iter()
                    .map(normal)
                    .flat_map(|p| if let Query::Or(inner) = p { inner } else { vec![p] })
                    .collect(),
            ),
            Query::Not(inner) => Query::Not(Box::new(normal(*inner))),
            term => term,
        }
    }

    proptest! {
        /// Any query written back reads as the same query.
        #[test]
        fn a_written_query_parses_back_to_itself(q in query_strategy()) {
            let text = q.to_string();
            let parsed = Query::parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
            prop_assert_eq!(normal(parsed), normal(q), "{}", text);
        }

    }

    /// Characters that have broken text handling somewhere: NUL and other controls, combining
    /// marks, right-to-left marks and overrides, emoji and other astral characters, CJK, Czech,
    /// the query language's own punctuation.
    pub(crate) fn hostile_char() -> impl Strategy<Value = char> {
        prop_oneof![
            3 => any::<char>(),
            3 => prop::sample::select(vec![
                '\0', '\t', '\n', '\r', '\u{7f}', '\u{85}', '\u{200b}', '\u{200f}', '\u{202e}', '\u{2066}', '\u{fe0f}',
                '\u{301}', '\u{30c}', '\u{fffd}', '😀', '👍', '🏳', 'ž', 'Ř', 'ů', 'İ', 'ß', 'ẞ', 'ﬁ', 'ש', 'ع', '中', '日',
                '"', '(', ')', '-', ':', '@', '.', '_', '*', '\'', '\\', ' ', 'O', 'R', 'a', '1',
            ]),
        ]
    }

    pub(crate) fn hostile_text(max: usize) -> impl Strategy<Value = String> {
        prop::collection::vec(hostile_char(), 0..max).prop_map(|chars| chars.into_iter().collect())
    }

    /// Text made of the query language's own pieces, so that most of it parses.
    fn query_like() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("-"),
            Just("("),
            Just(")"),
            Just("\""),
            Just(" OR "),
            Just(" "),
            Just("from:"),
            Just("is:unread"),
            Just("in:trash"),
            Just("larger:5M"),
            Just("before:2024-01-01"),
            Just("invoice"),
            Just("přílohy"),
            Just("has:attachment"),
            Just("subject:"),
            Just("ž"),
            Just("\0"),
            Just("a_b"),
        ];
        prop::collection::vec(piece, 0..60).prop_map(|parts| parts.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(10_000))]

        /// Whatever is typed, the parser answers: a query or an error, never a panic; and a query
        /// it gives can be planned.
        #[test]
        fn any_input_gives_a_query_or_an_error(input in hostile_text(120)) {
            if let Ok(query) = Query::parse(&input) {
                let _ = crate::search::Plan::new(&query);
            }
        }

        /// The same for text made of the language's own operators, nested and broken.
        #[test]
        fn any_arrangement_of_operators_gives_a_query_or_an_error(input in query_like()) {
            match Query::parse(&input) {
                Ok(query) => {
                    let _ = crate::search::Plan::new(&query);
                    let text = query.to_string();
                    prop_assert!(Query::parse(&text).is_ok(), "{} wrote back as {}", input, text);
                }
                Err(error) => prop_assert!(!error.to_string().is_empty()),
            }
        }
    }

    #[test]
    fn nesting_past_the_limit_is_an_error_that_says_so() {
        let deep = format!("{}a", "-".repeat(999));
        assert_eq!(Query::parse(&deep), Err(QueryError::TooDeep(MAX_NESTING)));
        let parens = format!("{}a{}", "(".repeat(40), ")".repeat(40));
        assert_eq!(Query::parse(&parens), Err(QueryError::TooDeep(MAX_NESTING)));
        let fine = format!("{}a{}", "(".repeat(MAX_NESTING), ")".repeat(MAX_NESTING));
        assert_eq!(Query::parse(&fine), Ok(word("a")));
        assert!(QueryError::TooDeep(3).to_string().contains("16 deep"));
    }

    #[test]
    fn every_query_the_parser_took_writes_back_as_one_it_takes() {
        // Inputs property tests found: a quote inside a value, punctuation alone after a `-`.
        for input in ["\"\"in:trash\"larger:5M\"", "(- OR - )\"from:\"", "from:a\"b\"", "-- after:2024-01-01", "x ---"]
        {
            if let Ok(query) = Query::parse(input) {
                let text = query.to_string();
                assert!(Query::parse(&text).is_ok(), "{input} wrote back as {text}");
            }
        }
        assert_eq!(Query::parse("- - x").unwrap(), word("x"));
    }

    #[test]
    fn control_characters_separate_words() {
        assert_eq!(Query::parse("a\0b\tc").unwrap(), Query::And(vec![word("a"), word("b"), word("c")]));
        assert_eq!(Query::parse("\"a\nb\"").unwrap(), Query::Term(Term::Phrase("a b".into())));
        assert_eq!(Query::parse("\0"), Err(QueryError::Empty));
    }
}
