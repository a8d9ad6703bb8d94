//! A small HTML-to-text reduction, enough for snippets and search; not a renderer.

/// Elements whose content is never visible text.
const HIDDEN: &[&str] = &["script", "style", "head", "title"];

/// Elements that start or end a line of text.
const BLOCKS: &[&str] = &[
    "br",
    "p",
    "div",
    "li",
    "ul",
    "ol",
    "tr",
    "table",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "hr",
    "pre",
    "section",
    "article",
    "header",
    "footer",
    "dd",
    "dt",
    "dl",
    "center",
    "address",
];

/// The text of an HTML body: tags (and the content of `<script>`, `<style>`, `<head>`) dropped, block elements
/// become line breaks, common entities decoded (`&amp; &lt; &gt; &quot; &#39; &nbsp;` and numeric `&#NNN;` /
/// `&#xHH;`).
pub fn html_to_text(html: &str) -> String {
    let mut raw = String::with_capacity(html.len() / 2);
    let bytes = html.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'<' {
            // Copy the text run up to the next tag; '<' is ASCII so the slice stays on char boundaries.
            let end = bytes[i..].iter().position(|&b| b == b'<').map_or(bytes.len(), |p| i + p);
            decode_entities_into(&html[i..end], &mut raw);
            i = end;
            continue;
        }
        if html[i..].starts_with("<!--") {
            i = html[i + 4..].find("-->").map_or(bytes.len(), |p| i + 4 + p + 3);
            continue;
        }
        let Some(tag) = parse_tag(&html[i..]) else {
            // A lone '<' (as in "a < b" written carelessly) is text, not markup.
            raw.push('<');
            i += 1;
            continue;
        };
        i += tag.len;
        if !tag.closing && HIDDEN.contains(&tag.name.as_str()) {
            i = skip_past_closing(html, i, &tag.name);
            raw.push('\n');
        } else if BLOCKS.contains(&tag.name.as_str()) {
            raw.push('\n');
        } else if tag.name == "td" || tag.name == "th" {
            // Table cells side by side read better separated than glued together.
            raw.push(' ');
        }
    }
    tidy_whitespace(&raw)
}

struct Tag {
    name: String,
    closing: bool,
    len: usize,
}

/// The tag at the start of `s` (which begins with '<'), or `None` when the '<' does not start markup.
fn parse_tag(s: &str) -> Option<Tag> {
    let bytes = s.as_bytes();
    let mut i = 1;
    let closing = bytes.get(i) == Some(&b'/');
    if closing {
        i += 1;
    }
    let first = *bytes.get(i)?;
    if !(first.is_ascii_alphabetic() || first == b'!' || first == b'?') {
        return None;
    }
    let name_len = bytes[i..].iter().take_while(|b| b.is_ascii_alphanumeric()).count();
    let name = s[i..i + name_len].to_ascii_lowercase();
    // Quoted attribute values may contain '>', so skip over them when looking for the tag's end.
    let mut quote = None;
    let mut j = i + name_len;
    while j < bytes.len() {
        let b = bytes[j];
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b == b'>' => return Some(Tag { name, closing, len: j + 1 }),
            None => {}
        }
        j += 1;
    }
    // An unterminated tag swallows the rest: it is truncated markup, not text.
    Some(Tag { name, closing, len: bytes.len() })
}

/// The position just after `</name ...>` searched from `from`, or the end when it never closes.
fn skip_past_closing(html: &str, from: usize, name: &str) -> usize {
    // Compared in place rather than on a lowercased copy: spam can hold thousands of <style> blocks, and copying
    // the rest of the document for each one would be quadratic.
    let bytes = html.as_bytes();
    let mut i = from;
    while let Some(p) = html[i..].find("</") {
        let start = i + p;
        let candidate = &bytes[start + 2..];
        if candidate.len() >= name.len() && candidate[..name.len()].eq_ignore_ascii_case(name.as_bytes()) {
            return html[start..].find('>').map_or(html.len(), |q| start + q + 1);
        }
        i = start + 2;
    }
    html.len()
}

/// Appends `text` to `out` with character references decoded; unknown ones are kept verbatim.
fn decode_entities_into(text: &str, out: &mut String) {
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        // Entities are short; a ';' further away means this '&' is plain text.
        let semi = rest.as_bytes().iter().take(12).position(|&b| b == b';');
        let decoded = semi.and_then(|s| decode_entity(&rest[1..s]).map(|c| (c, s)));
        match decoded {
            Some((c, s)) => {
                out.push(c);
                rest = &rest[s + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
}

fn decode_entity(name: &str) -> Option<char> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix('x').or_else(|| num.strip_prefix('X')) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse::<u32>().ok()?,
        };
        // NUL and invalid scalar values (surrogates, > U+10FFFF) become the replacement character, as browsers do.
        return Some(char::from_u32(code).filter(|&c| c != '\0').unwrap_or('\u{FFFD}'));
    }
    Some(match name {
        "amp" | "AMP" => '&',
        "lt" | "LT" => '<',
        "gt" | "GT" => '>',
        "quot" | "QUOT" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        "copy" => '©',
        "reg" => '®',
        "hellip" => '…',
        "mdash" => '—',
        "ndash" => '–',
        "rsquo" => '’',
        "lsquo" => '‘',
        "rdquo" => '”',
        "ldquo" => '“',
        "euro" => '€',
        _ => return None,
    })
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
    fn broken_markup_never_panics() {
        for html in ["<", "</", "<p", "<script>never closed", "&#", "&#x;", "a < b", "<!--", "<ž>č", "&#99999999999;"]
        {
            let _ = html_to_text(html);
        }
        assert_eq!(html_to_text("a < b"), "a < b");
    }
}
