//! The draft writer: takes each draft whose provider copy is behind to the provider (a Gmail
//! draft, an Outlook draft message), or deletes the copy of one the user discarded or sent.
//! Before changing a copy it checks that the copy is still the version it wrote; when someone
//! changed it at the provider, nothing is overwritten: the draft is held in conflict with the
//! provider's version, for the user to choose.

use mailroom_domain::Provider;
use mailroom_mime::compose::{Draft, Field, Mailbox, Outgoing, editor_html, parse_address_list, reply_references};
use mailroom_providers::{ApiError, GraphDraftFields, RemoteDraft};
use mailroom_store::{Account, DraftFile, StoreError, StoredDraft};
use secrecy::SecretString;

use crate::engine::with_access_token;
use crate::joined::{Apart, Pieces, graph_attach_pieces, joined};
use crate::{Engine, SyncError};

/// Gmail quota units of `drafts.get`, `drafts.list`, `drafts.create` / `update` and `drafts.delete`.
const GMAIL_GET_UNITS: u32 = 1;
const GMAIL_LIST_UNITS: u32 = 5;
const GMAIL_WRITE_UNITS: u32 = 15;
const GMAIL_DELETE_UNITS: u32 = 10;
/// How long a draft that could not be written waits before the next try.
const RETRY_SECS: i64 = 30;

/// What writing a draft did at the provider.
enum Written {
    Pushed(RemoteDraft),
    Deleted,
    /// Changed there since it was written: the provider's version and message.
    Conflict {
        version: String,
        raw: Vec<u8>,
    },
}

/// The draft as the provider gets it: the MIME without the draft's files, Gmail's conversation
/// for a reply, the fields Graph updates a draft with, and the files. Gmail gets the files joined
/// to the MIME, read a piece at a time; Graph takes them one by one (its MIME is for creating
/// only, and a request holds 4 MB at most).
struct Content {
    raw: Vec<u8>,
    thread: Option<String>,
    fields: GraphDraftFields,
    files: Vec<DraftFile>,
}

/// Writes every draft whose provider copy is behind, one claim at a time.
pub async fn push_drafts(engine: &Engine, owner: &str) {
    push_drafts_at(engine, owner, None).await;
}

/// [`push_drafts`] as if it were `at` (a test's clock: a discarded draft's Undo hold passed);
/// the present when `None`.
pub async fn push_drafts_at(engine: &Engine, owner: &str, at: Option<i64>) {
    loop {
        let draft = match engine.store.claim_draft(owner, at.unwrap_or_else(mailroom_store::now)).await {
            Ok(Some(draft)) => draft,
            Ok(None) => return,
            Err(err) => {
                tracing::warn!(error = %err, "cannot claim a draft");
                return;
            }
        };
        if let Err(err) = push_one(engine, owner, &draft).await {
            tracing::warn!(draft = draft.id, error = %err, "cannot record a draft");
        }
    }
}

async fn push_one(engine: &Engine, owner: &str, draft: &StoredDraft) -> Result<(), StoreError> {
    let store = &engine.store;
    let Some(account) = store.account(draft.fields.account).await? else {
        return Ok(()); // The account went, and its drafts with it.
    };
    let content = if draft.discarded { None } else { Some(content(engine, &account, draft).await?) };
    let result = with_access_token(engine, &account, |token| {
        let (account, content) = (&account, content.as_ref());
        async move { write(engine, account, draft, content, &token).await }
    })
    .await;
    match result {
        Ok(Written::Pushed(remote)) => {
            let pushed = (draft.revision, draft.files_version);
            store.draft_pushed(draft.id, owner, pushed, Some(&remote.id), Some(&remote.version)).await
        }
        Ok(Written::Deleted) => {
            store.draft_pushed(draft.id, owner, (draft.revision, draft.files_version), None, None).await
        }
        Ok(Written::Conflict { version, raw }) => {
            tracing::info!(draft = draft.id, account.id = %account.id, "a draft was changed at the provider");
            store.draft_conflict(draft.id, owner, &version, &raw).await
        }
        Err(error) => {
            tracing::info!(draft = draft.id, account.id = %account.id, %error, "a draft will be written later");
            store.draft_later(draft.id, owner, mailroom_store::now() + RETRY_SECS).await
        }
    }
}

