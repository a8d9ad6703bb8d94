//! Writing mail: the compose page (new, from a template, reply, reply all, forward), its
//! multipart form with attachments, and the outbox, where a message waits out the undo window or
//! its scheduled time and can be taken back. Submitting goes through `crate::send`, as the API does.

use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::extract::{Multipart, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mailroom_domain::{AccountId, FolderKind, Provider, UserId};
use mailroom_mime::compose::{
    ComposeError, Draft, Field, INLINE_IMAGE_LIMIT, Mailbox, OutgoingAttachment, editor_html, editor_html_kept,
    forward_subject, forwarded_body, parse_address_list, quoted_reply, reply_recipients, reply_subject,
};
use mailroom_store::{DraftFields, MessageDetail, StoredDraft, Submission, SubmissionStatus};

use super::{FieldErrors, see_other};
use crate::AppState;
use crate::errors::{ErrorKind, internal};
use crate::i18n::Texts;
use crate::send::{Compose, ComposeFile, FileSource, SendRefused, submit, submit_separately};
use crate::time::Clock;
use crate::viewer::{Ctx, SignedIn};

/// The largest compose form: attachments up to the largest message a provider takes.
pub const COMPOSE_BODY_LIMIT: usize = 40 * 1024 * 1024;

/// How the page was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    New,
    Reply,
    ReplyAll,
    Forward,
}

impl Mode {
    fn parse(s: &str) -> Option<Mode> {
        Some(match s {
            "new" => Mode::New,
            "reply" => Mode::Reply,
            "all" => Mode::ReplyAll,
            "forward" => Mode::Forward,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            Mode::New => "new",
            Mode::Reply => "reply",
            Mode::ReplyAll => "all",
            Mode::Forward => "forward",
        }
    }
}

/// An identity to send as: `value` is `account id:address`.
struct FromOption {
    value: String,
    label: String,
    selected: bool,
}

/// What the form holds, as typed.
#[derive(Debug, Default)]
pub(super) struct ComposeForm {
    account: i64,
    /// The identity of the account to send as; its default when empty.
    from: String,
    to: String,
    cc: String,
    bcc: String,
    subject: String,
    body: String,
    /// The message replied to or forwarded.
    original: Option<i64>,
    mode: String,
    /// Made when the page was shown: submitting the form twice sends once.
    key: String,
    /// `YYYY-MM-DDTHH:MM` in the user's time zone, or empty to send now.
    send_at: String,
    /// Whether a forward carries the original's attachments.
    keep_attachments: bool,
    /// The draft this is, once it has been saved.
    draft: Option<i64>,
    /// One message to each To recipient.
    separately: bool,
    /// The editor's HTML (with pasted images as data URLs); empty without script.
    html: String,
    /// Shown in a panel over the mail view (or under a conversation), without the page's frame.
    panel: bool,
    /// What the editor starts with when it is not `html` (a formatted signature); never sent as
    /// it is: the editor puts what the user made of it in `html`.
    initial_html: String,
}

/// Plain text as the editor shows it: escaped, each line break a `<br>`.
fn text_html(text: &str) -> String {
    askama::filters::escape(text, askama::filters::Html)
        .map(|escaped| escaped.to_string())
        .unwrap_or_default()
        .replace('\n', "<br>")
}

impl ComposeForm {
    /// The form as a draft to save: the draft's id (none yet for a first save) and its fields;
    /// `None` for a mode the page does not have.
    pub(super) fn into_draft(self) -> Option<(Option<i64>, DraftFields)> {
        let fields = self.fields()?;
        Some((self.draft, fields))
    }

    /// Whether the form is shown in a panel of the mail view.
    pub(super) fn is_panel(&self) -> bool {
        self.panel
    }

