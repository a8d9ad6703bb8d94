//! `mailroom-bench suggest`: how fast the compose page's address suggestions answer with a large
//! store. A store is filled through the sync write path (`Store::apply_sync`, batches of 500) with
//! `--messages` generated messages among `--people` correspondents with Czech and English names,
//! accented and not: a fifth of them sent by the user to one to three people (a few of the same
//! pairs again and again, so that there are groups), the rest received, some with a copy to
//! another; who writes is drawn with a long tail, as in a real mailbox. Then `Store::correspondents`
//! is timed for a mix of what people type — prefixes of one to four characters of a name or
//! an address, with and without accents, in any case, and a first name with a surname's beginning
//! — and p50, p95 and the slowest are printed; so is the time to count the rows again from the
//! whole mailbox, which the migration that made them asks for.

use std::path::Path;
use std::time::Instant;

use mailroom_domain::{AccountId, FolderKind, UserId};
use mailroom_store::{DbTarget, IncomingMessage, KeyInput, MessageChange, RemoteFolder, Store};
use rand::{Rng, SeedableRng};
use sqlx::Connection as _;

use crate::common::{owner, percentile};
use crate::database::{Database, FreshPostgres};
use crate::report;

#[derive(clap::Args)]
pub struct SuggestArgs {
    /// Messages in the store.
    #[arg(long, default_value_t = 100_000)]
    messages: usize,
    /// Distinct correspondents among them.
    #[arg(long, default_value_t = 20_000)]
    people: usize,
    /// `sqlite`, or a PostgreSQL server URL (`postgres://postgres@127.0.0.1:5432/postgres`) on
    /// which a database of the run's own is made and dropped.
    #[arg(long, default_value = "sqlite")]
    database: String,
    /// Lookups timed.
    #[arg(long, default_value_t = 2_000)]
    samples: usize,
    /// Also print how the database runs a lookup of a rare and of a common prefix.
    #[arg(long)]
    explain: bool,
}

/// Messages written per transaction while filling the store.
const FILL_BATCH: usize = 500;
/// Seconds between two messages' arrival: 100,000 messages span about two years.
const SPACING: i64 = 600;
/// Suggestions asked for per lookup, as the compose page asks.
const LIMIT: i64 = 8;

const FIRST: &[&str] = &[
    "Jana",
    "Petr",
    "Eva",
    "Jiří",
    "Lucie",
    "Tomáš",
    "Zuzana",
    "Martin",
    "Kateřina",
    "Jan",
    "Markéta",
    "Lukáš",
    "Tereza",
    "Ondřej",
    "Veronika",
    "Michal",
    "Anna",
    "David",
    "Šárka",
    "Radek",
    "Alice",
    "Bob",
    "Carol",
    "Dan",
    "Emily",
    "Frank",
    "Grace",
    "Henry",
    "Irene",
    "Jack",
    "Karen",
    "Leo",
    "Mia",
    "Noah",
    "Olivia",
    "Paul",
    "Zoë",
    "Renée",
    "José",
    "Łukasz",
];
const LAST: &[&str] = &[
    "Nováková",
    "Svoboda",
    "Dvořák",
    "Černá",
    "Procházka",
    "Kučerová",
    "Veselý",
    "Horáková",
    "Němec",
    "Marková",
    "Pokorný",
    "Pospíšilová",
    "Hájek",
    "Jelínková",
    "Růžička",
    "Beneš",
    "Fiala",
    "Sedláčková",
    "Doležal",
    "Zeman",
    "Kolář",
    "Navrátilová",
    "Čermák",
    "Urbanová",
    "Vaněk",
    "Blažková",
    "Kříž",
    "Kovář",
    "Šimek",
    "Bartošová",
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Miller",
    "Davis",
    "García",
    "Wilson",
    "Anderson",
    "Thomas",
    "Müller",
    "Schröder",
    "Björk",
    "Øster",
    "Lefèvre",
];
const DOMAINS: &[&str] =
    &["example.cz", "firma.cz", "seznam.example", "gmail.example", "outlook.example", "uni.example", "gov.example"];

/// A correspondent of the generated mailbox.
struct Person {
    first: &'static str,
    last: &'static str,
    address: String,
}

fn people(count: usize) -> Vec<Person> {
    (0..count)
        .map(|n| {
            let (first, last) = (FIRST[n % FIRST.len()], LAST[(n / FIRST.len()) % LAST.len()]);
            let local = mailroom_domain::search::text::words(&format!("{first} {last}")).join(".");
            let address = format!("{local}{}@{}", n / (FIRST.len() * LAST.len()), DOMAINS[n % DOMAINS.len()]);
            Person { first, last, address }
        })
        .collect()
}

