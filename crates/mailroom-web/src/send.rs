//! Submitting mail, for the API and the compose page alike: the sending identity, threading
//! for a reply, the plain-text alternative, the size limit of the provider, then a submission
//! in the store for the outbox to send when it is due.

use std::collections::BTreeMap;

use axum::body::Bytes;
use base64::Engine as _;
use mailroom_domain::template;
use mailroom_domain::{AccountId, Provider, UserId};
use mailroom_mime::compose::{
    ComposeError, Draft, Field, Mailbox, Outgoing, OutgoingAttachment, reply_references, reply_subject,
};
use mailroom_store::{FileContent, NewFile, NewSubmission, StoreError, Submitted};

use crate::AppState;

/// What a user asks to send.
#[derive(Debug, Clone)]
pub struct Compose {
    pub account: AccountId,
    /// The identity of the account to send as; its default when `None`.
    pub from: Option<String>,
    /// The same key from the same user is the same submission: a retry sends nothing more.
    pub idempotency_key: String,
    pub draft: Draft,
    /// The user's message this one answers: it is threaded under it.
    pub reply_to: Option<i64>,
    /// Not before this Unix time.
    pub send_at: i64,
    /// The user's draft it was written in, deleted once the provider has the message.
    pub saved_draft: Option<i64>,
    /// The files it carries (besides any already in `draft.attachments`).
    pub files: Vec<ComposeFile>,
}

/// A file to send, where it is now: held (a forwarded original's), base64 as an API caller sent
/// it, or kept with the user's draft. It is read a piece at a time when the message is large.
#[derive(Debug, Clone)]
pub struct ComposeFile {
    pub name: String,
    pub content_type: String,
    /// Its size, decoded.
    pub size: usize,
    pub source: FileSource,
}

#[derive(Debug, Clone)]
pub enum FileSource {
    Bytes(Bytes),
    /// Standard base64, checked to be valid and of `size` bytes.
    Base64(Bytes),
    /// A file of the user's draft.
    Draft {
        draft: i64,
        file: i64,
    },
}

/// From this many bytes of files together, a message's files are kept apart from it in the store
/// and joined only as it goes (see `mailroom_mime::apart`): under it, they are simply in the
/// built message, and Outlook takes it in one request.
pub const APART_MIN: usize = 2_000_000;

/// One message to each To recipient, `PACE_SECS` apart, as a batch named by the key.
pub const PACE_SECS: i64 = 2;

/// Why nothing was submitted.
#[derive(Debug, thiserror::Error)]
pub enum SendRefused {
    /// The account, or the message replied to, is not the user's.
    #[error("no such account or message")]
    NotFound,
    #[error("{0}")]
    Invalid(#[from] ComposeError),
    #[error("The message is {size} bytes; this mailbox sends at most {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("A reply is sent from the mailbox its message is in")]
    ReplyElsewhere,
    #[error("{0} is not an address this mailbox sends from")]
    UnknownSender(String),
    #[error("The idempotency key must be 1 to 200 visible characters")]
    BadKey,
    #[error("A message sent separately goes to its To recipients only, without Cc or Bcc")]
    SeparatelyWithCopies,
}

/// The largest attachment, decoded.
pub const ATTACHMENT_LIMIT: usize = 25 * 1024 * 1024;

/// Longest idempotency key, in characters.
const KEY_MAX: usize = 200;

/// Checks, builds and stores the message; the outbox is woken to send it when due.
pub async fn submit(
    state: &AppState,
    user: UserId,
    compose: Compose,
) -> Result<Result<Submitted, SendRefused>, StoreError> {
    submit_one(state, user, compose, None).await
}

/// Sends the message separately to each of its To recipients: one submission each, keyed
/// `key/1`, `key/2`... (so a retried call sends none twice) in the batch `key`, each
/// `PACE_SECS` after the one before.
pub async fn submit_separately(
    state: &AppState,
    user: UserId,
    compose: Compose,
) -> Result<Result<Vec<Submitted>, SendRefused>, StoreError> {
    if !compose.draft.cc.is_empty() || !compose.draft.bcc.is_empty() {
        return Ok(Err(SendRefused::SeparatelyWithCopies));
    }
    if compose.draft.to.is_empty() {
        return Ok(Err(SendRefused::Invalid(ComposeError::NoRecipient)));
    }
    if compose.draft.to.len() > mailroom_mime::compose::MAX_RECIPIENTS {
        return Ok(Err(SendRefused::Invalid(ComposeError::TooManyRecipients)));
    }
    let batch = compose.idempotency_key.trim().to_owned();
    if !valid_key(&batch) {
        return Ok(Err(SendRefused::BadKey));
    }
    let mut submitted = Vec::with_capacity(compose.draft.to.len());
    for (n, recipient) in compose.draft.to.iter().enumerate() {
        let mut one = compose.clone();
        // Each copy may greet its recipient: {{name}}, {{first_name}} and {{email}}.
        let values = recipient_values(recipient);
        let html_values = values.iter().map(|(k, v)| (k.clone(), mailroom_mime::escape_html(v))).collect();
        one.draft.subject = template::fill_known(&one.draft.subject, &values);
        one.draft.text = template::fill_known(&one.draft.text, &values);
        one.draft.html = one.draft.html.map(|html| template::fill_known(&html, &html_values));
        one.draft.to = vec![recipient.clone()];
        one.idempotency_key = format!("{batch}/{}", n + 1);
        // Saturating: a caller that lets a time near the end of `i64` through gets a late message,
        // not an overflow.
        one.send_at = compose.send_at.saturating_add(PACE_SECS.saturating_mul(i64::try_from(n).unwrap_or(i64::MAX)));
        match submit_one(state, user, one, Some(batch.clone())).await? {
            Ok(done) => submitted.push(done),
            Err(refused) => return Ok(Err(refused)),
        }
    }
    Ok(Ok(submitted))
}

/// What a copy sent separately may say of its recipient: the name (the address's local part
/// when there is none), the first word of it, and the address.
fn recipient_values(recipient: &Mailbox) -> BTreeMap<String, String> {
    let local = recipient.address.split('@').next().unwrap_or_default();
    let name = recipient.name.clone().filter(|n| !n.trim().is_empty()).unwrap_or_else(|| local.to_owned());
    let first = name.split_whitespace().next().unwrap_or(local).to_owned();
    BTreeMap::from([
        ("name".to_owned(), name),
        ("first_name".to_owned(), first),
        ("email".to_owned(), recipient.address.clone()),
    ])
}

/// Whether the caller's idempotency key is one Mailroom takes.
fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.chars().count() <= KEY_MAX && !key.chars().any(char::is_control)
}