    fn fields(&self) -> Option<DraftFields> {
        let mode = Mode::parse(&self.mode)?;
        Some(DraftFields {
            account: AccountId(self.account),
            from: self.from.clone(),
            to: self.to.clone(),
            cc: self.cc.clone(),
            bcc: self.bcc.clone(),
            subject: self.subject.clone(),
            body: self.body.replace("\r\n", "\n"),
            html: Some(editor_html_kept(&self.html)).filter(|html| !html.trim().is_empty()),
            mode: mode.as_str().to_owned(),
            original: self.original,
        })
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "compose.html")]
struct ComposePage {
    ctx: Ctx,
    heading: &'static str,
    senders: Vec<FromOption>,
    form: ComposeForm,
    /// The original's attachments a forward sends along.
    forwarded: Vec<String>,
    errors: FieldErrors,
    undo_seconds: u32,
    /// The user's templates a new message can start from: (id, name).
    templates: Vec<(i64, String)>,
    /// A resumed draft that was changed at the provider: what is there now.
    theirs: Option<Theirs>,
    /// The files kept with the draft.
    files: Vec<super::drafts::FileView>,
    files_limit: usize,
}

/// The provider's version of a draft in conflict, as the page shows it.
struct Theirs {
    draft: i64,
    subject: String,
    to: String,
    text: String,
}

/// `GET /mail/compose[?reply=ID&mode=reply|all|forward][&account=ID]`.
pub async fn show(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    ctx: Ctx,
    RawQuery(query): RawQuery,
) -> Result<Response, ErrorKind> {
    let t = ctx.t;
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect();
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let mode = Mode::parse(param("mode").unwrap_or("new")).ok_or(ErrorKind::BadRequest)?;
    let number = |name: &str| param(name).map(|v| v.parse::<i64>().map_err(|_| ErrorKind::BadRequest)).transpose();
    let original_id = number("reply")?;
    let panel = param("panel") == Some("1");
    let mut form = ComposeForm {
        mode: mode.as_str().to_owned(),
        key: mailroom_store::random_token(),
        keep_attachments: true,
        panel,
        ..ComposeForm::default()
    };
    if let Some(id) = number("resume")? {
        // Taking a draft in is a change, made by the form of `resume` only; a link (a bookmark,
        // or another site's) leads to the message, whose page has that form.
        return Ok(axum::response::Redirect::to(&format!("/mail?open={id}")).into_response());
    }
    if let Some(id) = number("draft")? {
        let draft = state.store.draft(me.id, id).await.map_err(internal)?.ok_or(ErrorKind::NotFound)?;
        // A scheduled message taken back keeps its time, to be changed or kept.
        let at = number("at")?.filter(|at| *at > mailroom_store::now());
        let send_at = at.map(|at| crate::time::input_value(at, &ctx.clock.zone)).unwrap_or_default();
        let mut page = resumed(&state, ctx, me.id, draft, send_at).await?;
        page.form.panel = panel;
        return Ok(in_frame(panel, page.into_response()));
    }
    let mut forwarded = Vec::new();
    let mut template = None;
    match (mode, original_id) {
        (Mode::New, _) => {
            form.account = number("account")?.unwrap_or_default();
            if let Some(id) = number("template")? {
                template = Some(state.store.template(me.id, id).await.map_err(internal)?.ok_or(ErrorKind::NotFound)?);
            }
        }
        (_, None) => return Err(ErrorKind::BadRequest),
        (mode, Some(id)) => {
            let detail = state.store.message_detail(me.id, id).await.map_err(internal)?.ok_or(ErrorKind::NotFound)?;
            prefill(&state, t, &ctx.clock, &mut form, mode, &detail).await?;
            if mode == Mode::Forward {
                forwarded = detail.attachments.iter().map(|a| a.name.clone()).collect();
            }
        }
    }
    add_signature(&state, me.id, &mut form).await?;
    // A template's text goes above the signature; its placeholders are left for the user.
    if let Some(template) = template {
        form.subject = template.subject;
        if !form.initial_html.is_empty() {
            form.initial_html = format!("{}{}", text_html(&template.body), form.initial_html);
        }
        form.body = format!("{}{}", template.body, form.body);
    }
    let page = page(&state, ctx, me.id, mode, form, forwarded, FieldErrors::default()).await?;
    Ok(in_frame(panel, page.into_response()))
}

/// A compose page shown in a panel of the mail view may be framed by Mailroom's own pages.
fn in_frame(panel: bool, response: Response) -> Response {
    if panel { crate::framed_by_own_pages(response) } else { response }
}

/// The compose page for a saved draft, with the provider's version beside it when someone
/// changed the draft there.
async fn resumed(
    state: &AppState,
    ctx: Ctx,
    user: UserId,
    draft: StoredDraft,
    send_at: String,
) -> Result<ComposePage, ErrorKind> {
    let f = &draft.fields;
    let mode = Mode::parse(&f.mode).unwrap_or(Mode::New);
    let form = ComposeForm {
        account: f.account.0,
        from: f.from.clone(),
        to: f.to.clone(),
        cc: f.cc.clone(),
        bcc: f.bcc.clone(),
        subject: f.subject.clone(),
        body: f.body.clone(),
        original: f.original,
        mode: mode.as_str().to_owned(),
        key: mailroom_store::random_token(),
        send_at,
        keep_attachments: true,
        draft: Some(draft.id),
        separately: false,
        html: f.html.clone().unwrap_or_default(),
        panel: false,
        initial_html: String::new(),
    };
    let theirs = match (&draft.theirs_raw, draft.conflict) {
        (Some(raw), true) => {
            let fields = theirs_fields(raw);
            Some(Theirs { draft: draft.id, subject: fields.subject, to: fields.to, text: fields.body })
        }
        _ => None,
    };
    let mut page = page(state, ctx, user, mode, form, Vec::new(), FieldErrors::default()).await?;
    page.theirs = theirs;
    Ok(page)
}

/// The user's draft for the message `id` in a mailbox's Drafts: the one Mailroom keeps there,
/// or, for a draft written elsewhere, a new one taken in with its content and linked to it.
/// `POST /mail/compose/resume` with `message`: the compose page for a draft in one of the user's
/// mailboxes' Drafts: Mailroom's own draft for it, or one taken in with its content.
pub async fn resume(State(state): State<AppState>, SignedIn(me): SignedIn, body: Bytes) -> Result<Response, ErrorKind> {
    let message = url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == "message")
        .and_then(|(_, v)| v.parse::<i64>().ok())
        .ok_or(ErrorKind::BadRequest)?;
    let draft = take_in_draft(&state, me.id, message).await?;
    Ok(axum::response::Redirect::to(&format!("/mail/compose?draft={}", draft.id)).into_response())
}

