//! Just enough MIME multipart reading for the batch endpoint (`multipart/mixed`) and media
//! uploads (`multipart/related`): the boundary, the parts, and a part's headers and body.

use axum::http::{HeaderMap, header};

/// The boundary of a body whose `Content-Type` is `kind` (`multipart/mixed`, …).
pub fn boundary(headers: &HeaderMap, kind: &str) -> Option<String> {
    let content_type = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let (found, params) = content_type.split_once(';')?;
    if !found.trim().eq_ignore_ascii_case(kind) {
        return None;
    }
    params.split(';').find_map(|p| {
        let (name, value) = p.split_once('=')?;
        name.trim().eq_ignore_ascii_case("boundary").then(|| value.trim().trim_matches('"').to_owned())
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn strip_newline_start(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\r\n").or_else(|| bytes.strip_prefix(b"\n")).unwrap_or(bytes)
}

/// Drops the line break that belongs to the next delimiter.
pub fn strip_newline_end(bytes: &[u8]) -> &[u8] {
    bytes.strip_suffix(b"\r\n").or_else(|| bytes.strip_suffix(b"\n")).unwrap_or(bytes)
}

/// The parts between the delimiters (the preamble and epilogue are not parts).
pub fn parts<'b>(body: &'b [u8], boundary: &str) -> Vec<&'b [u8]> {
    let delimiter = format!("--{boundary}").into_bytes();
    let mut starts = Vec::new();
    let mut from = 0;
    while let Some(at) = find(&body[from..], &delimiter) {
        starts.push(from + at);
        from += at + delimiter.len();
    }
    starts.windows(2).map(|w| strip_newline_end(strip_newline_start(&body[w[0] + delimiter.len()..w[1]]))).collect()
}

/// A block's header fields and what follows the first empty line.
pub fn split_head(block: &[u8]) -> (Vec<(String, String)>, &[u8]) {
    if let Some(rest) = block.strip_prefix(b"\r\n").or_else(|| block.strip_prefix(b"\n")) {
        return (Vec::new(), rest);
    }
    let crlf = find(block, b"\r\n\r\n").map(|at| (at, at + 4));
    let lf = find(block, b"\n\n").map(|at| (at, at + 2));
    let (head, rest) = match (crlf, lf) {
        (Some(a), Some(b)) if b.0 < a.0 => (&block[..b.0], &block[b.1..]),
        (Some(a), _) => (&block[..a.0], &block[a.1..]),
        (None, Some(b)) => (&block[..b.0], &block[b.1..]),
        (None, None) => (block, &block[block.len()..]),
    };
    let headers = String::from_utf8_lossy(head)
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    (headers, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_come_without_preamble_epilogue_or_delimiter_line_breaks() {
        let body = b"preamble\r\n--b\r\nA: 1\r\n\r\none\r\n--b\r\n\r\ntwo\r\n--b--\r\nepilogue";
        let parts = parts(body, "b");
        assert_eq!(parts, vec![b"A: 1\r\n\r\none".as_slice(), b"\r\ntwo".as_slice()]);
        let (headers, rest) = split_head(parts[0]);
        assert_eq!((headers, rest), (vec![("A".to_owned(), "1".to_owned())], b"one".as_slice()));
        assert_eq!(split_head(parts[1]).1, b"two");
    }
}
