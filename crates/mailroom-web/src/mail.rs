//! What the mail pages and the API share: a message's bodies made safe to show, and downloads of
//! its attachments and original with names and types that cannot turn into a page of ours.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use mailroom_domain::{MailAction, UserId};
use mailroom_mime::{SanitizeOptions, sanitize_html, text_to_html};
use mailroom_store::{ActionRefused, MessageDetail, StoreError};

use crate::AppState;

/// An action asked for by name: one that goes to the provider, or the user's own to-do mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requested {
    Mail(MailAction),
    Todo(bool),
    /// One of the user's own tags put on (`true`) or taken off.
    Tag(bool),
}

impl Requested {
    pub fn parse(name: &str) -> Option<Requested> {
        match name {
            "todo" => Some(Requested::Todo(true)),
            "untodo" => Some(Requested::Todo(false)),
            "tag" => Some(Requested::Tag(true)),
            "untag" => Some(Requested::Tag(false)),
            other => MailAction::parse(other).map(Requested::Mail),
        }
    }

    /// Whether it names a folder or label.
    pub fn needs_target(self) -> bool {
        matches!(self, Requested::Mail(action) if action.needs_target())
    }

    /// Whether it names one of the user's tags.
    pub fn needs_tag(self) -> bool {
        matches!(self, Requested::Tag(_))
    }

    /// Whether a message it is taken on may leave the list it is in.
    pub fn moves(self) -> bool {
        !matches!(
            self,
            Requested::Todo(_)
                | Requested::Tag(_)
                | Requested::Mail(
                    MailAction::MarkRead
                        | MailAction::MarkUnread
                        | MailAction::Star
                        | MailAction::Unstar
                        | MailAction::AddLabel
                        | MailAction::RemoveLabel
                )
        )
    }
}

/// Takes `requested` on the user's messages `ids`, waking the scheduler when the provider has
/// something to hear; how many messages changed, or why nothing did.
pub async fn take_action(
    state: &AppState,
    user: UserId,
    ids: &[i64],
    requested: Requested,
    folder: Option<i64>,
    tag: Option<i64>,
) -> Result<Result<usize, ActionRefused>, StoreError> {
    let now = mailroom_store::now();
    match requested {
        Requested::Todo(todo) => state.store.set_todo(user, ids, todo, now).await,
        Requested::Tag(on) => match tag {
            Some(tag) => state.store.set_tag(user, ids, tag, on, now).await,
            None => Ok(Err(ActionRefused::NotFound)),
        },
        Requested::Mail(action) => Ok(state.store.act(user, ids, action, folder, now).await?.map(|acted| {
            if !acted.accounts.is_empty() {
                state.sync_wake.notify_one();
            }
            acted.changed
        })),
    }
}

/// A message's content, ready to show: the HTML sanitised (or the text made into HTML), and
/// whether remote content was held back.
pub struct ShownBody {
    /// Sanitised HTML: for the sandboxed frame, never to be put into one of our pages as is.
    pub html: String,
    pub text: Option<String>,
    pub blocked_remote: bool,
    /// Made from plain text (no HTML part): it may take the page's dark colours.
    pub plain: bool,
}

/// The bodies of `detail`, the HTML sanitised with each `cid:` image mapped by `cid_url` (to
/// nothing when it gives `None`) and remote content loaded only when `allow_remote`.
pub fn shown_body(detail: &MessageDetail, cid_url: &dyn Fn(&str) -> Option<String>, allow_remote: bool) -> ShownBody {
    let Some(raw) = detail.raw.as_deref() else {
        // Not fetched yet (Outlook's MIME comes after the sync): the snippet is what there is.
        return ShownBody { html: plain_html(&detail.summary.snippet), text: None, blocked_remote: false, plain: true };
    };
    let bodies = mailroom_mime::bodies(raw);
    match (&bodies.html, &bodies.text) {
        (Some(html), _) => {
            let clean = sanitize_html(html, &SanitizeOptions { allow_remote, cid_url });
            ShownBody {
                html: clean.html,
                text: bodies.text.clone(),
                blocked_remote: clean.blocked_remote,
                plain: false,
            }
        }
        (None, Some(text)) => {
            ShownBody { html: plain_html(text), text: Some(text.clone()), blocked_remote: false, plain: true }
        }
        (None, None) => ShownBody { html: String::new(), text: None, blocked_remote: false, plain: true },
    }
}

