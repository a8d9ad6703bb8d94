//! The change feed: what happened to the caller's messages after a cursor, across all their
//! mailboxes, so that a client keeps its copy current without listing everything again.
//!
//! The cursor is each account's position in its feed, `account-seq` pairs joined by `.`. An
//! account the cursor does not name is read from its start, so a mailbox connected after the
//! cursor was given shows all its messages as added; one it names that the caller does not have
//! (a mailbox disconnected since) is left out, so the client's cursor goes on working.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use mailroom_domain::AccountId;
use mailroom_store::FeedEntry;
use serde::Serialize;
use serde_json::json;

use super::{ApiError, ApiUser, cursor_number, limit_param, query_param};
use crate::AppState;

const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1000;
const BAD_CURSOR: &str = "cursor is not one this API gave.";

#[derive(Serialize)]
struct FeedEntryJson {
    account_id: i64,
    seq: i64,
    kind: &'static str,
    message_id: Option<i64>,
    remote_id: String,
    at: i64,
}

impl From<FeedEntry> for FeedEntryJson {
    fn from(e: FeedEntry) -> FeedEntryJson {
        FeedEntryJson {
            account_id: e.account.0,
            seq: e.seq,
            kind: e.kind.as_str(),
            message_id: e.message_id,
            remote_id: e.remote_id,
            at: e.at,
        }
    }
}

fn encode(positions: &[(AccountId, i64)]) -> String {
    positions.iter().map(|(account, seq)| format!("{}-{seq}", account.0)).collect::<Vec<_>>().join(".")
}

/// The positions a cursor holds; `None` unless it has the form [`encode`] gives, the document's
/// pattern (an empty cursor is a user's with no mailboxes). An account named twice keeps the
/// earlier position, from which nothing is missed.
fn decode(cursor: &str) -> Option<Vec<(AccountId, i64)>> {
    let mut positions: Vec<(AccountId, i64)> = Vec::new();
    if cursor.is_empty() {
        return Some(positions);
    }
    for pair in cursor.split('.') {
        let (account, seq) = pair.split_once('-')?;
        let (account, seq) = (AccountId(cursor_number(account)?), cursor_number(seq)?);
        match positions.iter_mut().find(|(a, _)| *a == account) {
            Some(known) => known.1 = known.1.min(seq),
            None => positions.push((account, seq)),
        }
    }
    Some(positions)
}

/// `GET /api/v1/changes[?cursor=C][&limit=N]`: without a cursor, no entries and a cursor at the
/// feed's end, to start from now; with one, the entries after it, oldest first, `limit` at a time
/// (default 100, at most 1000), and the cursor to ask with next. `more` says whether the next
/// call has entries already.
pub async fn feed(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let query = query.as_deref();
    let limit = limit_param(query, DEFAULT_LIMIT, MAX_LIMIT)?;
    let Some(cursor) = query_param(query, "cursor")? else {
        let heads = state.store.feed_heads(user.id).await.map_err(ApiError::internal)?;
        return Ok(Json(json!({ "data": [], "next_cursor": encode(&heads), "more": false })).into_response());
    };
    let after = decode(&cursor).ok_or_else(|| ApiError::bad_request(BAD_CURSOR))?;
    // The store reads only the caller's accounts: one the cursor names that the caller does not
    // have is not in the positions it gives back, so the next cursor leaves it out. Refusing the
    // cursor instead would break every client's feed for good once a mailbox is disconnected, and
    // it reveals nothing, since another user's account reads the same as one that is gone.
    // One more than asked tells whether there is more.
    let (mut entries, mut positions) =
        state.store.changes_since(user.id, &after, limit + 1).await.map_err(ApiError::internal)?;
    let more = entries.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    if more && let Some(extra) = entries.pop() {
        // Its account goes back to its entry before it, or to where the cursor had it: every
        // account's entries come in seq order, so nothing before that position is left out.
        let back = entries
            .iter()
            .rev()
            .find(|e| e.account == extra.account)
            .map(|e| e.seq)
            .or_else(|| after.iter().find(|(a, _)| *a == extra.account).map(|(_, seq)| *seq))
            .unwrap_or(0);
        if let Some(position) = positions.iter_mut().find(|(a, _)| *a == extra.account) {
            position.1 = back;
        }
    }
    let data: Vec<FeedEntryJson> = entries.into_iter().map(FeedEntryJson::from).collect();
    Ok(Json(json!({ "data": data, "next_cursor": encode(&positions), "more": more })).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_nothing_else_decodes() {
        let positions = vec![(AccountId(1), 5), (AccountId(12), 0)];
        assert_eq!(encode(&positions), "1-5.12-0");
        assert_eq!(decode("1-5.12-0"), Some(positions));
        assert_eq!(decode(""), Some(Vec::new()));
        assert_eq!(decode("1-6.1-5"), Some(vec![(AccountId(1), 5)]), "the earlier position of an account named twice");
        let longest = "9".repeat(18);
        assert_eq!(
            decode(&format!("{longest}-{longest}")),
            Some(vec![(AccountId(999_999_999_999_999_999), 999_999_999_999_999_999)])
        );
        let too_long = "1".repeat(19);
        for bad in
            ["1", "1-", "-5", "1-5.", ".1-5", "1--5", "+1-5", "1-+5", "a-1", "1-5-6", " 1-5", &format!("1-{too_long}")]
        {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
