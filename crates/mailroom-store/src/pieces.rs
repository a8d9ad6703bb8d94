//! Files kept in pieces (migration 0032): a draft's files and the files a message in the outbox
//! carries apart from its built form. Each piece is written and read on its own, so that storing
//! or sending a 20 MB file holds about one copy of it, never one per layer (a blob bound whole is
//! copied by the driver and again by SQLite).

use base64::Engine as _;

/// The size of a piece: about 1 MB, and a whole number of base64 lines of 57 bytes, so that each
/// piece encodes into whole lines.
pub const PIECE_BYTES: usize = 57 * 18_396;

/// What a new file of a message is made from.
#[derive(Debug, Clone, Copy)]
pub enum FileContent<'a> {
    Bytes(&'a [u8]),
    /// Standard base64 without white space, checked by the caller ([`base64_size`]): decoded
    /// piece by piece as it is stored, never whole.
    Base64(&'a [u8]),
    /// A file of the user's draft, copied in the database.
    DraftFile(i64),
}

/// The pieces of `content` (bytes or base64): one at a time, decoded when base64.
pub(crate) fn pieces(content: FileContent<'_>) -> impl Iterator<Item = std::borrow::Cow<'_, [u8]>> {
    let (bytes, base64): (&[u8], &[u8]) = match content {
        FileContent::Bytes(bytes) => (bytes, &[]),
        FileContent::Base64(text) => (&[], text),
        FileContent::DraftFile(_) => (&[], &[]),
    };
    let plain = bytes.chunks(PIECE_BYTES).map(std::borrow::Cow::Borrowed);
    // PIECE_BYTES is a multiple of 3: each slice of its base64 decodes on its own.
    let decoded = base64.chunks(PIECE_BYTES / 3 * 4).map(|text| {
        std::borrow::Cow::Owned(base64::engine::general_purpose::STANDARD.decode(text).unwrap_or_default())
    });
    plain.chain(decoded)
}

/// The decoded size of standard base64 `text`, or `None` when it is not valid base64 (checked
/// piece by piece, so a large file is never decoded whole).
pub fn base64_size(text: &[u8]) -> Option<usize> {
    let mut size = 0;
    let mut buffer = vec![0; PIECE_BYTES];
    let slices = text.chunks(PIECE_BYTES / 3 * 4);
    let count = slices.len();
    for (n, slice) in slices.enumerate() {
        // Padding belongs at the very end only.
        if n + 1 < count && slice.contains(&b'=') {
            return None;
        }
        size += base64::engine::general_purpose::STANDARD.decode_slice(slice, &mut buffer).ok()?;
    }
    Some(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_in_pieces_decodes_to_the_whole_and_bad_base64_is_refused() {
        let data: Vec<u8> = (0..PIECE_BYTES * 2 + 5).map(|i| (i % 251) as u8).collect();
        let text = base64::engine::general_purpose::STANDARD.encode(&data);
        assert_eq!(base64_size(text.as_bytes()), Some(data.len()));
        let joined: Vec<u8> = pieces(FileContent::Base64(text.as_bytes())).flat_map(|p| p.into_owned()).collect();
        assert_eq!(joined, data);
        let plain: Vec<u8> = pieces(FileContent::Bytes(&data)).flat_map(|p| p.into_owned()).collect();
        assert_eq!(plain, data);
        assert_eq!(base64_size(b"not base64!"), None);
        assert_eq!(base64_size(b""), Some(0));
        let mut padded_inside = text.clone().into_bytes();
        padded_inside[10] = b'=';
        assert_eq!(base64_size(&padded_inside), None);
    }
}
