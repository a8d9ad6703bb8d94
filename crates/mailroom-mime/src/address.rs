//! Address headers (From, To, Cc...) read into mailboxes, RFC 5322 sections 3.4 and 4.4.
//!
//! mail-parser's address reader takes `"undisclosed recipients"@example.com` for a name and a bare
//! domain, drops the escapes of a quoted local part, and turns `<Undisclosed-Recipient:;>` into an
//! address; so the headers are kept raw and read here, with mail-parser still decoding the RFC 2047
//! words of display names. The reading is lenient as mail clients are: groups (empty ones give no
//! address), source routes, comments (a name when there is no other), semicolons between addresses
//! as Outlook writes them, and a name written without angle brackets (`John Smith john@x.org`).

use std::borrow::Cow;

use mail_parser::HeaderValue;
use mail_parser::parsers::MessageStream;

use crate::Address;

/// Adds the mailboxes of one address header's raw value to `out`, in order.
pub(crate) fn read_addresses(value: &str, out: &mut Vec<Address>) {
    let tokens = tokenize(value);
    let mut entry: Vec<Token<'_>> = Vec::new();
    let mut angle_depth = 0usize;
    let mut in_group = false;
    for token in tokens {
        match token.kind {
            Kind::Special(',' | ';') if angle_depth == 0 => {
                out.extend(mailbox(&entry));
                entry.clear();
                in_group &= token.kind != Kind::Special(';');
            }
            // `Name: member, member;`: what came before the colon names the group, and is no address.
            Kind::Special(':') if angle_depth == 0 && !in_group => {
                entry.clear();
                in_group = true;
            }
            Kind::Special('<') => {
                angle_depth += 1;
                entry.push(token);
            }
            Kind::Special('>') => {
                angle_depth = angle_depth.saturating_sub(1);
                entry.push(token);
            }
            _ => entry.push(token),
        }
    }
    out.extend(mailbox(&entry));
}

#[derive(Debug, Clone, PartialEq)]
enum Kind<'a> {
    /// An atom, or a run of anything that is no special (`john.smith`, `=?utf-8?q?x?=`).
    Atom(&'a str),
    /// A quoted string, unescaped.
    Quoted(String),
    /// A comment, unescaped, without its parentheses.
    Comment(String),
    /// A domain literal with its brackets.
    Literal(&'a str),
    Special(char),
}

#[derive(Debug, Clone, PartialEq)]
struct Token<'a> {
    kind: Kind<'a>,
    /// Whether whitespace (or a comment) came before it: words of a phrase are separate, the pieces of a
    /// local part are not.
    spaced: bool,
}

fn is_special(c: char) -> bool {
    matches!(c, '<' | '>' | '@' | ',' | ';' | ':' | '"' | '(' | ')' | '[' | ']')
}

fn tokenize(value: &str) -> Vec<Token<'_>> {
    let mut tokens = Vec::new();
    let mut spaced = false;
    let mut rest = value;
    while let Some(c) = rest.chars().next() {
        let (kind, len) = match c {
            c if c.is_whitespace() => {
                spaced = true;
                rest = &rest[c.len_utf8()..];
                continue;
            }
            '"' => {
                let (text, len) = delimited(rest, '"', '"');
                (Kind::Quoted(text), len)
            }
            '(' => {
                let (text, len) = delimited(rest, '(', ')');
                tokens.push(Token { kind: Kind::Comment(text), spaced });
                spaced = true;
                rest = &rest[len..];
                continue;
            }
            '[' => {
                let len = rest.find(']').map_or(rest.len(), |end| end + 1);
                (Kind::Literal(&rest[..len]), len)
            }
            // A stray `)` or `]` is no part of anything.
            ')' | ']' => {
                rest = &rest[1..];
                continue;
            }
            c if is_special(c) => (Kind::Special(c), 1),
            _ => {
                let len = encoded_word_len(rest)
                    .unwrap_or_else(|| rest.find(|c: char| c.is_whitespace() || is_special(c)).unwrap_or(rest.len()));
                (Kind::Atom(&rest[..len]), len)
            }
        };
        tokens.push(Token { kind, spaced });
        spaced = false;
        rest = &rest[len..];
    }
    tokens
}

/// The length of an RFC 2047 encoded word at the start of `text` (`=?charset?enc?text?=`), which may
/// hold characters that are specials elsewhere; `None` when there is none.
fn encoded_word_len(text: &str) -> Option<usize> {
    let body = text.strip_prefix("=?")?;
    let word_end = body.find(char::is_whitespace).unwrap_or(body.len());
    let body = &body[..word_end];
    let charset_end = body.find('?')?;
    let encoding_end = charset_end + 1 + body[charset_end + 1..].find('?')?;
    let end = encoding_end + 1 + body[encoding_end + 1..].find("?=")?;
    Some(2 + end + 2)
}