/// Plain text as HTML: line breaks kept (`white-space: pre-wrap`), links made clickable, and each
/// run of quoted lines (`>`) folded into a `<details>` the reader opens if they want, as mail
/// clients collapse the quoted original of a reply.
pub fn plain_html(text: &str) -> String {
    let mut out = String::from("<div class=\"plain\">");
    let mut quote: Vec<&str> = Vec::new();
    let flush = |quote: &mut Vec<&str>, out: &mut String| {
        if !quote.is_empty() {
            out.push_str("<details class=\"quote\"><summary>…</summary>");
            out.push_str(&text_to_html(&quote.join("\n")));
            out.push_str("</details>");
            quote.clear();
        }
    };
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim_start().starts_with('>') {
            quote.push(line);
            continue;
        }
        flush(&mut quote, &mut out);
        out.push_str(&text_to_html(line));
        if lines.peek().is_some() {
            out.push('\n');
        }
    }
    flush(&mut quote, &mut out);
    out.push_str("</div>");
    out
}

/// Sanitised HTML with each outermost `<blockquote>` (the quoted original of a reply, as mail
/// clients write it) folded into a `<details>` the reader opens if they want. The sanitiser's
/// output is well formed and its tag names lowercase, so counting the tags finds the outermost.
pub fn fold_quotes(html: &str) -> String {
    const OPEN: &str = "<blockquote";
    const CLOSE: &str = "</blockquote>";
    let mut out = String::with_capacity(html.len() + 64);
    let mut depth = 0usize;
    let mut rest = html;
    loop {
        let next_open = rest.find(OPEN);
        let next_close = rest.find(CLOSE);
        match (next_open, next_close) {
            (Some(open), close) if close.is_none_or(|close| open < close) => {
                out.push_str(&rest[..open]);
                if depth == 0 {
                    out.push_str("<details class=\"quote\"><summary>…</summary>");
                }
                depth += 1;
                out.push_str(OPEN);
                rest = &rest[open + OPEN.len()..];
            }
            (_, Some(close)) => {
                out.push_str(&rest[..close + CLOSE.len()]);
                rest = &rest[close + CLOSE.len()..];
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    out.push_str("</details>");
                }
            }
            _ => break,
        }
    }
    out.push_str(rest);
    out
}

/// `cid:` images as links to `base/<content id>`, for the content ids the message has.
pub fn cid_links<'a>(detail: &'a MessageDetail, base: &'a str) -> impl Fn(&str) -> Option<String> + 'a {
    move |cid: &str| {
        let known = detail.attachments.iter().any(|a| a.content_id.as_deref() == Some(cid));
        known.then(|| format!("{base}/{}", encode_path_segment(cid)))
    }
}

/// `cid:` images inlined as `data:` URLs (raster images only), for the sandboxed message frame,
/// whose requests carry no cookies.
pub fn cid_inline(detail: &MessageDetail) -> impl Fn(&str) -> Option<String> + '_ {
    move |cid: &str| {
        let part = mailroom_mime::part_by_content_id(detail.raw.as_deref()?, cid)?;
        let kind = part.info.content_type.as_str();
        RASTER_TYPES.contains(&kind).then(|| format!("data:{kind};base64,{}", STANDARD.encode(&part.data)))
    }
}

/// Image types a browser shows as pictures and nothing else.
const RASTER_TYPES: &[&str] = &["image/png", "image/gif", "image/jpeg", "image/webp", "image/bmp"];

/// Types a browser would run or render as a document: served as opaque bytes instead.
const ACTIVE_TYPES: &[&str] = &[
    "text/html",
    "application/xhtml+xml",
    "image/svg+xml",
    "text/xml",
    "application/xml",
    "text/javascript",
    "application/javascript",
    "application/pdf",
];

/// A download: always an attachment with a safe file name, with the part's type unless that type
/// could run in the browser, and never sniffed into something else.
pub fn download(bytes: Vec<u8>, content_type: &str, file_name: &str) -> Response {
    let content_type = content_type.trim().to_ascii_lowercase();
    let safe_type = if content_type.is_empty()
        || ACTIVE_TYPES.iter().any(|t| content_type.starts_with(t))
        || !content_type.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
    {
        "application/octet-stream".to_owned()
    } else {
        content_type
    };
    let mut response = (StatusCode::OK, Body::from(bytes)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&safe_type).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    if let Ok(value) = HeaderValue::from_str(&content_disposition(file_name)) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; sandbox"));
    response
}

/// An inline image a `cid:` reference names, for the message frame: images only, anything else
/// is offered as a download.
pub fn inline_image(bytes: Vec<u8>, content_type: &str) -> Response {
    let content_type = content_type.trim().to_ascii_lowercase();
    if !RASTER_TYPES.contains(&content_type.as_str()) {
        return download(bytes, &content_type, "inline");
    }
    let mut response = (StatusCode::OK, Body::from(bytes)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&content_type).unwrap_or(HeaderValue::from_static("image/png")),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=3600"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; sandbox"));
    response
}