async fn submit_one(
    state: &AppState,
    user: UserId,
    compose: Compose,
    batch: Option<String>,
) -> Result<Result<Submitted, SendRefused>, StoreError> {
    let key = compose.idempotency_key.trim();
    // A copy's key is its batch's, checked already, with `/n` after it.
    if batch.is_none() && !valid_key(key) {
        return Ok(Err(SendRefused::BadKey));
    }
    let store = &state.store;
    let Some(account) = store.account_of(user, compose.account).await? else {
        return Ok(Err(SendRefused::NotFound));
    };
    let mut draft = compose.draft;
    let mut thread = None;
    if let Some(parent) = compose.reply_to {
        let Some(detail) = store.message_detail(user, parent).await? else {
            return Ok(Err(SendRefused::NotFound));
        };
        if detail.summary.account != account.id {
            return Ok(Err(SendRefused::ReplyElsewhere));
        }
        if let Some(parent_id) = &detail.internet_message_id {
            let parent_id = parent_id.trim_matches(['<', '>']);
            let earlier = detail
                .raw
                .as_deref()
                .map(|raw| mailroom_mime::parse(raw).into_message().references)
                .unwrap_or_default();
            draft.in_reply_to = Some(parent_id.to_owned());
            draft.references = reply_references(parent_id, &earlier);
        }
        if draft.subject.trim().is_empty() {
            draft.subject = reply_subject(&detail.summary.subject);
        }
        // Gmail keeps a message in a conversation by its threadId, honoured only while the subject
        // is the conversation's; Outlook threads by the headers alone.
        if account.provider == Provider::Google
            && mailroom_mime::subjects_match(&detail.summary.subject, &draft.subject)
        {
            thread = detail.summary.thread.clone();
        }
    }
    if draft.text.trim().is_empty()
        && let Some(html) = &draft.html
    {
        draft.text = mailroom_mime::html_to_text(html);
    }
    let from = match sender(state, &account, compose.from.as_deref()).await? {
        Ok(from) => from,
        Err(refused) => return Ok(Err(refused)),
    };
    // Files small together go into the message; larger ones are kept apart.
    let total: usize = compose.files.iter().map(|f| f.size).sum();
    let apart = total >= APART_MIN;
    if !apart {
        for file in &compose.files {
            let bytes = match &file.source {
                FileSource::Bytes(bytes) => bytes.to_vec(),
                FileSource::Base64(text) => base64::engine::general_purpose::STANDARD.decode(text).unwrap_or_default(),
                FileSource::Draft { draft, file } => match store.draft_file(user, *draft, *file).await? {
                    Some((_, bytes)) => bytes,
                    None => return Ok(Err(SendRefused::NotFound)),
                },
            };
            draft.attachments.push(OutgoingAttachment {
                name: file.name.clone(),
                content_type: file.content_type.clone(),
                bytes,
            });
        }
    }
    let outgoing = match Outgoing::new(from, draft) {
        Ok(outgoing) => outgoing,
        Err(error) => return Ok(Err(error.into())),
    };
    // Unique and in the sender's domain, as mail clients write them.
    let domain = outgoing.from().address.rsplit_once('@').map_or("mailroom.invalid", |(_, domain)| domain);
    let message_id = format!("{}@{domain}", mailroom_store::random_token());
    let mut raw = outgoing.build(&message_id, compose.send_at);
    let mut held = Vec::new();
    let limit = match account.provider {
        Provider::Google => mailroom_providers::GMAIL_SEND_LIMIT,
        Provider::Microsoft => mailroom_providers::GRAPH_MESSAGE_LIMIT,
    };
    let apart_len: usize = match apart {
        true => compose.files.iter().map(|f| mailroom_mime::apart::encoded_len(f.size, &f.name)).sum(),
        false => 0,
    };
    if raw.len() + apart_len > limit {
        return Ok(Err(SendRefused::TooLarge { size: raw.len() + apart_len, limit }));
    }
    // Graph takes one request of 4 MB at most: a larger message goes up as a draft without its
    // files, which follow one by one (each small one in a request of its own, each large one
    // through an upload session), however many small files made it large.
    if account.provider == Provider::Microsoft && raw.len() > mailroom_providers::GRAPH_SEND_LIMIT {
        let (light, files) = outgoing.without_large_files(0);
        raw = light.build(&message_id, compose.send_at);
        let limit = mailroom_providers::GRAPH_SEND_LIMIT;
        if raw.len() > limit {
            return Ok(Err(SendRefused::TooLarge { size: raw.len(), limit }));
        }
        held = files;
    }
    let mut files: Vec<NewFile<'_>> = held
        .iter()
        .map(|a| NewFile { name: &a.name, content_type: &a.content_type, content: FileContent::Bytes(&a.bytes) })
        .collect();
    if apart {
        files.extend(compose.files.iter().map(|f| NewFile {
            name: &f.name,
            content_type: &f.content_type,
            content: match &f.source {
                FileSource::Bytes(bytes) => FileContent::Bytes(bytes),
                FileSource::Base64(text) => FileContent::Base64(text),
                FileSource::Draft { file, .. } => FileContent::DraftFile(*file),
            },
        }));
    }
    let recipients: Vec<String> = outgoing.recipients().map(Mailbox::display).collect();
    let new = NewSubmission {
        user,
        account: account.id,
        idempotency_key: key,
        message_id: &message_id,
        raw: &raw,
        thread_remote_id: thread.as_deref(),
        subject: outgoing.subject(),
        recipients: &recipients,
        send_at: compose.send_at,
        draft: compose.saved_draft,
        batch: batch.as_deref(),
        files: &files,
    };
    let submitted = store.submit(&new, mailroom_store::now()).await?;
    state.outbox_wake.notify_one();
    Ok(Ok(submitted))
}