async fn take_in_draft(state: &AppState, user: UserId, id: i64) -> Result<StoredDraft, ErrorKind> {
    let store = &state.store;
    let detail = store.message_detail(user, id).await.map_err(internal)?.ok_or(ErrorKind::NotFound)?;
    let m = &detail.summary;
    let folders = store.folder_summaries(user, Some(m.account)).await.map_err(internal)?;
    let in_drafts = m.folders.iter().any(|f| folders.iter().any(|s| s.id == *f && s.kind == FolderKind::Drafts));
    if !in_drafts {
        return Err(ErrorKind::BadRequest);
    }
    if let Some(draft) = store.draft_for_message(user, m.account, &m.remote_id).await.map_err(internal)? {
        return Ok(draft);
    }
    let account = store.account(m.account).await.map_err(internal)?.ok_or(ErrorKind::NotFound)?;
    let people = |role: &str| {
        detail.people.iter().filter(|p| p.role == role).map(|p| p.address.clone()).collect::<Vec<_>>().join(", ")
    };
    let text = match &detail.raw {
        Some(raw) => theirs_fields(raw),
        None => DraftText {
            to: people("to"),
            cc: people("cc"),
            bcc: people("bcc"),
            subject: m.subject.clone(),
            body: m.snippet.clone(),
        },
    };
    let fields = DraftFields {
        account: m.account,
        from: m.from_address.clone().unwrap_or_default(),
        to: text.to,
        cc: text.cc,
        bcc: text.bcc,
        subject: text.subject,
        body: text.body,
        html: None,
        mode: "new".to_owned(),
        original: None,
    };
    let (remote_id, remote_version) = match account.provider {
        Provider::Google => (None, Some(m.remote_id.as_str())),
        Provider::Microsoft => (Some(m.remote_id.as_str()), None),
    };
    let now = mailroom_store::now();
    let adopted = store.adopt_draft(user, &fields, remote_id, remote_version, now).await.map_err(internal)?;
    adopted.ok_or(ErrorKind::NotFound)
}

