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
                let read = match state.files[n].pieces {
                    Pieces::Draft { file } => state.store.draft_file_piece(file, seq).await,
                    Pieces::Submission { id, position } => state.store.submission_file_piece(id, position, seq).await,
                };
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
