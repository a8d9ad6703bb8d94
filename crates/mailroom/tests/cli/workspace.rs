//! The mail workspace as office staff use it, in Chromium against `mailroom demo`: actions in
//! place with Undo (the provider never hears of an undone archive), a whole conversation with the
//! user's reply from Sent, times in Prague and in New York, English and Czech, a phone's layout,
//! light and dark; axe-core checks every page for serious and critical violations. The pictures
//! of the README are written to `docs/screenshots/` by this test.

use std::path::Path;
use std::time::Duration;

use fantoccini::{Client, Locator};
use serde_json::json;

use super::browser::{
    Demo, Driver, browser_with, click, click_now, connect_gmail, eventually, fill, gmail_labels, listed_subjects,
    screenshot,
};

/// axe-core, vendored from the npm registry with its licence (see `vendor/axe-core/README.md`).
const AXE: &str = include_str!("vendor/axe-core/axe.min.js");

/// Runs axe-core on the page; fails on a serious or critical violation and prints the others.
async fn axe_clean(client: &Client, what: &str) {
    client.execute(AXE, vec![]).await.unwrap();
    let found = client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'] }).then(r => done(r.violations.map(v =>
               ({ id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 3) }))));",
            vec![],
        )
        .await
        .unwrap();
    let mut serious = Vec::new();
    for violation in found.as_array().unwrap() {
        let impact = violation["impact"].as_str().unwrap_or_default();
        if impact == "serious" || impact == "critical" {
            serious.push(violation.clone());
        } else {
            eprintln!("axe, {what}: {impact} {} {}", violation["id"], violation["nodes"]);
        }
    }
    assert!(serious.is_empty(), "axe-core on {what}: {serious:#?}");
}

/// Every page of a signed-in administrator, checked with axe-core.
async fn axe_every_page(client: &Client, base: &str, open: &str, what: &str) {
    for path in [
        "/",
        "/mail",
        &format!("/mail?open={open}"),
        "/mail?kind=sent",
        "/mail?q=faktura",
        "/mail/compose",
        "/mail/outbox",
        "/mail/drafts",
        "/mail/signatures",
        "/mail/templates",
        "/accounts",
        "/settings/tokens",
        "/settings/time",
        "/admin/users",
        "/admin/settings/email",
        "/admin/accounts",
        "/admin/status",
    ] {
        client.goto(&format!("{base}{path}")).await.unwrap();
        axe_clean(client, &format!("{path} ({what})")).await;
    }
}

/// Asks for a sync of every mailbox now, from the page's own session.
async fn sync_now(client: &Client) {
    let asked = client
        .execute(
            "return (async () => {
               const page = new DOMParser().parseFromString(await (await fetch('/accounts')).text(), 'text/html');
               const form = page.querySelector('form[action$=\"/sync\"]');
               const body = new URLSearchParams(new FormData(form));
               body.set('mode', 'now');
               return (await fetch(form.getAttribute('action'), { method: 'POST', body })).status;
             })();",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(asked.as_i64(), Some(200), "a sync was asked for");
}

/// Delivers a message to Ann's Gmail at the simulator with these labels.
async fn deliver(sim: &str, raw: &str, labels: &[&str]) {
    let delivered = reqwest::Client::new()
        .post(format!("{sim}/_sim/users/ann@example.test/messages"))
        .json(&json!({ "raw": raw, "labels": labels }))
        .send()
        .await
        .unwrap();
    assert!(delivered.status().is_success());
}

/// Sends a key to the page as a person typing it would (outside any field).
async fn press(client: &Client, key: &str) {
    let script = format!(
        "document.activeElement.dispatchEvent(new KeyboardEvent('keydown', {{ key: {}, bubbles: true }}));",
        serde_json::to_string(key).unwrap()
    );
    client.execute(&script, vec![]).await.unwrap();
}

/// Whether the script's condition holds on the page.
async fn holds(client: &Client, condition: &str) -> bool {
    client.execute(&format!("return Boolean({condition});"), vec![]).await.unwrap() == json!(true)
}

