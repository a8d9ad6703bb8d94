//! Filling mailboxes: from a folder or a tarball (`.tar` or `.tar.gz`) of `.eml` files, such as
//! the SpamAssassin corpus. Messages are dealt to the given users in turn, in path order, so a
//! seed gives the same mailboxes every time. A message in a folder named as spam (`spam`, `junk`, or
//! a name starting `spam-` or `spam_`, as the SpamAssassin corpus's `spam-1`) lands in Spam (Gmail
//! `SPAM`, Outlook `junkemail`); of the rest, every fifth is archived, every third is unread, and
//! every seventh is starred or flagged.

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

/// The id of the mailbox's user label "Projects", made on first use.
fn project_label(mailbox: &mut crate::gmail::Mailbox) -> String {
    if let Some(label) = mailbox.label_by_name(PROJECT_LABEL) {
        return label.id.clone();
    }
    let label = crate::gmail::Label {
        id: String::new(),
        name: PROJECT_LABEL.to_owned(),
        system: false,
        message_list_visibility: "show".to_owned(),
        label_list_visibility: "labelShow".to_owned(),
        color: None,
    };
    // The name is free (looked up just above), so this makes the label.
    mailbox.create_label(label).map(|label| label.id).unwrap_or_default()
}

const PROJECT_LABEL: &str = "Projects";

