//! What a user can do to a message, and what each action does to the message's local state on
//! either kind of mailbox: Gmail's labels, where a message sits in many places at once, and
//! Outlook's folders, where it sits in exactly one. The store applies the planned state at once;
//! the write-back replays the action at the provider.

use crate::{FolderKind, Provider};

/// An action on a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailAction {
    MarkRead,
    MarkUnread,
    Star,
    Unstar,
    /// Out of the inbox: Gmail removes the Inbox label; Outlook moves to Archive.
    Archive,
    Trash,
    /// Out of the trash (Gmail: untrash; Outlook: back to the inbox).
    Restore,
    /// For good. Locally the message leaves every folder at once and is removed when the provider
    /// confirms.
    Delete,
    Spam,
    NotSpam,
    /// Into the target folder or label, out of the inbox (and trash and spam).
    Move,
    /// Gmail only: the target label is added.
    AddLabel,
    /// Gmail only: the target label is removed.
    RemoveLabel,
}

impl MailAction {
    pub const ALL: [MailAction; 13] = [
        MailAction::MarkRead,
        MailAction::MarkUnread,
        MailAction::Star,
        MailAction::Unstar,
        MailAction::Archive,
        MailAction::Trash,
        MailAction::Restore,
        MailAction::Delete,
        MailAction::Spam,
        MailAction::NotSpam,
        MailAction::Move,
        MailAction::AddLabel,
        MailAction::RemoveLabel,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MailAction::MarkRead => "read",
            MailAction::MarkUnread => "unread",
            MailAction::Star => "star",
            MailAction::Unstar => "unstar",
            MailAction::Archive => "archive",
            MailAction::Trash => "trash",
            MailAction::Restore => "restore",
            MailAction::Delete => "delete",
            MailAction::Spam => "spam",
            MailAction::NotSpam => "not_spam",
            MailAction::Move => "move",
            MailAction::AddLabel => "add_label",
            MailAction::RemoveLabel => "remove_label",
        }
    }

    pub fn parse(input: &str) -> Option<MailAction> {
        MailAction::ALL.into_iter().find(|a| a.as_str() == input)
    }

    /// Whether the action names a target folder or label.
    pub fn needs_target(self) -> bool {
        matches!(self, MailAction::Move | MailAction::AddLabel | MailAction::RemoveLabel)
    }
}

/// What of a message an action changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageState {
    pub is_read: bool,
    pub is_starred: bool,
    /// The remote ids of its folders or labels.
    pub folders: Vec<String>,
}

/// Why an action cannot apply to a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    #[error("this action needs a target folder or label")]
    TargetRequired,
    #[error("the mailbox has no {} folder", .0.as_str())]
    NoSuchFolder(FolderKind),
    #[error("Outlook mailboxes have folders, not labels")]
    LabelsNotSupported,
}

/// The account's special places, by remote id, as the store knows them.
pub trait SpecialFolders {
    fn of_kind(&self, kind: FolderKind) -> Option<String>;
}

impl<F: Fn(FolderKind) -> Option<String>> SpecialFolders for F {
    fn of_kind(&self, kind: FolderKind) -> Option<String> {
        self(kind)
    }
}

/// The state a message has after `action`, with `target` the remote id of the folder or label
/// the action names (if it names one).
pub fn plan_action(
    provider: Provider,
    action: MailAction,
    target: Option<&str>,
    before: &MessageState,
    special: &dyn SpecialFolders,
) -> Result<MessageState, ActionError> {
    let mut after = before.clone();
    let need = |kind: FolderKind| special.of_kind(kind).ok_or(ActionError::NoSuchFolder(kind));
    let target = || target.map(str::to_owned).ok_or(ActionError::TargetRequired);
    match action {
        MailAction::MarkRead => after.is_read = true,
        MailAction::MarkUnread => after.is_read = false,
        MailAction::Star | MailAction::Unstar => {
            after.is_starred = action == MailAction::Star;
            // Gmail's Starred is a label as well as a flag; Outlook's flag is only a flag.
            if provider == Provider::Google
                && let Some(starred) = special.of_kind(FolderKind::Starred)
            {
                set(&mut after.folders, &starred, after.is_starred);
            }
        }
        MailAction::Delete => after.folders.clear(),
        _ if provider == Provider::Microsoft => {
            let destination = match action {
                MailAction::Archive => need(FolderKind::Archive)?,
                MailAction::Trash => need(FolderKind::Trash)?,
                MailAction::Spam => need(FolderKind::Spam)?,
                MailAction::Restore | MailAction::NotSpam => need(FolderKind::Inbox)?,
                MailAction::Move => target()?,
                _ => return Err(ActionError::LabelsNotSupported),
            };
            after.folders = vec![destination];
        }
        MailAction::Archive => set(&mut after.folders, &need(FolderKind::Inbox)?, false),
        MailAction::Trash => {
            // As Gmail's messages.trash: Trash added, Spam removed, the rest kept for a restore.
            set(&mut after.folders, &need(FolderKind::Trash)?, true);
            if let Some(spam) = special.of_kind(FolderKind::Spam) {
                set(&mut after.folders, &spam, false);
            }
        }
        MailAction::Restore => set(&mut after.folders, &need(FolderKind::Trash)?, false),
        MailAction::Spam => {
            set(&mut after.folders, &need(FolderKind::Spam)?, true);
            if let Some(inbox) = special.of_kind(FolderKind::Inbox) {
                set(&mut after.folders, &inbox, false);
            }
        }
        MailAction::NotSpam => {
            set(&mut after.folders, &need(FolderKind::Spam)?, false);
            set(&mut after.folders, &need(FolderKind::Inbox)?, true);
        }
        MailAction::Move => {
            let target = target()?;
            for kind in [FolderKind::Inbox, FolderKind::Trash, FolderKind::Spam] {
                if let Some(id) = special.of_kind(kind) {
                    set(&mut after.folders, &id, false);
                }
            }
            set(&mut after.folders, &target, true);
        }
        MailAction::AddLabel => set(&mut after.folders, &target()?, true),
        MailAction::RemoveLabel => set(&mut after.folders, &target()?, false),
    }
    Ok(after)
}

