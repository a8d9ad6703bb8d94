//! The benchmark's mailbox: the simulator's generated conversations, dealt to places as a
//! mailbox holds them and given attachments so that their sizes look like real mail, all from a
//! seed, so every run syncs the same bytes.
//!
//! Where each message goes: what the owner wrote is in Sent; of the rest, 65% in the inbox, 23%
//! archived, 7% spam and 5% in the trash. One in six messages of the inbox and archive also carries
//! one of three user labels; every third message is unread (none of Sent) and every seventh
//! starred (none of spam and trash). Sizes: the generated messages are 1 to 3 KB of text and HTML;
//! a quarter of them get an attachment of 16 KiB to 1 MiB, log-uniform (so most attachments are
//! small and a few large, as with documents and photos), which makes the mean message about 85 KB
//! once base64-encoded.

use base64::Engine as _;
use rand::{Rng, RngCore, SeedableRng};

/// The user labels some messages carry (Gmail only; an Outlook message is in one folder).
pub const USER_LABELS: [&str; 3] = ["Projects", "Receipts", "Travel"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Place {
    Inbox,
    Archive,
    Sent,
    Spam,
    Trash,
}

impl Place {
    pub const ALL: [Place; 5] = [Place::Inbox, Place::Archive, Place::Sent, Place::Spam, Place::Trash];

    pub fn name(self) -> &'static str {
        match self {
            Place::Inbox => "inbox",
            Place::Archive => "archive",
            Place::Sent => "sent",
            Place::Spam => "spam",
            Place::Trash => "trash",
        }
    }

    /// The Gmail label that puts a message here; archived mail has none.
    pub fn gmail_label(self) -> Option<&'static str> {
        match self {
            Place::Inbox => Some("INBOX"),
            Place::Archive => None,
            Place::Sent => Some("SENT"),
            Place::Spam => Some("SPAM"),
            Place::Trash => Some("TRASH"),
        }
    }

    /// The Outlook folder, by its well-known name.
    pub fn graph_folder(self) -> &'static str {
        match self {
            Place::Inbox => "inbox",
            Place::Archive => "archive",
            Place::Sent => "sentitems",
            Place::Spam => "junkemail",
            Place::Trash => "deleteditems",
        }
    }
}

/// One message of the mailbox.
#[derive(Debug, Clone)]
pub struct Message {
    pub raw: Vec<u8>,
    pub place: Place,
    /// An index into [`USER_LABELS`].
    pub user_label: Option<usize>,
    pub unread: bool,
    pub starred: bool,
}

/// The mailbox of `owner`, `count` messages, oldest first.
pub fn mailbox(seed: u64, count: usize, owner: &str) -> Vec<Message> {
    let mut places = rand::rngs::StdRng::seed_from_u64(seed ^ 0x5EED_0F91_ACE5);
    let mut sizes = rand::rngs::StdRng::seed_from_u64(seed ^ 0x05EE_D0F5_12E5);
    let from_owner = format!("From: {owner}\r\n");
    mailroom_sim::seed::generate(seed, count, owner)
        .into_iter()
        .enumerate()
        .map(|(index, (_, raw))| {
            let place = if raw.starts_with(from_owner.as_bytes()) {
                Place::Sent
            } else {
                match places.random_range(0..100u32) {
                    0..65 => Place::Inbox,
                    65..88 => Place::Archive,
                    88..95 => Place::Spam,
                    _ => Place::Trash,
                }
            };
            let labelled = matches!(place, Place::Inbox | Place::Archive) && places.random_range(0..6u32) == 0;
            let user_label = labelled.then(|| places.random_range(0..USER_LABELS.len()));
            let raw = if sizes.random_range(0..4u32) == 0 {
                // Log-uniform from 16 KiB to 1 MiB.
                let size = (16_384.0 * 64f64.powf(sizes.random::<f64>())) as usize;
                with_attachment(&raw, index, size, &mut sizes)
            } else {
                raw
            };
            Message {
                raw,
                place,
                user_label,
                unread: place != Place::Sent && index % 3 == 0,
                starred: !matches!(place, Place::Spam | Place::Trash) && index % 7 == 0,
            }
        })
        .collect()
}

