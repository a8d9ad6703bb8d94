//! HTML reduced to the text a reader sees, for snippets, search and quoting; not a renderer.
//!
//! The HTML is parsed by html5ever through the same ammonia reading the sanitiser does, so that the text is
//! what the reading pane shows: an unclosed `<head>`, a stray quote in a tag or a misnested table are read
//! as a browser reads them, entities are decoded by the parser, and what the sanitiser drops with its content
//! (script, title, template, noscript, frames, objects, SVG, MathML, select) is no text here either, nor is a
//! style sheet. ammonia keeps only the elements that shape the text, without attributes, and writes them back
//! in html5ever's canonical serialisation, which a plain scan then turns into lines.

use std::sync::LazyLock;

use crate::sanitize::DROPPED_WITH_CONTENT;

/// Elements that start or end a line of text.
#[rustfmt::skip]
const BLOCKS: &[&str] = &[
    "address", "article", "aside", "blockquote", "br", "caption", "center", "dd", "details", "dialog", "div", "dl",
    "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
    "hgroup", "hr", "legend", "li", "main", "menu", "nav", "ol", "p", "pre", "section", "summary", "table", "tbody",
    "tfoot", "thead", "tr", "ul",
];

/// Table cells: side by side, they read better separated than glued together.
const CELLS: &[&str] = &["td", "th"];

static TEXT: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut builder = ammonia::Builder::empty();
    builder
        .tags(BLOCKS.iter().chain(CELLS).copied().collect())
        .clean_content_tags(DROPPED_WITH_CONTENT.iter().copied().chain(["style"]).collect())
        .strip_comments(true)
        .link_rel(None);
    builder
});

/// The text of an HTML body (fragment or document): what a reader sees, block elements as line breaks, table
/// cells separated by spaces, spaces collapsed as a browser collapses them (line breaks kept in `<pre>`), blank
/// lines dropped.
pub fn html_to_text(html: &str) -> String {
    let serialised = TEXT.clean(&crate::nesting::bounded(html)).to_string();
    let mut raw = String::with_capacity(serialised.len());
    let mut preformatted = 0usize;
    let mut rest = serialised.as_str();
    // Only kept elements are left, without attributes, and `<` in text is escaped: every `<` starts a tag.
    while let Some(lt) = rest.find('<') {
        push_text(&rest[..lt], preformatted > 0, &mut raw);
        let gt = rest[lt..].find('>').map_or(rest.len(), |p| lt + p);
        let tag = &rest[lt + 1..gt];
        rest = rest.get(gt + 1..).unwrap_or_default();
        let (closing, name) = tag.strip_prefix('/').map_or((false, tag), |name| (true, name));
        if name == "pre" {
            preformatted = if closing { preformatted.saturating_sub(1) } else { preformatted + 1 };
        }
        raw.push(if CELLS.contains(&name) { ' ' } else { '\n' });
    }
    push_text(rest, preformatted > 0, &mut raw);
    tidy_whitespace(&raw)
}

/// Appends serialised text: html5ever's escapes (`&amp; &lt; &gt; &nbsp;`) undone, and outside preformatted
/// text every space, tab or line break a space, as a browser shows them.
fn push_text(text: &str, preformatted: bool, out: &mut String) {
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '&' {
            let (decoded, len) = [("&amp;", '&'), ("&lt;", '<'), ("&gt;", '>'), ("&nbsp;", ' '), ("&quot;", '"')]
                .iter()
                .find(|(escape, _)| rest.starts_with(escape))
                .map_or(('&', 1), |(escape, decoded)| (*decoded, escape.len()));
            out.push(decoded);
            rest = &rest[len..];
            continue;
        }
        let shown = match c {
            '\n' | '\r' if preformatted => '\n',
            ' ' | '\t' | '\n' | '\r' | '\x0c' => ' ',
            c => c,
        };
        out.push(shown);
        rest = &rest[c.len_utf8()..];
    }
}