fn set(folders: &mut Vec<String>, id: &str, present: bool) {
    let has = folders.iter().any(|f| f == id);
    if present && !has {
        folders.push(id.to_owned());
    } else if !present && has {
        folders.retain(|f| f != id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gmail_special(kind: FolderKind) -> Option<String> {
        Some(
            match kind {
                FolderKind::Inbox => "INBOX",
                FolderKind::Trash => "TRASH",
                FolderKind::Spam => "SPAM",
                FolderKind::Starred => "STARRED",
                _ => return None,
            }
            .to_owned(),
        )
    }

    fn outlook_special(kind: FolderKind) -> Option<String> {
        Some(
            match kind {
                FolderKind::Inbox => "f-inbox",
                FolderKind::Trash => "f-deleted",
                FolderKind::Spam => "f-junk",
                _ => return None,
            }
            .to_owned(),
        )
    }

    fn state(folders: &[&str]) -> MessageState {
        MessageState { is_read: false, is_starred: false, folders: folders.iter().map(|f| (*f).to_owned()).collect() }
    }

    fn gmail(action: MailAction, target: Option<&str>, folders: &[&str]) -> Result<Vec<String>, ActionError> {
        let mut after = plan_action(Provider::Google, action, target, &state(folders), &gmail_special)?.folders;
        after.sort();
        Ok(after)
    }

    #[test]
    fn every_action_has_a_name_that_parses_back() {
        for action in MailAction::ALL {
            assert_eq!(MailAction::parse(action.as_str()), Some(action));
        }
        assert_eq!(MailAction::parse("explode"), None);
    }

    #[test]
    fn gmail_actions_change_labels_as_gmail_does() {
        assert_eq!(gmail(MailAction::Archive, None, &["INBOX", "Label_1"]).unwrap(), ["Label_1"]);
        assert_eq!(gmail(MailAction::Trash, None, &["INBOX", "SPAM"]).unwrap(), ["INBOX", "TRASH"]);
        assert_eq!(gmail(MailAction::Restore, None, &["INBOX", "TRASH"]).unwrap(), ["INBOX"]);
        assert_eq!(gmail(MailAction::Spam, None, &["INBOX"]).unwrap(), ["SPAM"]);
        assert_eq!(gmail(MailAction::NotSpam, None, &["SPAM"]).unwrap(), ["INBOX"]);
        assert_eq!(gmail(MailAction::Move, Some("Label_2"), &["INBOX", "TRASH"]).unwrap(), ["Label_2"]);
        assert_eq!(gmail(MailAction::AddLabel, Some("Label_2"), &["INBOX"]).unwrap(), ["INBOX", "Label_2"]);
        assert_eq!(gmail(MailAction::RemoveLabel, Some("Label_2"), &["Label_2"]).unwrap(), Vec::<String>::new());
        assert_eq!(gmail(MailAction::Delete, None, &["INBOX"]).unwrap(), Vec::<String>::new());
        assert_eq!(gmail(MailAction::AddLabel, None, &["INBOX"]), Err(ActionError::TargetRequired));
    }

    #[test]
    fn a_gmail_star_is_a_flag_and_the_starred_label() {
        let after = plan_action(Provider::Google, MailAction::Star, None, &state(&["INBOX"]), &gmail_special).unwrap();
        assert!(after.is_starred);
        assert_eq!(after.folders, ["INBOX", "STARRED"]);
        let back = plan_action(Provider::Google, MailAction::Unstar, None, &after, &gmail_special).unwrap();
        assert_eq!(back, state(&["INBOX"]));
    }

    #[test]
    fn outlook_actions_move_between_folders_and_refuse_labels() {
        let plan = |action, target| {
            plan_action(Provider::Microsoft, action, target, &state(&["f-inbox"]), &outlook_special).map(|s| s.folders)
        };
        assert_eq!(plan(MailAction::Trash, None).unwrap(), ["f-deleted"]);
        assert_eq!(plan(MailAction::Spam, None).unwrap(), ["f-junk"]);
        assert_eq!(plan(MailAction::Move, Some("f-9")).unwrap(), ["f-9"]);
        assert_eq!(plan(MailAction::Star, None).unwrap(), ["f-inbox"]);
        assert_eq!(plan(MailAction::Archive, None), Err(ActionError::NoSuchFolder(FolderKind::Archive)));
        assert_eq!(plan(MailAction::AddLabel, Some("f-9")), Err(ActionError::LabelsNotSupported));
        let read = plan_action(Provider::Microsoft, MailAction::MarkRead, None, &state(&["f-inbox"]), &outlook_special);
        assert!(read.unwrap().is_read);
    }
}
