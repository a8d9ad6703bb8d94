//! The mail workspace: folders on the left (unified across accounts, then each account's), the
//! list in the middle, the open message on the right. Everything works without script: actions
//! are forms; the script adds keyboard shortcuts and live updates. A message's content is shown
//! only inside a sandboxed frame served by [`body`], under its own strict policy.

use askama::Template;
use askama_web::WebTemplate;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use mailroom_domain::search::text::Piece;
use mailroom_domain::search::{Plan, Query as SearchQuery};
use mailroom_domain::{AccountId, FolderKind, MailAction, Provider, TagColor, TagName};
use mailroom_store::{
    ActionRefused, FolderSummary, ListCursor, MessageDetail, MessageFilter, MessageSummary, NOTE_LIMIT, SearchCursor,
    SubmissionStatus, Tag, UndoRefused, User,
};
use serde_json::json;

use super::{json_error, see_other, size_text, wants_json};
use crate::AppState;
use crate::errors::{ErrorKind, internal};
use crate::i18n::Texts;
use crate::mail::{Requested, cid_inline, download, eml_name, fold_quotes, shown_body, take_action};
use crate::time::Clock;
use crate::viewer::{Ctx, SignedIn};

/// Messages a page of the list holds.
const PAGE: i64 = 50;
/// The unified folders, in the sidebar's order.
const UNIFIED: [FolderKind; 7] = [
    FolderKind::Inbox,
    FolderKind::Starred,
    FolderKind::Sent,
    FolderKind::Drafts,
    FolderKind::Archive,
    FolderKind::Spam,
    FolderKind::Trash,
];

pub fn kind_name(t: &Texts, kind: FolderKind) -> &'static str {
    match kind {
        FolderKind::Inbox => t.kind_inbox,
        FolderKind::Starred => t.kind_starred,
        FolderKind::Important => t.kind_important,
        FolderKind::Sent => t.kind_sent,
        FolderKind::Drafts => t.kind_drafts,
        FolderKind::Archive => t.kind_archive,
        FolderKind::Spam => t.kind_spam,
        FolderKind::Trash => t.kind_trash,
        FolderKind::Custom => "",
    }
}

pub fn action_name(t: &Texts, action: MailAction) -> &'static str {
    match action {
        MailAction::MarkRead => t.act_read,
        MailAction::MarkUnread => t.act_unread,
        MailAction::Star => t.act_star,
        MailAction::Unstar => t.act_unstar,
        MailAction::Archive => t.act_archive,
        MailAction::Trash => t.act_trash,
        MailAction::Restore => t.act_restore,
        MailAction::Delete => t.act_delete,
        MailAction::Spam => t.act_spam,
        MailAction::NotSpam => t.act_not_spam,
        MailAction::Move => t.act_move,
        MailAction::AddLabel => t.act_add_label,
        MailAction::RemoveLabel => t.act_remove_label,
    }
}

/// Which list the page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
enum View {
    Unified(FolderKind),
    Folder(i64),
    /// The user's own to-do list, across accounts.
    Todo,
    /// Messages with one of the user's own tags.
    Tag(i64),
    /// What a search finds, as typed.
    Search(String),
}

impl View {
    fn query(&self) -> String {
        match self {
            View::Unified(kind) => format!("kind={}", kind.as_str()),
            View::Folder(id) => format!("folder={id}"),
            View::Todo => "todo=1".to_owned(),
            View::Tag(id) => format!("tag={id}"),
            View::Search(typed) => {
                format!("q={}", url::form_urlencoded::byte_serialize(typed.as_bytes()).collect::<String>())
            }
        }
    }
}

/// What the page's query string asks for; anything malformed is a bad request.
struct MailQuery {
    view: View,
    cursor: Option<ListCursor>,
    /// Where a page of search results starts.
    after: Option<SearchCursor>,
    open: Option<i64>,
    images: bool,
    /// The action just taken, which an Undo button can still take back.
    undo: Option<i64>,
    /// The message just sent from the compose page, which its Undo can still take back.
    sent: Option<i64>,
    /// The draft just discarded, which its Undo can still bring back.
    discarded: Option<i64>,
}

fn parse_query(query: Option<&str>) -> Result<MailQuery, ErrorKind> {
    let mut parsed = MailQuery {
        view: View::Unified(FolderKind::Inbox),
        cursor: None,
        after: None,
        open: None,
        images: false,
        undo: None,
        sent: None,
        discarded: None,
    };
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "kind" => {
                let kind = FolderKind::parse(&value).filter(|k| UNIFIED.contains(k)).ok_or(ErrorKind::BadRequest)?;
                parsed.view = View::Unified(kind);
            }
            "folder" => parsed.view = View::Folder(value.parse().map_err(|_| ErrorKind::BadRequest)?),
            "todo" => parsed.view = View::Todo,
            "tag" => parsed.view = View::Tag(value.parse().map_err(|_| ErrorKind::BadRequest)?),
            "cursor" => parsed.cursor = Some(ListCursor::decode(&value).ok_or(ErrorKind::BadRequest)?),
            // An empty search box shows the inbox.
            "q" if !value.trim().is_empty() => parsed.view = View::Search(value.into_owned()),
            "after" => parsed.after = Some(SearchCursor::decode(&value).ok_or(ErrorKind::BadRequest)?),
            "open" => parsed.open = Some(value.parse().map_err(|_| ErrorKind::BadRequest)?),
            "images" => parsed.images = value == "1",
            "undo" => parsed.undo = Some(value.parse().map_err(|_| ErrorKind::BadRequest)?),
            "sent" => parsed.sent = Some(value.parse().map_err(|_| ErrorKind::BadRequest)?),
            "discarded" => parsed.discarded = Some(value.parse().map_err(|_| ErrorKind::BadRequest)?),
            // The notice is read by `Ctx`.
            _ => {}
        }
    }
    Ok(parsed)
}

struct SideItem {
    href: String,
    name: String,
    unread: i64,
    current: bool,
}

struct AccountGroup {
    address: String,
    items: Vec<SideItem>,
}

struct Row {
    id: i64,
    href: String,
    from: String,
    subject: String,
    /// The subject and snippet in pieces, the words a search matched marked.
    subject_pieces: Vec<Piece>,
    snippet_pieces: Vec<Piece>,
    /// The time today, else the day.
    date: String,
    full_date: String,
    /// The instant, for `<time datetime>`.
    iso: String,
    unread: bool,
    starred: bool,
    attachments: bool,
    labels: Vec<String>,
    current: bool,
    todo: bool,
    tags: Vec<TagChip>,
    /// Messages in the conversation, when more than one.
    count: Option<i64>,
}

