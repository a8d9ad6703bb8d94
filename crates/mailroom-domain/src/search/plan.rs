//! How a parsed [`Query`] is run: the part a full-text index answers, which drives the search,
//! and the conditions checked on each message it finds. The store turns a [`Plan`] into SQL for
//! its backend; this module decides nothing about SQL.

use super::{Date, Flag, Query, Term, text};

/// Which text of a message a word is looked for in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// Anywhere: subject, people, file names, body.
    Any,
    Subject,
    /// The From address and name.
    From,
    To,
    Cc,
    Filename,
    /// The subject, the people or the file names, not the body: where a word makes a message a
    /// better match (see [`Plan::headline`]).
    Headline,
}

/// A boolean expression a full-text index answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextExpr {
    /// The word or phrase (its words in this order) in the field. `text` is what the user typed;
    /// it has at least one word.
    Match {
        field: Field,
        text: String,
    },
    And(Vec<TextExpr>),
    Or(Vec<TextExpr>),
    /// The first, but none of the others.
    AndNot(Box<TextExpr>, Vec<TextExpr>),
}

/// A condition on one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    /// The full-text index, asked about this message.
    Text(TextExpr),
    HasAttachment,
    Is(Flag),
    /// In a folder or label of this kind or name.
    In(String),
    Label(String),
    Account(String),
    Before(Date),
    After(Date),
    Larger(u64),
    Smaller(u64),
    /// All of them (never empty).
    And(Vec<Cond>),
    /// One of them (never empty).
    Or(Vec<Cond>),
    Not(Box<Cond>),
}

/// A query ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// What the index finds, newest first; every result matches it. `None` when the query has no
    /// word to look up (only flags, places and dates): then the store walks the mail by date.
    pub text: Option<TextExpr>,
    /// `text` with its free words looked for in the subject, people and file names only: the
    /// messages it finds rank above the others. `None` when that would change nothing.
    pub headline: Option<TextExpr>,
    /// Conditions every result meets besides `text`.
    pub conditions: Vec<Cond>,
    /// Whether trash and spam are searched too (the query asks for `in:trash`, `in:spam` or
    /// `in:anywhere`); else, as in Gmail, they are left out.
    pub anywhere: bool,
    /// The words and phrases to mark in snippets, folded.
    pub marks: Vec<Vec<String>>,
}

impl Plan {
    pub fn new(query: &Query) -> Plan {
        let conjuncts = match query {
            Query::And(parts) => parts.iter().collect(),
            other => vec![other],
        };
        let (mut positive, mut negative, mut conditions) = (Vec::new(), Vec::new(), Vec::new());
        for part in conjuncts {
            if let Some(expr) = indexable(part) {
                positive.push(expr);
            } else if let Query::Not(inner) = part
                && let Some(expr) = indexable(inner)
            {
                negative.push(expr);
            } else {
                conditions.extend(condition(part));
            }
        }
        let text = if positive.is_empty() {
            conditions.extend(negative.into_iter().map(|n| Cond::Not(Box::new(Cond::Text(n)))));
            None
        } else {
            let all = if positive.len() == 1 { positive.remove(0) } else { TextExpr::And(positive) };
            Some(if negative.is_empty() { all } else { TextExpr::AndNot(Box::new(all), negative) })
        };
        let headline = text.as_ref().and_then(|t| {
            let narrowed = headline(t);
            (narrowed != *t).then_some(narrowed)
        });
        let mut marks = Vec::new();
        collect_marks(query, &mut marks);
        Plan { text, headline, conditions, anywhere: anywhere(query), marks }
    }
}

/// The expression of a text term; `None` for any other term, and for a word without letters or
/// digits (`--`), which matches everything and is left out.
fn text_match(term: &Term) -> Option<TextExpr> {
    let (field, value) = match term {
        Term::Word(v) | Term::Phrase(v) => (Field::Any, v),
        Term::From(v) => (Field::From, v),
        Term::To(v) => (Field::To, v),
        Term::Cc(v) => (Field::Cc, v),
        Term::Subject(v) => (Field::Subject, v),
        Term::Filename(v) => (Field::Filename, v),
        _ => return None,
    };
    (!text::words(value).is_empty()).then(|| TextExpr::Match { field, text: value.clone() })
}

/// The query as an index expression that finds its messages by itself, if it is one: text terms
/// joined by AND and OR, with at least one positive term in every AND (an index cannot list
/// what lacks a word).
fn indexable(query: &Query) -> Option<TextExpr> {
    match query {
        Query::Term(term) => text_match(term),
        Query::Or(parts) => parts.iter().map(indexable).collect::<Option<Vec<_>>>().map(TextExpr::Or),
        Query::And(parts) => {
            let (mut positive, mut negative) = (Vec::new(), Vec::new());
            for part in parts {
                match (indexable(part), part) {
                    (Some(expr), _) => positive.push(expr),
                    (None, Query::Not(inner)) => negative.push(indexable(inner)?),
                    (None, _) => return None,
                }
            }
            if positive.is_empty() {
                return None;
            }
            let all = if positive.len() == 1 { positive.remove(0) } else { TextExpr::And(positive) };
            Some(if negative.is_empty() { all } else { TextExpr::AndNot(Box::new(all), negative) })
        }
        Query::Not(_) => None,
    }
}

