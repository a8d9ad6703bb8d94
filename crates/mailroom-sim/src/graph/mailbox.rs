//! An Outlook mailbox as Graph shows it: folders, messages, and the change log behind delta queries.
//!
//! Every message has two ids: an immutable one that never changes, and a "REST" id that a move
//! replaces, because Graph's default ids change when a message changes folder and only
//! `Prefer: IdType="ImmutableId"` gives ids that survive. Lookups accept either.

use std::collections::HashMap;

use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::attachments::UploadSession;
use super::delta::{DeltaCursor, DeltaRound};
use super::folders::FolderSnapshot;
use super::throttle::Usage;
use crate::SimUser;
use crate::mime;

/// Well-known folders every mailbox starts with: `(name, display name)`. `msgfolderroot` is the
/// parent of the others.
pub const WELL_KNOWN: [(&str, &str); 8] = [
    ("msgfolderroot", "Top of Information Store"),
    ("inbox", "Inbox"),
    ("drafts", "Drafts"),
    ("sentitems", "Sent Items"),
    ("deleteditems", "Deleted Items"),
    ("archive", "Archive"),
    ("junkemail", "Junk Email"),
    ("outbox", "Outbox"),
];

/// Id prefixes, shaped like Exchange's so ids look familiar in logs.
const IMMUTABLE_ID: &str = "AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0A";
const REST_ID: &str = "AAMkAGI2TAAA";
pub const ATTACHMENT_ID: &str = "AAMkAGI2TAAABEgAQA";
pub const FOLDER_ID: &str = "AAMkAGFld";

#[derive(Debug, Clone)]
pub struct Folder {
    pub id: String,
    pub display_name: String,
    pub parent_id: String,
    pub well_known: Option<&'static str>,
    pub hidden: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recipient {
    pub name: String,
    pub address: String,
}

impl Recipient {
    fn from_mime(m: &mime::Mailbox) -> Recipient {
        Recipient { name: m.name.clone().unwrap_or_else(|| m.address.clone()), address: m.address.clone() }
    }
}

#[derive(Debug, Clone)]
pub struct Attachment {
    pub id: String,
    pub name: String,
    pub content_type: String,
    pub content_id: Option<String>,
    pub is_inline: bool,
    pub bytes: Vec<u8>,
    pub modified_ms: i64,
}

#[derive(Debug, Clone)]
pub struct Message {
    pub immutable_id: String,
    pub rest_id: String,
    pub folder_id: String,
    pub created_ms: i64,
    pub modified_ms: i64,
    pub received_ms: i64,
    pub sent_ms: i64,
    pub subject: String,
    pub body_text: String,
    /// The HTML body, when the message has one; Graph converts text to HTML on the way out.
    pub body_html: Option<String>,
    pub from: Option<Recipient>,
    pub sender: Option<Recipient>,
    pub to: Vec<Recipient>,
    pub cc: Vec<Recipient>,
    pub bcc: Vec<Recipient>,
    pub reply_to: Vec<Recipient>,
    /// Without angle brackets.
    pub internet_message_id: String,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub headers: Vec<(String, String)>,
    pub is_read: bool,
    pub is_draft: bool,
    /// `notFlagged`, `flagged` or `complete`.
    pub flag_status: String,
    pub categories: Vec<String>,
    pub importance: String,
    pub inference_classification: String,
    pub attachments: Vec<Attachment>,
    /// The MIME as it arrived; `None` once the message was built or edited here, when it is
    /// composed from the fields instead.
    pub raw: Option<Vec<u8>>,
    pub conversation_id: String,
    /// Bumped on every change; the `changeKey` and the etag.
    pub version: u64,
}

impl Message {
    /// A copy with what its resource shows, for rendering away from the world's lock: the
    /// MIME and the attachments' bytes, which the resource does not show, are left out.
    pub fn without_content(&self) -> Message {
        let attachments = self
            .attachments
            .iter()
            .map(|a| Attachment {
                id: a.id.clone(),
                name: a.name.clone(),
                content_type: a.content_type.clone(),
                content_id: a.content_id.clone(),
                is_inline: a.is_inline,
                bytes: Vec::new(),
                modified_ms: a.modified_ms,
            })
            .collect();
        Message {
            immutable_id: self.immutable_id.clone(),
            rest_id: self.rest_id.clone(),
            folder_id: self.folder_id.clone(),
            created_ms: self.created_ms,
            modified_ms: self.modified_ms,
            received_ms: self.received_ms,
            sent_ms: self.sent_ms,
            subject: self.subject.clone(),
            body_text: self.body_text.clone(),
            body_html: self.body_html.clone(),
            from: self.from.clone(),
            sender: self.sender.clone(),
            to: self.to.clone(),
            cc: self.cc.clone(),
            bcc: self.bcc.clone(),
            reply_to: self.reply_to.clone(),
            internet_message_id: self.internet_message_id.clone(),
            in_reply_to: self.in_reply_to.clone(),
            references: self.references.clone(),
            headers: self.headers.clone(),
            is_read: self.is_read,
            is_draft: self.is_draft,
            flag_status: self.flag_status.clone(),
            categories: self.categories.clone(),
            importance: self.importance.clone(),
            inference_classification: self.inference_classification.clone(),
            attachments,
            raw: None,
            conversation_id: self.conversation_id.clone(),
            version: self.version,
        }
    }