/// One of the user's own tags, as a coloured chip.
struct TagChip {
    name: String,
    color: &'static str,
}

/// The chips of the tags `ids`, by name.
fn chips(tags: &[Tag], ids: &[i64]) -> Vec<TagChip> {
    tags.iter()
        .filter(|tag| ids.contains(&tag.id))
        .map(|tag| TagChip { name: tag.name.clone(), color: tag.color.as_str() })
        .collect()
}

/// A tag in the sidebar.
struct SideTag {
    href: String,
    name: String,
    color: &'static str,
    count: i64,
    current: bool,
}

fn color_name(t: &Texts, color: TagColor) -> &'static str {
    match color {
        TagColor::Red => t.color_red,
        TagColor::Orange => t.color_orange,
        TagColor::Yellow => t.color_yellow,
        TagColor::Green => t.color_green,
        TagColor::Teal => t.color_teal,
        TagColor::Blue => t.color_blue,
        TagColor::Purple => t.color_purple,
        TagColor::Gray => t.color_gray,
    }
}

struct Target {
    id: i64,
    name: String,
}

struct Person {
    text: String,
}

struct AttachmentRow {
    href: String,
    name: String,
    content_type: String,
    size: String,
}

/// A label or tag in the "Label as" menu: pressing it puts it on, or takes it off when on.
struct MenuItem {
    /// The action's value, with its folder or tag: `add_label:12`, `untag:3`.
    value: String,
    name: String,
    on: bool,
    color: &'static str,
}

/// One message of the open conversation.
struct ThreadMessage {
    id: i64,
    from_name: String,
    from: Vec<Person>,
    to: Vec<Person>,
    cc: Vec<Person>,
    date: String,
    full_date: String,
    iso: String,
    snippet: String,
    unread: bool,
    /// Shown expanded: the newest, and every unread one.
    expanded: bool,
    frame_src: String,
    blocked_remote: bool,
    show_images_href: String,
    /// The sender whose images the user may allow for good, when not allowed yet.
    sender: Option<String>,
    attachments: Vec<AttachmentRow>,
    original_href: Option<String>,
    /// A draft: edited on the compose page rather than answered.
    in_drafts: bool,
    /// Where it is, when not where the list is (a reply in Sent).
    place: Option<String>,
}

/// The open conversation: every message of its thread, oldest first, and what the toolbar
/// acts on (the message the list shows for it).
struct OpenMessage {
    id: i64,
    subject: String,
    messages: Vec<ThreadMessage>,
    starred: bool,
    todo: bool,
    note: String,
    tags: Vec<TagChip>,
    in_trash: bool,
    in_spam: bool,
    labels: Vec<String>,
    /// The "Label as" menu: the mailbox's labels (Gmail) and the user's tags.
    label_items: Vec<MenuItem>,
    tag_items: Vec<MenuItem>,
    /// The "Move to" menu.
    targets: Vec<Target>,
}

struct FailureRow {
    subject: String,
    action: &'static str,
    error: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "mail.html")]
struct MailPage {
    ctx: Ctx,
    has_accounts: bool,
    unified: Vec<SideItem>,
    accounts: Vec<AccountGroup>,
    heading: String,
    /// What the search box holds.
    search: String,
    /// Why the search cannot be run, when it cannot.
    search_error: Option<String>,
    rows: Vec<Row>,
    older: Option<String>,
    newest: Option<String>,
    open: Option<OpenMessage>,
    failures: Vec<FailureRow>,
    /// Where an action returns to: this page as it is.
    back: String,
    /// Folders and labels a selection can move to, when the list is one account's.
    targets: Vec<Target>,
    /// What "Label as" puts on a selection: the account's labels when the list is one Gmail
    /// account's, and the user's tags.
    list_labels: Vec<MenuItem>,
    list_tags: Vec<MenuItem>,
    undo: Option<i64>,
    /// What the compose page just did (a message sent, a draft discarded), in the toast with its
    /// Undo.
    toast: Option<ToastNote>,
    inbox_unread: i64,
    in_trash: bool,
    my_tags: Vec<SideTag>,
    /// The tag whose list this is, for its delete button.
    current_tag: Option<i64>,
    colors: Vec<(&'static str, &'static str)>,
}

/// What the compose page just did, as the toast tells it, with the form of its Undo and a link.
pub(super) struct ToastNote {
    pub text: String,
    pub undo: Option<String>,
    pub link: Option<(&'static str, &'static str)>,
}

impl ToastNote {
    /// What the compose page just did, named by a page's `sent` or `discarded` parameter.
    pub(super) async fn of(
        state: &AppState,
        ctx: &Ctx,
        user: &User,
        sent: Option<i64>,
        discarded: Option<i64>,
    ) -> Result<Option<ToastNote>, ErrorKind> {
        Ok(match (sent, discarded) {
            (Some(id), _) => sent_note(state, ctx, user, id).await?,
            (None, Some(id)) => Some(ToastNote::discarded(ctx.t, id)),
            (None, None) => None,
        })
    }

    /// A draft just discarded: Undo brings it back while it is kept (the store says when not).
    fn discarded(t: &Texts, id: i64) -> ToastNote {
        ToastNote {
            text: t.notice_draft_discarded.to_owned(),
            undo: Some(format!("/mail/drafts/{id}/restore")),
            link: None,
        }
    }
}

/// The message the user just sent: "Sending…" or "Scheduled for…", with Undo while it has not
/// gone (it comes back as a draft, whole) and a way to the Outbox.
async fn sent_note(state: &AppState, ctx: &Ctx, user: &User, id: i64) -> Result<Option<ToastNote>, ErrorKind> {
    let Some(submission) = state.store.submission(user.id, id).await.map_err(internal)? else {
        return Ok(None);
    };
    let t = ctx.t;
    let now = mailroom_store::now();
    let text = match submission.status {
        SubmissionStatus::Pending if submission.send_at > now + i64::from(state.config.undo_send_seconds) => {
            t.sent_scheduled.replace("{when}", &ctx.clock.full(submission.send_at))
        }
        SubmissionStatus::Pending | SubmissionStatus::Sending => t.sent_sending.to_owned(),
        SubmissionStatus::Accepted => t.sent_done.to_owned(),
        SubmissionStatus::Failed => t.status_failed.to_owned(),
        SubmissionStatus::Cancelled => t.status_cancelled.to_owned(),
    };
    let undo = (submission.status == SubmissionStatus::Pending).then(|| format!("/mail/outbox/{id}/cancel"));
    Ok(Some(ToastNote { text, undo, link: Some(("/mail/outbox", t.view_message)) }))
}