/// Spaces collapsed within lines, lines trimmed, blank lines dropped: nested blocks ("</p></div><div>") would
/// otherwise leave runs of empty lines that say nothing about the text.
fn tidy_whitespace(raw: &str) -> String {
    let lines: Vec<String> = raw
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|line| !line.is_empty())
        .collect();
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::html_to_text;

    #[test]
    fn tags_are_dropped_and_blocks_become_lines() {
        let html = "<html><body><p>Hello <b>world</b></p><div>Second<br>Third</div></body></html>";
        assert_eq!(html_to_text(html), "Hello world\nSecond\nThird");
    }

    #[test]
    fn script_style_and_head_content_is_dropped() {
        let html = "<HEAD><TITLE>T</TITLE><style>p{color:red}</style></HEAD><script>alert('<p>x</p>')</script>\
                    <p>Visible</p><!-- hidden <p>comment</p> -->";
        assert_eq!(html_to_text(html), "Visible");
    }

    #[test]
    fn common_and_numeric_entities_are_decoded() {
        let html = "a &amp; b &lt;c&gt; &quot;d&quot; &#39;e&#39; f&nbsp;g &#268;&#x17E; AT&T &bogus; &#xD800;";
        assert_eq!(html_to_text(html), "a & b <c> \"d\" 'e' f g Čž AT&T &bogus; \u{FFFD}");
    }

    #[test]
    fn attributes_containing_angle_brackets_do_not_end_the_tag() {
        assert_eq!(html_to_text(r#"<a title="x > y" href='z'>link</a> after"#), "link after");
    }

    #[test]
    fn closing_tags_are_matched_case_insensitively() {
        assert_eq!(html_to_text("<Script>x</sCRIPT >after</p>"), "after");
        assert_eq!(html_to_text("<style>a</styl>b</STYLE>c"), "c");
    }

    #[test]
    fn a_head_never_closed_hides_nothing_after_it() {
        let text = html_to_text("<html><body><head><title>News</title><p>The wombat sleeps by day.</p></body></html>");
        assert_eq!(text, "The wombat sleeps by day.");
    }

    #[test]
    fn a_stray_quote_in_a_tag_hides_nothing_after_it() {
        let html = r#"<a href="http://x.test/"">Read the story</a> and <img border=0" src="x.png"> the rest
                      <table border=0"><tr><td>of the newsletter</td></tr></table><p>to the end.</p>"#;
        let text = html_to_text(html);
        for words in ["Read the story", "and", "the rest", "of the newsletter", "to the end."] {
            assert!(text.contains(words), "{words:?} lost from {text:?}");
        }
    }

    #[test]
    fn table_cells_are_separated_and_rows_are_lines() {
        let html = "<table><tr><th>Item</th><th>Price</th></tr><tr><td>Tea</td><td>10</td></tr></table>";
        assert_eq!(html_to_text(html), "Item Price\nTea 10");
    }

    #[test]
    fn text_the_reader_does_not_show_is_not_text() {
        let html = "<p>Shown</p><script>var hidden;</script><style>p{}</style><template>template</template>\
                    <noscript>noscript</noscript><svg><text>vector</text></svg><select><option>choice</option></select>\
                    <iframe>frame</iframe><object>object</object><textarea>Typed</textarea>";
        assert_eq!(html_to_text(html), "Shown\nTyped");
    }

    #[test]
    fn line_breaks_in_the_source_are_spaces_except_in_preformatted_text() {
        assert_eq!(html_to_text("<p>one\ntwo\r\n  three</p>"), "one two three");
        assert_eq!(html_to_text("<pre>first line\n   second line</pre>after"), "first line\nsecond line\nafter");
    }

    #[test]
    fn named_entities_are_decoded_as_a_browser_decodes_them() {
        assert_eq!(html_to_text("Caf&eacute; &hearts; &notin; &amp;c &copy"), "Café ♥ ∉ &c ©");
    }

    #[test]
    fn pathological_inputs_take_linear_time() {
        // html5ever's tree builder is quadratic in nesting; each of these nests (or would) 20,000 deep.
        let n = 20_000;
        let numbered = |tag: &str| (0..n).map(|i| tag.replace('#', &i.to_string())).collect::<String>();
        let started = std::time::Instant::now();
        for html in [
            "<div>".repeat(n),
            format!("{}{}", "<div>".repeat(n), "</p>".repeat(n)),
            numbered("<font size=#>") + &"<p>x</p>".repeat(n),
            numbered("<div><font size=#></div>x"),
            "<b><div></b>".repeat(n),
            "<span></div>".repeat(n),
            "<div><!--</div>-->".repeat(n),
            format!("<svg><style>{}", "<g>".repeat(n)),
            "<a href=\"".repeat(n),
            "<head><title>x".repeat(n),
            "<table><tr><td>".repeat(n / 4),
            "&amp;&#x41;&bogus".repeat(n),
            "<!--".repeat(n),
            format!("<p>{}</p>", "word ".repeat(10 * n)),
        ] {
            let _ = html_to_text(&html);
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "{:?}", started.elapsed());
    }

    #[test]
    fn text_nested_deeper_than_a_browser_nests_is_kept() {
        let html = format!("{}deep words{}", "<div><font>".repeat(5_000), "</font></div>".repeat(5_000));
        assert_eq!(html_to_text(&format!("<p>before</p>{html}<p>after</p>")), "before\ndeep words\nafter");
    }

    #[test]
    fn broken_markup_never_panics() {
        for html in ["<", "</", "<p", "<script>never closed", "&#", "&#x;", "a < b", "<!--", "<ž>č", "&#99999999999;"]
        {
            let _ = html_to_text(html);
        }
        assert_eq!(html_to_text("a < b"), "a < b");
    }
}
