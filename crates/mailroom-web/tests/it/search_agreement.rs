//! Search agrees with what the reader shows. The shared corpus (3,250 real messages) is stored as
//! sync stores it; then a fixed set of queries runs through `Store::search`, and what each finds is
//! compared with what the words' presence in each message says: its subject, its people (names and
//! addresses), its file names and its bodies as a reader shows them (the text part, and the HTML
//! part reduced to text), cut into words and folded by `search::text` as the search box's words
//! are. Every difference is listed, with its reason, in `search-differences.txt` beside this file;
//! the test fails on a difference that is not listed, and on a listed one that no longer occurs.

use std::collections::{BTreeMap, BTreeSet};

use mailroom_domain::search::{Plan, Query, Term, text};
use mailroom_domain::{FolderKind, Role};
use mailroom_mime::ParsedMessage;
use mailroom_store::{IncomingMessage, MessageChange, RemoteFolder, SearchCursor};

use crate::harness::{Backend, TestApp, shared_file};

crate::on_both_databases!(search_agreement:
    every_search_finds_the_mail_whose_shown_text_holds_its_words,
);

/// What the queries look for: in any field, in one field, as a phrase.
const QUERIES: &[&str] = &[
    "razor",
    "spamassassin",
    "perl",
    "site_perl",
    "linux",
    "debian",
    "python",
    "kernel",
    "mortgage",
    "viagra",
    "guarantee",
    "unsubscribe",
    "newsletter",
    "sourceforge",
    "rpm",
    "encryption",
    "wireless",
    "zzzzason",
    "jm",
    "cnet",
    "2002",
    "\"click here\"",
    "\"mailing list\"",
    "\"free software\"",
    "subject:linux",
    "subject:free",
    "from:boingboing",
    "from:hotmail",
    "from:newscientist",
    "fork OR exmh",
    "perl -spam",
    "from:sourceforge",
    "to:spamassassin",
    "filename:txt",
    "filename:gif",
    "cc:exmh",
];

/// A message's words by where a reader sees them.
struct Shown {
    path: String,
    subject: Vec<String>,
    from: Vec<Vec<String>>,
    to: Vec<Vec<String>>,
    cc: Vec<Vec<String>>,
    others: Vec<Vec<String>>,
    files: Vec<Vec<String>>,
    bodies: Vec<Vec<String>>,
}

fn person(address: &mailroom_mime::Address) -> Vec<String> {
    text::words(&format!("{} {}", address.name.as_deref().unwrap_or_default(), address.address))
}

impl Shown {
    fn of(path: &str, raw: &[u8], parsed: &ParsedMessage) -> Shown {
        let bodies = mailroom_mime::bodies(raw);
        let shown_html = bodies.html.as_deref().map(mailroom_mime::html_to_text);
        Shown {
            path: path.to_owned(),
            subject: text::words(&parsed.subject),
            from: parsed.from.iter().chain(&parsed.from_others).map(person).collect(),
            to: parsed.to.iter().map(person).collect(),
            cc: parsed.cc.iter().map(person).collect(),
            others: parsed.sender.iter().chain(&parsed.bcc).chain(&parsed.reply_to).map(person).collect(),
            files: parsed.attachments.iter().map(|a| text::words(&a.name)).collect(),
            bodies: bodies.text.iter().chain(shown_html.iter()).map(|b| text::words(b)).collect(),
        }
    }

    /// Whether the words of `phrase` stand together in one of the fields named.
    fn holds(&self, field: &str, phrase: &[String]) -> bool {
        let within = |words: &Vec<String>| words.windows(phrase.len()).any(|w| w == phrase);
        let any = |fields: &[Vec<String>]| fields.iter().any(within);
        match field {
            "subject" => within(&self.subject),
            "from" => any(&self.from),
            "to" => any(&self.to),
            "cc" => any(&self.cc),
            "filename" => any(&self.files),
            _ => {
                within(&self.subject)
                    || any(&self.from)
                    || any(&self.to)
                    || any(&self.cc)
                    || any(&self.others)
                    || any(&self.files)
                    || any(&self.bodies)
            }
        }
    }
}

/// Whether the message's shown text holds what `query` asks for: the query language read over
/// the words a reader sees, by its meaning, without the index.
fn shows(query: &Query, m: &Shown) -> bool {
    match query {
        Query::And(parts) => parts.iter().all(|q| shows(q, m)),
        Query::Or(parts) => parts.iter().any(|q| shows(q, m)),
        Query::Not(inner) => !shows(inner, m),
        Query::Term(term) => {
            let (field, value) = match term {
                Term::Word(v) | Term::Phrase(v) => ("", v),
                Term::From(v) => ("from", v),
                Term::To(v) => ("to", v),
                Term::Cc(v) => ("cc", v),
                Term::Subject(v) => ("subject", v),
                Term::Filename(v) => ("filename", v),
                other => panic!("{other:?} is not read over the shown text"),
            };
            m.holds(field, &text::words(value))
        }
    }
}