    pub fn has_attachments(&self) -> bool {
        self.attachments.iter().any(|a| !a.is_inline)
    }

    /// The id the caller sees: immutable when it asked for `IdType="ImmutableId"`.
    pub fn id(&self, immutable: bool) -> &str {
        if immutable { &self.immutable_id } else { &self.rest_id }
    }

    pub fn change_key(&self) -> String {
        format!("CQAAABYAAA{:010}", self.version)
    }

    pub fn bump(&mut self, now_ms: i64) {
        self.version += 1;
        self.modified_ms = now_ms;
    }
}

/// One entry of the change log: a message appeared in, changed in, or left a folder.
#[derive(Debug, Clone)]
pub struct Change {
    pub seq: u64,
    pub folder_id: String,
    pub immutable_id: String,
    /// The REST id the message had in that folder, which is what a client that does not use
    /// immutable ids knows it by.
    pub rest_id: String,
    pub removed: bool,
}

pub struct Mailbox {
    pub email: String,
    pub name: String,
    pub folders: Vec<Folder>,
    /// Changed only through [`Mailbox::insert`] and [`Mailbox::remove`], which keep `positions`.
    pub messages: Vec<Message>,
    /// Where each message's immutable and REST ids point in `messages`, so that finding one is
    /// not a scan: a delta page of a large mailbox looks up every message it lists. An entry can
    /// be stale (a REST id a move replaced); [`Mailbox::find`] checks what it finds.
    positions: HashMap<String, usize>,
    pub changes: Vec<Change>,
    /// Ids minted so far; ids are derived from it so a seeded simulator repeats itself.
    minted: u64,
    /// Boxed to keep the mailbox small next to Gmail's in the world's map.
    pub sessions: Box<Sessions>,
}

/// What clients hold open against the mailbox: delta tokens, upload sessions, request usage.
#[derive(Default)]
pub struct Sessions {
    pub delta_cursors: HashMap<String, DeltaCursor>,
    pub delta_rounds: HashMap<String, DeltaRound>,
    pub folder_snapshots: HashMap<String, FolderSnapshot>,
    pub uploads: HashMap<String, UploadSession>,
    pub usage: Usage,
    /// How an expired delta token is answered (410 `syncStateNotFound` unless the control API
    /// said otherwise).
    pub expired_answer: super::delta::ExpiredAnswer,
}

impl Mailbox {
    pub fn new(user: &SimUser, _now_ms: i64) -> Mailbox {
        let mut mailbox = Mailbox {
            email: user.email.clone(),
            name: user.name.clone(),
            folders: Vec::new(),
            messages: Vec::new(),
            positions: HashMap::new(),
            changes: Vec::new(),
            minted: 0,
            sessions: Box::default(),
        };
        // The root's own parent is a hidden folder Graph never lists.
        let hidden_root = mailbox.mint("AAMkAGRoot");
        let root_id = mailbox.mint(FOLDER_ID);
        for (name, display) in WELL_KNOWN {
            let (id, parent_id) = if name == "msgfolderroot" {
                (root_id.clone(), hidden_root.clone())
            } else {
                (mailbox.mint(FOLDER_ID), root_id.clone())
            };
            mailbox.folders.push(Folder {
                id,
                display_name: display.to_owned(),
                parent_id,
                well_known: Some(name),
                hidden: false,
            });
        }
        mailbox
    }

