//! A Gmail mailbox: messages with label ids, labels, threads, drafts and the history log.
//!
//! Threads are not stored: a thread is the set of messages sharing a `thread_id`, which is the id
//! of the thread's first message, as in Gmail. Every change to a message is one history record
//! with a fresh history id; the message's `historyId` is the id of its latest record.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use sha2::{Digest, Sha256};

use super::quota;
use crate::SimUser;
use crate::mime::{self, Summary};

/// System labels: `(id, messageListVisibility, labelListVisibility)`; their names are their ids.
const SYSTEM_LABELS: &[(&str, &str, &str)] = &[
    ("INBOX", "show", "labelShow"),
    ("SPAM", "hide", "labelHide"),
    ("TRASH", "hide", "labelHide"),
    ("UNREAD", "hide", "labelHide"),
    ("STARRED", "show", "labelShow"),
    ("IMPORTANT", "show", "labelShow"),
    ("SENT", "show", "labelShow"),
    ("DRAFT", "show", "labelShow"),
    ("CATEGORY_PERSONAL", "hide", "labelHide"),
    ("CATEGORY_SOCIAL", "hide", "labelHide"),
    ("CATEGORY_PROMOTIONS", "hide", "labelHide"),
    ("CATEGORY_UPDATES", "hide", "labelHide"),
    ("CATEGORY_FORUMS", "hide", "labelHide"),
    ("CHAT", "hide", "labelHide"),
];

/// Labels that only Gmail itself sets: `modify` may neither add nor remove them.
pub const UNMODIFIABLE: &[&str] = &["SENT", "DRAFT"];

/// The first history id of a new mailbox; real ones are large numbers too.
const FIRST_HISTORY_ID: u64 = 1000;

pub struct Message {
    pub id: String,
    pub thread_id: String,
    pub labels: BTreeSet<String>,
    pub raw: Vec<u8>,
    pub internal_date_ms: i64,
    pub history_id: u64,
    pub summary: Summary,
}

impl Message {
    pub fn has(&self, label: &str) -> bool {
        self.labels.contains(label)
    }

    pub fn label_ids(&self) -> Vec<String> {
        self.labels.iter().cloned().collect()
    }
}

#[derive(Clone)]
pub struct LabelColor {
    pub text_color: String,
    pub background_color: String,
}

#[derive(Clone)]
pub struct Label {
    pub id: String,
    pub name: String,
    pub system: bool,
    pub message_list_visibility: String,
    pub label_list_visibility: String,
    pub color: Option<LabelColor>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Added,
    Deleted,
    LabelsAdded(Vec<String>),
    LabelsRemoved(Vec<String>),
}

pub struct HistoryRecord {
    pub id: u64,
    pub at_ms: i64,
    pub message_id: String,
    pub thread_id: String,
    /// The message's labels after the change.
    pub labels: Vec<String>,
    pub change: Change,
}

/// Why a label could not be written.
#[derive(Debug, PartialEq, Eq)]
pub enum LabelError {
    NameTaken,
    NotFound,
}

/// A history window that no longer reaches back to the start asked for.
#[derive(Debug)]
pub struct HistoryGone;

pub struct Mailbox {
    pub email: String,
    pub display_name: String,
    /// Verified send-as aliases besides the primary address: (address, display name).
    pub aliases: Vec<(String, String)>,
    messages: BTreeMap<String, Message>,
    labels: Vec<Label>,
    /// Draft id → id of the draft's message.
    drafts: BTreeMap<String, String>,
    history: VecDeque<HistoryRecord>,
    history_id: u64,
    /// A `startHistoryId` below this needs records that were dropped: 404.
    history_floor: u64,
    last_change_ms: i64,
    next_id: u64,
    next_label: u32,
    next_draft: u64,
    pub quota: quota::Window,
}

/// The subject with reply and forward prefixes stripped, lowercased, for thread matching.
pub fn normalize_subject(subject: &str) -> String {
    let mut rest = subject.trim();
    loop {
        let lower = rest.to_ascii_lowercase();
        let Some(prefix) = ["re:", "fwd:", "fw:"].iter().find(|p| lower.starts_with(**p)) else { break };
        rest = rest[prefix.len()..].trim_start();
    }
    rest.to_lowercase()
}

