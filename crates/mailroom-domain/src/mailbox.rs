//! The mailbox model both providers map into: what kind of place a Gmail label or an Outlook
//! folder is, so that Mailroom's unified folders (Inbox, Sent, Trash...) mean the same across
//! accounts.

use serde::{Deserialize, Serialize};

/// The kind of a provider folder or label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FolderKind {
    Inbox,
    Sent,
    Drafts,
    Trash,
    Spam,
    Archive,
    Starred,
    Important,
    /// A folder or label the user made, or a system one without a unified meaning.
    Custom,
}

impl FolderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FolderKind::Inbox => "inbox",
            FolderKind::Sent => "sent",
            FolderKind::Drafts => "drafts",
            FolderKind::Trash => "trash",
            FolderKind::Spam => "spam",
            FolderKind::Archive => "archive",
            FolderKind::Starred => "starred",
            FolderKind::Important => "important",
            FolderKind::Custom => "custom",
        }
    }

    pub fn parse(input: &str) -> Option<Self> {
        Some(match input {
            "inbox" => FolderKind::Inbox,
            "sent" => FolderKind::Sent,
            "drafts" => FolderKind::Drafts,
            "trash" => FolderKind::Trash,
            "spam" => FolderKind::Spam,
            "archive" => FolderKind::Archive,
            "starred" => FolderKind::Starred,
            "important" => FolderKind::Important,
            "custom" => FolderKind::Custom,
            _ => return None,
        })
    }

    /// Where folders of this kind stand in a folder list, as mail clients list them: the inbox
    /// first, then starred, important, sent, drafts, archive, spam, trash, and the user's own.
    pub fn list_position(self) -> u8 {
        match self {
            FolderKind::Inbox => 0,
            FolderKind::Starred => 1,
            FolderKind::Important => 2,
            FolderKind::Sent => 3,
            FolderKind::Drafts => 4,
            FolderKind::Archive => 5,
            FolderKind::Spam => 6,
            FolderKind::Trash => 7,
            FolderKind::Custom => 8,
        }
    }

    /// A Gmail label by its id. System labels have fixed ids (INBOX, SENT...); user labels look
    /// like `Label_42`. UNREAD is a flag, not a place, and has no kind.
    pub fn of_gmail_label(label_id: &str) -> Option<FolderKind> {
        Some(match label_id {
            "INBOX" => FolderKind::Inbox,
            "SENT" => FolderKind::Sent,
            "DRAFT" => FolderKind::Drafts,
            "TRASH" => FolderKind::Trash,
            "SPAM" => FolderKind::Spam,
            "STARRED" => FolderKind::Starred,
            "IMPORTANT" => FolderKind::Important,
            "UNREAD" => return None,
            _ => FolderKind::Custom,
        })
    }

    /// An Outlook folder by its well-known name (Graph's `wellKnownName`, or the name used in
    /// place of an id), when it has one.
    pub fn of_graph_folder(well_known_name: Option<&str>) -> FolderKind {
        match well_known_name.map(str::to_ascii_lowercase).as_deref() {
            Some("inbox") => FolderKind::Inbox,
            Some("sentitems") => FolderKind::Sent,
            Some("drafts") => FolderKind::Drafts,
            Some("deleteditems") => FolderKind::Trash,
            Some("junkemail") => FolderKind::Spam,
            Some("archive") => FolderKind::Archive,
            _ => FolderKind::Custom,
        }
    }
}

/// Gmail has no archive label: a message is archived when it is in no place but All Mail, that is
/// when none of its labels is Inbox, Sent, Drafts, Trash or Spam.
pub fn gmail_is_archived(label_ids: &[&str]) -> bool {
    !label_ids.iter().filter_map(|l| FolderKind::of_gmail_label(l)).any(|kind| {
        matches!(kind, FolderKind::Inbox | FolderKind::Sent | FolderKind::Drafts | FolderKind::Trash | FolderKind::Spam)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gmail_system_labels_map_to_their_kinds_and_unread_is_no_place() {
        assert_eq!(FolderKind::of_gmail_label("INBOX"), Some(FolderKind::Inbox));
        assert_eq!(FolderKind::of_gmail_label("DRAFT"), Some(FolderKind::Drafts));
        assert_eq!(FolderKind::of_gmail_label("Label_7"), Some(FolderKind::Custom));
        assert_eq!(FolderKind::of_gmail_label("CATEGORY_SOCIAL"), Some(FolderKind::Custom));
        assert_eq!(FolderKind::of_gmail_label("UNREAD"), None);
    }

    #[test]
    fn graph_well_known_folders_map_to_their_kinds() {
        assert_eq!(FolderKind::of_graph_folder(Some("SentItems")), FolderKind::Sent);
        assert_eq!(FolderKind::of_graph_folder(Some("junkemail")), FolderKind::Spam);
        assert_eq!(FolderKind::of_graph_folder(Some("deleteditems")), FolderKind::Trash);
        assert_eq!(FolderKind::of_graph_folder(None), FolderKind::Custom);
    }

    #[test]
    fn a_gmail_message_is_archived_when_it_is_in_no_place() {
        assert!(gmail_is_archived(&["UNREAD", "Label_3", "STARRED"]));
        assert!(gmail_is_archived(&[]));
        assert!(!gmail_is_archived(&["INBOX", "UNREAD"]));
        assert!(!gmail_is_archived(&["SENT"]));
    }

    #[test]
    fn kinds_round_trip_through_their_names() {
        for kind in [FolderKind::Inbox, FolderKind::Archive, FolderKind::Custom, FolderKind::Important] {
            assert_eq!(FolderKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(FolderKind::parse("nowhere"), None);
    }
}