    /// A new opaque id with a Graph-like prefix.
    pub fn mint(&mut self, prefix: &str) -> String {
        self.minted += 1;
        let digest = Sha256::digest(format!("{}/{prefix}/{}", self.email, self.minted).as_bytes());
        format!("{prefix}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..24]))
    }

    /// The id of a folder given by id or well-known name (names are case-insensitive).
    pub fn folder_id(&self, id_or_name: &str) -> Option<String> {
        let lower = id_or_name.to_ascii_lowercase();
        self.folders.iter().find(|f| f.id == id_or_name || f.well_known == Some(lower.as_str())).map(|f| f.id.clone())
    }

    pub fn folder(&self, id: &str) -> Option<&Folder> {
        self.folders.iter().find(|f| f.id == id)
    }

    pub fn well_known_id(&self, name: &str) -> String {
        self.folder_id(name).unwrap_or_default()
    }

    /// Index of a message by REST or immutable id.
    pub fn find(&self, id: &str) -> Option<usize> {
        self.positions
            .get(id)
            .copied()
            .filter(|&i| self.messages.get(i).is_some_and(|m| m.rest_id == id || m.immutable_id == id))
    }

    fn record(&mut self, folder_id: String, immutable_id: String, rest_id: String, removed: bool) {
        let seq = self.changes.last().map_or(1, |c| c.seq + 1);
        self.changes.push(Change { seq, folder_id, immutable_id, rest_id, removed });
    }

    /// The sequence number of the latest change, the point a delta round starts from.
    pub fn last_seq(&self) -> u64 {
        self.changes.last().map_or(0, |c| c.seq)
    }

    /// A message built from MIME, not yet stored.
    pub fn message_from_raw(&mut self, raw: Vec<u8>, folder_id: &str, received_ms: i64) -> Message {
        let summary = mime::summarize(&raw);
        let immutable_id = self.mint(IMMUTABLE_ID);
        let rest_id = self.mint(REST_ID);
        let attachments = summary
            .attachments
            .iter()
            .map(|a| Attachment {
                id: self.mint(ATTACHMENT_ID),
                name: a.name.clone(),
                content_type: a.content_type.clone(),
                content_id: a.content_id.clone(),
                is_inline: a.inline,
                bytes: a.bytes.clone(),
                modified_ms: received_ms,
            })
            .collect();
        let internet_message_id = summary.message_id.clone().unwrap_or_else(|| format!("{rest_id}@mailroom-sim"));
        let root = summary.references.first().cloned().unwrap_or_else(|| internet_message_id.clone());
        let conversation_id = conversation_id(&root);
        Message {
            immutable_id,
            rest_id,
            folder_id: folder_id.to_owned(),
            created_ms: received_ms,
            modified_ms: received_ms,
            received_ms,
            sent_ms: summary.date_ms.unwrap_or(received_ms),
            subject: summary.subject.clone(),
            body_text: summary.text.clone().unwrap_or_default(),
            body_html: summary.html.clone(),
            from: summary.from.as_ref().map(Recipient::from_mime),
            sender: summary.sender.as_ref().or(summary.from.as_ref()).map(Recipient::from_mime),
            to: summary.to.iter().map(Recipient::from_mime).collect(),
            cc: summary.cc.iter().map(Recipient::from_mime).collect(),
            bcc: summary.bcc.iter().map(Recipient::from_mime).collect(),
            reply_to: summary.reply_to.iter().map(Recipient::from_mime).collect(),
            internet_message_id,
            in_reply_to: summary.in_reply_to.clone(),
            references: summary.references.clone(),
            headers: summary.headers.clone(),
            is_read: false,
            is_draft: false,
            flag_status: "notFlagged".to_owned(),
            categories: Vec::new(),
            importance: importance(&summary.headers),
            inference_classification: "focused".to_owned(),
            attachments,
            raw: Some(raw),
            conversation_id,
            version: 1,
        }
    }

    /// An empty draft written by the mailbox's owner, not yet stored.
    pub fn blank(&mut self, folder_id: &str, now_ms: i64) -> Message {
        let immutable_id = self.mint(IMMUTABLE_ID);
        let rest_id = self.mint(REST_ID);
        let domain = self.email.split_once('@').map_or("mailroom-sim.test", |(_, d)| d);
        let internet_message_id = format!("{}@{domain}", &rest_id[rest_id.len() - 20..]);
        let me = Recipient { name: self.name.clone(), address: self.email.clone() };
        Message {
            immutable_id,
            rest_id,
            folder_id: folder_id.to_owned(),
            created_ms: now_ms,
            modified_ms: now_ms,
            received_ms: now_ms,
            sent_ms: now_ms,
            subject: String::new(),
            body_text: String::new(),
            body_html: None,
            from: Some(me.clone()),
            sender: Some(me),
            to: Vec::new(),
            cc: Vec::new(),
            bcc: Vec::new(),
            reply_to: Vec::new(),
            conversation_id: conversation_id(&internet_message_id),
            internet_message_id,
            in_reply_to: Vec::new(),
            references: Vec::new(),
            headers: Vec::new(),
            is_read: true,
            is_draft: true,
            flag_status: "notFlagged".to_owned(),
            categories: Vec::new(),
            importance: "normal".to_owned(),
            inference_classification: "focused".to_owned(),
            attachments: Vec::new(),
            raw: None,
            version: 1,
        }
    }

    /// Stores a message and records its arrival for delta; returns its index.
    pub fn insert(&mut self, message: Message) -> usize {
        self.record(message.folder_id.clone(), message.immutable_id.clone(), message.rest_id.clone(), false);
        let index = self.messages.len();
        self.positions.insert(message.immutable_id.clone(), index);
        self.positions.insert(message.rest_id.clone(), index);
        self.messages.push(message);
        index
    }

    /// Records that a message changed (read state, flag, draft edits…), for delta.
    pub fn touch(&mut self, index: usize, now_ms: i64) {
        let message = &mut self.messages[index];
        message.bump(now_ms);
        let (folder, immutable, rest) =
            (message.folder_id.clone(), message.immutable_id.clone(), message.rest_id.clone());
        self.record(folder, immutable, rest, false);
    }

    /// Moves a message: it leaves the source folder (a removal there) and arrives in the target
    /// with a new REST id.
    pub fn move_to(&mut self, index: usize, folder_id: &str, now_ms: i64) {
        if self.messages[index].folder_id == folder_id {
            return;
        }
        let new_rest = self.mint(REST_ID);
        let message = &mut self.messages[index];
        let (old_folder, immutable, old_rest) =
            (message.folder_id.clone(), message.immutable_id.clone(), message.rest_id.clone());
        message.folder_id = folder_id.to_owned();
        message.rest_id = new_rest.clone();
        message.bump(now_ms);
        self.positions.remove(&old_rest);
        self.positions.insert(new_rest.clone(), index);
        self.record(old_folder, immutable.clone(), old_rest, true);
        self.record(folder_id.to_owned(), immutable, new_rest, false);
    }

    /// A copy in `folder_id`, with ids of its own; returns its index.
    pub fn copy_to(&mut self, index: usize, folder_id: &str, now_ms: i64) -> usize {
        let mut copy = self.messages[index].clone();
        copy.immutable_id = self.mint(IMMUTABLE_ID);
        copy.rest_id = self.mint(REST_ID);
        copy.folder_id = folder_id.to_owned();
        copy.created_ms = now_ms;
        copy.modified_ms = now_ms;
        copy.version = 1;
        self.insert(copy)
    }

    /// Removes a message for good.
    pub fn remove(&mut self, index: usize) {
        let message = self.messages.remove(index);
        // Every later message moved down one place.
        self.positions.remove(&message.immutable_id);
        self.positions.remove(&message.rest_id);
        for position in self.positions.values_mut() {
            if *position > index {
                *position -= 1;
            }
        }
        self.record(message.folder_id, message.immutable_id, message.rest_id, true);
    }

    /// Adds a message as if it had arrived in `folder` (an id or a well-known name such as
    /// `inbox`); returns its id. An unknown folder means the inbox.
    pub fn deliver(&mut self, raw: Vec<u8>, folder: &str, received_ms: i64) -> String {
        let folder_id = self.folder_id(folder).unwrap_or_else(|| self.well_known_id("inbox"));
        let message = self.message_from_raw(raw, &folder_id, received_ms);
        let index = self.insert(message);
        self.messages[index].rest_id.clone()
    }

    /// Marks a message read or unread, as the user would in Outlook. Seeding calls this without
    /// a clock, so the change keeps the message's last modification time.
    pub fn set_read(&mut self, id: &str, read: bool) {
        if let Some(index) = self.find(id) {
            self.messages[index].is_read = read;
            let now = self.messages[index].modified_ms;
            self.touch(index, now);
        }
    }

    /// Flags or unflags a message.
    pub fn set_flagged(&mut self, id: &str, flagged: bool) {
        if let Some(index) = self.find(id) {
            self.messages[index].flag_status = if flagged { "flagged" } else { "notFlagged" }.to_owned();
            let now = self.messages[index].modified_ms;
            self.touch(index, now);
        }
    }

    pub fn message_count(&self) -> usize {
        self.messages.len()
    }
}

/// A stable conversation id from the thread's root Message-ID.
pub fn conversation_id(root_message_id: &str) -> String {
    let digest = Sha256::digest(root_message_id.as_bytes());
    format!("AAQkAGI2T{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..24]))
}

/// Graph's importance from the `Importance` or `X-Priority` header.
fn importance(headers: &[(String, String)]) -> String {
    let value =
        |name: &str| headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim().to_lowercase());
    match (value("importance"), value("x-priority")) {
        (Some(i), _) if i == "high" || i == "low" => i,
        (_, Some(p)) if p.starts_with('1') || p.starts_with('2') => "high".to_owned(),
        (_, Some(p)) if p.starts_with('4') || p.starts_with('5') => "low".to_owned(),
        _ => "normal".to_owned(),
    }
}