/// `raw` wrapped in a multipart/mixed with an attachment of `size` random (incompressible, like
/// a PDF or a photo) bytes. The message's own content headers move into the first part.
fn with_attachment(raw: &[u8], n: usize, size: usize, rng: &mut impl RngCore) -> Vec<u8> {
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else { return raw.to_vec() };
    let (head, body) = (&raw[..split], &raw[split + 4..]);
    let head = String::from_utf8_lossy(head);
    // Header fields with their folded continuation lines.
    let mut fields: Vec<String> = Vec::new();
    for line in head.split("\r\n") {
        match fields.last_mut() {
            Some(field) if line.starts_with([' ', '\t']) => {
                field.push_str("\r\n");
                field.push_str(line);
            }
            _ => fields.push(line.to_owned()),
        }
    }
    let (content, other): (Vec<String>, Vec<String>) =
        fields.into_iter().partition(|f| f.to_ascii_lowercase().starts_with("content-"));
    let mut bytes = vec![0u8; size];
    rng.fill_bytes(&mut bytes);
    let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes);
    let boundary = format!("=_bench_attachment_{n}");
    let mut out = Vec::with_capacity(raw.len() + encoded.len() * 78 / 76 + 512);
    for field in &other {
        out.extend_from_slice(field.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n").as_bytes());
    out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
    for field in &content {
        out.extend_from_slice(field.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out.extend_from_slice(
        format!(
            "\r\n--{boundary}\r\nContent-Type: application/pdf; name=\"document-{n}.pdf\"\r\n\
             Content-Disposition: attachment; filename=\"document-{n}.pdf\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n"
        )
        .as_bytes(),
    );
    for line in encoded.as_bytes().chunks(76) {
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mailbox_is_the_same_every_time_and_spread_over_places_and_sizes() {
        let a = mailbox(7, 400, "owner@example.test");
        let b = mailbox(7, 400, "owner@example.test");
        assert_eq!(a.len(), 400);
        assert!(a.iter().zip(&b).all(|(x, y)| x.raw == y.raw && x.place == y.place && x.user_label == y.user_label));
        for place in Place::ALL {
            assert!(a.iter().any(|m| m.place == place), "{place:?} is used");
        }
        let inbox = a.iter().filter(|m| m.place == Place::Inbox).count();
        assert!((100..250).contains(&inbox), "{inbox} in the inbox");
        let mean = a.iter().map(|m| m.raw.len()).sum::<usize>() / a.len();
        assert!((20_000..150_000).contains(&mean), "mean size {mean}");
        assert!(a.iter().any(|m| m.raw.len() < 4_000) && a.iter().any(|m| m.raw.len() > 300_000));
    }

    #[test]
    fn an_attached_message_still_parses_with_its_text_and_the_attachment() {
        let original = mailroom_sim::seed::generate(3, 12, "owner@example.test");
        for (n, (_, raw)) in original.iter().enumerate() {
            let before = mailroom_sim::mime::summarize(raw);
            let mut rng = rand::rngs::StdRng::seed_from_u64(1);
            let after = mailroom_sim::mime::summarize(&with_attachment(raw, n, 20_000, &mut rng));
            assert_eq!(after.subject, before.subject);
            assert_eq!(after.message_id, before.message_id);
            assert_eq!(after.attachments.len(), before.attachments.len() + 1);
            assert!(after.attachments.iter().any(|a| a.name == format!("document-{n}.pdf") && a.bytes.len() == 20_000));
            assert_eq!(after.text.is_some(), before.text.is_some(), "message {n} keeps its text");
        }
    }
}