/// The unescaped text of a quoted string or a (nested) comment at the start of `text`, and its
/// length; an unclosed one runs to the end.
fn delimited(text: &str, open: char, close: char) -> (String, usize) {
    let mut out = String::new();
    let mut depth = 0usize;
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' if depth > 0 => {
                if let Some((_, escaped)) = chars.next() {
                    out.push(escaped);
                }
            }
            c if c == close && depth > 0 && (depth == 1 || open == close) => return (out, i + 1),
            c if c == close && depth > 1 => {
                depth -= 1;
                out.push(c);
            }
            c if c == open => {
                if depth > 0 {
                    out.push(c);
                }
                depth += 1;
            }
            // A line break inside is folding.
            '\r' | '\n' => {}
            c => out.push(c),
        }
    }
    (out, text.len())
}

/// The mailbox of one entry of an address list, or `None` when it holds no address.
fn mailbox(entry: &[Token<'_>]) -> Option<Address> {
    let comments = || {
        let text: Vec<&str> = entry
            .iter()
            .filter_map(|t| match &t.kind {
                Kind::Comment(c) => Some(c.as_str()),
                _ => None,
            })
            .collect();
        text.join(" ")
    };
    let (address, name) = match entry.iter().position(|t| t.kind == Kind::Special('<')) {
        Some(open) => {
            let close =
                entry[open..].iter().position(|t| t.kind == Kind::Special('>')).map_or(entry.len(), |p| open + p);
            let inside = &entry[open + 1..close];
            // A source route (`<@relay.example:ann@x.org>`) ends at its colon.
            let spec = match inside.iter().rposition(|t| t.kind == Kind::Special(':')) {
                Some(colon) => &inside[colon + 1..],
                None => inside,
            };
            let (address, _) = addr_spec(spec)?;
            let name = phrase(&entry[..open]);
            (address, if name.is_empty() { comments() } else { name })
        }
        None => {
            let (address, local_start) = addr_spec(entry)?;
            // Words before the local part are a name written without angle brackets.
            let name = phrase(&entry[..local_start]);
            (address, if name.is_empty() { comments() } else { name })
        }
    };
    let name = decode_words(&name);
    let name = name.trim();
    let name = (!name.is_empty() && !name.eq_ignore_ascii_case(&address)).then(|| name.to_owned());
    Some(Address { name, address: address.to_lowercase() })
}

/// `local@domain` from the tokens holding it, and the index where its local part starts.
fn addr_spec(tokens: &[Token<'_>]) -> Option<(String, usize)> {
    let at = tokens.iter().position(|t| t.kind == Kind::Special('@'))?;
    // The local part is the words just before the '@' that are joined without space or by dots.
    let mut start = at;
    while start > 0 {
        let token = &tokens[start - 1];
        let piece = match &token.kind {
            Kind::Atom(a) => *a,
            Kind::Quoted(q) => q.as_str(),
            Kind::Comment(_) => {
                start -= 1;
                continue;
            }
            _ => break,
        };
        let next_joins = tokens[start..at].iter().find(|t| !matches!(t.kind, Kind::Comment(_))).is_none_or(|next| {
            !next.spaced || piece.ends_with('.') || matches!(&next.kind, Kind::Atom(a) if a.starts_with('.'))
        });
        if !next_joins {
            break;
        }
        start -= 1;
    }
    let mut local = String::new();
    for token in &tokens[start..at] {
        match &token.kind {
            Kind::Atom(a) => local.push_str(a),
            Kind::Quoted(q) => local.push_str(q),
            _ => {}
        }
    }
    let start = tokens[start..at].iter().position(|t| !matches!(t.kind, Kind::Comment(_))).map_or(at, |p| start + p);
    // The domain: the word after the '@', with its dot-joined continuations.
    let mut domain = String::new();
    for token in tokens[at + 1..].iter().filter(|t| !matches!(t.kind, Kind::Comment(_))) {
        let piece = match &token.kind {
            Kind::Atom(a) | Kind::Literal(a) => *a,
            _ => break,
        };
        if !domain.is_empty() && token.spaced && !domain.ends_with('.') && !piece.starts_with('.') {
            break;
        }
        domain.push_str(piece);
    }
    if local.is_empty() || !is_domain(&domain) {
        return None;
    }
    // The canonical form: a local part that is no dot-atom is quoted (RFC 5322 section 3.4.1), whether or not
    // it came quoted (obsolete syntax allows `a..b` and control characters), and one that is loses its quotes.
    let local = if is_dot_atom(&local) { Cow::Borrowed(&local) } else { Cow::Owned(quote(&local)) };
    Some((format!("{local}@{domain}"), start))
}

/// A domain as an address may end in: dot-separated atoms, or one closed domain literal (`[127.0.0.1]`);
/// never an '@', white space or control characters, so that an address's domain is what follows its last '@'.
fn is_domain(domain: &str) -> bool {
    let plain =
        |text: &str| !text.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '@' | '[' | ']' | '\\'));
    match domain.strip_prefix('[').and_then(|d| d.strip_suffix(']')) {
        Some(literal) => plain(literal),
        None => !domain.is_empty() && plain(domain),
    }
}