impl Mailbox {
    pub fn new(user: &SimUser, now_ms: i64) -> Mailbox {
        // Ids grow with time like Gmail's (a millisecond clock in the high bits), salted per
        // mailbox so that the two copies of a message sent between users do not look alike.
        let salt = Sha256::digest(user.email.as_bytes());
        let salt = u64::from(u16::from_be_bytes([salt[0], salt[1]])) << 4;
        let labels = SYSTEM_LABELS
            .iter()
            .map(|(id, message, label)| Label {
                id: (*id).to_owned(),
                name: (*id).to_owned(),
                system: true,
                message_list_visibility: (*message).to_owned(),
                label_list_visibility: (*label).to_owned(),
                color: None,
            })
            .collect();
        Mailbox {
            email: user.email.clone(),
            display_name: user.name.clone(),
            aliases: Vec::new(),
            messages: BTreeMap::new(),
            labels,
            drafts: BTreeMap::new(),
            history: VecDeque::new(),
            history_id: FIRST_HISTORY_ID,
            history_floor: FIRST_HISTORY_ID,
            last_change_ms: now_ms,
            next_id: (u64::try_from(now_ms).unwrap_or_default() << 20) + salt,
            next_label: 1,
            // Draft ids are `r` and a long number in Gmail.
            next_draft: u64::try_from(now_ms).unwrap_or_default() * 1000,
            quota: quota::Window::default(),
        }
    }

    /// Adds a message as if it had arrived (or been imported), with these label ids; returns its id.
    pub fn deliver(&mut self, raw: Vec<u8>, label_ids: &[&str], internal_date_ms: i64) -> String {
        let labels: Vec<String> = label_ids.iter().map(|l| (*l).to_owned()).collect();
        self.add(raw, &labels, internal_date_ms, None, internal_date_ms)
    }

    pub fn message_count(&self) -> usize {
        self.messages.len()
    }

    pub fn history_id(&self) -> u64 {
        self.history_id
    }

    pub fn message(&self, id: &str) -> Option<&Message> {
        self.messages.get(id)
    }

    pub fn messages(&self) -> impl Iterator<Item = &Message> {
        self.messages.values()
    }

    /// The messages of a thread, oldest first.
    pub fn thread(&self, thread_id: &str) -> Vec<&Message> {
        let mut messages: Vec<&Message> = self.messages.values().filter(|m| m.thread_id == thread_id).collect();
        messages.sort_by(|a, b| (a.internal_date_ms, &a.id).cmp(&(b.internal_date_ms, &b.id)));
        messages
    }

    /// Every thread with its messages, oldest message first.
    pub fn threads(&self) -> BTreeMap<&str, Vec<&Message>> {
        let mut threads: BTreeMap<&str, Vec<&Message>> = BTreeMap::new();
        for message in self.messages.values() {
            threads.entry(message.thread_id.as_str()).or_default().push(message);
        }
        for messages in threads.values_mut() {
            messages.sort_by(|a, b| (a.internal_date_ms, &a.id).cmp(&(b.internal_date_ms, &b.id)));
        }
        threads
    }

    fn new_message_id(&mut self) -> String {
        self.next_id += 1;
        format!("{:016x}", self.next_id)
    }

    fn record(&mut self, message_id: &str, change: Change, now_ms: i64) {
        // Ids increase but are not contiguous, as the sync guide warns clients.
        self.history_id += 1 + self.history_id % 3;
        self.last_change_ms = self.last_change_ms.max(now_ms);
        let (thread_id, labels) = match self.messages.get_mut(message_id) {
            Some(message) => {
                message.history_id = self.history_id;
                (message.thread_id.clone(), message.label_ids())
            }
            None => (String::new(), Vec::new()),
        };
        self.history.push_back(HistoryRecord {
            id: self.history_id,
            at_ms: self.last_change_ms,
            message_id: message_id.to_owned(),
            thread_id,
            labels,
            change,
        });
    }

    /// The thread a new message joins: the one it was asked to join, or one holding a message it
    /// references; either way only when the normalised subjects match. `None` starts a thread.
    fn thread_for(&self, summary: &Summary, wanted: Option<&str>) -> Option<String> {
        let subject = normalize_subject(&summary.subject);
        let same_subject = |m: &&Message| normalize_subject(&m.summary.subject) == subject;
        if let Some(thread_id) = wanted
            && self.messages.values().filter(|m| m.thread_id == thread_id).any(|m| same_subject(&m))
        {
            return Some(thread_id.to_owned());
        }
        let referenced: BTreeSet<&str> =
            summary.in_reply_to.iter().chain(&summary.references).map(String::as_str).collect();
        self.messages
            .values()
            .filter(|m| m.summary.message_id.as_deref().is_some_and(|id| referenced.contains(id)))
            .find(same_subject)
            .map(|m| m.thread_id.clone())
    }

