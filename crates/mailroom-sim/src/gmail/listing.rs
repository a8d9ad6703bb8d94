//! What the list methods share: which messages a list shows (`q`, `labelIds`,
//! `includeSpamTrash`) and paging with `pageToken`/`maxResults`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::errors::ApiError;
use super::mailbox::{Mailbox, Message};
use super::methods::Call;
use super::search::Query;

/// The filters of `messages.list`, `threads.list` and `drafts.list`.
pub struct Filter {
    query: Query,
    label_ids: Vec<String>,
    include_spam_trash: bool,
}

impl Filter {
    pub fn from_call(call: &Call<'_>) -> Result<Filter, ApiError> {
        let q = call.params.get("q").unwrap_or_default();
        if call.metadata_only && !q.trim().is_empty() {
            return Err(ApiError::forbidden("Metadata scope does not support 'q' parameter"));
        }
        let query = Query::parse(q);
        let label_ids = call.params.all("labelIds");
        // Asking for spam or trash by label or in `q` shows them even without includeSpamTrash.
        let include_spam_trash = call.params.flag("includeSpamTrash")?
            || label_ids.iter().any(|l| l == "SPAM" || l == "TRASH")
            || query.reaches_spam_or_trash();
        Ok(Filter { query, label_ids, include_spam_trash })
    }

    pub fn matches(&self, mailbox: &Mailbox, message: &Message, now_ms: i64) -> bool {
        self.label_ids.iter().all(|l| message.has(l))
            && (self.include_spam_trash || !(message.has("SPAM") || message.has("TRASH")))
            && self.query.matches(mailbox, message, now_ms)
    }
}

/// One page of a list.
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_page_token: Option<String>,
    /// How many items the whole list has (`resultSizeEstimate`).
    pub total: usize,
}

/// The page after `pageToken` of items keyed `(date_ms, id)`, newest first. A token names the
/// last item of the previous page, so pages stay right when mail arrives between requests.
pub fn page<T>(mut items: Vec<((i64, String), T)>, call: &Call<'_>) -> Result<Page<T>, ApiError> {
    items.sort_by(|a, b| b.0.cmp(&a.0));
    let total = items.len();
    let max = call.params.max_results()?;
    let after = match call.params.get("pageToken").filter(|t| !t.is_empty()) {
        None => None,
        Some(token) => Some(decode_token(token).ok_or_else(|| ApiError::invalid_argument("Invalid pageToken"))?),
    };
    let mut rest: Vec<((i64, String), T)> =
        items.into_iter().filter(|(key, _)| after.as_ref().is_none_or(|a| key < a)).collect();
    let more = rest.len() > max;
    rest.truncate(max);
    let next_page_token = rest.last().filter(|_| more).map(|((date, id), _)| encode_token(*date, id));
    Ok(Page { items: rest.into_iter().map(|(_, item)| item).collect(), next_page_token, total })
}

fn encode_token(date: i64, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{date}:{id}"))
}

fn decode_token(token: &str) -> Option<(i64, String)> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(token).ok()?).ok()?;
    let (date, id) = text.split_once(':')?;
    Some((date.parse().ok()?, id.to_owned()))
}
