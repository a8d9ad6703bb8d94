//! HTML nested deeper than a browser nests it, flattened before html5ever builds a tree.
//!
//! html5ever's tree builder looks through its stack of open elements for each tag ("is there a `p` in
//! button scope?"), so `<div>` ten thousand times, or ten thousand unclosed `<font>`s, cost time quadratic in
//! the nesting: a 200 KB message took minutes to show. Browsers bound the nesting (Blink at 512 levels); so
//! does this pass, with html5ever's own tokenizer, which reads tags, quotes, comments and raw text exactly as
//! the tree builder will: a start tag that would open an element deeper than [`MAX_DEPTH`] is left out, with
//! its end tag, its text kept. The depth is modelled on the tree builder's (void elements open nothing, an end
//! tag closes what it matches and what is open inside it, a `p`, `li` or cell closes the one before it), and
//! leans towards counting too deep, so that no input slips past it. HTML with fewer tags than the limit cannot
//! nest past it and is returned untouched without being read.

use std::borrow::Cow;
use std::cell::RefCell;

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{BufferQueue, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts};

/// The deepest nesting kept, as in Blink.
pub(crate) const MAX_DEPTH: usize = 512;

/// How far down the open elements an end tag looks for the element it closes; html5ever looks further, but
/// a tag that closes something deeper than this is rare, and taking it as closing nothing only counts deeper.
const END_TAG_REACH: usize = 64;

/// `html` with no element nested deeper than [`MAX_DEPTH`].
pub(crate) fn bounded(html: &str) -> Cow<'_, str> {
    if html.bytes().filter(|&b| b == b'<').count() <= MAX_DEPTH {
        return Cow::Borrowed(html);
    }
    let sink = Flattener::default();
    let tokenizer = Tokenizer::new(sink, TokenizerOpts::default());
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(html));
    // The sink never asks to pause for a script, so one feed reads everything.
    let _ = tokenizer.feed(&input);
    tokenizer.end();
    Cow::Owned(tokenizer.sink.out.into_inner())
}

#[derive(Default)]
struct Flattener {
    out: RefCell<String>,
    /// The open elements as the tree builder would have them: name, and whether the start tag was kept.
    open: RefCell<Vec<(String, bool)>>,
    /// How many of `open` were kept.
    depth: RefCell<usize>,
    /// How many of `open` are `svg` or `math`: inside them no element's text is raw.
    foreign: RefCell<usize>,
}

/// Elements whose text the tokenizer reads raw, outside SVG and MathML.
const RAW_TEXT: &[&str] = &["script", "style", "xmp", "iframe", "noembed", "noframes", "noscript", "plaintext"];

/// Elements that never hold anything.
const VOID: &[&str] = &[
    "area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "image", "img", "input", "keygen",
    "link", "meta", "param", "source", "track", "wbr",
];

/// The formatting elements of the HTML standard, which the tree builder reopens after a misnested end tag.
const FORMATTING: &[&str] =
    &["a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike", "strong", "tt", "u"];

/// Elements a start tag of the same name closes (`<p>one<p>two`, `<li>`, table cells and rows).
const SELF_CLOSING_SIBLINGS: &[&str] =
    &["p", "li", "dt", "dd", "option", "optgroup", "tr", "td", "th", "thead", "tbody", "tfoot", "rb", "rt", "rp"];

impl Flattener {
    fn start(&self, name: &str) -> bool {
        let mut open = self.open.borrow_mut();
        let mut depth = self.depth.borrow_mut();
        if SELF_CLOSING_SIBLINGS.contains(&name) && open.last().is_some_and(|(top, _)| top == name) {
            // Not svg or math: those are no siblings that close each other.
            if let Some((_, kept)) = open.pop() {
                *depth -= usize::from(kept);
            }
        }
        if VOID.contains(&name) {
            return *depth < MAX_DEPTH;
        }
        let keep = *depth < MAX_DEPTH;
        open.push((name.to_owned(), keep));
        *depth += usize::from(keep);
        *self.foreign.borrow_mut() += usize::from(matches!(name, "svg" | "math"));
        keep
    }