fn person(name: Option<&str>, address: &str) -> String {
    match name {
        Some(name) if !name.is_empty() => format!("{name} <{address}>"),
        _ => address.to_owned(),
    }
}

/// An instant as RFC 3339 in UTC, for machines (`<time datetime>`); people read the clock's words.
fn iso(at: i64) -> String {
    jiff::Timestamp::from_second(at).map(|t| t.to_string()).unwrap_or_default()
}

fn subject_or(t: &Texts, subject: &str) -> String {
    if subject.trim().is_empty() { t.no_subject.to_owned() } else { subject.to_owned() }
}

fn folder_label(folders: &[FolderSummary], t: &Texts, id: i64) -> Option<String> {
    let folder = folders.iter().find(|f| f.id == id)?;
    // The list says where a message is by its user labels and custom folders; the kinds show in
    // the sidebar.
    (folder.kind == FolderKind::Custom && !folder.remote_id.starts_with("CATEGORY_")).then(|| {
        let name = kind_name(t, folder.kind);
        if name.is_empty() { folder.name.clone() } else { name.to_owned() }
    })
}

pub async fn show(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    ctx: Ctx,
    headers: axum::http::HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ErrorKind> {
    let t = ctx.t;
    let q = parse_query(query.as_deref())?;
    let store = &state.store;
    let accounts = store.accounts_of(me.id).await.map_err(internal)?;
    let folders = store.folder_summaries(me.id, None).await.map_err(internal)?;
    let tags = store.tags(me.id).await.map_err(internal)?;
    let filter = match &q.view {
        View::Unified(FolderKind::Starred) => MessageFilter { starred: Some(true), ..MessageFilter::default() },
        View::Unified(kind) => MessageFilter { kind: Some(*kind), ..MessageFilter::default() },
        View::Todo => MessageFilter { todo: Some(true), ..MessageFilter::default() },
        View::Tag(id) => {
            if !tags.iter().any(|tag| tag.id == *id) {
                return Err(ErrorKind::NotFound);
            }
            MessageFilter { tag: Some(*id), ..MessageFilter::default() }
        }
        View::Folder(id) => {
            if !folders.iter().any(|f| f.id == *id) {
                return Err(ErrorKind::NotFound);
            }
            MessageFilter { folder: Some(*id), ..MessageFilter::default() }
        }
        View::Search(_) => MessageFilter::default(),
    };
    let view_query = q.view.query();
    let mut open = None;
    if let Some(id) = q.open {
        let detail = store.message_detail(me.id, id).await.map_err(internal)?.ok_or(ErrorKind::NotFound)?;
        let provider = accounts.iter().find(|a| a.id == detail.summary.account).map(|a| a.provider);
        let (conversation, unread) =
            open_message(&state, &me, t, &ctx.clock, &detail, &folders, &tags, provider, &view_query, q.images).await?;
        // Opening a conversation reads it, when the user opened it: a link on another site (which
        // the session cookie follows, SameSite=Lax) shows it but changes nothing.
        if !unread.is_empty() && !from_another_site(&headers) {
            let acted =
                store.act(me.id, &unread, MailAction::MarkRead, None, mailroom_store::now()).await.map_err(internal)?;
            if acted.is_ok_and(|a| !a.accounts.is_empty()) {
                state.sync_wake.notify_one();
            }
        }
        open = Some(conversation);
    }
    let mut search_error = None;
    let (rows, older, newest, cursor_part) = if let View::Search(typed) = &q.view {
        // A query that cannot be read is said so above an empty list, never an error page.
        let (hits, next) = match SearchQuery::parse(typed) {
            Ok(query) => {
                let found = store.search(me.id, &Plan::new(&query), q.after, PAGE).await.map_err(internal)?;
                (found.hits, found.next)
            }
            Err(e) => {
                search_error = Some(format!("{} {e}.", t.search_unreadable));
                (Vec::new(), None)
            }
        };
        let cursor_part = q.after.map(|c| format!("&after={}", c.encode())).unwrap_or_default();
        let rows = hits
            .into_iter()
            .map(|hit| {
                let href = format!("/mail?{view_query}{cursor_part}&open={}", hit.summary.id);
                let mut row = row(t, &ctx.clock, &hit.summary, &folders, &tags, &href, q.open == Some(hit.summary.id));
                if !hit.summary.subject.trim().is_empty() {
                    row.subject_pieces = hit.subject;
                }
                row.snippet_pieces = hit.snippet;
                row
            })
            .collect();
        let older = next.map(|c| format!("/mail?{view_query}&after={}", c.encode()));
        let newest = q.after.map(|_| format!("/mail?{view_query}"));
        (rows, older, newest, cursor_part)
    } else {
        let mut page = store.list_conversations(me.id, &filter, q.cursor, PAGE + 1).await.map_err(internal)?;
        let more = page.len() > PAGE as usize;
        page.truncate(PAGE as usize);
        let older =
            if more { page.last().map(|m| format!("/mail?{view_query}&cursor={}", m.cursor().encode())) } else { None };
        let newest = q.cursor.map(|_| format!("/mail?{view_query}"));
        let cursor_part = q.cursor.map(|c| format!("&cursor={}", c.encode())).unwrap_or_default();
        let rows = page
            .iter()
            .map(|m| {
                let href = format!("/mail?{view_query}{cursor_part}&open={}", m.id);
                row(t, &ctx.clock, m, &folders, &tags, &href, q.open == Some(m.id))
            })
            .collect();
        (rows, older, newest, cursor_part)
    };

    let unread_of_kind = |kind: FolderKind| -> i64 {
        folders
            .iter()
            .filter(|f| f.kind == kind)
            .map(|f| if kind == FolderKind::Inbox || kind == FolderKind::Spam { f.unread } else { 0 })
            .sum()
    };
    let mut unified: Vec<SideItem> = UNIFIED
        .iter()
        .map(|kind| SideItem {
            href: format!("/mail?kind={}", kind.as_str()),
            name: kind_name(t, *kind).to_owned(),
            unread: unread_of_kind(*kind),
            current: q.view == View::Unified(*kind),
        })
        .collect();
    // The to-do list stands after Starred.
    unified.insert(
        2,
        SideItem {
            href: "/mail?todo=1".to_owned(),
            name: t.kind_todo.to_owned(),
            unread: 0,
            current: q.view == View::Todo,
        },
    );
    let groups = accounts
        .iter()
        .map(|account| AccountGroup {
            address: account.address.clone(),
            items: folders
                .iter()
                .filter(|f| f.account == account.id && !f.remote_id.starts_with("CATEGORY_") && f.remote_id != "CHAT")
                .map(|f| SideItem {
                    href: format!("/mail?folder={}", f.id),
                    name: if f.kind == FolderKind::Custom { f.name.clone() } else { kind_name(t, f.kind).to_owned() },
                    unread: f.unread,
                    current: q.view == View::Folder(f.id),
                })
                .collect(),
        })
        .collect();
    let heading = match &q.view {
        View::Unified(kind) => kind_name(t, *kind).to_owned(),
        View::Folder(id) => folders.iter().find(|f| f.id == *id).map(|f| f.name.clone()).unwrap_or_default(),
        View::Todo => t.kind_todo.to_owned(),
        View::Tag(id) => tags.iter().find(|tag| tag.id == *id).map(|tag| tag.name.clone()).unwrap_or_default(),
        View::Search(_) => t.search_results.to_owned(),
    };
    let list_account = match &q.view {
        View::Folder(id) => folders.iter().find(|f| f.id == *id).map(|f| f.account),
        View::Unified(_) | View::Todo | View::Tag(_) | View::Search(_) => None,
    };
    let targets = list_account.map(|a| move_targets(t, &folders, a)).unwrap_or_default();
    let gmail_list =
        list_account.filter(|a| accounts.iter().any(|acc| acc.id == *a && acc.provider == Provider::Google));
    let list_labels = gmail_list
        .map(|a| {
            labels_of(&folders, a)
                .map(|f| MenuItem { value: format!("add_label:{}", f.id), name: f.name.clone(), on: false, color: "" })
                .collect()
        })
        .unwrap_or_default();
    let list_tags = tags
        .iter()
        .map(|tag| MenuItem {
            value: format!("tag:{}", tag.id),
            name: tag.name.clone(),
            on: false,
            color: tag.color.as_str(),
        })
        .collect();
    let in_trash = match &q.view {
        View::Unified(kind) => *kind == FolderKind::Trash,
        View::Folder(id) => folders.iter().any(|f| f.id == *id && f.kind == FolderKind::Trash),
        View::Todo | View::Tag(_) | View::Search(_) => false,
    };
    let failures = store
        .failed_actions(me.id)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|f| FailureRow { subject: subject_or(t, &f.subject), action: action_name(t, f.action), error: f.error })
        .collect();
    let back = format!("/mail?{view_query}{cursor_part}");
    let inbox_unread = store.inbox_unread(me.id).await.map_err(internal)?;
    let toast = ToastNote::of(&state, &ctx, &me, q.sent, q.discarded).await?;
    let page = MailPage {
        ctx,
        has_accounts: !accounts.is_empty(),
        unified,
        accounts: groups,
        heading,
        search: match &q.view {
            View::Search(typed) => typed.clone(),
            _ => String::new(),
        },
        search_error,
        rows,
        older,
        newest,
        open,
        failures,
        back,
        targets,
        list_labels,
        list_tags,
        undo: q.undo,
        toast,
        inbox_unread,
        in_trash,
        my_tags: tags
            .iter()
            .map(|tag| SideTag {
                href: format!("/mail?tag={}", tag.id),
                name: tag.name.clone(),
                color: tag.color.as_str(),
                count: tag.count,
                current: q.view == View::Tag(tag.id),
            })
            .collect(),
        current_tag: match q.view {
            View::Tag(id) => Some(id),
            _ => None,
        },
        colors: TagColor::ALL.iter().map(|c| (c.as_str(), color_name(t, *c))).collect(),
    };
    Ok(page.into_response())
}