/// RFC 5322's dot-atom: atext runs joined by single dots (any non-ASCII character counts as atext,
/// as RFC 6532 allows).
fn is_dot_atom(text: &str) -> bool {
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii();
    !text.is_empty() && text.split('.').all(|run| !run.is_empty() && run.chars().all(atext))
}

/// `text` as a quoted string.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// The words of a display name, separated by single spaces (comments left out).
fn phrase(tokens: &[Token<'_>]) -> String {
    let mut out = String::new();
    for token in tokens {
        let word = match &token.kind {
            Kind::Atom(a) | Kind::Literal(a) => *a,
            Kind::Quoted(q) => q.as_str(),
            // Stray specials in a name (`Ann @ Home <a@x.org>`) are text.
            Kind::Special(c) if matches!(c, '@' | ':' | '>') => {
                out.push(*c);
                continue;
            }
            _ => continue,
        };
        if token.spaced && !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// RFC 2047 encoded words decoded (also inside what were quotes, as mail clients do), by
/// mail-parser's reader of unstructured headers.
fn decode_words(text: &str) -> Cow<'_, str> {
    if !text.contains("=?") {
        return Cow::Borrowed(text);
    }
    let line = format!("{text}\n");
    match MessageStream::new(line.as_bytes()).parse_unstructured() {
        HeaderValue::Text(decoded) => Cow::Owned(decoded.into_owned()),
        _ => Cow::Borrowed(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(value: &str) -> Vec<(Option<String>, String)> {
        let mut out = Vec::new();
        read_addresses(value, &mut out);
        out.into_iter().map(|a| (a.name, a.address)).collect()
    }

    #[test]
    fn a_name_written_without_angle_brackets_is_a_name() {
        assert_eq!(read("John Smith john@x.org"), [(Some("John Smith".to_owned()), "john@x.org".to_owned())]);
    }

    #[test]
    fn entries_without_an_address_are_skipped() {
        assert_eq!(read("jim, , <>, Bob <bob>, @x.org, a@"), []);
    }

    #[test]
    fn obsolete_local_parts_and_domains_with_spaces_around_dots_are_joined() {
        assert_eq!(read("\"john\" . smith @ x . org"), [(None, "john.smith@x.org".to_owned())]);
        assert_eq!(read("a@[127.0.0.1]"), [(None, "a@[127.0.0.1]".to_owned())]);
    }

    #[test]
    fn unclosed_quotes_comments_and_brackets_end_at_the_end() {
        for value in ["\"a@x.org", "(a@x.org", "<a@x.org", "[a@x.org", "a@x.org (Bob", "\"\\"] {
            let _ = read(value);
        }
        assert_eq!(read("<a@x.org"), [(None, "a@x.org".to_owned())]);
    }
}
#[cfg(test)]
mod found_by_property_tests {
    use super::*;

    fn read(value: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        read_addresses(&String::from_utf8_lossy(value), &mut out);
        out.into_iter().map(|a| a.address).collect()
    }

    #[test]
    fn a_domain_never_holds_an_at_sign_or_an_unclosed_literal() {
        assert_eq!(read(b"\0\0\x0b@a#[@"), Vec::<String>::new());
        assert_eq!(read(b"a@b[c"), Vec::<String>::new());
    }

    #[test]
    fn a_local_part_that_is_no_dot_atom_is_quoted_even_when_it_came_unquoted() {
        assert_eq!(read(b"a..b@x.org, \0x@y.org, .a@z.org"), ["\"a..b\"@x.org", "\"\0x\"@y.org", "\".a\"@z.org"]);
    }
}
