//! A message whose files the store keeps apart, joined for a provider that takes it whole
//! (Gmail): written into the upload itself, each file read and encoded a piece at a time, so that
//! the upload is the only copy of the message the server holds.

use std::future::Future;

use mailroom_mime::apart;
use mailroom_store::StoreError;

/// A file to join: its name, content type and size.
pub(crate) struct Apart<'a> {
    pub name: &'a str,
    pub content_type: &'a str,
    pub size: i64,
}

/// The room the whole message takes.
pub(crate) fn joined_len(light: &[u8], files: &[Apart<'_>]) -> usize {
    let files: usize = files.iter().map(|f| apart::encoded_len(usize::try_from(f.size).unwrap_or(0), f.name)).sum();
    light.len() + files + 256
}

/// Writes `light` with `files` joined onto `out`; `piece(n, seq)` reads piece `seq` of file `n`
/// (`None` past its last).
pub(crate) async fn write_joined<F, Fut>(
    out: &mut Vec<u8>,
    light: &[u8],
    files: &[Apart<'_>],
    mut piece: F,
) -> Result<(), StoreError>
where
    F: FnMut(usize, i64) -> Fut,
    Fut: Future<Output = Result<Option<Vec<u8>>, StoreError>>,
{
    let boundary = format!("mailroom-files-{}", mailroom_store::random_token());
    out.extend_from_slice(&apart::head(light, &boundary));
    for (n, file) in files.iter().enumerate() {
        out.extend_from_slice(&apart::file_head(&boundary, file.name, file.content_type));
        let mut lines = apart::Base64Lines::default();
        for seq in 0i64.. {
            match piece(n, seq).await? {
                Some(bytes) => lines.push(&bytes, out),
                None => break,
            }
        }
        lines.finish(out);
    }
    out.extend_from_slice(&apart::end(&boundary));
    Ok(())
}