/// The account's identity `wanted` (or its default), or the account's own address and name.
async fn sender(
    state: &AppState,
    account: &mailroom_store::Account,
    wanted: Option<&str>,
) -> Result<Result<Mailbox, SendRefused>, StoreError> {
    let identities = state.store.identities(account.id).await?;
    let chosen = match wanted.map(str::trim) {
        Some(wanted) => identities.into_iter().find(|i| i.address.eq_ignore_ascii_case(wanted)).or_else(|| {
            account.address.eq_ignore_ascii_case(wanted).then(|| mailroom_store::Identity {
                address: account.address.clone(),
                name: account.display_name.clone(),
                is_default: false,
            })
        }),
        None => identities.into_iter().find(|i| i.is_default),
    };
    let (address, name) = match (chosen, wanted) {
        (Some(identity), _) => (identity.address, identity.name),
        (None, Some(wanted)) => return Ok(Err(SendRefused::UnknownSender(wanted.to_owned()))),
        (None, None) => (account.address.clone(), account.display_name.clone()),
    };
    // The provider gave these; a name we cannot write into a header is left out rather than
    // the send refused, but the address must pass.
    let from =
        Mailbox::new(name.as_deref(), &address, Field::From).or_else(|_| Mailbox::new(None, &address, Field::From));
    Ok(from.map_err(SendRefused::Invalid))
}
