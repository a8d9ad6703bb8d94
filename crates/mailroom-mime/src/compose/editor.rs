//! The HTML of the compose page's editor, made fit to send: images pasted into it arrive as
//! `data:` URLs and leave as inline parts the HTML names by `cid:`; everything else passes a
//! small allow-list of the formatting the editor makes (no script, no event handlers, no
//! styles, links to web and mail addresses only).

use std::sync::LazyLock;

use base64::Engine as _;

use super::InlineImage;

/// Raster image types a pasted image may have (SVG can carry script).
const IMAGE_TYPES: &[&str] = &["image/png", "image/gif", "image/jpeg", "image/webp"];
/// The largest pasted image, decoded; the caller refuses larger ones (they are kept here so
/// that the caller can say so rather than drop an image the user sees).
pub const INLINE_IMAGE_LIMIT: usize = 10 * 1024 * 1024;

static EDITOR: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut builder = ammonia::Builder::empty();
    builder
        .tags(
            [
                "a",
                "b",
                "strong",
                "i",
                "em",
                "u",
                "s",
                "ul",
                "ol",
                "li",
                "blockquote",
                "h1",
                "h2",
                "h3",
                "p",
                "br",
                "div",
                "span",
                "img",
                "pre",
                "code",
                "hr",
            ]
            .into_iter()
            .collect(),
        )
        .add_tag_attributes("a", ["href"])
        .add_tag_attributes("img", ["src", "alt", "width", "height"])
        .url_schemes(["http", "https", "mailto", "cid"].into_iter().collect())
        .url_relative(ammonia::UrlRelative::Deny)
        .link_rel(Some("noopener noreferrer"));
    builder
});

/// The editor's HTML, cleaned, with each pasted image taken out as an inline part.
pub fn editor_html(html: &str) -> (String, Vec<InlineImage>) {
    let mut images = Vec::new();
    let mut out = String::with_capacity(html.len().min(1 << 20));
    let mut rest = html;
    while let Some(start) = rest.find("data:") {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        // The data URL runs to the attribute's closing quote (the browser writes `src="…"`).
        let end = after.find(['"', '\'', ' ', '>']).unwrap_or(after.len());
        let url = &after[..end];
        // A data URL that is not an image we send is dropped.
        if let Some((content_type, bytes)) = data_image(url) {
            let content_id = format!("image{}.{:016x}@mailroom", images.len() + 1, fingerprint(&bytes));
            out.push_str("cid:");
            out.push_str(&content_id);
            images.push(InlineImage { content_id, content_type, bytes });
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    (EDITOR.clean(&out).to_string(), images)
}

/// The editor's HTML, cleaned as [`editor_html`] cleans it but with pasted images left in as
/// data URLs: a draft kept as the user sees it, to be put back in the editor.
pub fn editor_html_kept(html: &str) -> String {
    let mut kept = Vec::new();
    let mut out = String::with_capacity(html.len().min(1 << 20));
    let mut rest = html;
    while let Some(start) = rest.find("data:") {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let end = after.find(['"', '\'', ' ', '>']).unwrap_or(after.len());
        if data_image(&after[..end]).is_some() {
            out.push_str(&format!("cid:kept{}", kept.len()));
            kept.push(&after[..end]);
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    let mut clean = EDITOR.clean(&out).to_string();
    // Back to front, so that `kept1` is not found inside `kept10`.
    for (n, url) in kept.iter().enumerate().rev() {
        clean = clean.replace(&format!("\"cid:kept{n}\""), &format!("\"{url}\""));
    }
    clean
}

/// The type and bytes of a `data:image/…;base64,…` URL of an allowed type.
fn data_image(url: &str) -> Option<(String, Vec<u8>)> {
    let (header, data) = url.strip_prefix("data:")?.split_once(',')?;
    let content_type = header.strip_suffix(";base64")?.to_ascii_lowercase();
    if !IMAGE_TYPES.contains(&content_type.as_str()) {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(data.trim()).ok()?;
    Some((content_type, bytes))
}

/// A stable 64-bit FNV-1a hash, to make content ids unique per image.
fn fingerprint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_stays_and_script_handlers_and_styles_go() {
        let (html, images) = editor_html(
            "<p style=\"color:red\" onclick=\"x()\"><b>Bold</b> <i>it</i> <u>u</u></p><script>alert(1)</script>\
             <ul><li>one</li></ul><blockquote>q</blockquote><h2>Head</h2>\
             <a href=\"javascript:alert(1)\">bad</a> <a href=\"https://example.org/\">good</a>",
        );
        assert!(images.is_empty());
        assert!(html.contains("<p><b>Bold</b> <i>it</i> <u>u</u></p>"), "{html}");
        assert!(html.contains("<ul><li>one</li></ul><blockquote>q</blockquote><h2>Head</h2>"), "{html}");
        assert!(!html.contains("script") && !html.contains("onclick") && !html.contains("style"), "{html}");
        assert!(!html.contains("javascript"), "{html}");
        assert!(html.contains("<a href=\"https://example.org/\" rel=\"noopener noreferrer\">good</a>"), "{html}");
    }

    #[test]
    fn a_pasted_image_becomes_an_inline_part_named_by_cid() {
        let png = [0x89, b'P', b'N', b'G', 1, 2, 3];
        let data = base64::engine::general_purpose::STANDARD.encode(png);
        let (html, images) =
            editor_html(&format!("<p>See <img src=\"data:image/png;base64,{data}\" alt=\"chart\"></p>"));
        assert_eq!(images.len(), 1);
        assert_eq!(images[0].bytes, png);
        assert_eq!(images[0].content_type, "image/png");
        assert!(html.contains(&format!("<img src=\"cid:{}\" alt=\"chart\">", images[0].content_id)), "{html}");
    }

    #[test]
    fn a_kept_draft_holds_its_images_as_data_urls_and_nothing_unsafe() {
        let png = base64::engine::general_purpose::STANDARD.encode([1u8, 2, 3]);
        let html = format!(
            "<b>x</b><img src=\"data:image/png;base64,{png}\"><img src=\"data:image/svg+xml;base64,PHN2Zz4=\">\
             <a href=\"data:text/html,hi\">l</a><script>1</script>"
        );
        let kept = editor_html_kept(&html);
        assert!(kept.contains(&format!("<img src=\"data:image/png;base64,{png}\">")), "{kept}");
        assert!(kept.contains("<b>x</b>") && !kept.contains("svg") && !kept.contains("text/html"), "{kept}");
        assert!(!kept.contains("script"), "{kept}");
    }

    #[test]
    fn svg_and_broken_data_urls_are_dropped() {
        let (html, images) = editor_html(
            "<img src=\"data:image/svg+xml;base64,PHN2Zz4=\"><img src=\"data:image/png;base64,***\">\
             <img src=\"data:text/html,<script>\">",
        );
        assert!(images.is_empty());
        assert!(!html.contains("data:") && !html.contains("svg") && !html.contains("script"), "{html}");
    }
}