/// Someone drawn with a long tail: most mail is with a few people, every one of them has some.
fn draw(rng: &mut rand::rngs::StdRng, people: usize) -> usize {
    let u: f64 = rng.random();
    let skewed = (u.powi(3) * people as f64) as usize;
    skewed.min(people - 1)
}

pub async fn run(args: SuggestArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.messages > 0 && args.people > 3, "--messages must be at least 1, --people at least 4");
    let database = Database::parse(&args.database)?;
    let folder = tempfile::Builder::new().prefix("mailroom-bench-").tempdir()?;
    let (target, fresh) = match &database {
        Database::Sqlite => (DbTarget::Sqlite(folder.path().join("mailroom.db")), None),
        Database::Postgres { server } => {
            let fresh = FreshPostgres::create(server).await?;
            (DbTarget::Postgres(fresh.url.clone()), Some(fresh))
        }
    };
    let result = measure(&args, target, folder.path(), &database).await;
    if let Some(fresh) = fresh {
        fresh.drop_database().await;
    }
    result
}

async fn measure(args: &SuggestArgs, target: DbTarget, folder: &Path, database: &Database) -> anyhow::Result<()> {
    let db = mailroom_store::Db::connect(&target).await?;
    db.migrate().await?;
    let store = Store::unlock(db, KeyInput { given: None, file: folder.join("secret.key") }).await?;
    let (user, account) = owner(&store).await?;
    // The rows are kept from the first message on, as on a server that has run this version.
    store.refresh_correspondents().await?;
    let people = people(args.people);
    let started = Instant::now();
    fill(&store, account, &people, args.messages).await?;
    let fill_time = started.elapsed();
    if let DbTarget::Postgres(url) = &target {
        // What autovacuum does soon after a bulk load: statistics of the new rows, and the
        // visibility map that lets an index be read without the table.
        let mut connection = sqlx::PgConnection::connect(url).await?;
        sqlx::query("VACUUM ANALYZE").execute(&mut connection).await?;
    }
    let (rows, groups) = counts(&store, user).await?;

    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let typed: Vec<String> = (0..args.samples).map(|_| typed(&mut rng, &people)).collect();
    // Warm the caches, and see that what is typed finds people.
    let mut found = 0usize;
    for t in typed.iter().take(200) {
        found += usize::from(!store.correspondents(user, t, LIMIT).await?.people.is_empty());
    }
    let mut times = Vec::with_capacity(typed.len());
    let mut by_length: [Vec<f64>; 5] = Default::default();
    for t in &typed {
        let started = Instant::now();
        let answer = store.correspondents(user, t, LIMIT).await?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        std::hint::black_box(answer);
        times.push(ms);
        by_length[t.chars().count().min(4)].push(ms);
    }
    times.sort_by(f64::total_cmp);

    // The plans as the lookups were timed, before the rows are written again.
    let mut plans = Vec::new();
    if args.explain {
        for typed in ["ø", "j", "jana nov"] {
            plans.push(format!("  plans for {typed:?} (with the first word driving):"));
            plans.extend(store.explain_correspondents(user, typed).await?.into_iter().map(|l| format!("    {l}")));
        }
    }

    // Counting every row again from the mail, as after the migration that made them.
    store.mark_correspondents_stale(user).await?;
    let started = Instant::now();
    store.refresh_correspondents().await?;
    let recount = started.elapsed();
    anyhow::ensure!(counts(&store, user).await? == (rows, groups), "counting again gave other rows");

    let name = match database {
        Database::Sqlite => "SQLite",
        Database::Postgres { .. } => "PostgreSQL",
    };
    report(&format!(
        "Suggestion benchmark: {} messages, {rows} correspondents and {groups} groups on {name}",
        args.messages
    ));
    report(&format!(
        "  store filled in {:.1} s ({:.0} messages/s), the rows kept by every write",
        fill_time.as_secs_f64(),
        args.messages as f64 / fill_time.as_secs_f64()
    ));
    report(&format!(
        "  {} lookups (limit {LIMIT}; {} of the first 200 found someone)  p50 {:.2} ms  p95 {:.2} ms  max {:.2} ms",
        times.len(),
        found,
        percentile(&times, 0.50),
        percentile(&times, 0.95),
        times.last().copied().unwrap_or(f64::NAN)
    ));
    for (length, times) in by_length.iter_mut().enumerate().skip(1) {
        times.sort_by(f64::total_cmp);
        let label = if length == 4 { "4+ characters".to_owned() } else { format!("{length} character(s)") };
        report(&format!(
            "    {label:<14} {:>5} lookups  p50 {:.2} ms  p95 {:.2} ms  max {:.2} ms",
            times.len(),
            percentile(times, 0.50),
            percentile(times, 0.95),
            times.last().copied().unwrap_or(f64::NAN)
        ));
    }
    report(&format!("  every row counted again from the mail in {:.1} s", recount.as_secs_f64()));
    for line in plans {
        report(&line);
    }
    Ok(())
}