/// The fields of a provider's version of a draft (its raw message).
pub(super) fn theirs_fields(raw: &[u8]) -> DraftText {
    let parsed = mailroom_mime::parse(raw).into_message();
    let list = |people: &[mailroom_mime::Address]| {
        people
            .iter()
            .map(|p| Mailbox { name: p.name.clone(), address: p.address.clone() }.display())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let bodies = mailroom_mime::bodies(raw);
    let body = bodies.text.or_else(|| bodies.html.map(|h| mailroom_mime::html_to_text(&h))).unwrap_or_default();
    DraftText {
        to: list(&parsed.to),
        cc: list(&parsed.cc),
        bcc: list(&parsed.bcc),
        subject: parsed.subject,
        body: body.replace("\r\n", "\n").trim_end().to_owned(),
    }
}

/// A draft's text fields.
pub(super) struct DraftText {
    pub to: String,
    pub cc: String,
    pub bcc: String,
    pub subject: String,
    pub body: String,
}

/// Puts the signature of the identity the form sends as (the account's default; the user's
/// first account when none is chosen) above any quoted text, after the usual "-- " line.
async fn add_signature(state: &AppState, user: UserId, form: &mut ComposeForm) -> Result<(), ErrorKind> {
    let accounts = state.store.accounts_of(user).await.map_err(internal)?;
    let Some(account) = accounts.iter().find(|a| a.id.0 == form.account).or(accounts.first()) else {
        return Ok(());
    };
    form.account = account.id.0;
    let identities = state.store.identities(account.id).await.map_err(internal)?;
    // A reply already chose the identity its original was addressed to; otherwise the default.
    let chosen = identities.iter().find(|i| !form.from.is_empty() && i.address.eq_ignore_ascii_case(&form.from));
    let address = chosen
        .or_else(|| identities.iter().find(|i| i.is_default))
        .map_or(account.address.clone(), |i| i.address.clone());
    if let Some(signature) = state.store.signature(account.id, &address).await.map_err(internal)? {
        // Formatted, it starts the editor (kept apart from the form, which holds the text).
        if let Some(html) = state.store.signature_html(account.id, &address).await.map_err(internal)? {
            let html = editor_html_kept(&html);
            form.initial_html = format!("<div><br></div><div><br></div><div>-- </div>{html}{}", text_html(&form.body));
        }
        form.body = format!("\n\n-- \n{signature}{}", form.body);
    }
    form.from = address;
    Ok(())
}

/// Fills the form for a reply or forward of `detail`.
async fn prefill(
    state: &AppState,
    t: &Texts,
    clock: &Clock,
    form: &mut ComposeForm,
    mode: Mode,
    detail: &MessageDetail,
) -> Result<(), ErrorKind> {
    let m = &detail.summary;
    form.account = m.account.0;
    form.original = Some(m.id);
    let identities = state.store.identities(m.account).await.map_err(internal)?;
    form.from = addressed_identity(&identities, detail).unwrap_or_default();
    let parsed = detail.raw.as_deref().map(|raw| mailroom_mime::parse(raw).into_message());
    let text = detail
        .raw
        .as_deref()
        .map(|raw| {
            let bodies = mailroom_mime::bodies(raw);
            bodies.text.or_else(|| bodies.html.map(|h| mailroom_mime::html_to_text(&h))).unwrap_or_default()
        })
        .unwrap_or_else(|| m.snippet.clone());
    let from = match (&m.from_name, &m.from_address) {
        (Some(name), Some(address)) => format!("{name} <{address}>"),
        (None, Some(address)) => address.clone(),
        _ => String::new(),
    };
    let date = clock.full(m.sent_at.unwrap_or(m.received_at));
    let list = |mailboxes: &[Mailbox]| mailboxes.iter().map(Mailbox::display).collect::<Vec<_>>().join(", ");
    if mode == Mode::Forward {
        form.subject = forward_subject(&m.subject);
        let to = detail.people.iter().filter(|p| p.role == "to").map(|p| p.address.clone()).collect::<Vec<_>>();
        let headers = [
            (t.from_label, from),
            (t.date_label, date),
            (t.subject_label, m.subject.clone()),
            (t.to_label, to.join(", ")),
        ];
        form.body = forwarded_body(t.forwarded_message, &headers, &text);
    } else {
        form.subject = reply_subject(&m.subject);
        let mut own: Vec<String> = identities.iter().map(|i| i.address.to_lowercase()).collect();
        if let Some(account) = state.store.account(m.account).await.map_err(internal)? {
            own.push(account.address.to_lowercase());
        }
        if let Some(parsed) = &parsed {
            let (to, cc) = reply_recipients(parsed, &own, mode == Mode::ReplyAll);
            form.to = list(&to);
            form.cc = list(&cc);
        } else if let Some(address) = &m.from_address {
            form.to = address.clone();
        }
        form.body = quoted_reply(&t.wrote(&date, &from), &text);
    }
    Ok(())
}

/// The identity a reply or forward of `detail` goes out as, as the best mail clients choose it:
/// the one the user sent the original from, else the first one it was addressed to (To, then
/// Cc, then Bcc). An alias the mail came to answers as that alias, not as the account's default.
fn addressed_identity(identities: &[mailroom_store::Identity], detail: &MessageDetail) -> Option<String> {
    ["from", "to", "cc", "bcc"].iter().find_map(|role| {
        detail.people.iter().filter(|p| p.role == *role).find_map(|p| {
            identities.iter().find(|i| i.address.eq_ignore_ascii_case(&p.address)).map(|i| i.address.clone())
        })
    })
}

async fn page(
    state: &AppState,
    ctx: Ctx,
    user: UserId,
    mode: Mode,
    form: ComposeForm,
    forwarded: Vec<String>,
    errors: FieldErrors,
) -> Result<ComposePage, ErrorKind> {
    let t = ctx.t;
    let mut senders = Vec::new();
    for account in state.store.accounts_of(user).await.map_err(internal)? {
        let mut identities = state.store.identities(account.id).await.map_err(internal)?;
        if identities.is_empty() {
            let (address, name) = (account.address.clone(), account.display_name.clone());
            identities.push(mailroom_store::Identity { address, name, is_default: true });
        }
        // The form's address when it is one of this mailbox's, else the mailbox's default.
        let known = identities.iter().any(|i| i.address.eq_ignore_ascii_case(&form.from));
        for identity in identities {
            let chosen = if known { identity.address.eq_ignore_ascii_case(&form.from) } else { identity.is_default };
            senders.push(FromOption {
                value: format!("{}:{}", account.id.0, identity.address),
                label: Mailbox { name: identity.name, address: identity.address }.display(),
                selected: account.id.0 == form.account && chosen,
            });
        }
    }
    let heading = match mode {
        Mode::New => t.compose_title,
        Mode::Reply | Mode::ReplyAll => t.act_reply,
        Mode::Forward => t.act_forward,
    };
    let templates = if mode == Mode::New {
        let mut own: Vec<(i64, String)> =
            state.store.templates(user).await.map_err(internal)?.into_iter().map(|t| (t.id, t.name)).collect();
        let shared = state.store.shared_templates(user).await.map_err(internal)?;
        own.extend(shared.into_iter().map(|s| (s.template.id, s.template.name)));
        own
    } else {
        Vec::new()
    };
    let undo_seconds = state.config.undo_send_seconds;
    let files = match form.draft {
        Some(draft) => state
            .store
            .draft_files(user, draft)
            .await
            .map_err(internal)?
            .iter()
            .map(|file| super::drafts::file_view(draft, file))
            .collect(),
        None => Vec::new(),
    };
    let files_limit = super::drafts::DRAFT_FILES_LIMIT;
    Ok(ComposePage {
        ctx,
        heading,
        senders,
        form,
        forwarded,
        errors,
        undo_seconds,
        templates,
        theirs: None,
        files,
        files_limit,
    })
}

/// The form as it came, and the files picked in it (without the page's script; with it, files
/// go up on their own as they are picked).
pub(super) async fn read_form(mut multipart: Multipart) -> Result<(ComposeForm, Vec<OutgoingAttachment>), ErrorKind> {
    let mut form = ComposeForm::default();
    let mut files = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(|_| ErrorKind::BadRequest)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "attachments" {
            let file_name = field.file_name().unwrap_or_default().to_owned();
            let content_type = field.content_type().unwrap_or("application/octet-stream").to_owned();
            let bytes = field.bytes().await.map_err(|_| ErrorKind::BadRequest)?;
            if file_name.is_empty() && bytes.is_empty() {
                continue; // The file picker left empty.
            }
            files.push(OutgoingAttachment { name: file_name, content_type, bytes: bytes.to_vec() });
            continue;
        }
        let value = field.text().await.map_err(|_| ErrorKind::BadRequest)?;
        match name.as_str() {
            "from" => {
                let (account, address) = value.split_once(':').unwrap_or_default();
                form.account = account.parse().unwrap_or_default();
                form.from = address.to_owned();
            }
            "to" => form.to = value,
            "cc" => form.cc = value,
            "bcc" => form.bcc = value,
            "subject" => form.subject = value,
            "body" => form.body = value,
            "original" => form.original = value.parse().ok(),
            "mode" => form.mode = value,
            "key" => form.key = value,
            "send_at" => form.send_at = value,
            "keep_attachments" => form.keep_attachments = true,
            "draft" => form.draft = value.parse().ok(),
            "separately" => form.separately = true,
            "html" => form.html = value,
            "panel" => form.panel = true,
            _ => {}
        }
    }
    Ok((form, files))
}