async fn write(
    engine: &Engine,
    account: &Account,
    draft: &StoredDraft,
    content: Option<&Content>,
    token: &SecretString,
) -> Result<Written, SyncError> {
    let (providers, pacing, id) = (&engine.providers, &engine.pacing, account.id);
    let known = draft.remote_version.as_deref();
    // A Gmail draft taken in from the mailbox knows its message, not yet the draft's id.
    let remote = match (account.provider, &draft.remote_id, known) {
        (Provider::Google, None, Some(message)) => {
            pacing.gmail(id, GMAIL_LIST_UNITS, || providers.gmail_draft_of_message(token, message)).await?
        }
        _ => draft.remote_id.clone(),
    };
    let Some(content) = content else {
        if let Some(remote) = &remote {
            match account.provider {
                Provider::Google => {
                    pacing.gmail(id, GMAIL_DELETE_UNITS, || providers.gmail_draft_delete(token, remote)).await?;
                }
                // Graph's DELETE removes the copy outright (message-delete.md): a draft the
                // user discarded, or one already sent as its own message, leaves no copy in
                // Deleted Items.
                Provider::Microsoft => match pacing.graph(id, || providers.graph_delete(token, remote)).await {
                    Ok(()) | Err(ApiError::NotFound) => {}
                    Err(error) => return Err(error.into()),
                },
            }
        }
        return Ok(Written::Deleted);
    };
    match account.provider {
        Provider::Google => {
            let mut remote = remote.as_deref();
            if let Some(current) = remote {
                match pacing.gmail(id, GMAIL_GET_UNITS, || providers.gmail_draft_read(token, current)).await? {
                    // Deleted at the provider (or sent from there): written anew.
                    None => remote = None,
                    Some((version, raw)) if Some(version.as_str()) != known => {
                        return Ok(Written::Conflict { version, raw });
                    }
                    Some(_) => {}
                }
            }
            let thread = content.thread.as_deref();
            if content.files.is_empty() {
                let written = pacing
                    .gmail(id, GMAIL_WRITE_UNITS, || providers.gmail_draft_write(token, remote, &content.raw, thread))
                    .await?;
                return Ok(Written::Pushed(written));
            }
            let apart: Vec<Apart> = content
                .files
                .iter()
                .map(|f| Apart {
                    name: f.name.clone(),
                    content_type: f.content_type.clone(),
                    size: f.size,
                    pieces: Pieces::Draft { file: f.id },
                })
                .collect();
            let written = pacing
                .gmail(id, GMAIL_WRITE_UNITS, || {
                    let upload = joined(engine.store.clone(), &content.raw, apart.clone());
                    providers.gmail_draft_write_upload(token, remote, upload, thread)
                })
                .await?;
            Ok(Written::Pushed(written))
        }
        Provider::Microsoft => {
            if let Some(current) = draft.remote_id.as_deref() {
                match pacing.graph(id, || providers.graph_draft_version(token, current)).await? {
                    None => {}
                    // A draft taken in from the mailbox has no version yet: it was read just now.
                    Some(version) if known.is_some_and(|known| known != version) => {
                        let raw = pacing.graph(id, || providers.graph_message_mime(token, current)).await?;
                        return Ok(Written::Conflict { version, raw });
                    }
                    Some(_) => {
                        let mut version =
                            pacing.graph(id, || providers.graph_draft_update(token, current, &content.fields)).await?;
                        if draft.files_version != draft.pushed_files_version
                            && let Some(changed) = graph_files(engine, draft, current, &content.files, token).await?
                        {
                            version = changed;
                        }
                        return Ok(Written::Pushed(RemoteDraft { id: current.to_owned(), version }));
                    }
                }
            }
            let mut created = pacing.graph(id, || providers.graph_draft_create(token, &content.raw)).await?;
            if let Some(version) = graph_files(engine, draft, &created.id, &content.files, token).await? {
                created.version = version;
            }
            Ok(Written::Pushed(created))
        }
    }
}

/// Gives Outlook draft `id` exactly the draft's files: the ones it has are taken off and these
/// attached, each on its own (small ones in one request, larger through an upload session).
/// The draft's new `changeKey` when anything changed.
async fn graph_files(
    engine: &Engine,
    draft: &StoredDraft,
    id: &str,
    files: &[DraftFile],
    token: &SecretString,
) -> Result<Option<String>, SyncError> {
    let (providers, pacing, account) = (&engine.providers, &engine.pacing, draft.fields.account);
    let present = pacing.graph(account, || providers.graph_attachments(token, id)).await?;
    let stale: Vec<_> = present.into_iter().filter(|a| !a.is_inline).collect();
    if stale.is_empty() && files.is_empty() {
        return Ok(None);
    }
    for attachment in &stale {
        pacing.graph(account, || providers.graph_detach(token, id, &attachment.id)).await?;
    }
    for file in files {
        let apart = Apart {
            name: file.name.clone(),
            content_type: file.content_type.clone(),
            size: file.size,
            pieces: Pieces::Draft { file: file.id },
        };
        graph_attach_pieces(engine, account, token, id, &apart).await?;
    }
    Ok(pacing.graph(account, || providers.graph_draft_version(token, id)).await?)
}