    /// Stores a new message, threads it and records `messageAdded`; returns its id.
    pub fn add(
        &mut self,
        raw: Vec<u8>,
        labels: &[String],
        internal_date_ms: i64,
        thread_hint: Option<&str>,
        now_ms: i64,
    ) -> String {
        let summary = mime::summarize(&raw);
        let id = self.new_message_id();
        let thread_id = self.thread_for(&summary, thread_hint).unwrap_or_else(|| id.clone());
        let message = Message {
            id: id.clone(),
            thread_id,
            labels: labels.iter().cloned().collect(),
            raw,
            internal_date_ms,
            history_id: self.history_id,
            summary,
        };
        self.messages.insert(id.clone(), message);
        self.record(&id, Change::Added, now_ms);
        id
    }

    /// Adds and removes labels, recording what actually changed. `false` when there is no such
    /// message.
    pub fn change_labels(&mut self, id: &str, add: &[String], remove: &[String], now_ms: i64) -> bool {
        let Some(message) = self.messages.get_mut(id) else { return false };
        let added: Vec<String> = add.iter().filter(|l| message.labels.insert((*l).clone())).cloned().collect();
        let removed: Vec<String> =
            remove.iter().filter(|l| !add.contains(l) && message.labels.remove(l.as_str())).cloned().collect();
        if !added.is_empty() {
            self.record(id, Change::LabelsAdded(added), now_ms);
        }
        if !removed.is_empty() {
            self.record(id, Change::LabelsRemoved(removed), now_ms);
        }
        true
    }

    /// Moves a message to the trash: it gains `TRASH` and leaves `SPAM`.
    pub fn trash(&mut self, id: &str, now_ms: i64) -> bool {
        self.change_labels(id, &["TRASH".to_owned()], &["SPAM".to_owned()], now_ms)
    }

    pub fn untrash(&mut self, id: &str, now_ms: i64) -> bool {
        self.change_labels(id, &[], &["TRASH".to_owned()], now_ms)
    }

    /// Deletes a message for good (and the draft it belonged to), recording `messageDeleted`.
    pub fn delete(&mut self, id: &str, now_ms: i64) -> bool {
        if !self.messages.contains_key(id) {
            return false;
        }
        self.record(id, Change::Deleted, now_ms);
        self.messages.remove(id);
        self.drafts.retain(|_, message_id| message_id != id);
        true
    }

    /// Why `modify` may not use these label ids, if it may not.
    pub fn check_modify(&self, add: &[String], remove: &[String]) -> Result<(), String> {
        if add.len() > 100 || remove.len() > 100 {
            return Err("At most 100 labels may be added or removed at once.".to_owned());
        }
        for id in add.iter().chain(remove) {
            if UNMODIFIABLE.contains(&id.as_str()) || self.label(id).is_none() {
                return Err(format!("Invalid label: {id}"));
            }
        }
        Ok(())
    }

    // Labels.

    pub fn labels(&self) -> &[Label] {
        &self.labels
    }

    pub fn label(&self, id: &str) -> Option<&Label> {
        self.labels.iter().find(|l| l.id == id)
    }

    pub fn label_by_name(&self, name: &str) -> Option<&Label> {
        self.labels.iter().find(|l| l.name.eq_ignore_ascii_case(name))
    }

    /// Adds a user label; `Err` when the name is taken by another label.
    pub fn create_label(&mut self, mut label: Label) -> Result<Label, LabelError> {
        if self.label_by_name(&label.name).is_some() {
            return Err(LabelError::NameTaken);
        }
        label.id = format!("Label_{}", self.next_label);
        label.system = false;
        self.next_label += 1;
        self.labels.push(label.clone());
        Ok(label)
    }

    /// Replaces a user label's fields (its id and kind stay); `Err` when the new name is taken.
    pub fn update_label(&mut self, label: Label) -> Result<Label, LabelError> {
        if self.label_by_name(&label.name).is_some_and(|other| other.id != label.id) {
            return Err(LabelError::NameTaken);
        }
        let Some(slot) = self.labels.iter_mut().find(|l| l.id == label.id) else { return Err(LabelError::NotFound) };
        *slot = Label { system: slot.system, ..label };
        Ok(slot.clone())
    }

    /// Deletes a user label and takes it off every message.
    pub fn delete_label(&mut self, id: &str, now_ms: i64) {
        let carrying: Vec<String> = self.messages.values().filter(|m| m.has(id)).map(|m| m.id.clone()).collect();
        for message_id in carrying {
            self.change_labels(&message_id, &[], &[id.to_owned()], now_ms);
        }
        self.labels.retain(|l| l.id != id);
    }