fn row(
    t: &Texts,
    clock: &Clock,
    m: &MessageSummary,
    folders: &[FolderSummary],
    tags: &[Tag],
    href: &str,
    current: bool,
) -> Row {
    Row {
        tags: chips(tags, &m.tags),
        id: m.id,
        href: href.to_owned(),
        from: m.from_name.clone().or_else(|| m.from_address.clone()).unwrap_or_default(),
        subject: subject_or(t, &m.subject),
        subject_pieces: vec![Piece { text: subject_or(t, &m.subject), matched: false }],
        snippet_pieces: vec![Piece { text: m.snippet.clone(), matched: false }],
        date: clock.list(m.received_at),
        full_date: clock.full(m.received_at),
        iso: iso(m.received_at),
        unread: m.thread_unread,
        starred: m.is_starred,
        attachments: m.has_attachments,
        labels: m.folders.iter().filter_map(|id| folder_label(folders, t, *id)).collect(),
        current,
        todo: m.todo,
        count: (m.thread_count > 1).then_some(m.thread_count),
    }
}

/// Where messages of `account` can be moved: its custom folders and labels, and the inbox, by
/// the names the user knows them by (never a system label's id).
fn move_targets(t: &Texts, folders: &[FolderSummary], account: AccountId) -> Vec<Target> {
    folders
        .iter()
        .filter(|f| f.account == account)
        .filter(|f| matches!(f.kind, FolderKind::Custom | FolderKind::Inbox) && !f.remote_id.starts_with("CATEGORY_"))
        .filter(|f| f.remote_id != "CHAT" && f.remote_id != "UNREAD" && f.remote_id != "IMPORTANT")
        .map(|f| Target { id: f.id, name: folder_name(t, f) })
        .collect()
}

/// The account's own labels (Gmail's user labels), for "Label as".
fn labels_of(folders: &[FolderSummary], account: AccountId) -> impl Iterator<Item = &FolderSummary> {
    folders.iter().filter(move |f| {
        f.account == account
            && f.kind == FolderKind::Custom
            && !f.remote_id.starts_with("CATEGORY_")
            && !matches!(f.remote_id.as_str(), "CHAT" | "UNREAD" | "IMPORTANT")
    })
}