/// The draft as a message. Addresses are as the user typed them: an entry that does not parse
/// yet is left out of the provider's copy (the user's text is kept in the store).
async fn content(engine: &Engine, account: &Account, draft: &StoredDraft) -> Result<Content, StoreError> {
    let f = &draft.fields;
    // A field that does not parse as a whole keeps the entries that do.
    let lenient = |field: Field, text: &str| {
        parse_address_list(field, text).unwrap_or_else(|_| {
            text.split([',', ';']).filter_map(|entry| parse_address_list(field, entry).ok()).flatten().collect()
        })
    };
    let (to, cc, bcc) = (lenient(Field::To, &f.to), lenient(Field::Cc, &f.cc), lenient(Field::Bcc, &f.bcc));
    // The identity the draft is written as when it is one of the mailbox's, else its default: a
    // draft never carries a From the mailbox does not send as.
    let identities = engine.store.identities(account.id).await?;
    let identity = identities
        .iter()
        .find(|i| i.address.eq_ignore_ascii_case(f.from.trim()))
        .or_else(|| identities.iter().find(|i| i.is_default));
    let address = identity.map_or(account.address.clone(), |i| i.address.clone());
    let name = identity.and_then(|i| i.name.clone()).or_else(|| account.display_name.clone());
    let from = Mailbox::new(name.as_deref(), &address, Field::From)
        .or_else(|_| Mailbox::new(None, &account.address, Field::From))
        .unwrap_or(Mailbox { name: None, address: account.address.clone() });
    let (mut thread, mut in_reply_to, mut references) = (None, None, Vec::new());
    if matches!(f.mode.as_str(), "reply" | "all")
        && let Some(original) = f.original
        && let Some(detail) = engine.store.message_detail(draft.user, original).await?
    {
        // A threadId Gmail would not honour (the subject was changed) is not sent.
        if account.provider == Provider::Google && mailroom_mime::subjects_match(&detail.summary.subject, &f.subject) {
            thread = detail.summary.thread.clone();
        }
        if let Some(parent) = &detail.internet_message_id {
            let parent = parent.trim_matches(['<', '>']);
            in_reply_to = Some(parent.to_owned());
            references = reply_references(parent, &[]);
        }
    }
    let subject: String = f.subject.chars().map(|c| if c.is_control() { ' ' } else { c }).take(900).collect();
    // The formatting goes as HTML with its images as inline parts (Gmail); Graph takes the
    // HTML alone when a draft is updated.
    let (html, inline) = match &f.html {
        Some(html) => {
            let (clean, inline) = editor_html(html);
            (Some(clean), inline)
        }
        None => (None, Vec::new()),
    };
    let fields = GraphDraftFields {
        subject: subject.clone(),
        text: f.body.clone(),
        html: html.clone(),
        to: to.iter().map(|m| (m.name.clone(), m.address.clone())).collect(),
        cc: cc.iter().map(|m| (m.name.clone(), m.address.clone())).collect(),
        bcc: bcc.iter().map(|m| (m.name.clone(), m.address.clone())).collect(),
    };
    // The files are read when they are written: Gmail's joined to the message, Outlook's one by
    // one and only when they changed.
    let files = engine.store.draft_files(draft.user, draft.id).await?;
    let message = Draft {
        to,
        cc,
        bcc,
        subject,
        text: f.body.clone(),
        html,
        in_reply_to,
        references,
        inline,
        attachments: Vec::new(),
    };
    let domain = from.address.rsplit_once('@').map_or("mailroom.invalid", |(_, d)| d).to_owned();
    let raw = match Outgoing::unsent(from, message) {
        Ok(outgoing) => outgoing.build(&format!("{}@{domain}", mailroom_store::random_token()), mailroom_store::now()),
        // Only more than a message's recipients could fail here: the provider gets none then.
        Err(_) => Vec::new(),
    };
    Ok(Content { raw, thread, fields, files })
}