/// The condition of a query part; `None` when it says nothing (a word without letters or digits,
/// or parts made only of such words), which leaves it out wherever it stands.
fn condition(query: &Query) -> Option<Cond> {
    let parts = |parts: &[Query]| -> Option<Vec<Cond>> {
        let kept: Vec<Cond> = parts.iter().filter_map(condition).collect();
        (!kept.is_empty()).then_some(kept)
    };
    Some(match query {
        Query::And(list) => Cond::And(parts(list)?),
        Query::Or(list) => Cond::Or(parts(list)?),
        Query::Not(inner) => Cond::Not(Box::new(condition(inner)?)),
        Query::Term(term) => match term {
            Term::HasAttachment => Cond::HasAttachment,
            Term::Is(flag) => Cond::Is(*flag),
            Term::In(place) => Cond::In(place.clone()),
            Term::Label(label) => Cond::Label(label.clone()),
            Term::Account(address) => Cond::Account(address.clone()),
            Term::Before(date) => Cond::Before(*date),
            Term::After(date) => Cond::After(*date),
            Term::Larger(bytes) => Cond::Larger(*bytes),
            Term::Smaller(bytes) => Cond::Smaller(*bytes),
            text_term => Cond::Text(text_match(text_term)?),
        },
    })
}

/// `expr` with its positive free words narrowed to the headline fields.
fn headline(expr: &TextExpr) -> TextExpr {
    match expr {
        TextExpr::Match { field: Field::Any, text } => TextExpr::Match { field: Field::Headline, text: text.clone() },
        TextExpr::Match { .. } => expr.clone(),
        TextExpr::And(parts) => TextExpr::And(parts.iter().map(headline).collect()),
        TextExpr::Or(parts) => TextExpr::Or(parts.iter().map(headline).collect()),
        TextExpr::AndNot(positive, negative) => TextExpr::AndNot(Box::new(headline(positive)), negative.clone()),
    }
}

fn anywhere(query: &Query) -> bool {
    match query {
        Query::Term(Term::In(place)) => {
            matches!(place.to_lowercase().as_str(), "trash" | "spam" | "anywhere" | "bin" | "junk")
        }
        Query::Term(_) | Query::Not(_) => false,
        Query::And(parts) | Query::Or(parts) => parts.iter().any(anywhere),
    }
}

/// The free words and phrases and the subject words of the query, not under a `-`.
fn collect_marks(query: &Query, out: &mut Vec<Vec<String>>) {
    match query {
        Query::Term(Term::Word(v) | Term::Phrase(v) | Term::Subject(v)) => {
            let words = text::words(v);
            if !words.is_empty() && !out.contains(&words) {
                out.push(words);
            }
        }
        Query::Term(_) | Query::Not(_) => {}
        Query::And(parts) | Query::Or(parts) => parts.iter().for_each(|p| collect_marks(p, out)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(q: &str) -> Plan {
        Plan::new(&Query::parse(q).unwrap())
    }

    fn any(text: &str) -> TextExpr {
        TextExpr::Match { field: Field::Any, text: text.to_owned() }
    }

    fn head(text: &str) -> TextExpr {
        TextExpr::Match { field: Field::Headline, text: text.to_owned() }
    }

    #[test]
    fn words_drive_the_search_and_the_rest_is_checked_per_message() {
        let p = plan("invoice from:ann is:unread -draft");
        let from = TextExpr::Match { field: Field::From, text: "ann".to_owned() };
        assert_eq!(
            p.text,
            Some(TextExpr::AndNot(Box::new(TextExpr::And(vec![any("invoice"), from.clone()])), vec![any("draft")]))
        );
        assert_eq!(
            p.headline,
            Some(TextExpr::AndNot(Box::new(TextExpr::And(vec![head("invoice"), from])), vec![any("draft")]))
        );
        assert_eq!(p.conditions, vec![Cond::Is(Flag::Unread)]);
        assert_eq!(p.marks, vec![vec!["invoice".to_owned()]]);
        assert!(!p.anywhere);
    }

    #[test]
    fn what_an_index_cannot_list_becomes_a_condition() {
        // Only a negation: every message without the word, checked one by one.
        let p = plan("-newsletter is:starred");
        assert_eq!(p.text, None);
        assert_eq!(p.conditions, vec![Cond::Is(Flag::Starred), Cond::Not(Box::new(Cond::Text(any("newsletter"))))]);
        // A word OR a flag cannot be answered by the index alone.
        let p = plan("invoice OR is:starred");
        assert_eq!(p.text, None);
        assert_eq!(p.conditions, vec![Cond::Or(vec![Cond::Text(any("invoice")), Cond::Is(Flag::Starred)])]);
        // OR between words can.
        let p = plan("invoice OR receipt in:trash");
        assert_eq!(p.text, Some(TextExpr::Or(vec![any("invoice"), any("receipt")])));
        assert_eq!(p.conditions, vec![Cond::In("trash".to_owned())]);
        assert!(p.anywhere);
    }

    #[test]
    fn fields_without_free_words_rank_in_one_tier_and_punctuation_is_ignored() {
        let p = plan("from:ann subject:report -- after:2024-01-01");
        assert_eq!(p.headline, None);
        assert_eq!(p.conditions, vec![Cond::After(Date::new(2024, 1, 1).unwrap())]);
        assert_eq!(p.marks, vec![vec!["report".to_owned()]]);
    }
}