/// The listed differences: `database <TAB> query <TAB> path <TAB> found|missed <TAB> reason`, the
/// database `sqlite`, `postgres` or `both`.
fn listed() -> BTreeMap<(String, String, String, String), String> {
    let file = include_str!("search-differences.txt");
    let mut out = BTreeMap::new();
    for line in file.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
        let parts: Vec<&str> = line.split('\t').collect();
        assert_eq!(parts.len(), 5, "a line of search-differences.txt has five columns: {line:?}");
        let reason = parts[4].trim();
        assert!(reason.len() > 10, "every listed difference says why: {line:?}");
        out.insert((parts[0].into(), parts[1].into(), parts[2].into(), parts[3].into()), reason.to_owned());
    }
    out
}

async fn every_search_finds_the_mail_whose_shown_text_holds_its_words(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let user = app.create_user("ann@example.test", "member password 1", Role::Member).await;
    let account = app.connected_account(user.id, "ann@example.test").await;
    let corpus = mailroom_sim::seed::read_emls(&shared_file("corpora/spamassassin.tar.gz")).unwrap();
    assert_eq!(corpus.len(), 3_250);
    let parsed: Vec<ParsedMessage> = corpus.iter().map(|(_, raw)| mailroom_mime::parse(raw).into_message()).collect();
    let inbox = vec!["INBOX".to_owned()];
    let folders = [RemoteFolder {
        remote_id: "INBOX".into(),
        name: "INBOX".into(),
        kind: FolderKind::Inbox,
        parent_remote_id: None,
    }];
    for (batch, chunk) in corpus.chunks(500).enumerate() {
        let changes: Vec<MessageChange<'_>> = chunk
            .iter()
            .enumerate()
            .map(|(i, (path, raw))| {
                let n = batch * 500 + i;
                MessageChange::Upsert(IncomingMessage {
                    remote_id: path,
                    thread_remote_id: None,
                    received_at: 1_000_000 + i64::try_from(n).unwrap(),
                    is_read: true,
                    is_starred: false,
                    is_draft: false,
                    folders: &inbox,
                    raw: Some(raw),
                    parsed: &parsed[n],
                    parse_failed: false,
                    has_attachments: None,
                })
            })
            .collect();
        app.store.apply_sync(account.id, &folders, &changes, None, 1).await.unwrap();
    }
    let shown: Vec<Shown> =
        corpus.iter().zip(&parsed).map(|((path, raw), parsed)| Shown::of(path, raw, parsed)).collect();

    let database = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let listed = listed();
    let mut seen = BTreeSet::new();
    let mut unexplained = Vec::new();
    let mut compared = 0;
    for query in QUERIES {
        let parsed_query = Query::parse(query).unwrap();
        let plan = Plan::new(&parsed_query);
        let mut found: BTreeSet<String> = BTreeSet::new();
        let mut after: Option<SearchCursor> = None;
        loop {
            let page = app.store.search(user.id, &plan, after, 200).await.unwrap();
            found.extend(page.hits.iter().map(|h| h.summary.remote_id.clone()));
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let expected: BTreeSet<String> =
            shown.iter().filter(|m| shows(&parsed_query, m)).map(|m| m.path.clone()).collect();
        compared += expected.len();
        let differences = found
            .difference(&expected)
            .map(|path| (path, "found"))
            .chain(expected.difference(&found).map(|path| (path, "missed")));
        for (path, how) in differences {
            let key = |db: &str| (db.to_owned(), (*query).to_owned(), path.clone(), how.to_owned());
            if listed.contains_key(&key(database)) {
                seen.insert(key(database));
            } else if listed.contains_key(&key("both")) {
                seen.insert(key("both"));
            } else {
                unexplained.push(format!("{database}\t{query}\t{path}\t{how}\t?"));
            }
        }
        eprintln!("{database}: {query:<22} {} found, {} shown", found.len(), expected.len());
    }
    let stale: Vec<String> = listed
        .keys()
        .filter(|key| (key.0 == database || key.0 == "both") && !seen.contains(*key))
        .map(|(db, query, path, how)| format!("{db}\t{query}\t{path}\t{how}"))
        .collect();
    assert!(compared > 3_000, "the queries find a fair share of the corpus: {compared}");
    assert!(unexplained.is_empty(), "differences not listed in search-differences.txt:\n{}", unexplained.join("\n"));
    assert!(stale.is_empty(), "listed differences that no longer occur:\n{}", stale.join("\n"));
}
