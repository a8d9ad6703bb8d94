//! A Gmail mailbox: messages with label ids, labels, threads, drafts and the history log.

use crate::SimUser;

pub struct Mailbox {
    pub email: String,
    pub messages: Vec<(String, Vec<u8>, Vec<String>, i64)>,
}

impl Mailbox {
    pub fn new(user: &SimUser, _now_ms: i64) -> Mailbox {
        Mailbox { email: user.email.clone(), messages: Vec::new() }
    }

    /// Adds a message as if it had arrived (or been imported), with these label ids; returns its id.
    pub fn deliver(&mut self, raw: Vec<u8>, label_ids: &[&str], internal_date_ms: i64) -> String {
        let id = format!("{:016x}", self.messages.len() + 1);
        self.messages.push((id.clone(), raw, label_ids.iter().map(|l| (*l).to_owned()).collect(), internal_date_ms));
        id
    }

    pub fn message_count(&self) -> usize {
        self.messages.len()
    }
}