/// `POST /mail/compose`: submits the message, then shows the outbox, where it can be taken back
/// until it goes.
pub async fn submit_form(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    ctx: Ctx,
    multipart: Multipart,
) -> Result<Response, ErrorKind> {
    let t = ctx.t;
    let (mut form, posted) = read_form(multipart).await?;
    let mode = Mode::parse(&form.mode).unwrap_or(Mode::New);
    let mut errors = FieldErrors::default();
    // Files that came with the form (the page's script sends them as they are picked) are kept
    // with the draft first, so that a form error does not lose them.
    if !posted.is_empty() {
        let fields = form.fields().ok_or(ErrorKind::BadRequest)?;
        let now = mailroom_store::now();
        let mut saved = state.store.save_draft(me.id, form.draft, &fields, now).await.map_err(internal)?;
        if saved.is_none() && form.draft.is_some() {
            // The draft went meanwhile (sent or discarded elsewhere): these files start another.
            saved = state.store.save_draft(me.id, None, &fields, now).await.map_err(internal)?;
        }
        let draft = saved.ok_or(ErrorKind::NotFound)?.id;
        form.draft = Some(draft);
        let (_, refused) = super::drafts::store_files(&state, t, me.id, draft, posted).await?;
        if let Some(text) = refused {
            errors.add("attachments", text);
        }
    }
    // The draft's files go by reference: a large one is read a piece at a time when it goes.
    let mut files: Vec<ComposeFile> = match form.draft {
        Some(draft) => state
            .store
            .draft_files(me.id, draft)
            .await
            .map_err(internal)?
            .into_iter()
            .map(|file| ComposeFile {
                size: usize::try_from(file.size).unwrap_or(0),
                name: file.name,
                content_type: file.content_type,
                source: FileSource::Draft { draft, file: file.id },
            })
            .collect(),
        None => Vec::new(),
    };
    let mut addresses = |field: Field, name: &'static str, value: &str| match parse_address_list(field, value) {
        Ok(list) => list,
        Err(error) => {
            errors.add(name, compose_error(t, &error));
            Vec::new()
        }
    };
    let to = addresses(Field::To, "to", &form.to);
    let cc = addresses(Field::Cc, "cc", &form.cc);
    let bcc = addresses(Field::Bcc, "bcc", &form.bcc);
    let now = mailroom_store::now();
    let send_at = match form.send_at.trim() {
        "" => Some(now + i64::from(state.config.undo_send_seconds)),
        // The time the user picked is on their clock, in their zone, whatever the browser's is.
        value => crate::time::parse_input(value, &ctx.clock.zone).filter(|at| *at > now),
    };
    if send_at.is_none() {
        errors.add("send_at", t.send_at_invalid);
    }
    // A forward carries the original's attachments unless the user took them off.
    let mut forwarded = Vec::new();
    if let (Mode::Forward, Some(original)) = (mode, form.original) {
        let detail = state.store.message_detail(me.id, original).await.map_err(internal)?.ok_or(ErrorKind::NotFound)?;
        forwarded = detail.attachments.iter().map(|a| a.name.clone()).collect();
        if form.keep_attachments
            && let Some(raw) = &detail.raw
        {
            for position in 0..detail.attachments.len() {
                if let Some(part) = mailroom_mime::attachment_data(raw, position) {
                    files.push(ComposeFile {
                        name: part.info.name,
                        content_type: part.info.content_type,
                        size: part.data.len(),
                        source: FileSource::Bytes(part.data.into()),
                    });
                }
            }
        }
    }
    let reply_to = matches!(mode, Mode::Reply | Mode::ReplyAll).then_some(form.original).flatten();
    // The editor's formatting and pasted images, when the page's script ran.
    let (html, inline) = match form.html.trim() {
        "" => (None, Vec::new()),
        html => {
            let (html, inline) = editor_html(html);
            if inline.iter().any(|image| image.bytes.len() > INLINE_IMAGE_LIMIT) {
                errors.add("body", t.image_too_large);
            }
            (Some(html), inline)
        }
    };
    if errors.is_empty() {
        let compose = Compose {
            account: AccountId(form.account),
            from: Some(form.from.clone()).filter(|from| !from.is_empty()),
            idempotency_key: form.key.clone(),
            draft: Draft {
                to,
                cc,
                bcc,
                subject: form.subject.clone(),
                text: form.body.clone(),
                html,
                in_reply_to: None,
                references: Vec::new(),
                attachments: Vec::new(),
                inline,
            },
            reply_to,
            send_at: send_at.unwrap_or(now),
            saved_draft: form.draft,
            files,
        };
        // Sent: back in the mail view (the conversation a reply answers), where a toast offers
        // Undo; a message sent separately to each goes to the Outbox, which shows its batch.
        let submitted = if form.separately {
            submit_separately(&state, me.id, compose).await.map_err(internal)?.map(|_| None)
        } else {
            submit(&state, me.id, compose).await.map_err(internal)?.map(|s| Some(s.submission().id))
        };
        match submitted {
            Ok(None) => {
                let notice = if form.send_at.trim().is_empty() { "message_queued" } else { "message_scheduled" };
                return Ok(see_other("/mail/outbox", notice));
            }
            Ok(Some(sent)) => {
                let back = match (form.panel, form.original) {
                    // The mail view around the panel takes the toast over.
                    (true, _) => format!("/mail/compose/closed?sent={sent}"),
                    (false, Some(original)) => format!("/mail?open={original}&sent={sent}"),
                    (false, None) => format!("/mail?sent={sent}"),
                };
                return Ok(axum::response::Redirect::to(&back).into_response());
            }
            Err(SendRefused::NotFound) => return Err(ErrorKind::NotFound),
            Err(SendRefused::Invalid(error)) => errors.add(error_field(&error), compose_error(t, &error)),
            Err(SendRefused::TooLarge { .. }) => errors.add("attachments", t.message_too_large),
            Err(SendRefused::ReplyElsewhere) => errors.add("from", t.reply_elsewhere),
            Err(SendRefused::UnknownSender(_)) => errors.add("from", t.unknown_sender),
            Err(SendRefused::BadKey) => return Err(ErrorKind::BadRequest),
            Err(SendRefused::SeparatelyWithCopies) => errors.add("cc", t.separately_with_copies),
        }
    }
    let panel = form.panel;
    let page = page(&state, ctx, me.id, mode, form, forwarded, errors).await?;
    Ok(in_frame(panel, (StatusCode::UNPROCESSABLE_ENTITY, page).into_response()))
}

