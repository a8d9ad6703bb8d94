//! A message whose files the store keeps apart, joined for a provider that takes it whole
//! (Gmail): streamed to the provider, each file read and encoded a piece at a time as the request
//! goes, with the exact length given beforehand, so that the server holds about one piece of it
//! at a time, never the message.

use futures_util::StreamExt as _;
use mailroom_mime::apart::{self, Base64Lines};
use mailroom_providers::MediaUpload;
use mailroom_store::Store;

/// Where a file's pieces are.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Pieces {
    Draft { file: i64 },
    Submission { id: i64, position: i64 },
}

/// A file to join: its name, content type, size and pieces.
#[derive(Debug, Clone)]
pub(crate) struct Apart {
    pub name: String,
    pub content_type: String,
    pub size: i64,
    pub pieces: Pieces,
}

/// The upload of `light` (the message built without its files) with `files` joined.
pub(crate) fn joined(store: Store, light: &[u8], files: Vec<Apart>) -> MediaUpload {
    let boundary = format!("mailroom-files-{}", mailroom_store::random_token());
    let head = apart::head(light, &boundary);
    let heads: Vec<Vec<u8>> = files.iter().map(|f| apart::file_head(&boundary, &f.name, &f.content_type)).collect();
    let end = apart::end(&boundary);
    let length = head.len()
        + heads.iter().map(Vec::len).sum::<usize>()
        + files.iter().map(|f| apart::lines_len(usize::try_from(f.size).unwrap_or(0))).sum::<usize>()
        + end.len();
    let state = State { store, head, heads, files, end, step: Step::Head };
    let pieces = futures_util::stream::unfold(state, next).boxed();
    MediaUpload::streamed(length as u64, pieces)
}

struct State {
    store: Store,
    head: Vec<u8>,
    heads: Vec<Vec<u8>>,
    files: Vec<Apart>,
    end: Vec<u8>,
    step: Step,
}

enum Step {
    Head,
    FileHead(usize),
    /// File `n`, its piece `seq` next, the line not yet full.
    Piece(usize, i64, Base64Lines),
    End,
    Done,
}

async fn next(mut state: State) -> Option<(std::io::Result<Vec<u8>>, State)> {
    loop {
        match std::mem::replace(&mut state.step, Step::Done) {
            Step::Head => {
                state.step = Step::FileHead(0);
                return Some((Ok(std::mem::take(&mut state.head)), state));
            }
            Step::FileHead(n) if n == state.files.len() => state.step = Step::End,
            Step::FileHead(n) => {
                state.step = Step::Piece(n, 0, Base64Lines::default());
                return Some((Ok(std::mem::take(&mut state.heads[n])), state));
            }
            Step::Piece(n, seq, mut lines) => {
                let read = read_piece(&state.store, state.files[n].pieces, seq).await;
                let mut out = Vec::new();
                match read {
                    // The request is cut off; the send is tried again later.
                    Err(error) => return Some((Err(std::io::Error::other(error.to_string())), state)),
                    Ok(Some(piece)) => {
                        lines.push(&piece, &mut out);
                        state.step = Step::Piece(n, seq + 1, lines);
                    }
                    Ok(None) => {
                        lines.finish(&mut out);
                        state.step = Step::FileHead(n + 1);
                    }
                }
                return Some((Ok(out), state));
            }
            Step::End => return Some((Ok(std::mem::take(&mut state.end)), state)),
            Step::Done => return None,
        }
    }
}

/// Attaches a file kept in pieces to Outlook draft `message` (see
/// `Providers::graph_attach_file`): a small one read whole, a large one through an upload
/// session, each chunk filled from the pieces as it goes, so that one chunk is held at a time.
pub(crate) async fn graph_attach_pieces(
    engine: &crate::Engine,
    account: mailroom_domain::AccountId,
    token: &secrecy::SecretString,
    message: &str,
    file: &Apart,
) -> Result<(), crate::SyncError> {
    let (providers, pacing, store) = (&engine.providers, &engine.pacing, &engine.store);
    let size = usize::try_from(file.size).unwrap_or(0);
    if size < mailroom_providers::GRAPH_UPLOAD_MIN {
        let mut bytes = Vec::with_capacity(size);
        for seq in 0i64.. {
            match read_piece(store, file.pieces, seq).await? {
                Some(piece) => bytes.extend_from_slice(&piece),
                None => break,
            }
        }
        let attach = || providers.graph_attach_file(token, message, &file.name, &file.content_type, &bytes);
        return Ok(pacing.graph(account, attach).await?);
    }
    let session = || providers.graph_upload_session(token, message, &file.name, &file.content_type, size);
    let session = pacing.graph(account, session).await?;
    let chunk_size = mailroom_providers::GRAPH_UPLOAD_CHUNK;
    let (mut chunk, mut start) = (Vec::with_capacity(chunk_size), 0usize);
    for seq in 0i64.. {
        let piece = read_piece(store, file.pieces, seq).await?;
        let last = piece.is_none();
        let mut rest: &[u8] = piece.as_deref().unwrap_or_default();
        while !rest.is_empty() || (last && !chunk.is_empty()) {
            let take = (chunk_size - chunk.len()).min(rest.len());
            chunk.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if chunk.len() == chunk_size || (last && rest.is_empty()) {
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(chunk_size));
                let length = full.len();
                providers.graph_upload_chunk(&session, start, full, size).await?;
                start += length;
            }
        }
        if last {
            return Ok(());
        }
    }
    Ok(())
}

async fn read_piece(store: &Store, pieces: Pieces, seq: i64) -> Result<Option<Vec<u8>>, mailroom_store::StoreError> {
    match pieces {
        Pieces::Draft { file } => store.draft_file_piece(file, seq).await,
        Pieces::Submission { id, position } => store.submission_file_piece(id, position, seq).await,
    }
}