/// The conversation of `detail`, and the ids of its unread messages (opening it reads them).
#[allow(clippy::too_many_arguments, reason = "the parts of one page, gathered once by `show`")]
async fn open_message(
    state: &AppState,
    me: &User,
    t: &Texts,
    clock: &Clock,
    detail: &MessageDetail,
    folders: &[FolderSummary],
    tags: &[Tag],
    provider: Option<Provider>,
    view_query: &str,
    images: bool,
) -> Result<(OpenMessage, Vec<i64>), ErrorKind> {
    let m = &detail.summary;
    let id = m.id;
    // Every message of the thread, from whatever folder: a reply in Sent or Archive belongs to it.
    let mut thread = match &m.thread {
        Some(thread) => state.store.thread_messages(me.id, m.account, thread).await.map_err(internal)?,
        None => Vec::new(),
    };
    if !thread.iter().any(|other| other.id == id) {
        // A message in the trash or spam is left out of its thread's list: it is shown alone.
        thread = vec![m.clone()];
    }
    let newest = thread.last().map(|other| other.id);
    let unread: Vec<i64> = thread.iter().filter(|other| !other.is_read).map(|other| other.id).collect();
    let mut messages = Vec::with_capacity(thread.len());
    for other in &thread {
        let shown = if other.id == id {
            thread_message(state, me, t, clock, detail, folders, m, view_query, images).await?
        } else {
            let Some(other_detail) = state.store.message_detail(me.id, other.id).await.map_err(internal)? else {
                continue;
            };
            thread_message(state, me, t, clock, &other_detail, folders, m, view_query, false).await?
        };
        let expanded = other.id == id || !other.is_read || Some(other.id) == newest;
        messages.push(ThreadMessage { expanded, ..shown });
    }
    let kind_of = |fid: &i64| folders.iter().find(|f| f.id == *fid).map(|f| f.kind);
    let label_items = if provider == Some(Provider::Google) {
        labels_of(folders, m.account)
            .map(|f| {
                let on = m.folders.contains(&f.id);
                MenuItem {
                    value: format!("{}:{}", if on { "remove_label" } else { "add_label" }, f.id),
                    name: f.name.clone(),
                    on,
                    color: "",
                }
            })
            .collect()
    } else {
        Vec::new()
    };
    let tag_items = tags
        .iter()
        .map(|tag| {
            let on = m.tags.contains(&tag.id);
            MenuItem {
                value: format!("{}:{}", if on { "untag" } else { "tag" }, tag.id),
                name: tag.name.clone(),
                on,
                color: tag.color.as_str(),
            }
        })
        .collect();
    let conversation = OpenMessage {
        id,
        subject: subject_or(t, &m.subject),
        messages,
        starred: m.is_starred,
        todo: m.todo,
        note: detail.note.clone().unwrap_or_default(),
        tags: chips(tags, &m.tags),
        in_trash: m.folders.iter().any(|f| kind_of(f) == Some(FolderKind::Trash)),
        in_spam: m.folders.iter().any(|f| kind_of(f) == Some(FolderKind::Spam)),
        labels: m.folders.iter().filter_map(|f| folder_label(folders, t, *f)).collect(),
        label_items,
        tag_items,
        targets: move_targets(t, folders, m.account)
            .into_iter()
            .filter(|target| !m.folders.contains(&target.id))
            .collect(),
    };
    Ok((conversation, unread))
}

/// One message of a conversation opened at `listed`, expanded or not.
#[allow(clippy::too_many_arguments, reason = "the parts of one page, gathered once by `show`")]
async fn thread_message(
    state: &AppState,
    me: &User,
    t: &Texts,
    clock: &Clock,
    detail: &MessageDetail,
    folders: &[FolderSummary],
    listed: &MessageSummary,
    view_query: &str,
    images: bool,
) -> Result<ThreadMessage, ErrorKind> {
    let m = &detail.summary;
    let id = m.id;
    let people = |role: &str| -> Vec<Person> {
        detail
            .people
            .iter()
            .filter(|p| p.role == role)
            .map(|p| Person { text: person(p.name.as_deref(), &p.address) })
            .collect()
    };
    let sender_trusted = match &m.from_address {
        Some(address) => state.store.images_allowed_from(me.id, address).await.map_err(internal)?,
        None => false,
    };
    let images = images || sender_trusted;
    let blocked_remote = !images && shown_body(detail, &|_| None, false).blocked_remote;
    let kind_of = |fid: &i64| folders.iter().find(|f| f.id == *fid).map(|f| f.kind);
    // Where it is, said when it is not where the conversation was opened.
    let place = (!m.folders.iter().any(|f| listed.folders.contains(f)))
        .then(|| {
            m.folders
                .iter()
                .filter_map(|f| folders.iter().find(|folder| folder.id == *f))
                .filter(|f| {
                    !f.remote_id.starts_with("CATEGORY_") && f.remote_id != "UNREAD" && f.remote_id != "IMPORTANT"
                })
                .map(|f| folder_name(t, f))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .filter(|place| !place.is_empty());
    Ok(ThreadMessage {
        id,
        from_name: m.from_name.clone().filter(|n| !n.is_empty()).or(m.from_address.clone()).unwrap_or_default(),
        // Every author: a message may name several in its From.
        from: match people("from") {
            authors if !authors.is_empty() => authors,
            _ => vec![Person { text: person(m.from_name.as_deref(), m.from_address.as_deref().unwrap_or_default()) }],
        },
        to: people("to"),
        cc: people("cc"),
        date: clock.list(m.sent_at.unwrap_or(m.received_at)),
        full_date: clock.full(m.sent_at.unwrap_or(m.received_at)),
        iso: iso(m.sent_at.unwrap_or(m.received_at)),
        snippet: m.snippet.clone(),
        unread: !m.is_read,
        expanded: false,
        frame_src: format!("/mail/messages/{id}/body{}", if images { "?images=1" } else { "" }),
        blocked_remote,
        show_images_href: format!("/mail?{view_query}&open={}&images=1", listed.id),
        sender: m.from_address.clone().filter(|_| !sender_trusted),
        attachments: detail
            .attachments
            .iter()
            .map(|a| AttachmentRow {
                href: format!("/mail/messages/{id}/attachments/{}", a.position),
                name: crate::mail::shown_file_name(&a.name),
                content_type: a.content_type.clone(),
                size: size_text(a.size),
            })
            .collect(),
        original_href: detail.raw.is_some().then(|| format!("/mail/messages/{id}/original")),
        in_drafts: m.folders.iter().any(|f| kind_of(f) == Some(FolderKind::Drafts)),
        place,
    })
}

/// A folder's name as the user knows it: the kind's word for the special ones.
fn folder_name(t: &Texts, folder: &FolderSummary) -> String {
    let kind = kind_name(t, folder.kind);
    if kind.is_empty() { folder.name.clone() } else { kind.to_owned() }
}

/// `GET /mail/messages/{id}/body`: the message's content as a document of its own, for the
/// sandboxed frame of the reading pane: sanitised, no script may run, nothing loads from
/// elsewhere unless the user asked for images, and `cid:` images are inlined.
pub async fn body(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    Path(id): Path<i64>,
    RawQuery(query): RawQuery,
) -> Result<Response, ErrorKind> {
    let detail = state.store.message_detail(me.id, id).await.map_err(internal)?.ok_or(ErrorKind::NotFound)?;
    let trusted = match &detail.summary.from_address {
        Some(address) => state.store.images_allowed_from(me.id, address).await.map_err(internal)?,
        None => false,
    };
    let images = query.as_deref() == Some("images=1") || trusted;
    let shown = shown_body(&detail, &cid_inline(&detail), images);
    // Plain text takes the page's colours, dark ones too; HTML mail keeps the white it was
    // written for, as every mail client shows it.
    let (class, scheme) = if shown.plain { ("plain-doc", "light dark") } else { ("html-doc", "light") };
    let document = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"color-scheme\" content=\"{scheme}\">\
         <style>{FRAME_STYLE}</style></head><body class=\"{class}\">{}</body></html>",
        fold_quotes(&shown.html)
    );
    let policy = if images { FRAME_POLICY_IMAGES } else { FRAME_POLICY };
    let mut response = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], document).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(policy));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("SAMEORIGIN"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    Ok(response)
}