/// Whether a message's path puts it in a folder of spam. Only folder names count, whole: the
/// corpus's own path starts `spamassassin/`, and every message under it is not spam.
fn in_spam_folder(path: &str) -> bool {
    let mut folders: Vec<&str> = path.split(['/', '\\']).collect();
    folders.pop();
    folders
        .iter()
        .map(|f| f.to_lowercase())
        .any(|f| f == "spam" || f == "junk" || f.strip_prefix("spam").is_some_and(|rest| rest.starts_with(['-', '_'])))
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
        let spam = in_spam_folder(&path);
        let archived = !spam && index % 5 == 4;
        let unread = index % 3 == 0;
        let starred = !spam && index % 7 == 0;
        match world.users.get_mut(&email.to_lowercase()).map(|u| &mut u.mailbox) {
            Some(Mailbox::Gmail(mailbox)) => {
                let mut labels = vec![if spam { "SPAM" } else { "INBOX" }];
                if archived {
                    labels.clear();
                }
                // A user label, as most Gmail users have, on every sixth message but spam.
                let project = if spam || index % 6 != 0 { None } else { Some(project_label(mailbox)) };
                if let Some(label) = &project {
                    labels.push(label);
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

/// Writes `count` messages for `owner` from a deterministic generator: conversations of one to
/// four messages with replies threaded by In-Reply-To and References, plain text and HTML
/// alternatives, attachments, inline images, and text in English, Czech (UTF-8 and ISO-8859-2),
/// German and Japanese, with encoded-word subjects. The same seed gives the same bytes.
pub fn generate(seed: u64, count: usize, owner: &str) -> Vec<(String, Vec<u8>)> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let people = [
        ("Jana Nováková", "jana.novakova@firma.test"),
        ("Petr Svoboda", "petr.svoboda@dodavatel.test"),
        ("Alice Martin", "alice@example.org"),
        ("Jürgen Weiß", "juergen@beispiel.test"),
        ("佐藤 花子", "hanako@example.jp"),
        ("Newsletter", "news@shop.test"),
    ];
    let topics = [
        (
            Lang::Czech,
            "Faktura za říjen",
            "Dobrý den,\n\nv příloze posílám fakturu za říjen. Prosím o úhradu do 14 dnů.\n\nS pozdravem",
        ),
        (
            Lang::Czech,
            "Porada v pondělí",
            "Ahoj,\n\nmůžeme se sejít v pondělí v 10:00? Připravím přehled úkolů a přílohy.\n\nDíky",
        ),
        (
            Lang::Latin2,
            "Objednávka č. 2024-117",
            "Dobrý den,\n\npotvrzujeme přijetí Vaší objednávky. Zboží odešleme příští týden.\n\nŽluťoučký kůň úpěl ďábelské ódy.",
        ),
        (
            Lang::English,
            "Quarterly report",
            "Hi,\n\nthe quarterly report is attached. Revenue is up 12% and the new office opens in March.\n\nBest",
        ),
        (
            Lang::English,
            "Lunch on Friday?",
            "Hey,\n\nare you free for lunch on Friday? The new place on the corner has great soup.\n\nCheers",
        ),
        (
            Lang::German,
            "Angebot für Büromöbel",
            "Guten Tag,\n\nanbei unser Angebot für die Büromöbel. Die Lieferung erfolgt in zwei Wochen.\n\nMit freundlichen Grüßen",
        ),
        (
            Lang::Japanese,
            "会議の資料",
            "お疲れ様です。\n\n明日の会議の資料を送ります。ご確認ください。\n\nよろしくお願いします。",
        ),
    ];
    let start = 1_700_000_000i64;
    let mut out = Vec::with_capacity(count);
    let mut n = 0usize;
    while out.len() < count {
        let (lang, subject, body) = topics[rng.random_range(0..topics.len())];
        let (name, address) = people[rng.random_range(0..people.len())];
        let replies = rng.random_range(0..4usize);
        let mut references: Vec<String> = Vec::new();
        for step in 0..=replies {
            if out.len() >= count {
                break;
            }
            n += 1;
            let id = format!("gen{seed}.{n}@mailroom-sim.test");
            let incoming = step % 2 == 0;
            let (from, to) = if incoming {
                (format!("{} <{address}>", crate::mime::encode_word(name)), owner.to_owned())
            } else {
                (owner.to_owned(), format!("{} <{address}>", crate::mime::encode_word(name)))
            };
            let subject = if step == 0 { subject.to_owned() } else { format!("Re: {subject}") };
            let when = start + i64::try_from(n).unwrap_or(0) * 5_400 + rng.random_range(0..3_600);
            let date =
                chrono::DateTime::from_timestamp(when, 0).unwrap_or_default().format("%a, %d %b %Y %H:%M:%S +0000");
            let mut head = format!(
                "From: {from}\r\nTo: {to}\r\nSubject: {}\r\nDate: {date}\r\nMessage-ID: <{id}>\r\nMIME-Version: 1.0\r\n",
                crate::mime::encode_word(&subject)
            );
            if let Some(last) = references.last() {
                head.push_str(&format!(
                    "In-Reply-To: <{last}>\r\nReferences: {}\r\n",
                    references.iter().map(|r| format!("<{r}>")).collect::<Vec<_>>().join(" ")
                ));
            }
            let kind = rng.random_range(0..4u8);
            let text = if step == 0 {
                body.to_owned()
            } else {
                format!("{body}\n\n> {}", body.lines().next().unwrap_or_default())
            };
            let message = head + &build_body(lang, &text, kind, n);
            out.push((format!("generated/{n:05}.eml"), message.into_bytes()));
            references.push(id);
        }
    }
    out
}

#[derive(Clone, Copy)]
enum Lang {
    English,
    Czech,
    Latin2,
    German,
    Japanese,
}

/// ISO-8859-2 bytes of Czech text, quoted-printable: the legacy charset real Czech mail still uses.
fn latin2_quoted_printable(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        let byte = match c {
            'á' => Some(0xE1),
            'č' => Some(0xE8),
            'ď' => Some(0xEF),
            'é' => Some(0xE9),
            'ě' => Some(0xEC),
            'í' => Some(0xED),
            'ň' => Some(0xF2),
            'ó' => Some(0xF3),
            'ř' => Some(0xF8),
            'š' => Some(0xB9),
            'ť' => Some(0xBB),
            'ú' => Some(0xFA),
            'ů' => Some(0xF9),
            'ý' => Some(0xFD),
            'ž' => Some(0xBE),
            'Ž' => Some(0xAE),
            'Č' => Some(0xC8),
            'Ř' => Some(0xD8),
            'Š' => Some(0xA9),
            _ => None,
        };
        match byte {
            Some(b) => out.push_str(&format!("={b:02X}")),
            None if c == '\n' => out.push_str("\r\n"),
            None if c == '=' => out.push_str("=3D"),
            None if c.is_ascii() => out.push(c),
            None => out.push('?'),
        }
    }
    out
}

/// A 1×1 PNG, for inline images.
const PIXEL_PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0D, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8, 0xCF, 0xC0, 0xF0, 0x1F, 0x00, 0x05, 0x00, 0x01, 0xFF, 0x89, 0x99, 0x3D,
    0x1D, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

fn build_body(lang: Lang, text: &str, kind: u8, n: usize) -> String {
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| {
        let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
        encoded.as_bytes().chunks(76).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join("\r\n")
    };
    let (charset, encoding, body_text) = match lang {
        Lang::Latin2 => ("iso-8859-2", "quoted-printable", latin2_quoted_printable(text)),
        _ => ("utf-8", "base64", b64(text.as_bytes())),
    };
    let text_part = format!(
        "Content-Type: text/plain; charset={charset}\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n{body_text}\r\n"
    );
    let html = format!(
        "<html><body><p>{}</p></body></html>",
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace("\n\n", "</p><p>")
            .replace('\n', "<br>")
    );
    let html_part = format!(
        "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        b64(html.as_bytes())
    );
    let boundary = |tag: &str| format!("=_mailroom_{tag}_{n}");
    match kind {
        // Plain text only.
        0 => text_part,
        // Text and HTML alternatives.
        1 => {
            let b = boundary("alt");
            format!(
                "Content-Type: multipart/alternative; boundary=\"{b}\"\r\n\r\n--{b}\r\n{text_part}--{b}\r\n{html_part}--{b}--\r\n"
            )
        }
        // Alternatives plus an attachment.
        2 => {
            let (m, a) = (boundary("mixed"), boundary("alt"));
            let attachment = format!("Report {n}\nLine two of the attachment.\n");
            format!(
                "Content-Type: multipart/mixed; boundary=\"{m}\"\r\n\r\n--{m}\r\nContent-Type: multipart/alternative; boundary=\"{a}\"\r\n\r\n\
                 --{a}\r\n{text_part}--{a}\r\n{html_part}--{a}--\r\n--{m}\r\nContent-Type: text/csv; name=\"report-{n}.csv\"\r\n\
                 Content-Disposition: attachment; filename=\"report-{n}.csv\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--{m}--\r\n",
                b64(attachment.as_bytes())
            )
        }
        // HTML with an inline image.
        _ => {
            let r = boundary("related");
            let cid = format!("logo{n}@mailroom-sim.test");
            let html = format!(
                "<html><body><p><img src=\"cid:{cid}\" alt=\"logo\"></p><p>{}</p></body></html>",
                text.replace('\n', "<br>")
            );
            format!(
                "Content-Type: multipart/related; boundary=\"{r}\"\r\n\r\n--{r}\r\nContent-Type: text/html; charset=utf-8\r\n\
                 Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--{r}\r\nContent-Type: image/png\r\nContent-ID: <{cid}>\r\n\
                 Content-Disposition: inline; filename=\"logo.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--{r}--\r\n",
                b64(html.as_bytes()),
                b64(PIXEL_PNG)
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_folder_named_as_spam_makes_a_message_spam() {
        for spam in ["spamassassin/spam-1/0001.eml", "Spam/a.eml", "mail/junk/x.eml", "c:\\mail\\SPAM_2\\y.eml"] {
            assert!(in_spam_folder(spam), "{spam}");
        }
        for ham in [
            "spamassassin/easy-ham-1/0001.eml",
            "spamassassin/hard-ham-1/spam-looking.eml",
            "spam.eml",
            "antispam/a.eml",
        ] {
            assert!(!in_spam_folder(ham), "{ham}");
        }
    }

    #[test]
    fn generated_mail_is_deterministic_threaded_and_parses() {
        let a = generate(42, 40, "owner@example.test");
        let b = generate(42, 40, "owner@example.test");
        assert_eq!(a, b);
        assert_eq!(a.len(), 40);
        let summaries: Vec<_> = a.iter().map(|(_, raw)| crate::mime::summarize(raw)).collect();
        assert!(summaries.iter().all(|s| !s.subject.is_empty() && s.message_id.is_some()));
        assert!(summaries.iter().any(|s| !s.in_reply_to.is_empty() && s.subject.starts_with("Re: ")));
        assert!(summaries.iter().any(|s| s.attachments.iter().any(|a| a.name.ends_with(".csv"))));
        assert!(summaries.iter().any(|s| s.attachments.iter().any(|a| a.content_id.is_some())));
        assert!(
            summaries.iter().any(|s| s.text.as_deref().is_some_and(|t| t.contains("Žluťoučký"))),
            "ISO-8859-2 decodes"
        );
        assert!(summaries.iter().any(|s| s.subject.contains("říjen") || s.subject.contains("Porada")));
        assert_ne!(generate(43, 40, "owner@example.test"), a);
    }
}
