//! Filling mailboxes: from a folder or a tarball (`.tar` or `.tar.gz`) of `.eml` files, such as
//! the SpamAssassin corpus. Messages are dealt to the given users in turn, in path order, so a
//! seed gives the same mailboxes every time. A message under a path containing `spam` lands in
//! Spam (Gmail `SPAM`, Outlook `junkemail`); of the rest, every fifth is archived, every third is
//! unread, and every seventh is starred or flagged.

use std::io::Read;
use std::path::Path;

use crate::state::{Mailbox, SimState};

/// What a seed did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SeedReport {
    pub messages: usize,
    pub skipped: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("no users to seed")]
    NoUsers,
}

/// Reads every `.eml` under `path` (a folder, `.tar` or `.tar.gz`), sorted by path.
pub fn read_emls(path: &Path) -> Result<Vec<(String, Vec<u8>)>, SeedError> {
    let err = |source| SeedError::Read { path: path.display().to_string(), source };
    let mut found = Vec::new();
    if path.is_dir() {
        let mut stack = vec![path.to_owned()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).map_err(err)? {
                let entry = entry.map_err(err)?;
                let p = entry.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|e| e == "eml") {
                    found.push((p.display().to_string(), std::fs::read(&p).map_err(err)?));
                }
            }
        }
    } else {
        let file = std::fs::File::open(path).map_err(err)?;
        let name = path.display().to_string();
        let reader: Box<dyn Read> = if name.ends_with(".gz") || name.ends_with(".tgz") {
            Box::new(flate2::read::GzDecoder::new(file))
        } else {
            Box::new(file)
        };
        let mut archive = tar::Archive::new(reader);
        for entry in archive.entries().map_err(err)? {
            let mut entry = entry.map_err(err)?;
            let entry_path = entry.path().map_err(err)?.display().to_string();
            if entry.header().entry_type().is_file() && entry_path.ends_with(".eml") {
                let mut bytes = Vec::new();
                entry.read_to_end(&mut bytes).map_err(err)?;
                found.push((entry_path, bytes));
            }
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(found)
}

/// Deals the messages to `users` in turn. Received times count back one hour per message from
/// now, so the newest lands first in every list.
pub fn seed(state: &SimState, users: &[String], messages: Vec<(String, Vec<u8>)>) -> Result<SeedReport, SeedError> {
    if users.is_empty() {
        return Err(SeedError::NoUsers);
    }
    let now = state.clock().now_ms();
    let total = messages.len();
    let mut report = SeedReport::default();
    let mut world = state.world();
    for (index, (path, raw)) in messages.into_iter().enumerate() {
        let email = &users[index % users.len()];
        let received = now - i64::try_from(total - index).unwrap_or(0) * 3_600_000;
        let spam = path.to_lowercase().contains("spam");
        let archived = !spam && index % 5 == 4;
        let unread = index % 3 == 0;
        let starred = !spam && index % 7 == 0;
        match world.users.get_mut(&email.to_lowercase()).map(|u| &mut u.mailbox) {
            Some(Mailbox::Gmail(mailbox)) => {
                let mut labels = vec![if spam { "SPAM" } else { "INBOX" }];
                if archived {
                    labels.clear();
                }
                if unread {
                    labels.push("UNREAD");
                }
                if starred {
                    labels.push("STARRED");
                }
                mailbox.deliver(raw, &labels, received);
            }
            Some(Mailbox::Graph(mailbox)) => {
                let folder = if spam {
                    "junkemail"
                } else if archived {
                    "archive"
                } else {
                    "inbox"
                };
                let id = mailbox.deliver(raw, folder, received);
                mailbox.set_read(&id, !unread);
                if starred {
                    mailbox.set_flagged(&id, true);
                }
            }
            None => {
                report.skipped += 1;
                continue;
            }
        }
        report.messages += 1;
    }
    Ok(report)
}