/// The frame's own style: readable defaults that the message's styles may override.
const FRAME_STYLE: &str = "body{margin:0;padding:12px 14px;font:15px/1.5 system-ui,sans-serif;color:#1d2330;\
background:#fff;overflow-wrap:anywhere}img{max-width:100%;height:auto}.plain{white-space:pre-wrap}\
details.quote summary{cursor:pointer;color:#586273;list-style:none;display:inline-block;padding:0 .4em;\
border:1px solid #ccd;border-radius:4px;line-height:1.1}details.quote{color:#586273}\
blockquote{margin:0 0 0 .5em;padding-left:.75em;border-left:3px solid #ccd}\
@media (prefers-color-scheme:dark){body.plain-doc{color:#e6e8ec;background:#1d2129}\
body.plain-doc a{color:#7aa2ff}body.plain-doc details.quote,body.plain-doc details.quote summary{color:#a0a8b6}}";
/// No script, no plugin, no form, no request anywhere; inline styles and `data:` images only. The
/// sandbox (here and on the iframe) forbids every script, whatever the policy lets through; it
/// keeps the page's origin (`allow-same-origin`) only so that the page can read the document's
/// height and size the frame to it, which a frame without script cannot say itself. Links may
/// open new tabs, outside the sandbox.
const FRAME_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; \
     form-action 'none'; base-uri 'none'; frame-ancestors 'self'; \
     sandbox allow-same-origin allow-popups allow-popups-to-escape-sandbox";
/// The same with remote images allowed, after the user asked.
const FRAME_POLICY_IMAGES: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data: https: http:; \
     font-src data:; form-action 'none'; base-uri 'none'; frame-ancestors 'self'; \
     sandbox allow-same-origin allow-popups allow-popups-to-escape-sandbox";

/// `GET /mail/messages/{id}/attachments/{position}`.
pub async fn attachment(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    Path((id, position)): Path<(i64, usize)>,
) -> Result<Response, ErrorKind> {
    let detail = state.store.message_detail(me.id, id).await.map_err(internal)?.ok_or(ErrorKind::NotFound)?;
    let part = detail.raw.as_deref().and_then(|raw| mailroom_mime::attachment_data(raw, position));
    let part = part.ok_or(ErrorKind::NotFound)?;
    Ok(download(part.data, &part.info.content_type, &part.info.name))
}