fn error_field(error: &ComposeError) -> &'static str {
    match error.field() {
        Field::From => "from",
        field => field.as_str(),
    }
}

fn compose_error(t: &Texts, error: &ComposeError) -> String {
    match error {
        ComposeError::InvalidAddress { value, .. } => format!("{}: {value}", t.invalid_address),
        ComposeError::ControlCharacter { .. } => t.control_characters.to_owned(),
        ComposeError::NoRecipient => t.no_recipient.to_owned(),
        ComposeError::TooManyRecipients => t.too_many_recipients.to_owned(),
        ComposeError::SubjectTooLong => t.subject_too_long.to_owned(),
    }
}

struct OutboxRow {
    id: i64,
    subject: String,
    recipients: String,
    status: &'static str,
    when: String,
    error: Option<String>,
    can_cancel: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "outbox.html")]
struct OutboxPage {
    ctx: Ctx,
    rows: Vec<OutboxRow>,
    /// Whether something is about to change (waiting out the undo window, or sending).
    moving: bool,
    /// Messages sent separately, each batch with its counts.
    batches: Vec<mailroom_store::BatchSummary>,
}

fn status_text(t: &Texts, status: SubmissionStatus) -> &'static str {
    match status {
        SubmissionStatus::Pending => t.status_pending,
        SubmissionStatus::Sending => t.status_sending,
        SubmissionStatus::Accepted => t.status_accepted,
        SubmissionStatus::Failed => t.status_failed,
        SubmissionStatus::Cancelled => t.status_cancelled,
    }
}