    /// `(messagesTotal, messagesUnread, threadsTotal, threadsUnread)` of a label.
    pub fn label_counts(&self, id: &str) -> (usize, usize, usize, usize) {
        let with: Vec<&Message> = self.messages.values().filter(|m| m.has(id)).collect();
        let unread: Vec<&&Message> = with.iter().filter(|m| m.has("UNREAD")).collect();
        let threads: BTreeSet<&str> = with.iter().map(|m| m.thread_id.as_str()).collect();
        let unread_threads: BTreeSet<&str> = unread.iter().map(|m| m.thread_id.as_str()).collect();
        (with.len(), unread.len(), threads.len(), unread_threads.len())
    }

    // Drafts.

    pub fn drafts(&self) -> impl Iterator<Item = (&String, &String)> {
        self.drafts.iter()
    }

    pub fn draft_message(&self, draft_id: &str) -> Option<&Message> {
        self.drafts.get(draft_id).and_then(|id| self.messages.get(id))
    }

    pub fn new_draft(&mut self, message_id: String) -> String {
        self.next_draft += 1 + self.next_draft % 5;
        let id = format!("r{}", self.next_draft);
        self.drafts.insert(id.clone(), message_id);
        id
    }

    /// Points a draft at another message, deleting the one it had.
    pub fn replace_draft(&mut self, draft_id: &str, message_id: String, now_ms: i64) {
        if let Some(old) = self.drafts.insert(draft_id.to_owned(), message_id) {
            self.delete(&old, now_ms);
        }
    }

    /// Deletes a draft and its message.
    pub fn delete_draft(&mut self, draft_id: &str, now_ms: i64) -> bool {
        match self.drafts.remove(draft_id) {
            Some(message_id) => self.delete(&message_id, now_ms),
            None => false,
        }
    }

    // History.

    /// Forgets records older than the retention window.
    pub fn prune_history(&mut self, now_ms: i64, retention_ms: i64) {
        while let Some(oldest) = self.history.front() {
            if oldest.at_ms >= now_ms - retention_ms {
                break;
            }
            self.history_floor = self.history_floor.max(oldest.id);
            self.history.pop_front();
        }
    }

    /// Forgets every record: any earlier `startHistoryId` becomes too old.
    pub fn expire_history(&mut self) {
        self.history.clear();
        self.history_floor = self.history_id;
    }

    /// The records after `start`, oldest first; `Err` when some are gone or `start` was never
    /// issued.
    pub fn history_since(&self, start: u64) -> Result<impl Iterator<Item = &HistoryRecord>, HistoryGone> {
        if start < self.history_floor || start > self.history_id {
            return Err(HistoryGone);
        }
        Ok(self.history.iter().filter(move |r| r.id > start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mailbox() -> Mailbox {
        Mailbox::new(&SimUser::parse("ann@example.test").unwrap(), 1_700_000_000_000)
    }

    #[test]
    fn subjects_lose_reply_and_forward_prefixes() {
        assert_eq!(normalize_subject("Re: FWD: re:Plans "), "plans");
        assert_eq!(normalize_subject("Fw: Plans"), normalize_subject("plans"));
    }

    #[test]
    fn replies_join_the_thread_they_reference_when_subjects_match() {
        let mut mb = mailbox();
        let first = mb.deliver(b"Message-ID: <a@x>\r\nSubject: Plans\r\n\r\nhi".to_vec(), &["INBOX"], 1);
        let reply = mb.deliver(b"In-Reply-To: <a@x>\r\nSubject: Re: Plans\r\n\r\nok".to_vec(), &["INBOX"], 2);
        let other = mb.deliver(b"In-Reply-To: <a@x>\r\nSubject: Other\r\n\r\nok".to_vec(), &["INBOX"], 3);
        assert_eq!(mb.message(&reply).unwrap().thread_id, first);
        assert_eq!(mb.message(&other).unwrap().thread_id, other);
        assert!(first.len() == 16 && first < reply && reply < other);
    }

    #[test]
    fn history_ids_grow_and_old_starts_expire() {
        let mut mb = mailbox();
        let start = mb.history_id();
        let id = mb.deliver(b"Subject: a\r\n\r\nx".to_vec(), &["INBOX"], 10);
        assert!(mb.change_labels(&id, &["STARRED".into()], &["INBOX".into()], 20));
        let ids: Vec<u64> = mb.history_since(start).unwrap().map(|r| r.id).collect();
        assert_eq!(ids.len(), 3);
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        mb.prune_history(1_700_000_000_000 + 10_000, 100);
        assert!(mb.history_since(start).is_err());
        assert!(mb.history_since(mb.history_id()).is_ok());
    }
}