/// What someone types: a prefix of one to four characters of a first name, surname or address,
/// as written, without its accents, or in capitals; now and then a first name and the beginning
/// of a surname.
fn typed(rng: &mut rand::rngs::StdRng, people: &[Person]) -> String {
    let person = &people[draw(rng, people.len())];
    let source = match rng.random_range(0..3) {
        0 => person.first.to_owned(),
        1 => person.last.to_owned(),
        _ => person.address.clone(),
    };
    let length = rng.random_range(1..=4);
    let prefix: String = source.chars().take(length).collect();
    let prefix = match rng.random_range(0..4) {
        0 => mailroom_domain::search::text::fold(&prefix),
        1 => prefix.to_uppercase(),
        _ => prefix,
    };
    if rng.random_range(0..10) == 0 {
        format!("{} {}", person.first, person.last.chars().take(length).collect::<String>())
    } else {
        prefix
    }
}

/// The user's rows of correspondents and groups.
async fn counts(store: &Store, user: UserId) -> anyhow::Result<(i64, i64)> {
    Ok(store.correspondent_counts(user).await?)
}

fn raw(from: &str, to: &[&str], cc: Option<&str>, n: usize) -> Vec<u8> {
    let cc = cc.map(|c| format!("Cc: {c}\r\n")).unwrap_or_default();
    format!(
        "From: {from}\r\nTo: {}\r\n{cc}Subject: Message {n}\r\nMessage-ID: <m{n}@bench.example>\r\n\
         Date: Tue, 01 Oct 2024 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\nHello {n}.\r\n",
        to.join(", ")
    )
    .into_bytes()
}

fn mailbox(p: &Person) -> String {
    format!("{} {} <{}>", p.first, p.last, p.address)
}

async fn fill(store: &Store, account: AccountId, people: &[Person], count: usize) -> anyhow::Result<()> {
    let folders: Vec<RemoteFolder> = [("INBOX", FolderKind::Inbox), ("SENT", FolderKind::Sent)]
        .into_iter()
        .map(|(id, kind)| RemoteFolder { remote_id: id.to_owned(), name: id.to_owned(), kind, parent_remote_id: None })
        .collect();
    store.apply_sync(account, &folders, &[], None, mailroom_store::now()).await?;
    let now = mailroom_store::now();
    let me = "Bench <bench@mailroom.test>";
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    // Every correspondent appears at least once; after that, drawn with the tail.
    let mut start = 0;
    while start < count {
        let end = (start + FILL_BATCH).min(count);
        let mut raws = Vec::with_capacity(end - start);
        let mut places = Vec::with_capacity(end - start);
        for n in start..end {
            let first = if n < people.len() { n } else { draw(&mut rng, people.len()) };
            let sent = rng.random_range(0..5) == 0;
            if sent {
                // A few pairs written to together, over and over.
                let second = if rng.random_range(0..3) == 0 { (first + 1) % 50 } else { draw(&mut rng, people.len()) };
                let (a, b) = (mailbox(&people[first]), mailbox(&people[second]));
                let to: Vec<&str> = if rng.random_range(0..2) == 0 { vec![&a] } else { vec![&a, &b] };
                raws.push(raw(me, &to, None, n));
                places.push(vec!["SENT".to_owned()]);
            } else {
                let copy = (rng.random_range(0..4) == 0).then(|| mailbox(&people[draw(&mut rng, people.len())]));
                raws.push(raw(&mailbox(&people[first]), &[me], copy.as_deref(), n));
                places.push(vec!["INBOX".to_owned()]);
            }
        }
        let parsed: Vec<mailroom_mime::ParsedMessage> =
            raws.iter().map(|raw| mailroom_mime::parse(raw).into_message()).collect();
        let ids: Vec<String> = (start..end).map(|n| format!("m{n:08}")).collect();
        let changes: Vec<MessageChange<'_>> = (0..end - start)
            .map(|i| {
                MessageChange::Upsert(IncomingMessage {
                    remote_id: &ids[i],
                    thread_remote_id: None,
                    received_at: now - i64::try_from(count - start - i).unwrap_or(0) * SPACING,
                    is_read: true,
                    is_starred: false,
                    is_draft: false,
                    folders: &places[i],
                    raw: Some(&raws[i]),
                    parsed: &parsed[i],
                    parse_failed: false,
                    has_attachments: None,
                })
            })
            .collect();
        store.apply_sync(account, &[], &changes, None, now).await?;
        start = end;
        if start % 10_000 == 0 {
            tracing::info!(stored = start, "filling");
        }
    }
    Ok(())
}