/// Sets the signed-in user's time zone on the settings page.
async fn set_zone(client: &Client, base: &str, zone: &str) {
    client.goto(&format!("{base}/settings/time")).await.unwrap();
    let select = client.find(Locator::Css("#time_zone")).await.unwrap();
    select.select_by_value(zone).await.unwrap();
    click(client, "form[action='/settings/time'] button[type=submit]").await;
    eventually(20, "the time zone saved", || async {
        client.current_url().await.unwrap().query().is_some_and(|q| q.contains("notice="))
    })
    .await;
}

/// The `datetime` and the words of every time in the open conversation.
async fn conversation_times(client: &Client) -> Vec<(String, String)> {
    let times = client
        .execute(
            "return Array.from(document.querySelectorAll('.conversation summary time'), t => [t.getAttribute('datetime'), t.title]);",
            vec![],
        )
        .await
        .unwrap();
    times
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| (pair[0].as_str().unwrap().to_owned(), pair[1].as_str().unwrap().to_owned()))
        .collect()
}

/// The clock time of `instant` in `zone` as the language writes it: `2:05 PM`, `14:05`.
fn local_clock(instant: &str, zone: &str, czech: bool) -> String {
    let at = instant.parse::<jiff::Timestamp>().unwrap().in_tz(zone).unwrap();
    if czech { at.strftime("%-H:%M").to_string() } else { at.strftime("%-I:%M %p").to_string() }
}

/// Whether the toolbar's buttons all stand on one row.
async fn one_row(client: &Client, toolbar: &str) -> bool {
    holds(
        client,
        &format!(
            "(() => {{ const tops = Array.from(document.querySelectorAll('{toolbar} .icon'), b => b.getBoundingClientRect())
                  .filter(r => r.width > 0).map(r => Math.round(r.top));
                return tops.length > 3 && tops.every(t => t === tops[0]); }})()"
        ),
    )
    .await
}

/// Opens the conversation whose subject in the list starts with `subject`.
async fn open_listed(client: &Client, subject: &str) {
    let script = format!(
        "const row = Array.from(document.querySelectorAll('.rows .row')).find(r => r.querySelector('.subject').textContent.trim().startsWith({}));
         if (!row) return false; row.querySelector('a.open').click(); return true;",
        serde_json::to_string(subject).unwrap()
    );
    assert_eq!(client.execute(&script, vec![]).await.unwrap(), json!(true), "{subject} is listed");
    client.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css("article.reader")).await.unwrap();
}

async fn shot(client: &Client, name: &str) {
    screenshot(client, name).await;
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots");
    std::fs::create_dir_all(&docs).unwrap();
    let from = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser").join(format!("{name}.png"));
    std::fs::copy(from, docs.join(format!("{name}.png"))).unwrap();
}

async fn sign_in(client: &Client, base: &str, password: &str) {
    client.goto(&format!("{base}/login")).await.unwrap();
    fill(client, "#email", "admin@mailroom.test").await;
    fill(client, "#password", password).await;
    click(client, "form button[type=submit]").await;
    client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_url(&url::Url::parse(&format!("{base}/")).unwrap())
        .await
        .unwrap();
}

const ORIGINAL: &str = "From: Jana Novakova <jana.novakova@firma.test>\r\nTo: ann@example.test\r\n\
    Subject: Quarterly figures\r\nMessage-ID: <quarter@firma.test>\r\nMIME-Version: 1.0\r\n\
    Content-Type: text/plain; charset=utf-8\r\n\r\nHello Ann,\r\nthe figures for the quarter are attached in the shared folder.\r\n";