/// `attachment; filename="…"; filename*=UTF-8''…` (RFC 6266): an ASCII stand-in for old clients
/// and the real name percent-encoded. Path separators and control characters never survive.
pub fn content_disposition(file_name: &str) -> String {
    let cleaned: String = file_name
        .chars()
        // Marks that reorder or hide text are dropped: `résumé\u{202e}gnp.exe` would show as
        // `résumé exe.png`.
        .filter(|c| !reorders_or_hides_text(*c))
        .map(|c| if c.is_control() || matches!(c, '/' | '\\') { '_' } else { c })
        .collect::<String>()
        .trim()
        .trim_start_matches('.')
        .to_owned();
    let cleaned = if cleaned.is_empty() { "attachment".to_owned() } else { cleaned };
    let ascii: String = cleaned
        .chars()
        .map(|c| if c.is_ascii_graphic() && c != '"' && c != '%' || c == ' ' { c } else { '_' })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{}", encode_path_segment(&cleaned))
}

/// A file name as the page shows it: without the marks that reorder or hide its text, so that
/// the name read is the name saved.
pub fn shown_file_name(name: &str) -> String {
    name.chars().filter(|c| !reorders_or_hides_text(*c)).collect()
}

/// Unicode's invisible format characters: the bidirectional marks, embeddings, overrides and
/// isolates, zero-width characters and the byte order mark.
fn reorders_or_hides_text(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// Percent-encodes everything but RFC 5987's attr-chars.
pub fn encode_path_segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A file name for a message's original: its subject, made safe, with `.eml`.
pub fn eml_name(subject: &str) -> String {
    let base: String = subject.chars().take(80).collect();
    let base = base.trim();
    format!("{}.eml", if base.is_empty() { "message" } else { base })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_lose_paths_and_control_characters_and_keep_unicode_encoded() {
        assert_eq!(
            content_disposition("../../etc/passwd"),
            "attachment; filename=\"_.._etc_passwd\"; filename*=UTF-8''_.._etc_passwd"
        );
        assert_eq!(
            content_disposition("příloha\r\n.pdf"),
            "attachment; filename=\"p__loha__.pdf\"; filename*=UTF-8''p%C5%99%C3%ADloha__.pdf"
        );
        assert_eq!(content_disposition(" "), "attachment; filename=\"attachment\"; filename*=UTF-8''attachment");
        // A right-to-left override would show `résumé exe.png` for an .exe.
        let reordered = content_disposition("résumé \u{202e}gnp.exe");
        assert_eq!(reordered, "attachment; filename=\"r_sum_ gnp.exe\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20gnp.exe");
        assert!(!content_disposition("a\u{200b}\u{2066}b\u{feff}.txt").contains("%E2"));
        assert_eq!(eml_name("  "), "message.eml");
    }

    #[test]
    fn plain_text_keeps_its_lines_and_folds_quotes() {
        let html = plain_html("Thanks!\nSee https://example.org/x\n\nOn Monday Bob wrote:\n> first <b>\n> second\n");
        assert!(html.starts_with("<div class=\"plain\">Thanks!\nSee <a href=\"https://example.org/x\""), "{html}");
        assert!(
            html.contains("<details class=\"quote\"><summary>…</summary>&gt; first &lt;b&gt;\n&gt; second</details>"),
            "{html}"
        );
        assert_eq!(plain_html("no quote"), "<div class=\"plain\">no quote</div>");
    }

    #[test]
    fn outermost_quotes_are_folded_and_the_rest_kept() {
        let html = "<p>Yes.</p><blockquote>old <blockquote>older</blockquote> old</blockquote><p>Bye</p>";
        assert_eq!(
            fold_quotes(html),
            "<p>Yes.</p><details class=\"quote\"><summary>…</summary><blockquote>old <blockquote>older</blockquote> \
             old</blockquote></details><p>Bye</p>"
        );
        assert_eq!(fold_quotes("<p>no quote</p>"), "<p>no quote</p>");
        assert_eq!(
            fold_quotes("<blockquote type=\"cite\">a</blockquote><blockquote>b</blockquote>")
                .matches("<details")
                .count(),
            2
        );
    }

    #[test]
    fn active_types_download_as_bytes() {
        let response = download(b"<script>".to_vec(), "text/html; charset=utf-8", "a.html");
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/octet-stream");
        assert!(response.headers()[header::CONTENT_DISPOSITION].to_str().unwrap().starts_with("attachment;"));
        let response = download(b"x".to_vec(), "image/png", "a.png");
        assert_eq!(response.headers()[header::CONTENT_TYPE], "image/png");
    }
}