/// `GET /mail/messages/{id}/original`: the `.eml`.
pub async fn original(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, ErrorKind> {
    let detail = state.store.message_detail(me.id, id).await.map_err(internal)?.ok_or(ErrorKind::NotFound)?;
    let raw = detail.raw.ok_or(ErrorKind::NotFound)?;
    Ok(download(raw, "message/rfc822", &eml_name(&detail.summary.subject)))
}

/// Seconds an action can be undone for: the toast shows this long, and the provider hears of
/// the action only after it (and the store's margin) has passed.
pub const UNDO_SECONDS: i64 = 10;

/// `POST /mail/act`: `ids` (repeated), `action`, `folder` for move and labels, `tag` for the
/// user's own tags, `scope=conversation` to take it on each message's whole conversation, and
/// `back`, the page to return to. The action's name may carry its folder or tag after a colon
/// (`move:12`, `add_label:12`, `tag:3`), so that each item of a menu is one button.
///
/// Asked for JSON (the page's script), it answers what changed, the words of its toast and the
/// handle of its Undo; otherwise it returns to `back` with a notice and an Undo button.
pub async fn act(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    ctx: Ctx,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Result<Response, ErrorKind> {
    let json = wants_json(&headers);
    let mut ids = Vec::new();
    let (mut action, mut folder, mut tag, mut back, mut conversation) = (None, None, None, None, false);
    let number = |value: &str| value.parse::<i64>().map_err(|_| ErrorKind::BadRequest);
    for (key, value) in url::form_urlencoded::parse(&body) {
        match key.as_ref() {
            "ids" => ids.push(number(&value)?),
            "action" => {
                let (name, argument) = match value.split_once(':') {
                    Some((name, argument)) => (name, Some(number(argument)?)),
                    None => (value.as_ref(), None),
                };
                let requested = Requested::parse(name).ok_or(ErrorKind::BadRequest)?;
                if let Some(argument) = argument {
                    if requested.needs_target() {
                        folder = Some(argument);
                    } else if requested.needs_tag() {
                        tag = Some(argument);
                    } else {
                        return Err(ErrorKind::BadRequest);
                    }
                }
                action = Some(requested);
            }
            "folder" if !value.is_empty() && folder.is_none() => folder = Some(number(&value)?),
            "tag" if !value.is_empty() && tag.is_none() => tag = Some(number(&value)?),
            "back" => back = Some(value.into_owned()),
            "scope" => conversation = value == "conversation",
            _ => {}
        }
    }
    let action = action.ok_or(ErrorKind::BadRequest)?;
    let back = mail_back(back)?;
    // A form posts the folder and tag selects whichever button was pressed: keep what it needs.
    let folder = folder.filter(|_| action.needs_target());
    let tag = tag.filter(|_| action.needs_tag());
    if action.needs_target() != folder.is_some() || action.needs_tag() != tag.is_some() {
        return Err(ErrorKind::BadRequest);
    }
    if ids.is_empty() {
        return Ok(if json {
            json_error(StatusCode::UNPROCESSABLE_ENTITY, ctx.t.notice_nothing_selected)
        } else {
            see_other_keeping(&back, "nothing_selected")
        });
    }
    if conversation {
        ids = conversation_ids(&state, &me, &ids, action).await?;
    }
    let now = mailroom_store::now();
    let result = match action {
        // Deleting for good is asked twice instead; everything else the provider hears of only
        // once the user could no longer undo it.
        Requested::Mail(mail) if mail != MailAction::Delete => {
            // A second more than the toast shows, for a click in its last moment.
            let hold_until = now + UNDO_SECONDS + mailroom_store::UNDO_MARGIN + 1;
            state.store.act_held(me.id, &ids, mail, folder, now, hold_until).await.map_err(internal)?.map(|acted| {
                if !acted.accounts.is_empty() {
                    state.sync_wake.notify_one();
                }
                (acted.changed, acted.batch)
            })
        }
        _ => take_action(&state, me.id, &ids, action, folder, tag)
            .await
            .map_err(internal)?
            .map(|changed| (changed, None)),
    };
    match result {
        Ok((changed, batch)) => {
            tracing::info!(user.id = %me.id, ?action, changed, "mail action");
            if json {
                let tags = state.store.tags(me.id).await.map_err(internal)?;
                let folders = match folder {
                    Some(_) => state.store.folder_summaries(me.id, None).await.map_err(internal)?,
                    None => Vec::new(),
                };
                let text = done_text(
                    ctx.t,
                    action,
                    folder.and_then(|id| folders.iter().find(|f| f.id == id)),
                    tag.and_then(|id| tags.iter().find(|t| t.id == id)),
                );
                return Ok(Json(json!({ "changed": changed, "ids": ids, "text": text, "undo": batch })).into_response());
            }
            // A message that left the list is no longer open.
            let back = if action.moves() { strip_open(&back) } else { back };
            let back = match batch {
                Some(batch) => format!("{back}{}undo={batch}", if back.contains('?') { '&' } else { '?' }),
                None => back,
            };
            Ok(see_other_keeping(&back, "action_done"))
        }
        Err(ActionRefused::NotFound) => Err(ErrorKind::NotFound),
        Err(_) => Err(ErrorKind::BadRequest),
    }
}

/// `POST /mail/undo` with `batch` (and `back`): the user's action goes back as if never taken,
/// while its window lasts. JSON for the page's script, else a return to `back` with a notice.
pub async fn undo(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    ctx: Ctx,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Result<Response, ErrorKind> {
    let json = wants_json(&headers);
    let (mut batch, mut back) = (None, None);
    for (key, value) in url::form_urlencoded::parse(&body) {
        match key.as_ref() {
            "batch" => batch = Some(value.parse::<i64>().map_err(|_| ErrorKind::BadRequest)?),
            "back" => back = Some(value.into_owned()),
            _ => {}
        }
    }
    let batch = batch.ok_or(ErrorKind::BadRequest)?;
    let back = strip_param(&mail_back(back)?, "undo=");
    match state.store.undo(me.id, batch, mailroom_store::now()).await.map_err(internal)? {
        Ok(acted) => {
            tracing::info!(user.id = %me.id, batch, changed = acted.changed, "mail action undone");
            Ok(if json {
                Json(json!({ "changed": acted.changed, "text": ctx.t.notice_undone })).into_response()
            } else {
                see_other_keeping(&back, "undone")
            })
        }
        Err(UndoRefused::TooLate) => Ok(if json {
            json_error(StatusCode::CONFLICT, ctx.t.notice_undo_too_late)
        } else {
            see_other_keeping(&back, "undo_too_late")
        }),
        Err(UndoRefused::NotFound) => Err(ErrorKind::NotFound),
    }
}

/// The messages an action on the conversations of `ids` takes: marking read or unread takes
/// every message of each conversation; moving and labelling those that share a folder with the
/// one listed (archiving from the inbox leaves a reply in Sent where it is, as Gmail does); a
/// star, a to-do mark or a tag the listed message alone.
async fn conversation_ids(state: &AppState, me: &User, ids: &[i64], action: Requested) -> Result<Vec<i64>, ErrorKind> {
    let (whole, shared) = match action {
        Requested::Mail(MailAction::MarkRead | MailAction::MarkUnread) => (true, false),
        Requested::Mail(MailAction::Star | MailAction::Unstar) | Requested::Todo(_) | Requested::Tag(_) => {
            return Ok(ids.to_vec());
        }
        Requested::Mail(_) => (false, true),
    };
    let mut out = Vec::with_capacity(ids.len());
    for &id in ids {
        let detail = state.store.message_detail(me.id, id).await.map_err(internal)?.ok_or(ErrorKind::NotFound)?;
        out.push(id);
        let Some(thread) = &detail.summary.thread else { continue };
        let others = state.store.thread_messages(me.id, detail.summary.account, thread).await.map_err(internal)?;
        for other in others {
            if whole || shared && other.folders.iter().any(|f| detail.summary.folders.contains(f)) {
                out.push(other.id);
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// The toast's words for an action just taken.
fn done_text(t: &Texts, action: Requested, folder: Option<&FolderSummary>, tag: Option<&Tag>) -> String {
    let folder_name = |f: &FolderSummary| {
        let kind = kind_name(t, f.kind);
        if kind.is_empty() { f.name.clone() } else { kind.to_owned() }
    };
    match action {
        Requested::Todo(true) => t.done_todo.to_owned(),
        Requested::Todo(false) => t.done_untodo.to_owned(),
        Requested::Tag(on) => {
            format!(
                "{} {}",
                if on { t.done_tag } else { t.done_untag },
                tag.map(|t| t.name.as_str()).unwrap_or_default()
            )
        }
        Requested::Mail(mail) => match mail {
            MailAction::MarkRead => t.done_read.to_owned(),
            MailAction::MarkUnread => t.done_unread.to_owned(),
            MailAction::Star => t.done_star.to_owned(),
            MailAction::Unstar => t.done_unstar.to_owned(),
            MailAction::Archive => t.done_archive.to_owned(),
            MailAction::Trash => t.done_trash.to_owned(),
            MailAction::Restore => t.done_restore.to_owned(),
            MailAction::Delete => t.done_delete.to_owned(),
            MailAction::Spam => t.done_spam.to_owned(),
            MailAction::NotSpam => t.done_not_spam.to_owned(),
            MailAction::Move => format!("{} {}", t.done_move, folder.map(folder_name).unwrap_or_default()),
            MailAction::AddLabel => format!("{} {}", t.done_label, folder.map(folder_name).unwrap_or_default()),
            MailAction::RemoveLabel => format!("{} {}", t.done_unlabel, folder.map(folder_name).unwrap_or_default()),
        },
    }
}

/// Where a mail form leads back to: a page of the mail view only, never a redirect elsewhere;
/// none, or another page, leads to `/mail`. A control character (a line break) cannot be in a
/// page's address, and a redirect holding one cannot even be written: such a request is refused
/// before it changes anything.
fn mail_back(back: Option<String>) -> Result<String, ErrorKind> {
    match back {
        Some(back) if back.chars().any(char::is_control) => Err(ErrorKind::BadRequest),
        Some(back) if back.starts_with("/mail") && !back.contains("notice=") && !back.contains('\\') => Ok(back),
        _ => Ok("/mail".to_owned()),
    }
}

/// Whether the browser says the request comes from another site's page (`Sec-Fetch-Site`,
/// which every current browser sends and no page can forge). Without the header, an old
/// browser's request, it is taken as the user's own.
fn from_another_site(headers: &axum::http::HeaderMap) -> bool {
    headers.get("sec-fetch-site").is_some_and(|v| v.as_bytes() == b"cross-site" || v.as_bytes() == b"same-site")
}

/// `back` without its `open=` parameter.
fn strip_open(back: &str) -> String {
    strip_param(&strip_param(back, "open="), "images=")
}

/// `back` without the parameter that starts with `prefix`.
fn strip_param(back: &str, prefix: &str) -> String {
    let Some((path, query)) = back.split_once('?') else { return back.to_owned() };
    let kept: Vec<&str> = query.split('&').filter(|p| !p.starts_with(prefix)).collect();
    if kept.is_empty() { path.to_owned() } else { format!("{path}?{}", kept.join("&")) }
}

/// A redirect to `path` (which may have a query) with a notice.
fn see_other_keeping(path: &str, notice: &str) -> Response {
    match path.split_once('?') {
        Some((p, q)) => Redirect::to(&format!("{p}?{q}&notice={notice}")).into_response(),
        None => see_other(path, notice),
    }
}

/// `POST /mail/images/allow` with `message` and `back`: the sender of the user's message
/// `message` may show remote images from now on.
pub async fn allow_images(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    body: Bytes,
) -> Result<Response, ErrorKind> {
    let (mut message, mut back) = (None, None);
    for (key, value) in url::form_urlencoded::parse(&body) {
        match key.as_ref() {
            "message" => message = Some(value.parse::<i64>().map_err(|_| ErrorKind::BadRequest)?),
            "back" => back = Some(value.into_owned()),
            _ => {}
        }
    }
    let back = mail_back(back)?;
    let detail = state.store.message_detail(me.id, message.ok_or(ErrorKind::BadRequest)?).await.map_err(internal)?;
    let detail = detail.ok_or(ErrorKind::NotFound)?;
    let sender = detail.summary.from_address.ok_or(ErrorKind::BadRequest)?;
    state.store.allow_images_from(me.id, &sender, mailroom_store::now()).await.map_err(internal)?;
    Ok(Redirect::to(&back).into_response())
}

/// `POST /mail/messages/{id}/note` with `note` and `back`: the user's private note on the message.
pub async fn save_note(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    Path(id): Path<i64>,
    body: Bytes,
) -> Result<Response, ErrorKind> {
    let (mut note, mut back) = (String::new(), None);
    for (key, value) in url::form_urlencoded::parse(&body) {
        match key.as_ref() {
            "note" => note = value.into_owned(),
            "back" => back = Some(value.into_owned()),
            _ => {}
        }
    }
    let back = mail_back(back)?;
    if note.chars().count() > NOTE_LIMIT {
        return Err(ErrorKind::BadRequest);
    }
    if !state.store.set_note(me.id, id, &note, mailroom_store::now()).await.map_err(internal)? {
        return Err(ErrorKind::NotFound);
    }
    Ok(see_other_keeping(&back, "note_saved"))
}

/// `POST /mail/tags` with `name` and `color`: a new tag of the user's.
pub async fn create_tag(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    body: Bytes,
) -> Result<Response, ErrorKind> {
    let (mut name, mut color) = (String::new(), String::new());
    for (key, value) in url::form_urlencoded::parse(&body) {
        match key.as_ref() {
            "name" => name = value.into_owned(),
            "color" => color = value.into_owned(),
            _ => {}
        }
    }
    let (Ok(name), Ok(color)) = (TagName::parse(&name), TagColor::parse(&color)) else {
        return Ok(see_other("/mail", "tag_invalid"));
    };
    match state.store.create_tag(me.id, &name, color, mailroom_store::now()).await.map_err(internal)? {
        Some(id) => Ok(see_other_keeping(&format!("/mail?tag={id}"), "tag_created")),
        None => Ok(see_other("/mail", "tag_invalid")),
    }
}

/// `POST /mail/tags/{id}/delete`: the user's tag goes, from every message too.
pub async fn delete_tag(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, ErrorKind> {
    if !state.store.delete_tag(me.id, id).await.map_err(internal)? {
        return Err(ErrorKind::NotFound);
    }
    Ok(see_other("/mail", "tag_deleted"))
}

/// `POST /mail/failures/dismiss`: the user has read why actions were undone.
pub async fn dismiss_failures(State(state): State<AppState>, SignedIn(me): SignedIn) -> Result<Response, ErrorKind> {
    state.store.dismiss_failed_actions(me.id).await.map_err(internal)?;
    Ok(see_other("/mail", "failures_dismissed"))
}