const REPLY: &str = "From: Ann <ann@example.test>\r\nTo: Jana Novakova <jana.novakova@firma.test>\r\n\
    Subject: Re: Quarterly figures\r\nMessage-ID: <quarter-reply@example.test>\r\nIn-Reply-To: <quarter@firma.test>\r\n\
    References: <quarter@firma.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
    Thank you, Jana, I have them.\r\n\r\n> Hello Ann,\r\n> the figures for the quarter are attached.\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workspace_acts_in_place_with_undo_in_local_time_whole_conversations_on_a_phone_and_in_czech() {
    let Some(driver) = Driver::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(dir.path());
    let (password, sim, base) = (demo.password.as_str(), demo.sim.clone(), demo.base.clone());
    let client = browser_with(&driver, &dir.path().join("light"), &["--lang=en-US"]).await;
    client.set_window_size(1440, 900).await.unwrap();
    sign_in(&client, &base, password).await;

    // Ann's Gmail, with a conversation of two: Jana's message in the inbox, Ann's reply in Sent.
    connect_gmail(&client, &base).await;
    deliver(&sim, ORIGINAL, &["INBOX", "UNREAD"]).await;
    deliver(&sim, REPLY, &["SENT"]).await;
    sync_now(&client).await;
    eventually(60, "the conversation in the inbox", || async {
        client.goto(&format!("{base}/mail")).await.unwrap();
        listed_subjects(&client).await.iter().any(|s| s.starts_with("Quarterly figures"))
    })
    .await;

    // Prague: every time of the conversation is Prague's, on a 12-hour clock in English.
    set_zone(&client, &base, "Europe/Prague").await;
    client.goto(&format!("{base}/mail")).await.unwrap();
    open_listed(&client, "Quarterly figures").await;
    let open_id = client.find(Locator::Css("article.reader")).await.unwrap().attr("data-message").await.unwrap();
    let open_id = open_id.unwrap();
    // The whole conversation: both messages, oldest first, the reply from Sent open and said to be there.
    assert!(holds(&client, "document.querySelectorAll('.conversation > .msg').length === 2").await);
    assert!(
        holds(
            &client,
            "(() => { const last = document.querySelector('.conversation > .msg:last-child');
               return last.querySelector('details').open && last.querySelector('summary .tag').textContent.trim() === 'Sent'
                 && last.querySelector('.who').textContent.includes('Ann'); })()"
        )
        .await,
        "the reply from Sent is the conversation's newest message, open"
    );
    // Its own reply, and its body sized to its text (no fixed frame height).
    assert!(holds(&client, "document.querySelector('.conversation > .msg:last-child a[data-key=r]')").await);
    eventually(20, "the reply's frame sized to its text", || async {
        holds(
            &client,
            "(() => { const f = document.querySelector('.conversation > .msg:last-child iframe.body');
              const h = f.getBoundingClientRect().height; return h > 40 && h < 300; })()",
        )
        .await
    })
    .await;
    let times = conversation_times(&client).await;
    assert_eq!(times.len(), 2);
    for (instant, words) in &times {
        let clock = local_clock(instant, "Europe/Prague", false);
        assert!(words.contains(&clock), "{words:?} says {instant} in Prague ({clock})");
    }
    shot(&client, "workspace-1440-light").await;
    // New York: the same instants, New York's clock.
    set_zone(&client, &base, "America/New_York").await;
    client.goto(&format!("{base}/mail?open={open_id}")).await.unwrap();
    for (instant, words) in &conversation_times(&client).await {
        let clock = local_clock(instant, "America/New_York", false);
        assert!(words.contains(&clock), "{words:?} says {instant} in New York ({clock})");
    }
    set_zone(&client, &base, "Europe/Prague").await;

    // Archive with `e`, in place: the pane empties, the row leaves, the toast offers Undo; `z` takes
    // it back. The page never reloads.
    client.goto(&format!("{base}/mail?open={open_id}")).await.unwrap();
    client.execute("window.notReloaded = true;", vec![]).await.unwrap();
    press(&client, "e").await;
    eventually(10, "the conversation archived in place", || async {
        holds(
            &client,
            &format!(
                "!document.querySelector('article.reader') && !document.querySelector(\".rows .row[data-id='{open_id}']:not(.leaving)\")
                 && document.querySelector('.toast').textContent.includes('Archived') && document.querySelector('.toast button')"
            ),
        )
        .await
    })
    .await;
    shot(&client, "workspace-undo").await;
    press(&client, "z").await;
    eventually(10, "the archive undone", || async {
        holds(&client, "document.querySelector('.toast').textContent.includes('Action undone')").await
            && listed_subjects(&client).await.iter().any(|s| s.starts_with("Quarterly figures"))
    })
    .await;
    assert!(holds(&client, "window.notReloaded === true").await, "archived and undone without a reload");
    // The provider never hears of it: after the undo window and a sync run (known to be over once
    // a message delivered before it is listed), Jana's message is still in Ann's Gmail inbox.
    tokio::time::sleep(Duration::from_secs(15)).await;
    deliver(
        &sim,
        "From: Petr <petr@firma.test>\r\nTo: ann@example.test\r\nSubject: After the undo\r\n\r\nHi\r\n",
        &["INBOX", "UNREAD"],
    )
    .await;
    sync_now(&client).await;
    eventually(60, "the run after the undo window", || async {
        client.goto(&format!("{base}/mail")).await.unwrap();
        listed_subjects(&client).await.iter().any(|s| s.starts_with("After the undo"))
    })
    .await;
    let labels = gmail_labels(&sim).await;
    let original = labels.iter().find(|(s, _)| s == "Quarterly figures").expect("at the provider");
    assert!(original.1.iter().any(|l| l == "INBOX"), "the provider never saw the undone archive: {:?}", original.1);
    assert!(listed_subjects(&client).await.iter().any(|s| s.starts_with("Quarterly figures")));

    // An action with nothing selected says so.
    click_now(&client, "#list-form button[value=archive]").await;
    eventually(10, "the toast saying nothing is selected", || async {
        holds(&client, "document.querySelector('.toast').textContent.includes('Select a conversation first')").await
    })
    .await;
    // Archive from the list with the keyboard: j keys a row, e archives it, the focus stays in the
    // list on the next row; Undo brings it back.
    client.goto(&format!("{base}/mail")).await.unwrap();
    press(&client, "j").await;
    let keyed = client.execute("return document.querySelector('.rows .row.keyed').dataset.id;", vec![]).await.unwrap();
    press(&client, "e").await;
    eventually(10, "the keyed row archived", || async {
        holds(
            &client,
            &format!(
                "document.querySelector(\".rows .row[data-id='{}']\")?.classList.contains('leaving') !== false
                 && document.querySelector('.toast button')
                 && document.activeElement.closest('.rows .row.keyed')",
                keyed.as_str().unwrap()
            ),
        )
        .await
    })
    .await;
    click_now(&client, ".toast button").await;
    eventually(10, "the archive from the list undone", || async {
        holds(
            &client,
            &format!("document.querySelector(\".rows .row[data-id='{}']:not(.leaving)\")", keyed.as_str().unwrap()),
        )
        .await
    })
    .await;

    // Move to: the conversation goes to the label Projects, then comes back with z.
    client.goto(&format!("{base}/mail?open={open_id}")).await.unwrap();
    click(&client, ".reader summary[data-key-menu=v]").await;
    let moved = client
        .execute(
            "const item = Array.from(document.querySelectorAll('.reader details[open] .menu-item')).find(b => b.textContent.trim() === 'Projects');
             if (!item) return false; item.click(); return true;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(moved, json!(true), "Projects is in the Move to menu, by its name");
    assert!(
        !holds(
            &client,
            "Array.from(document.querySelectorAll('.menu-item')).some(b => /^[A-Z_]+$/.test(b.textContent.trim()))"
        )
        .await,
        "no system label is offered by its id"
    );
    eventually(10, "moved to Projects", || async {
        holds(&client, "!document.querySelector('article.reader') && document.querySelector('.toast').textContent.includes('Moved to Projects')").await
    })
    .await;
    press(&client, "z").await;
    eventually(10, "the move undone", || async {
        holds(&client, "document.querySelector('.toast').textContent.includes('Action undone')").await
            && listed_subjects(&client).await.iter().any(|s| s.starts_with("Quarterly figures"))
    })
    .await;

    // Expand all opens every message of the conversation; the compact density is kept.
    client.goto(&format!("{base}/mail?open={open_id}")).await.unwrap();
    client
        .execute("document.querySelectorAll('.conversation details').forEach(d => d.open = false);", vec![])
        .await
        .unwrap();
    click(&client, ".reader-bar details.menu:last-of-type > summary").await;
    click(&client, "[data-expand-all]").await;
    assert!(holds(&client, "Array.from(document.querySelectorAll('.conversation details')).every(d => d.open)").await);
    client.execute("const d = document.querySelector('[data-density]'); d.value = 'compact'; d.dispatchEvent(new Event('change'));", vec![]).await.unwrap();
    client.refresh().await.unwrap();
    assert!(
        holds(&client, "document.querySelector('.mail').classList.contains('density-compact')").await,
        "compact, after a reload"
    );
    shot(&client, "workspace-1440-compact").await;
    client.execute("const d = document.querySelector('[data-density]'); d.value = 'comfortable'; d.dispatchEvent(new Event('change'));", vec![]).await.unwrap();

    // The list's width is dragged (here with the keyboard on the divider) and remembered.
    client.goto(&format!("{base}/mail")).await.unwrap();
    client.execute("document.querySelector('.splitter').focus();", vec![]).await.unwrap();
    let before = client.execute("return document.querySelector('.messages').getBoundingClientRect().width;", vec![]);
    let before = before.await.unwrap().as_f64().unwrap();
    for _ in 0..3 {
        client
            .execute(
                "document.querySelector('.splitter').dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowRight', bubbles: true }));",
                vec![],
            )
            .await
            .unwrap();
    }
    client.refresh().await.unwrap();
    let after = client.execute("return document.querySelector('.messages').getBoundingClientRect().width;", vec![]);
    let after = after.await.unwrap().as_f64().unwrap();
    assert!(after > before + 50.0, "the list is wider after dragging and a reload ({before} → {after})");
    // The empty reading pane says what to do.
    assert!(holds(&client, "document.querySelector('.empty-reader .empty-title')").await);

    // Sending with placeholders left unfilled names each of them before it goes.
    client.goto(&format!("{base}/mail/compose")).await.unwrap();
    fill(&client, "#to", "partner@example.org").await;
    fill(&client, "#subject", "Offer for {{company}}").await;
    client
        .execute("document.querySelector('.editor').innerText = 'Dear {{first_name}}, see {{company}}.';", vec![])
        .await
        .unwrap();
    // The question stops the script that asked to send: its answer is the dialog, not a value.
    let _ = client.execute("document.querySelector('.compose form').requestSubmit();", vec![]).await;
    let warning = client.get_alert_text().await.unwrap();
    assert!(warning.contains("{{company}}, {{first_name}}"), "{warning}");
    client.dismiss_alert().await.unwrap();

    axe_every_page(&client, &base, &open_id, "English, light, 1440 px").await;

    // Czech: the words, a 24-hour clock, and at 1280 px the conversation's toolbar on one row.
    client.goto(&format!("{base}/mail")).await.unwrap();
    click(&client, ".folders .languages button[value=cs]").await;
    eventually(20, "the page in Czech", || async { holds(&client, "document.documentElement.lang === 'cs'").await })
        .await;
    client.set_window_size(1280, 900).await.unwrap();
    client.goto(&format!("{base}/mail?open={open_id}")).await.unwrap();
    assert!(
        holds(&client, "document.querySelector('.reader-bar button[value=archive]').title === 'Archivovat (e)'").await
    );
    assert!(one_row(&client, ".reader-bar").await, "the toolbar fits one row in Czech at 1280 px");
    for (instant, words) in &conversation_times(&client).await {
        let clock = local_clock(instant, "Europe/Prague", true);
        assert!(words.contains(&clock), "{words:?} says {instant} in Prague, Czech style ({clock})");
    }
    // Undo in Czech: trash with `#`, then the toast's button.
    press(&client, "#").await;
    eventually(10, "the Czech toast", || async {
        holds(&client, "document.querySelector('.toast').textContent.includes('Přesunuto do koše')").await
    })
    .await;
    click_now(&client, ".toast button").await;
    eventually(10, "the trash undone", || async {
        holds(&client, "document.querySelector('.toast').textContent.includes('Akce vrácena')").await
            && listed_subjects(&client).await.iter().any(|s| s.starts_with("Quarterly figures"))
    })
    .await;
    client.set_window_size(1440, 900).await.unwrap();
    client.goto(&format!("{base}/mail?open={open_id}")).await.unwrap();
    shot(&client, "workspace-1440-light-cs").await;
    axe_every_page(&client, &base, &open_id, "Czech, light, 1440 px").await;

    // A phone: the list fills the screen, Compose floats, the folders wait behind the menu button;
    // an open conversation shows its toolbar on one row above the message, and Back returns.
    client.set_window_size(390, 844).await.unwrap();
    client.goto(&format!("{base}/mail")).await.unwrap();
    let fits = "document.documentElement.scrollWidth <= window.innerWidth";
    assert!(holds(&client, fits).await, "nothing scrolls sideways");
    assert!(
        holds(&client, "(() => { const r = document.querySelector('.fab').getBoundingClientRect(); return r.bottom <= window.innerHeight && r.width > 40; })()")
            .await,
        "Compose floats on screen"
    );
    assert!(holds(&client, "getComputedStyle(document.querySelector('#folders')).visibility === 'hidden'").await);
    shot(&client, "workspace-390-light").await;
    click(&client, ".menu-button").await;
    eventually(5, "the folders shown", || async {
        holds(&client, "document.querySelector('#folders').getBoundingClientRect().left >= 0 && getComputedStyle(document.querySelector('#folders')).visibility === 'visible'").await
    })
    .await;
    client.goto(&format!("{base}/mail?open={open_id}")).await.unwrap();
    assert!(holds(&client, "getComputedStyle(document.querySelector('.messages')).display === 'none'").await);
    assert!(one_row(&client, ".reader-bar").await, "the phone's action bar is one row");
    assert!(
        holds(
            &client,
            "document.querySelector('.conversation > .msg:last-child').getBoundingClientRect().top < window.innerHeight"
        )
        .await,
        "the message starts on the first screen"
    );
    assert!(holds(&client, fits).await, "nothing scrolls sideways");
    shot(&client, "workspace-390-light-open").await;
    axe_clean(&client, "an open conversation on a phone").await;
    click(&client, ".reader-bar .back").await;
    eventually(10, "back to the list", || async {
        holds(&client, "!document.querySelector('article.reader') && document.querySelector('.rows .row')").await
    })
    .await;
    axe_clean(&client, "the list on a phone").await;
    client.close().await.unwrap();

    // Dark: plain-text mail on the page's dark colours, readable everywhere.
    let dark = browser_with(
        &driver,
        &dir.path().join("dark"),
        &["--lang=en-US", "--force-dark-mode", "--blink-settings=preferredColorScheme=0"],
    )
    .await;
    dark.set_window_size(1440, 900).await.unwrap();
    sign_in(&dark, &base, password).await;
    assert!(holds(&dark, "matchMedia('(prefers-color-scheme: dark)').matches").await, "the browser is in dark mode");
    dark.goto(&format!("{base}/mail?open={open_id}")).await.unwrap();
    eventually(20, "the reply's frame on dark colours", || async {
        holds(
            &dark,
            "(() => { const f = document.querySelector('.conversation > .msg:last-child iframe.body');
               const d = f.contentDocument; if (!d || !d.body || !d.body.classList.contains('plain-doc')) return false;
               const bg = getComputedStyle(d.body).backgroundColor; return bg !== 'rgb(255, 255, 255)'; })()",
        )
        .await
    })
    .await;
    shot(&dark, "workspace-1440-dark").await;
    axe_every_page(&dark, &base, &open_id, "Czech, dark, 1440 px").await;
    dark.set_window_size(390, 844).await.unwrap();
    dark.goto(&format!("{base}/mail")).await.unwrap();
    shot(&dark, "workspace-390-dark").await;
    axe_clean(&dark, "the list on a phone, dark").await;
    dark.goto(&format!("{base}/mail?open={open_id}")).await.unwrap();
    axe_clean(&dark, "an open conversation on a phone, dark").await;
    dark.close().await.unwrap();
    drop(demo);
}