    fn end(&self, name: &str) -> bool {
        let mut open = self.open.borrow_mut();
        let mut depth = self.depth.borrow_mut();
        let mut foreign = self.foreign.borrow_mut();
        let reach = open.len().saturating_sub(END_TAG_REACH);
        let Some(at) = open[reach..].iter().rposition(|(open_name, _)| open_name == name).map(|p| reach + p) else {
            // Closes nothing we know of: passed on for the tree builder to judge.
            return true;
        };
        let kept = open[at].1;
        let closed: Vec<(String, bool)> = if FORMATTING.contains(&name) {
            // The adoption agency closes the formatting element and rebuilds what was inside it.
            vec![open.remove(at)]
        } else {
            // Formatting elements closed on the way are reopened at the next text, as the tree builder does.
            let above: Vec<(String, bool)> = open.drain(at..).collect();
            let (formatting, closed): (Vec<_>, Vec<_>) =
                above.into_iter().enumerate().partition(|(i, (n, _))| *i > 0 && FORMATTING.contains(&n.as_str()));
            open.extend(formatting.into_iter().map(|(_, entry)| entry));
            closed.into_iter().map(|(_, entry)| entry).collect()
        };
        for (closed_name, closed_kept) in closed {
            *depth -= usize::from(closed_kept);
            *foreign -= usize::from(matches!(closed_name.as_str(), "svg" | "math"));
        }
        kept
    }
}

fn push_escaped(text: &str, attribute: bool, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\u{a0}' => out.push_str("&nbsp;"),
            c => out.push(c),
        }
    }
}

impl TokenSink for Flattener {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        match token {
            Token::TagToken(tag) => {
                let name = tag.name.to_string();
                let keep = match tag.kind {
                    TagKind::StartTag => self.start(&name),
                    TagKind::EndTag => self.end(&name),
                };
                if keep {
                    let mut out = self.out.borrow_mut();
                    out.push('<');
                    if tag.kind == TagKind::EndTag {
                        out.push('/');
                    }
                    out.push_str(&name);
                    for attribute in &tag.attrs {
                        out.push(' ');
                        out.push_str(&attribute.name.local);
                        out.push_str("=\"");
                        push_escaped(&attribute.value, true, &mut out);
                        out.push('"');
                    }
                    if tag.self_closing {
                        out.push_str(" /");
                    }
                    out.push('>');
                }
                if tag.kind == TagKind::StartTag && *self.foreign.borrow() == 0 {
                    // The tokenizer reads these elements' text as the tree builder tells it to.
                    return match name.as_str() {
                        "script" => TokenSinkResult::RawData(RawKind::ScriptData),
                        "style" | "xmp" | "iframe" | "noembed" | "noframes" | "noscript" => {
                            TokenSinkResult::RawData(RawKind::Rawtext)
                        }
                        "title" | "textarea" => TokenSinkResult::RawData(RawKind::Rcdata),
                        "plaintext" => TokenSinkResult::Plaintext,
                        _ => TokenSinkResult::Continue,
                    };
                }
            }
            Token::CharacterTokens(text) => {
                let raw = *self.foreign.borrow() == 0
                    && self.open.borrow().last().is_some_and(|(top, kept)| *kept && RAW_TEXT.contains(&top.as_str()));
                let mut out = self.out.borrow_mut();
                if raw {
                    // Raw text is read without entities, so it is written as it came.
                    out.push_str(&text);
                } else {
                    push_escaped(&text, false, &mut out);
                }
            }
            // Comments are never shown (and both readers drop them); a NUL in text is dropped by the tree builder.
            Token::CommentToken(_)
            | Token::DoctypeToken(_)
            | Token::NullCharacterToken
            | Token::EOFToken
            | Token::ParseError(_) => {}
        }
        TokenSinkResult::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(html: &str, tag: &str) -> usize {
        html.matches(tag).count()
    }

    #[test]
    fn html_with_fewer_tags_than_the_limit_is_not_read() {
        let html = "<p>a</p>".repeat(MAX_DEPTH / 2);
        assert!(matches!(bounded(&html), Cow::Borrowed(_)));
    }

    #[test]
    fn nesting_beyond_the_limit_is_left_out_and_its_text_kept() {
        let html = format!("{}deep{}", "<div>".repeat(2 * MAX_DEPTH), "</div>".repeat(2 * MAX_DEPTH));
        let out = bounded(&html);
        assert_eq!((tags(&out, "<div>"), tags(&out, "</div>")), (MAX_DEPTH, MAX_DEPTH));
        assert!(out.contains("deep"));
    }

    #[test]
    fn a_long_but_shallow_document_keeps_every_tag_and_raw_text_as_it_came() {
        let style = "<style>a > b { content: \"&amp;\" }</style>";
        let body = "<p>one<p>two<ul><li>x<li>y</ul><br><img src=\"a.png\" alt=\"&quot;\"><b>x</b><table><tr><td>c<td>d</table>";
        let html = format!("{style}{}", body.repeat(MAX_DEPTH));
        let out = bounded(&html);
        assert!(out.starts_with(style), "{}", &out[..200]);
        for tag in ["<p>", "<li>", "<br>", "<img ", "<td>", "</table>", "&quot;"] {
            assert_eq!(tags(&out, tag), tags(&html, tag), "{tag}");
        }
    }
}
