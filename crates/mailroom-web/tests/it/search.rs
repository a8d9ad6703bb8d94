//! Search through the API and the mail page against mail synced from the simulator: every
//! operator with known results, diacritics folded, relevance tiers, conversations once, marked
//! snippets, paging, malformed queries, other users' mail, and the index following sync.

use serde_json::Value;

use crate::harness::Backend;
use crate::workspace::{Setup, setup};

crate::on_both_databases!(search:
    every_operator_finds_what_it_should,
    results_rank_headline_matches_first_mark_words_and_page_without_repeats,
    a_malformed_query_says_what_is_wrong_and_other_users_mail_is_never_found,
    the_index_follows_sync_and_the_mail_page_searches,
    outlook_mail_is_found_before_and_after_its_mime_arrives,
    mail_stored_before_the_index_existed_is_indexed_in_the_background,
    a_conversation_matching_in_both_tiers_shows_once_by_its_headline_match,
    any_query_the_parser_takes_runs_and_any_other_is_a_400,
);

const ANN: &str = "ann@example.test";
const DAY_MS: i64 = 86_400_000;

/// The day `days` before `now_ms`, as `YYYY-MM-DD` (UTC).
fn day(now_ms: i64, days: i64) -> String {
    chrono::DateTime::from_timestamp_millis(now_ms - days * DAY_MS).unwrap().format("%Y-%m-%d").to_string()
}

fn message(from: &str, to: &str, extra: &str, subject: &str, id: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\n{extra}Subject: {subject}\r\nMessage-ID: <{id}@example.org>\r\n\
         Date: Tue, 1 Oct 2024 10:00:00 +0000\r\nMIME-Version: 1.0\r\n{body}"
    )
    .into_bytes()
}

fn plain(text: &str) -> String {
    format!("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n")
}

fn with_file(text: &str, name: &str, bytes: usize) -> String {
    let data = "QUJD".repeat(bytes / 3);
    let data: Vec<&str> = data.as_bytes().chunks(76).map(|c| std::str::from_utf8(c).unwrap()).collect();
    format!(
        "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n--b\r\nContent-Type: application/octet-stream; name=\"{name}\"\r\n\
         Content-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
        data.join("\r\n")
    )
}

/// Ann's Gmail mailbox with known mail, synced.
async fn seeded(backend: Backend) -> Option<(Setup, i64)> {
    let s = setup(backend, "google", 0).await?;
    let now = s.sim.state.clock().now_ms();
    {
        let mut world = s.sim.state.world();
        let gmail = world.gmail(ANN).unwrap();
        let label = gmail.labels().iter().find(|l| l.name == "Clients").unwrap().id.clone();
        gmail.deliver(
            message(
                "Jana Nováková <jana@firma.cz>",
                ANN,
                "",
                "Přílohy k faktuře",
                "faktura",
                &with_file("Dobrý den, posílám přílohy k faktuře.", "faktura-2024.pdf", 300),
            ),
            &["INBOX", label.as_str()],
            now - 40 * DAY_MS,
        );
        gmail.deliver(
            message(
                "Ann Example <ann@example.org>",
                ANN,
                "",
                "Quarterly report",
                "report",
                &plain("The numbers are attached; the invoice follows next week."),
            ),
            &["INBOX", "STARRED"],
            now - 30 * DAY_MS,
        );
        gmail.deliver(
            message(
                "Billing <billing@shop.example>",
                ANN,
                "",
                "Invoice 42",
                "invoice",
                &plain("Your invoice is ready."),
            ),
            &["INBOX", "UNREAD"],
            now - 20 * DAY_MS,
        );
        gmail.deliver(
            message(
                "Bob <bob@example.org>",
                ANN,
                "Cc: Carol Cole <carol@example.org>\r\n",
                "Lunch",
                "lunch",
                &plain("No invoice talk at lunch, please."),
            ),
            &["TRASH"],
            now - 10 * DAY_MS,
        );
        gmail.deliver(
            message(
                "Dan <dan@example.net>",
                ANN,
                "",
                "Big spreadsheet",
                "big",
                &with_file("The yearly figures.", "figures.xlsx", 1_200_000),
            ),
            &["INBOX"],
            now - 5 * DAY_MS,
        );
    }
    s.run().await;
    Some((s, now))
}

