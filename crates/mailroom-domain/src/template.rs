//! Message templates: a name, a subject and a body in which `{{placeholder}}` marks where a value
//! goes. The API fills them from the caller's values; the compose page starts from them and
//! warns when one is left unfilled. Written by hand: the syntax is three rules, not a template
//! language, and a caller's value must never be read as syntax again.

use std::collections::BTreeMap;

/// Longest template name, in characters.
pub const TEMPLATE_NAME_MAX: usize = 100;
/// Longest template body, in characters.
pub const TEMPLATE_BODY_MAX: usize = 100_000;

/// Why a template or its filling was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("the name must be 1 to {TEMPLATE_NAME_MAX} characters without control characters")]
    Name,
    #[error("the subject must be one line")]
    Subject,
    #[error("the body must be at most {TEMPLATE_BODY_MAX} characters")]
    Body,
    #[error("{{{{{0}}}}} is not closed")]
    Unclosed(String),
    #[error("{{{{{0}}}}} is not a placeholder name (letters, digits, _ and - only)")]
    BadPlaceholder(String),
    #[error("no value was given for {{{{{0}}}}}")]
    MissingValue(String),
}

/// A template's name, subject and body, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub name: String,
    pub subject: String,
    pub body: String,
}

impl Template {
    /// Checks the parts: a one-line name and subject, a body within bounds, every `{{` closed
    /// around a placeholder name.
    pub fn new(name: &str, subject: &str, body: &str) -> Result<Template, TemplateError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > TEMPLATE_NAME_MAX || name.chars().any(char::is_control) {
            return Err(TemplateError::Name);
        }
        if subject.chars().any(char::is_control) {
            return Err(TemplateError::Subject);
        }
        if body.chars().count() > TEMPLATE_BODY_MAX {
            return Err(TemplateError::Body);
        }
        placeholders(subject)?;
        placeholders(body)?;
        Ok(Template { name: name.to_owned(), subject: subject.trim().to_owned(), body: body.to_owned() })
    }

    /// The placeholders of subject and body, each once, in order of first use.
    pub fn placeholders(&self) -> Vec<String> {
        let mut names = placeholders(&self.subject).unwrap_or_default();
        for name in placeholders(&self.body).unwrap_or_default() {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }
}

/// One piece of a template text.
enum Piece<'a> {
    Text(&'a str),
    Placeholder(&'a str),
}

fn is_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}

/// Splits `text` into literal text and placeholders; `{{ name }}` may have spaces inside.
fn pieces(text: &str) -> Result<Vec<Piece<'_>>, TemplateError> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            out.push(Piece::Text(&rest[..start]));
        }
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err(TemplateError::Unclosed(after.chars().take(30).collect::<String>().trim().to_owned()));
        };
        let name = after[..end].trim();
        if !is_name(name) {
            return Err(TemplateError::BadPlaceholder(name.chars().take(30).collect()));
        }
        out.push(Piece::Placeholder(name));
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    Ok(out)
}

/// The placeholder names of `text`, each once, in order of first use.
pub fn placeholders(text: &str) -> Result<Vec<String>, TemplateError> {
    let mut names: Vec<String> = Vec::new();
    for piece in pieces(text)? {
        if let Piece::Placeholder(name) = piece
            && !names.iter().any(|n| n == name)
        {
            names.push(name.to_owned());
        }
    }
    Ok(names)
}

/// `text` with every placeholder replaced by its value. Values are put in as they are: a value
/// that itself holds `{{…}}` is not filled again. A placeholder without a value is an error,
/// never sent as it stands.
pub fn fill(text: &str, values: &BTreeMap<String, String>) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(text.len());
    for piece in pieces(text)? {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Placeholder(name) => {
                let value = values.get(name).ok_or_else(|| TemplateError::MissingValue(name.to_owned()))?;
                out.push_str(value);
            }
        }
    }
    Ok(out)
}

/// `text` with the placeholders `values` has filled in and every other one left as written, and
/// text that is not a template at all (a lone `{{`) left alone: for messages that may or may not
/// use placeholders, such as one sent separately to each recipient.
pub fn fill_known(text: &str, values: &BTreeMap<String, String>) -> String {
    let Ok(pieces) = pieces(text) else { return text.to_owned() };
    let mut out = String::with_capacity(text.len());
    for piece in pieces {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Placeholder(name) => match values.get(name) {
                Some(value) => out.push_str(value),
                None => {
                    out.push_str("{{");
                    out.push_str(name);
                    out.push_str("}}");
                }
            },
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn placeholders_are_filled_with_or_without_inner_spaces() {
        let filled = fill(
            "Dear {{name}}, order {{ order_id }} ships {{name}}.",
            &values(&[("name", "Petr Černý"), ("order_id", "42")]),
        );
        assert_eq!(filled.unwrap(), "Dear Petr Černý, order 42 ships Petr Černý.");
    }

    #[test]
    fn a_missing_value_is_named() {
        let error = fill("Hello {{name}} from {{company}}", &values(&[("name", "Ann")])).unwrap_err();
        assert_eq!(error, TemplateError::MissingValue("company".to_owned()));
        assert_eq!(error.to_string(), "no value was given for {{company}}");
    }

    #[test]
    fn values_are_not_read_as_placeholders_again() {
        let filled = fill("{{a}} and {{b}}", &values(&[("a", "{{b}}"), ("b", "x")]));
        assert_eq!(filled.unwrap(), "{{b}} and x");
    }

    #[test]
    fn broken_placeholders_are_refused_when_the_template_is_saved() {
        assert_eq!(Template::new("t", "Hi {{name", "").unwrap_err(), TemplateError::Unclosed("name".to_owned()));
        assert_eq!(
            Template::new("t", "", "{{first name}}").unwrap_err(),
            TemplateError::BadPlaceholder("first name".into())
        );
        assert_eq!(Template::new("t", "", "{{}}").unwrap_err(), TemplateError::BadPlaceholder(String::new()));
        assert_eq!(Template::new(" ", "", "").unwrap_err(), TemplateError::Name);
        assert_eq!(Template::new("t", "a\r\nBcc: x@example.org", "").unwrap_err(), TemplateError::Subject);
        assert_eq!(Template::new("t", "", &"x".repeat(TEMPLATE_BODY_MAX + 1)).unwrap_err(), TemplateError::Body);
        let ok = Template::new(" Welcome ", "Welcome, {{name}}", "Hi {{name}}, your code is {{code}}.").unwrap();
        assert_eq!(ok.name, "Welcome");
        assert_eq!(ok.placeholders(), ["name", "code"]);
    }

    #[test]
    fn fill_known_leaves_other_placeholders_and_broken_text_alone() {
        let values = values(&[("name", "Bára")]);
        assert_eq!(fill_known("Dear {{ name }}, {{order}}", &values), "Dear Bára, {{order}}");
        assert_eq!(fill_known("a {{ b", &values), "a {{ b");
    }

    proptest! {
        /// Text without braces comes back as it was.
        #[test]
        fn text_without_placeholders_is_unchanged(text in "[^{}]*") {
            prop_assert_eq!(fill(&text, &BTreeMap::new()).unwrap(), text);
        }

        /// Whatever the values hold, each placeholder becomes exactly its value.
        #[test]
        fn a_filled_placeholder_is_exactly_its_value(before in "[^{}]*", value in ".*", after in "[^{}]*") {
            let text = format!("{before}{{{{v}}}}{after}");
            let filled = fill(&text, &values(&[("v", &value)])).unwrap();
            prop_assert_eq!(filled, format!("{before}{value}{after}"));
        }
    }
}