/// `GET /mail/outbox`: the user's last 100 submissions.
pub async fn outbox(State(state): State<AppState>, SignedIn(me): SignedIn, ctx: Ctx) -> Result<Response, ErrorKind> {
    let t = ctx.t;
    let now = mailroom_store::now();
    let submissions = state.store.submissions(me.id, None, 100).await.map_err(internal)?;
    let moving = submissions.iter().any(|s| {
        s.status == SubmissionStatus::Sending || (s.status == SubmissionStatus::Pending && s.send_at <= now + 60)
    });
    let batches = state.store.batches(me.id, 10).await.map_err(internal)?;
    let rows = submissions
        .into_iter()
        .map(|s: Submission| OutboxRow {
            id: s.id,
            subject: if s.subject.is_empty() { t.no_subject.to_owned() } else { s.subject },
            recipients: s.recipients.join(", "),
            status: status_text(t, s.status),
            when: ctx.clock.full(s.finished_at.unwrap_or(s.send_at)),
            error: s.last_error.filter(|_| s.status != SubmissionStatus::Accepted),
            can_cancel: s.status == SubmissionStatus::Pending,
        })
        .collect();
    Ok(OutboxPage { ctx, rows, moving, batches }.into_response())
}

#[derive(serde::Deserialize)]
pub struct RetryForm {
    batch: String,
}

/// `POST /mail/outbox/retry`: the failed messages of a batch sent separately go again.
pub async fn retry(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    axum::Form(form): axum::Form<RetryForm>,
) -> Result<Response, ErrorKind> {
    let retried = state.store.retry_failed(me.id, &form.batch, mailroom_store::now()).await.map_err(internal)?;
    if retried == 0 {
        return Ok(see_other("/mail/outbox", "nothing_to_retry"));
    }
    state.outbox_wake.notify_one();
    Ok(see_other("/mail/outbox", "retrying"))
}

/// `POST /mail/compose/discard` with `draft` (empty when nothing was saved yet): the message
/// being written is given up, its draft discarded here and at the provider, after the page asked.
pub async fn discard(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    body: axum::body::Bytes,
) -> Result<Response, ErrorKind> {
    let field =
        |name: &str| url::form_urlencoded::parse(&body).find(|(key, _)| key == name).map(|(_, v)| v.into_owned());
    let panel = field("panel").as_deref() == Some("1");
    match field("draft").filter(|id| !id.is_empty()) {
        Some(id) => {
            let id = id.parse::<i64>().map_err(|_| ErrorKind::BadRequest)?;
            let now = mailroom_store::now();
            let hold = Some(now + super::drafts::DISCARD_UNDO_SECS);
            if !state.store.discard_draft(me.id, id, now, hold).await.map_err(internal)? {
                return Err(ErrorKind::NotFound);
            }
            state.outbox_wake.notify_one();
            // The mail view's toast offers Undo while the draft is kept.
            let back = if panel { "/mail/compose/closed" } else { "/mail" };
            Ok(axum::response::Redirect::to(&format!("{back}?discarded={id}")).into_response())
        }
        None if panel => Ok(axum::response::Redirect::to("/mail/compose/closed").into_response()),
        None => Ok(see_other("/mail", "draft_discarded")),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "compose_closed.html")]