impl Setup {
    /// The subjects a search finds, in order, and its total.
    async fn found(&mut self, query: &str) -> (Vec<String>, i64) {
        let answer = self.search(query, "&count=true").await;
        let subjects = answer["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["subject"].as_str().unwrap().to_owned())
            .collect();
        (subjects, answer["total"].as_i64().unwrap())
    }

    async fn search(&mut self, query: &str, more: &str) -> Value {
        let q: String = url::form_urlencoded::byte_serialize(query.as_bytes()).collect();
        self.get(&format!("/api/v1/search?q={q}{more}")).await
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

async fn every_operator_finds_what_it_should(backend: Backend) {
    let Some((mut s, now)) = seeded(backend).await else { return };
    let cases: Vec<(String, Vec<&str>)> = vec![
        // Words, with case and diacritics folded either way.
        ("prilohy".into(), vec!["Přílohy k faktuře"]),
        ("PŘÍLOHY faktura".into(), vec!["Přílohy k faktuře"]),
        ("PŘÍLOHY smlouva".into(), vec![]),
        ("přílohy faktuře".into(), vec!["Přílohy k faktuře"]),
        ("invoice".into(), vec!["Invoice 42", "Quarterly report"]),
        // Phrases: the words next to each other, in order.
        ("\"the invoice follows\"".into(), vec!["Quarterly report"]),
        ("\"invoice the\"".into(), vec![]),
        // People: names, addresses, domains.
        ("from:ann".into(), vec!["Quarterly report"]),
        ("from:example.org".into(), vec!["Quarterly report"]),
        ("from:jana@firma.cz".into(), vec!["Přílohy k faktuře"]),
        ("from:\"Jana Novakova\"".into(), vec!["Přílohy k faktuře"]),
        ("to:ann@example.test from:billing".into(), vec!["Invoice 42"]),
        ("cc:carol in:anywhere".into(), vec!["Lunch"]),
        ("cc:carol".into(), vec![]),
        ("subject:invoice".into(), vec!["Invoice 42"]),
        ("subject:report OR subject:lunch".into(), vec!["Quarterly report"]),
        // Files.
        ("filename:faktura".into(), vec!["Přílohy k faktuře"]),
        ("filename:xlsx".into(), vec!["Big spreadsheet"]),
        ("has:attachment".into(), vec!["Big spreadsheet", "Přílohy k faktuře"]),
        ("larger:1M".into(), vec!["Big spreadsheet"]),
        ("smaller:1M has:attachment".into(), vec!["Přílohy k faktuře"]),
        // Flags and places.
        ("is:starred".into(), vec!["Quarterly report"]),
        ("is:unread invoice".into(), vec!["Invoice 42"]),
        ("is:read invoice".into(), vec!["Quarterly report"]),
        ("invoice in:trash".into(), vec!["Lunch"]),
        ("invoice in:anywhere".into(), vec!["Invoice 42", "Lunch", "Quarterly report"]),
        ("in:inbox is:starred".into(), vec!["Quarterly report"]),
        ("label:clients".into(), vec!["Přílohy k faktuře"]),
        (format!("account:{ANN} from:dan"), vec!["Big spreadsheet"]),
        ("account:nobody@example.test".into(), vec![]),
        // Dates: after is on or after the day, before strictly before it.
        (format!("after:{}", day(now, 12)), vec!["Big spreadsheet"]),
        (format!("after:{} before:{}", day(now, 35), day(now, 15)), vec!["Invoice 42", "Quarterly report"]),
        (format!("before:{} in:anywhere", day(now, 35)), vec!["Přílohy k faktuře"]),
        // Negation, OR, parentheses.
        ("invoice -report".into(), vec!["Invoice 42"]),
        ("invoice -from:billing".into(), vec!["Quarterly report"]),
        ("-invoice has:attachment".into(), vec!["Big spreadsheet", "Přílohy k faktuře"]),
        ("invoice OR figures".into(), vec!["Big spreadsheet", "Invoice 42", "Quarterly report"]),
        ("(invoice OR figures) is:starred".into(), vec!["Quarterly report"]),
        ("invoice OR is:starred".into(), vec!["Invoice 42", "Quarterly report"]),
        ("-(invoice OR figures) in:inbox".into(), vec!["Přílohy k faktuře"]),
    ];
    for (query, expected) in cases {
        let (subjects, total) = s.found(&query).await;
        let expected: Vec<String> = expected.iter().map(|e| (*e).to_owned()).collect();
        assert_eq!(sorted(subjects), sorted(expected.clone()), "{query}");
        assert_eq!(total, i64::try_from(expected.len()).unwrap(), "total of {query}");
    }
}

async fn results_rank_headline_matches_first_mark_words_and_page_without_repeats(backend: Backend) {
    let Some((mut s, now)) = seeded(backend).await else { return };
    // "invoice" is in the subject of the newer message and the body of the older: the subject
    // match ranks first whatever the dates; among equals, newest first.
    let answer = s.search("invoice", "").await;
    let hits = answer["conversations"].as_array().unwrap();
    assert_eq!(hits[0]["subject"], "Invoice 42");
    assert_eq!(hits[0]["tier"], 1);
    assert_eq!(hits[1]["subject"], "Quarterly report");
    assert_eq!(hits[1]["tier"], 2);
    assert_eq!(hits[0]["subject_html"], "<mark>Invoice</mark> 42");
    assert_eq!(hits[1]["snippet_html"], "The numbers are attached; the <mark>invoice</mark> follows next week.");
    assert_eq!(answer["query"], "invoice");
    // Marks follow folding, and text is escaped.
    let answer = s.search("prilohy", "").await;
    assert_eq!(answer["conversations"][0]["subject_html"], "<mark>Přílohy</mark> k faktuře");
    assert_eq!(answer["conversations"][0]["snippet_html"], "Dobrý den, posílám <mark>přílohy</mark> k faktuře.");
    {
        let mut world = s.sim.state.world();
        let gmail = world.gmail(ANN).unwrap();
        // A reply in the invoice's conversation, newer, matching too; and more body matches.
        gmail.deliver(
            message(
                "Ann <ann@example.test>",
                "billing@shop.example",
                "In-Reply-To: <invoice@example.org>\r\nReferences: <invoice@example.org>\r\n",
                "Re: Invoice 42",
                "reply",
                &plain("Paid the invoice <b>today</b> & thanks."),
            ),
            &["SENT"],
            now - 2 * DAY_MS,
        );
        for n in 0..3 {
            gmail.deliver(
                message("x@example.net", ANN, "", &format!("Note {n}"), &format!("n{n}"), &plain("an invoice again")),
                &["INBOX"],
                now - (50 + n) * DAY_MS,
            );
        }
    }
    s.run().await;
    let answer = s.search("invoice", "").await;
    let subjects: Vec<&str> =
        answer["conversations"].as_array().unwrap().iter().map(|c| c["subject"].as_str().unwrap()).collect();
    // The conversation shows once, by its newest headline match (the reply); six messages match.
    assert_eq!(subjects, ["Re: Invoice 42", "Quarterly report", "Note 0", "Note 1", "Note 2"]);
    assert_eq!(answer["total"], Value::Null, "counted only when asked");
    assert_eq!(s.search("invoice", "&count=true").await["total"], 6);
    assert_eq!(answer["conversations"][0]["conversation_size"], 2);
    let reply = &answer["conversations"][0]["snippet_html"];
    assert_eq!(reply, "Paid the <mark>invoice</mark> &lt;b&gt;today&lt;/b&gt; &amp; thanks.");
    // Pages of two walk the same order, across the tiers, without repeats.
    let mut walked = Vec::new();
    let mut cursor = String::new();
    loop {
        let more = if cursor.is_empty() { "&limit=2".to_owned() } else { format!("&limit=2&cursor={cursor}") };
        let page = s.search("invoice", &more).await;
        walked.extend(
            page["conversations"].as_array().unwrap().iter().map(|c| c["subject"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(walked, subjects);
}

async fn a_malformed_query_says_what_is_wrong_and_other_users_mail_is_never_found(backend: Backend) {
    let Some((mut s, _)) = seeded(backend).await else { return };
    for (query, says) in [
        ("\"unclosed", "not closed"),
        ("before:2024-13-01", "not a date"),
        ("larger:lots", "not a size"),
        ("is:urgent", "is:urgent is not known"),
        ("invoice OR", "OR needs something on both sides"),
        ("(invoice", "not closed"),
    ] {
        let q: String = url::form_urlencoded::byte_serialize(query.as_bytes()).collect();
        let page = s.api.get(&format!("/api/v1/search?q={q}")).await;
        assert_eq!(page.status, 400, "{query}");
        assert!(page.body.contains(says), "{query}: {}", page.body);
    }
    let too_long = format!("/api/v1/search?q={}", "a".repeat(1001));
    for bad in [
        "/api/v1/search",
        "/api/v1/search?q=invoice&limit=0",
        "/api/v1/search?q=invoice&cursor=x",
        "/api/v1/search?q=invoice&count=yes",
        too_long.as_str(),
    ] {
        assert_eq!(s.api.get(bad).await.status, 400, "{bad}");
    }
    let longest = format!("/api/v1/search?q={}", "a".repeat(1000));
    assert_eq!(s.api.get(&longest).await.status, 200, "a query of 1,000 characters is taken");
    // Another user, with a mailbox of their own, finds none of Ann's mail.
    let (other, mut browser) = s.app.member("other@example.test", "member password 2").await;
    let token = s.app.store.create_api_token(other.id, "t", 1).await.unwrap().unwrap();
    let mut api = s.app.client();
    api.authorization = Some(format!("Bearer {}", token.expose()));
    let page = api.get("/api/v1/search?q=invoice&count=true").await;
    assert_eq!(page.status, 200);
    let answer: Value = serde_json::from_str(&page.body).unwrap();
    assert_eq!(answer["total"], 0);
    assert_eq!(answer["conversations"], Value::Array(Vec::new()));
    // The page does not answer without a session either.
    browser.get("/logout").await;
    assert_eq!(s.app.client().get("/api/v1/search?q=invoice").await.status, 401);
}

async fn the_index_follows_sync_and_the_mail_page_searches(backend: Backend) {
    let Some((mut s, now)) = seeded(backend).await else { return };
    let big = {
        let mut world = s.sim.state.world();
        let gmail = world.gmail(ANN).unwrap();
        gmail.deliver(
            message("eve@example.net", ANN, "", "Žádost", "zadost", &plain("Prosím o schůzku.")),
            &["INBOX"],
            now - DAY_MS,
        );
        gmail.messages().find(|m| m.summary.subject == "Big spreadsheet").unwrap().id.clone()
    };
    assert_eq!(s.found("schuzku").await.0, Vec::<String>::new());
    s.run().await;
    assert_eq!(s.found("schuzku").await.0, ["Žádost"]);
    // Deleted at the provider: gone from the index with the next run.
    {
        let mut world = s.sim.state.world();
        assert!(world.gmail(ANN).unwrap().delete(&big, now));
    }
    s.run().await;
    assert_eq!(s.found("figures").await, (Vec::new(), 0));
    // Moved to the trash here: left out of a search, found with in:trash.
    let id = s.id_of("Žádost").await;
    let (status, _) = s.post("/api/v1/messages/actions", serde_json::json!({"ids": [id], "action": "trash"})).await;
    assert_eq!(status, 200);
    assert_eq!(s.found("schuzku").await.0, Vec::<String>::new());
    assert_eq!(s.found("schuzku in:trash").await.0, ["Žádost"]);

    // The mail page: the box keeps the query, results are marked, a malformed query explains.
    let mut browser = s.app.client();
    browser.login("user@example.test", "member password 1").await;
    let page = browser.get("/mail?q=prilohy").await;
    assert_eq!(page.status, 200);
    page.assert_contains("value=\"prilohy\"").assert_contains("<mark>Přílohy</mark> k faktuře");
    page.assert_contains("<mark>přílohy</mark>").assert_lacks("Quarterly report");
    // The operators on the page, as in the API.
    for (query, expected) in [
        ("from%3Aann+is%3Astarred", vec!["Quarterly report"]),
        ("invoice+-report", vec!["Invoice 42"]),
        ("schuzku+in%3Atrash", vec!["Žádost"]),
        ("has%3Aattachment", vec!["Přílohy k faktuře"]),
        ("label%3AClients+OR+subject%3Ainvoice", vec!["Invoice 42", "Přílohy k faktuře"]),
    ] {
        let page = browser.get(&format!("/mail?q={query}")).await;
        assert_eq!(page.status, 200, "{query}");
        let listed: Vec<String> = regex_lite::Regex::new(r#"name="ids" value="\d+" aria-label="[^:]*: ([^"]*)""#)
            .unwrap()
            .captures_iter(&page.body)
            .map(|c| c[1].to_owned())
            .collect();
        let expected: Vec<String> = expected.iter().map(|e| (*e).to_owned()).collect();
        assert_eq!(sorted(listed), expected, "{query}");
    }
    let page = browser.get("/mail?q=%22unclosed").await;
    assert_eq!(page.status, 200);
    page.assert_contains("is not closed").assert_contains("value=\"&#34;unclosed\"");
    // Opening a result keeps the search.
    let id = s.id_of("Quarterly report").await;
    let page = browser.get(&format!("/mail?q=invoice&open={id}")).await;
    assert_eq!(page.status, 200);
    page.assert_contains("The numbers are attached")
        .assert_contains(&format!("href=\"/mail?q=invoice&#38;open={id}\""));
}

async fn outlook_mail_is_found_before_and_after_its_mime_arrives(backend: Backend) {
    let Some(mut s) = setup(backend, "microsoft", 0).await else { return };
    let now = s.sim.state.clock().now_ms();
    {
        let mut world = s.sim.state.world();
        let outlook = world.graph("carl@contoso.onmicrosoft.com").unwrap();
        outlook.deliver(
            message(
                "Jana Nováková <jana@firma.cz>",
                "carl@contoso.onmicrosoft.com",
                "",
                "Smlouva",
                "smlouva",
                &with_file("Posílám podepsanou smlouvu.", "smlouva.pdf", 300),
            ),
            "inbox",
            now - DAY_MS,
        );
    }
    s.run().await;
    // Found from what Graph's JSON says, before the MIME is fetched.
    assert_eq!(s.found("podepsanou").await.0, ["Smlouva"]);
    assert_eq!(s.found("from:novakova").await.0, ["Smlouva"]);
    let account = s.app.store.account(s.account.id).await.unwrap().unwrap();
    mailroom_sync::fetch_pending_mime(&s.engine, &account, 100).await.unwrap();
    // And from the MIME after: the file name is known now.
    assert_eq!(s.found("podepsanou filename:smlouva").await.0, ["Smlouva"]);
}

async fn mail_stored_before_the_index_existed_is_indexed_in_the_background(backend: Backend) {
    let Some((mut s, _)) = seeded(backend).await else { return };
    // As a store made by a version without search looks after the migration that adds it.
    s.app.raw_execute("DELETE FROM message_search").await;
    s.app.raw_execute("INSERT INTO search_backfill (next, up_to) SELECT MIN(id), MAX(id) FROM messages").await;
    assert_eq!(s.found("invoice").await, (Vec::new(), 0));
    let mut batches = 0;
    while s.app.store.backfill_search(2).await.unwrap() {
        batches += 1;
        assert!(batches < 10, "the backfill ends");
    }
    // Five messages, two a batch: the third batch is the last.
    assert_eq!(batches, 2);
    assert_eq!(s.app.raw_count("SELECT COUNT(*) FROM search_backfill").await, 0);
    assert_eq!(sorted(s.found("invoice").await.0), ["Invoice 42", "Quarterly report"]);
    assert_eq!(s.found("prilohy filename:faktura").await.0, ["Přílohy k faktuře"]);
    // Nothing left: another run does nothing.
    assert!(!s.app.store.backfill_search(2).await.unwrap());
    assert_eq!(s.found("invoice").await.1, 2);
    // Tidying the index (merging SQLite's segments) ends, and changes no result.
    let mut steps = 0;
    while s.app.store.tidy_search_index().await.unwrap() {
        steps += 1;
        assert!(steps < 100, "tidying ends");
    }
    assert!(!s.app.store.tidy_search_index().await.unwrap(), "nothing left to merge");
    assert_eq!(sorted(s.found("invoice").await.0), ["Invoice 42", "Quarterly report"]);
    assert_eq!(s.found("\"the invoice follows\"").await.0, ["Quarterly report"]);
}

async fn a_conversation_matching_in_both_tiers_shows_once_by_its_headline_match(backend: Backend) {
    let Some((mut s, now)) = seeded(backend).await else { return };
    {
        let mut world = s.sim.state.world();
        let gmail = world.gmail(ANN).unwrap();
        // The older message has the word in its To (a headline match), the newer reply only in
        // its body: the conversation is found once, by the older message, in the first tier.
        gmail.deliver(
            message(
                "Ann <ann@example.test>",
                "Pangolin Team <team@zoo.example>",
                "",
                "Visit",
                "visit",
                &plain("When?"),
            ),
            &["SENT"],
            now - 4 * DAY_MS,
        );
        gmail.deliver(
            message(
                "Team <team@zoo.example>",
                ANN,
                "In-Reply-To: <visit@example.org>\r\nReferences: <visit@example.org>\r\n",
                "Re: Visit",
                "visit-reply",
                &plain("Come on Monday, the pangolin is awake then."),
            ),
            &["INBOX"],
            now - 3 * DAY_MS,
        );
    }
    s.run().await;
    let answer = s.search("pangolin", "&count=true").await;
    assert_eq!(answer["total"], 2, "both messages match");
    let hits = answer["conversations"].as_array().unwrap();
    assert_eq!(hits.len(), 1, "{answer}");
    assert_eq!(hits[0]["subject"], "Visit");
    assert_eq!(hits[0]["tier"], 1);
    assert_eq!(hits[0]["conversation_size"], 2);
}

/// Queries made at random from the language's pieces, and at its limits: every one either runs
/// (200) or is refused as malformed (400); none reaches the database as something it cannot run.
async fn any_query_the_parser_takes_runs_and_any_other_is_a_400(backend: Backend) {
    let Some((mut s, _)) = seeded(backend).await else { return };
    const PIECES: &[&str] = &[
        "invoice",
        "přílohy",
        "ž",
        "a_b",
        "site_perl",
        "\"",
        "(",
        ")",
        "-",
        " ",
        " OR ",
        "from:",
        "to:ann",
        "cc:",
        "subject:",
        "filename:pdf",
        "has:attachment",
        "is:unread",
        "is:starred",
        "in:trash",
        "in:anywhere",
        "label:clients",
        "account:ann@example.test",
        "before:2024-01-01",
        "after:2020-02-29",
        "larger:1K",
        "smaller:5M",
        "*",
        "NEAR",
        "AND",
        "NOT",
        "^",
        "{subject}",
        ":",
        "'",
        "\\",
        "%",
        "😀",
        "\u{202e}",
        "\u{301}",
        "10:30",
        "e-mail",
    ];
    // A fixed sequence (xorshift), so a failure here fails the same way again.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut queries: Vec<String> = (0..150)
        .map(|_| {
            let parts = 1 + next() % 12;
            (0..parts).map(|_| PIECES[usize::try_from(next() % PIECES.len() as u64).unwrap()]).collect()
        })
        .collect();
    // At the limits: as many words, conditions, alternatives and levels as a query can hold.
    queries.push("invoice ".repeat(200));
    queries.push("is:unread ".repeat(120));
    queries.push("-invoice ".repeat(120));
    queries.push("(a OR b) ".repeat(120));
    queries.push("a OR ".repeat(250) + "b");
    queries.push("-(".repeat(8) + "a" + &")".repeat(8));
    queries.push("-".repeat(999) + "a");
    queries.push("(".repeat(400) + "a" + &")".repeat(400));
    queries.push("x".repeat(1_000));
    queries.push("from:".to_owned() + &"y".repeat(995));
    let mut ran = 0;
    for query in &queries {
        let q: String = url::form_urlencoded::byte_serialize(query.as_bytes()).collect();
        for extra in ["", "&count=true"] {
            let page = s.api.get(&format!("/api/v1/search?q={q}{extra}")).await;
            match page.status.as_u16() {
                200 => ran += 1,
                400 => assert!(page.body.contains("bad_request"), "{query:?}: {}", page.body),
                other => panic!("{query:?} answered {other}: {}", page.body),
            }
        }
    }
    assert!(ran > queries.len() / 2, "only {ran} of {} searches ran", queries.len() * 2);
}