struct ClosedPage {
    ctx: Ctx,
    toast: Option<super::mail::ToastNote>,
}

#[derive(serde::Deserialize)]
pub struct ClosedQuery {
    sent: Option<i64>,
    discarded: Option<i64>,
}

/// `GET /mail/compose/closed[?sent=ID|discarded=ID]`: where a compose panel goes once its message
/// is sent or its draft discarded; the mail view around the panel closes it and shows the toast
/// (with its Undo) this page holds.
pub async fn closed(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    ctx: Ctx,
    axum::extract::Query(query): axum::extract::Query<ClosedQuery>,
) -> Result<Response, ErrorKind> {
    let toast = super::mail::ToastNote::of(&state, &ctx, &me, query.sent, query.discarded).await?;
    Ok(crate::framed_by_own_pages(ClosedPage { ctx, toast }.into_response()))
}

/// `POST /mail/outbox/{id}/cancel`: undo send, or call off a scheduled one. What the user wrote
/// comes back as a draft (recipients, subject, text, files; the HTML when it holds no inline
/// image), the draft it was written in when that is still kept, and opens in the compose page,
/// so that nothing is lost; one copy of a message sent separately to each recipient is only
/// called off, the others going on.
pub async fn cancel(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, ErrorKind> {
    let store = &state.store;
    let submission = store.submission(me.id, id).await.map_err(internal)?.ok_or(ErrorKind::NotFound)?;
    let raw = store.submission_raw(me.id, id).await.map_err(internal)?;
    let written_in = store.submission_draft(me.id, id).await.map_err(internal)?;
    let now = mailroom_store::now();
    if !store.cancel_submission(me.id, id, now).await.map_err(internal)? {
        return Ok(see_other("/mail/outbox", "send_too_late"));
    }
    let (Some(raw), None) = (raw, submission.batch) else {
        return Ok(see_other("/mail/outbox", "send_cancelled"));
    };
    let fields = taken_back(store, &me, submission.account, &raw).await?;
    let mut draft = store.save_draft(me.id, written_in, &fields, now).await.map_err(internal)?;
    if draft.is_none() && written_in.is_some() {
        draft = store.save_draft(me.id, None, &fields, now).await.map_err(internal)?;
    }
    let draft = draft.ok_or(ErrorKind::NotFound)?;
    let files = files_of(&raw);
    store.replace_draft_files(me.id, draft.id, &files, now).await.map_err(internal)?;
    // A large message's files were kept apart from it: they come back too.
    store.add_submission_files_to_draft(me.id, draft.id, id, now).await.map_err(internal)?;
    // The draft writer takes it to the provider's Drafts.
    state.outbox_wake.notify_one();
    tracing::info!(user.id = %me.id, submission = id, draft = draft.id, "a message taken back is a draft again");
    // A scheduled one (not one in its undo window) comes back with its time, to keep or change.
    let undo_window = now + i64::from(state.config.undo_send_seconds);
    let at = if submission.send_at > undo_window { format!("&at={}", submission.send_at) } else { String::new() };
    Ok(axum::response::Redirect::to(&format!("/mail/compose?draft={}{at}&notice=send_taken_back", draft.id))
        .into_response())
}

/// The files a built message carries (name, content type, content), in order.
fn files_of(raw: &[u8]) -> Vec<(String, String, Vec<u8>)> {
    let count = mailroom_mime::parse(raw).into_message().attachments.len();
    (0..count)
        .filter_map(|position| mailroom_mime::attachment_data(raw, position))
        .map(|part| (part.info.name, part.info.content_type, part.data))
        .collect()
}

/// The draft of a message taken back from the outbox, read from the message as it was built.
async fn taken_back(
    store: &mailroom_store::Store,
    me: &mailroom_store::User,
    account: mailroom_domain::AccountId,
    raw: &[u8],
) -> Result<DraftFields, ErrorKind> {
    let parsed = mailroom_mime::parse(raw).into_message();
    let text = theirs_fields(raw);
    // The answer it was: the original it answers, when stored, keeps the reply in its thread.
    let mut original = None;
    if let Some(answered) = parsed.in_reply_to.first() {
        original = store.message_with_id(me.id, account, answered).await.map_err(internal)?;
    }
    // Inline images went into the message as parts; its HTML names them by cid:, which a draft
    // cannot show, so such a message comes back as its text.
    let html = mailroom_mime::bodies(raw).html.filter(|html| !html.contains("cid:"));
    Ok(DraftFields {
        account,
        from: parsed.from.map(|from| from.address).unwrap_or_default(),
        to: text.to,
        cc: text.cc,
        bcc: text.bcc,
        subject: text.subject,
        body: text.body,
        html,
        mode: if original.is_some() { "reply" } else { "new" }.to_owned(),
        original,
    })
}
