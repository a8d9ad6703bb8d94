//! The mail workspace in a real browser: Debian's Chromium, headless, driven through its
//! chromedriver against `mailroom demo`. A new user signs in, connects a Gmail mailbox on the
//! simulator's consent page, waits for the inbox, opens a message, stars and archives it, labels
//! and trashes another, and the simulator's mailbox shows each change. Screenshots go to the
//! test's output folder.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// chromedriver on a free port, stopped when dropped.
pub(super) struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    /// Starts chromedriver, or says how to enable the test and gives none when Chromium is not
    /// installed, as the PostgreSQL tests do; in CI (`CI=true`) a missing browser fails the test.
    pub(super) fn start() -> Option<Driver> {
        if !(Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists()) {
            let how = "the browser test needs Debian's chromium and chromium-driver \
                       (apt-get install chromium chromium-driver)";
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{how}");
            eprintln!("skipped: {how}");
            return None;
        }
        let port = free_port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen in time");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(Driver { child, url: format!("http://127.0.0.1:{port}") })
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless Chromium session with its own profile, at a laptop's window size.
pub(super) async fn browser(driver: &Driver, profile: &Path) -> Client {
    browser_with(driver, profile, &[]).await
}

/// [`browser`] with more of Chromium's switches (dark mode, a language).
pub(super) async fn browser_with(driver: &Driver, profile: &Path, extra: &[&str]) -> Client {
    let mut args = vec![
        "--headless=new".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-dev-shm-usage".to_owned(),
        "--disable-background-networking".to_owned(),
        "--disable-component-update".to_owned(),
        "--disable-sync".to_owned(),
        "--no-first-run".to_owned(),
        "--window-size=1400,1000".to_owned(),
        format!("--user-data-dir={}", profile.display()),
    ];
    args.extend(extra.iter().map(|arg| (*arg).to_owned()));
    let options = json!({ "binary": CHROMIUM, "args": args });
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("goog:chromeOptions".to_owned(), options);
    // chromedriver listens on plain http on this machine: no TLS stack is needed.
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector).capabilities(capabilities).connect(&driver.url).await.expect("a browser session")
}

pub(super) fn shots_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub(super) async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("a screenshot");
    std::fs::write(shots_dir().join(format!("{name}.png")), png).unwrap();
}

/// Sets the compose page's "Send later" to `minutes` from now, on the browser's clock.
async fn schedule_in(client: &Client, minutes: u32) {
    let script = "const at = new Date(Date.now() + arguments[0] * 60 * 1000); const p = (n) => String(n).padStart(2, '0'); \
         document.getElementById('send_at').value = \
         `${at.getFullYear()}-${p(at.getMonth() + 1)}-${p(at.getDate())}T${p(at.getHours())}:${p(at.getMinutes())}`;";
    client.execute(script, vec![serde_json::json!(minutes)]).await.unwrap();
}

/// Switches into the compose page in the frame `css` (under a conversation, or in a panel).
async fn enter_compose(client: &Client, css: &str) {
    let frame = client.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css(css)).await.unwrap();
    frame.enter_frame().await.unwrap();
    client.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css(".compose form")).await.unwrap();
}

/// From the mail view, presses Send in the compose page of the frame `css`, as a click there
/// would (the frame goes once it is sent, so the click is made from outside it).
async fn send_from_frame(client: &Client, css: &str) {
    let script = format!(
        "document.querySelector({}).contentDocument.querySelector('.compose button.send').click();",
        serde_json::to_string(css).unwrap()
    );
    client.execute(&script, vec![]).await.unwrap();
}

/// Waits for the mail view a sent message returns to, and reads its toast.
async fn wait_for_sent(client: &Client) -> String {
    let toast =
        client.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css(".toast a[href='/mail/outbox']"));
    toast.await.expect("the toast of the message sent");
    let text = client.execute("return document.querySelector('.toast').textContent;", vec![]).await.unwrap();
    text.as_str().unwrap_or_default().to_owned()
}

pub(super) async fn click(client: &Client, css: &str) {
    client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("clicking {css}: {e}"));
}

pub(super) async fn fill(client: &Client, css: &str, text: &str) {
    client.find(Locator::Css(css)).await.unwrap().send_keys(text).await.unwrap();
}

/// The id and subject of the first row of the list, read
/// in one script: the page swaps its list in place when the change feed moves, so an element
/// found in one call may be gone by the next.
pub(super) async fn first_row(client: &Client) -> (String, String) {
    let row = client
        .execute(
            "const row = document.querySelector('.rows .row');
             return [row.dataset.id, row.querySelector('.subject').textContent];",
            vec![],
        )
        .await
        .unwrap();
    let subject = row[1].as_str().unwrap().trim().to_owned();
    (row[0].as_str().unwrap().to_owned(), subject)
}

/// Clicks the element `css` finds, found and clicked in one script (see [`first_row`]).
pub(super) async fn click_now(client: &Client, css: &str) {
    let script = format!("document.querySelector({}).click();", serde_json::to_string(css).unwrap());
    client.execute(&script, vec![]).await.unwrap();
}

/// The subjects of the list's rows, read in one script.
pub(super) async fn listed_subjects(client: &Client) -> Vec<String> {
    let subjects = client
        .execute("return Array.from(document.querySelectorAll('.rows .row .subject'), s => s.textContent);", vec![])
        .await
        .unwrap();
    subjects.as_array().unwrap().iter().map(|s| s.as_str().unwrap().trim().to_owned()).collect()
}

/// The simulator's view of Ann's Gmail mailbox: subject → labels.
pub(super) async fn gmail_labels(sim: &str) -> Vec<(String, Vec<String>)> {
    let state: Value = reqwest::get(format!("{sim}/_sim/gmail/ann@example.test")).await.unwrap().json().await.unwrap();
    state["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let labels = m["labelIds"].as_array().unwrap().iter().map(|l| l.as_str().unwrap().to_owned()).collect();
            (m["subject"].as_str().unwrap().to_owned(), labels)
        })
        .collect()
}

/// How many messages of Ann's Gmail mailbox at the simulator are in SENT with this subject.
async fn sent_with_subject(sim: &str, subject: &str) -> usize {
    gmail_labels(sim).await.iter().filter(|(s, l)| s == subject && l.iter().any(|l| l == "SENT")).count()
}

/// `mailroom demo` on free ports with generated mail, stopped when dropped, and what a test reads
/// of what it printed.
pub(super) struct Demo {
    _process: super::Stopping,
    pub(super) password: String,
    pub(super) sim: String,
    pub(super) base: String,
}

impl Demo {
    pub(super) fn start(dir: &Path) -> Demo {
        Demo::start_with(dir, &[])
    }

    /// The demo with these environment settings.
    pub(super) fn start_with(dir: &Path, env: &[(&str, &str)]) -> Demo {
        let listen = format!("127.0.0.1:{}", free_port());
        let (process, out) = super::spawn_until_with(
            dir,
            env,
            &["demo", "--listen", &listen, "--sim-listen", "127.0.0.1:0", "--generate", "12"],
            "Mailroom is running",
        );
        let process = super::Stopping(Some(process));
        let password = out.split("with the password ").nth(1).and_then(|r| r.split_whitespace().next());
        let sim =
            out.lines().find_map(|l| l.trim().strip_prefix("Simulator")).and_then(|r| r.split_whitespace().next());
        Demo {
            _process: process,
            password: password.expect(&out).to_owned(),
            sim: sim.expect(&out).to_owned(),
            base: format!("http://{listen}"),
        }
    }
}

/// Connects Ann's Gmail on the simulator's consent page and waits for the inbox to fill.
pub(super) async fn connect_gmail(client: &Client, base: &str) {
    client.goto(&format!("{base}/accounts")).await.unwrap();
    click(client, "button[name=provider][value=google]").await;
    click(client, "button[value='ann@example.test']").await;
    client.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css(".notice")).await.unwrap();
    eventually(60, "the inbox filling", || async {
        client.goto(&format!("{base}/mail")).await.unwrap();
        client.find_all(Locator::Css(".rows .row")).await.unwrap().len() >= 5
    })
    .await;
}

/// Polls `check` until it holds, for up to `seconds`.
pub(super) async fn eventually<F, Fut>(seconds: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while !check().await {
        assert!(Instant::now() < deadline, "{what} did not happen in {seconds} s");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_user_reads_organises_replies_forwards_schedules_and_drafts_in_chromium_and_the_mailbox_follows() {
    let Some(driver) = Driver::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(dir.path());
    let (password, sim, base) = (demo.password.as_str(), demo.sim.clone(), demo.base.clone());
    let profile = dir.path().join("profile");
    let client = browser(&driver, &profile).await;

    client.goto(&format!("{base}/login")).await.unwrap();
    fill(&client, "#email", "admin@mailroom.test").await;
    fill(&client, "#password", password).await;
    click(&client, "form button[type=submit]").await;
    client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_url(&url::Url::parse(&format!("{base}/")).unwrap())
        .await
        .unwrap();

    connect_gmail(&client, &base).await;
    screenshot(&client, "1-inbox").await;

    // Open the newest message: the reading pane shows it in the sandboxed frame.
    let (id, subject) = first_row(&client).await;
    // Generated mail repeats subjects: count those already as this one will end up.
    let done = |labels: &[(String, Vec<String>)]| {
        labels
            .iter()
            .filter(|(s, l)| {
                s == &subject && l.iter().any(|l| l == "STARRED") && !l.iter().any(|l| l == "INBOX" || l == "UNREAD")
            })
            .count()
    };
    let before = done(&gmail_labels(&sim).await);
    click_now(&client, &format!(".rows .row[data-id='{id}'] a.open")).await;
    let frame = client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(".reader details[open] iframe.body"))
        .await;
    let frame = frame.unwrap();
    // No script runs in the frame; its origin is kept only so that the page can size it.
    let sandbox = frame.attr("sandbox").await.unwrap();
    assert_eq!(sandbox.as_deref(), Some("allow-same-origin allow-popups allow-popups-to-escape-sandbox"));
    // The frame loads (the page's policy lets it) and holds the message's text.
    frame.enter_frame().await.unwrap();
    let body = client.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css("body")).await.unwrap();
    assert!(body.text().await.unwrap().trim().len() > 10, "the message's content shows in the frame");
    client.enter_parent_frame().await.unwrap();
    let heading = client.find(Locator::Css("#reader-subject")).await.unwrap().text().await.unwrap();
    assert!(heading.starts_with(&subject), "{heading:?} is the message opened ({subject:?})");
    screenshot(&client, "2-reading").await;

    // Star it, then archive it: both in place, without a reload, the archive with a toast.
    client.execute("window.notReloaded = true;", vec![]).await.unwrap();
    click(&client, ".reader button[value=star]").await;
    client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(".reader button[value=unstar][aria-pressed=true]"))
        .await
        .unwrap();
    click(&client, ".reader button[value=archive]").await;
    // Archiving closes the conversation: the reading pane is empty and the row gone.
    eventually(20, "the list after archiving", || async {
        let gone = format!(
            "return !document.querySelector('article.reader') && !document.querySelector(\".rows .row[data-id='{id}']:not(.leaving)\") \
             && document.querySelector('.toast').textContent.includes('Archived');"
        );
        client.execute(&gone, vec![]).await.unwrap() == json!(true)
    })
    .await;
    let kept = client.execute("return window.notReloaded === true;", vec![]).await.unwrap();
    assert_eq!(kept, json!(true), "archived in place, without a reload");
    screenshot(&client, "3-archived").await;

    // The simulator's mailbox follows: starred, out of the inbox, read.
    eventually(60, "the mailbox following", || async { done(&gmail_labels(&sim).await) == before + 1 }).await;

    // The next message gets the user's label "Projects", then goes to the trash.
    let (next_id, next_subject) = first_row(&client).await;
    let labelled = |labels: &[(String, Vec<String>)]| {
        labels
            .iter()
            .filter(|(s, l)| {
                s == &next_subject && l.iter().any(|l| l == "TRASH") && l.iter().any(|l| l.starts_with("Label_"))
            })
            .count()
    };
    let labelled_before = labelled(&gmail_labels(&sim).await);
    click_now(&client, &format!(".rows .row[data-id='{next_id}'] a.open")).await;
    // "Label as" lists the mailbox's labels and the user's tags; Projects goes on in place.
    click(&client, ".reader summary[data-key-menu=l]").await;
    let labelled_in_page = client
        .execute(
            "const item = Array.from(document.querySelectorAll('.reader .menu-item')).find(b => b.textContent.trim() === 'Projects');
             if (!item) return false;
             item.click();
             return true;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(labelled_in_page, json!(true), "Projects is in the Label as menu");
    eventually(20, "the label on the open conversation", || async {
        let on = "return Array.from(document.querySelectorAll('.reader .menu-item[aria-pressed=true]')).some(b => b.textContent.trim() === 'Projects') \
                  && document.querySelector('.toast').textContent.includes('Projects');";
        client.execute(on, vec![]).await.unwrap() == json!(true)
    })
    .await;
    screenshot(&client, "4-labelled").await;
    click(&client, ".reader button[value=trash]").await;
    eventually(20, "the list after trashing", || async {
        let gone = format!(
            "return !document.querySelector('article.reader') && !document.querySelector(\".rows .row[data-id='{next_id}']:not(.leaving)\");"
        );
        client.execute(&gone, vec![]).await.unwrap() == json!(true)
    })
    .await;
    eventually(60, "the label and the trash at the provider", || async {
        labelled(&gmail_labels(&sim).await) == labelled_before + 1
    })
    .await;

    // New mail appears in the open list without a reload: delivered at the simulator, synced at
    // once by "Sync now" (asked from the page's own session), then seen by the page's poll.
    client.goto(&format!("{base}/mail")).await.unwrap();
    client.execute("window.notReloaded = true;", vec![]).await.unwrap();
    let raw = "From: Live <live@example.org>\r\nTo: ann@example.test\r\nSubject: Arrived while looking\r\n\
               MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
               Hello, the Žluťoučký kůň is here.\r\n";
    let delivered = reqwest::Client::new()
        .post(format!("{sim}/_sim/users/ann@example.test/messages"))
        .json(&json!({"raw": raw}))
        .send()
        .await
        .unwrap();
    assert!(delivered.status().is_success());
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
    assert_eq!(asked.as_i64(), Some(200), "the sync was asked for (and the redirect followed)");
    eventually(60, "the new mail in the open list", || async {
        listed_subjects(&client).await.iter().any(|s| s.contains("Arrived while looking"))
    })
    .await;
    let kept = client.execute("return window.notReloaded === true;", vec![]).await.unwrap();
    assert_eq!(kept.as_bool(), Some(true), "the page was not reloaded");
    screenshot(&client, "5-live").await;

    // Search: "/" reaches the box; a name typed after from: suggests the person; the results mark
    // the words found whatever their accents.
    client.goto(&format!("{base}/mail")).await.unwrap();
    client
        .execute("document.body.dispatchEvent(new KeyboardEvent('keydown', { key: '/', bubbles: true }));", vec![])
        .await
        .unwrap();
    let focused = client.execute("return document.activeElement.id;", vec![]).await.unwrap();
    assert_eq!(focused, "search", "the / key reaches the search box");
    fill(&client, "#search", "from:jana").await;
    click(&client, ".search .suggestions li[data-address='jana.novakova@firma.test']").await;
    let typed = client.find(Locator::Css("#search")).await.unwrap().prop("value").await.unwrap().unwrap_or_default();
    assert_eq!(typed, "from:jana.novakova@firma.test ");
    click(&client, ".search button[type=submit]").await;
    eventually(20, "the search's results", || async {
        client.current_url().await.unwrap().query().is_some_and(|q| q.contains("q=from"))
            && !client.find_all(Locator::Css(".rows .row")).await.unwrap().is_empty()
    })
    .await;
    let senders = client
        .execute("return Array.from(document.querySelectorAll('.rows .row .from'), s => s.textContent);", vec![])
        .await
        .unwrap();
    let senders: Vec<&str> = senders.as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    assert!(!senders.is_empty() && senders.iter().all(|s| s.contains("Jana")), "{senders:?}");
    client.goto(&format!("{base}/mail?q=zlutoucky")).await.unwrap();
    client.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css(".rows mark")).await.unwrap();
    let marks = client
        .execute("return Array.from(document.querySelectorAll('.rows mark'), m => m.textContent);", vec![])
        .await
        .unwrap();
    let marks: Vec<&str> = marks.as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    assert!(!marks.is_empty() && marks.iter().all(|m| *m == "Žluťoučký"), "{marks:?}");
    assert_eq!(listed_subjects(&client).await, ["Arrived while looking"]);
    screenshot(&client, "5b-search").await;

    // A reply with a file: written under the conversation, taken back-able for the undo window,
    // then sent; the simulator's mailbox has it in SENT, and Mailroom's Sent shows it.
    let (reply_id, reply_subject) = first_row(&client).await;
    click_now(&client, &format!(".rows .row[data-id='{reply_id}'] a.open")).await;
    click(&client, ".reader a[data-key=r]").await;
    enter_compose(&client, ".reader .inline-compose iframe").await;
    let subject = client.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css("#subject")).await;
    let reply_heading = subject.unwrap().prop("value").await.unwrap().unwrap_or_default();
    let expected = format!("Re: {}", mailroom_mime::normalized_subject(&reply_subject));
    assert_eq!(reply_heading, expected);
    // Typing the start of the sender's address in Cc suggests them from the user's mail.
    let to = client.find(Locator::Css("#to")).await.unwrap().prop("value").await.unwrap().unwrap_or_default();
    let address = to.rsplit_once('<').map_or(to.as_str(), |(_, rest)| rest.trim_end_matches('>')).to_owned();
    // Cc waits behind its link.
    let cc_shown = client.find(Locator::Css("#cc")).await.unwrap().is_displayed().await.unwrap();
    assert!(!cc_shown, "Cc is folded away until wanted");
    click(&client, "[data-show-field=cc]").await;
    fill(&client, "#cc", &address[..3]).await;
    let suggestion = format!(".suggestions li[data-value*='{address}']");
    client.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css(&suggestion)).await.unwrap();
    screenshot(&client, "6-suggest").await;
    click(&client, &suggestion).await;
    let cc = client.find(Locator::Css("#cc")).await.unwrap().prop("value").await.unwrap().unwrap_or_default();
    assert!(cc.contains(&address) && cc.ends_with(", "), "{cc:?}");
    client.execute("document.getElementById('cc').value = '';", vec![]).await.unwrap();
    // Written in the editor: a word in bold goes as HTML, beside the plain text.
    client
        .execute(
            "const e = document.querySelector('.editor'); e.focus(); \
             const r = document.createRange(); r.setStart(e, 0); r.collapse(true); \
             const s = window.getSelection(); s.removeAllRanges(); s.addRange(r);",
            vec![],
        )
        .await
        .unwrap();
    click(&client, ".editor-toolbar [data-command=bold]").await;
    client.find(Locator::Css(".editor")).await.unwrap().send_keys("Thanks, noted.").await.unwrap();
    let html = client.execute("return document.querySelector('[name=html]').value;", vec![]).await.unwrap();
    assert!(html.as_str().unwrap().contains("<b>Thanks, noted.</b>"), "{html}");
    let text = client.execute("return document.getElementById('body').value;", vec![]).await.unwrap();
    assert!(text.as_str().unwrap().starts_with("Thanks, noted."), "{text}");
    let file = dir.path().join("notes.txt");
    std::fs::write(&file, "meeting notes").unwrap();
    client.find(Locator::Css("#attachments")).await.unwrap().send_keys(file.to_str().unwrap()).await.unwrap();
    client.enter_parent_frame().await.unwrap();
    screenshot(&client, "6-reply").await;
    let sent_before = sent_with_subject(&sim, &expected).await;
    send_from_frame(&client, ".reader .inline-compose iframe").await;
    // Sent, the user is still in the conversation, told it is going, with Undo.
    wait_for_sent(&client).await;
    assert!(client.find(Locator::Css(".reader .inline-compose")).await.is_err(), "the reply box is gone");
    screenshot(&client, "7-sent").await;
    eventually(60, "the reply at the provider", || async {
        sent_with_subject(&sim, &expected).await == sent_before + 1
    })
    .await;
    eventually(60, "the reply in Sent", || async {
        client.goto(&format!("{base}/mail?kind=sent")).await.unwrap();
        listed_subjects(&client).await.iter().any(|s| s.contains(&expected))
    })
    .await;
    screenshot(&client, "8-sent").await;

    // A forward of an inbox message, with a file of its own: at the provider and in Sent.
    client.goto(&format!("{base}/mail")).await.unwrap();
    let (forward_id, _) = first_row(&client).await;
    click_now(&client, &format!(".rows .row[data-id='{forward_id}'] a.open")).await;
    click(&client, ".reader a[data-key=f]").await;
    enter_compose(&client, ".reader .inline-compose iframe").await;
    let subject = client.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css("#subject")).await;
    let forward_subject = subject.unwrap().prop("value").await.unwrap().unwrap_or_default();
    assert!(forward_subject.starts_with("Fwd: "), "{forward_subject}");
    fill(&client, "#to", "partner@example.org").await;
    let plan = dir.path().join("plan.csv");
    std::fs::write(&plan, "week,task\n1,start\n").unwrap();
    client.find(Locator::Css("#attachments")).await.unwrap().send_keys(plan.to_str().unwrap()).await.unwrap();
    // A second file dropped on the form joins the one picked: each goes up at once, with the
    // draft, and is listed by name.
    client
        .execute(
            "const d = new DataTransfer(); d.items.add(new File(['dropped'], 'dropped.txt', {type: 'text/plain'})); \
             document.querySelector('.compose form').dispatchEvent(new DragEvent('drop', {dataTransfer: d, bubbles: true, cancelable: true}));",
            vec![],
        )
        .await
        .unwrap();
    eventually(20, "both files up and listed", || async {
        let names = "return Array.from(document.querySelectorAll('.compose ul.files li a'), a => a.textContent);";
        client.execute(names, vec![]).await.unwrap() == serde_json::json!(["plan.csv", "dropped.txt"])
    })
    .await;
    client.enter_parent_frame().await.unwrap();
    let forwarded_before = sent_with_subject(&sim, &forward_subject).await;
    send_from_frame(&client, ".reader .inline-compose iframe").await;
    wait_for_sent(&client).await;
    eventually(60, "the forward at the provider", || async {
        sent_with_subject(&sim, &forward_subject).await == forwarded_before + 1
    })
    .await;
    eventually(60, "the forward in Sent", || async {
        client.goto(&format!("{base}/mail?kind=sent")).await.unwrap();
        listed_subjects(&client).await.iter().any(|s| s.contains(&forward_subject))
    })
    .await;

    // A new message in a panel while reading: the conversation stays open beside it, the panel
    // folds away and back, and the message goes from there.
    client.goto(&format!("{base}/mail")).await.unwrap();
    let (reading, _) = first_row(&client).await;
    click_now(&client, &format!(".rows .row[data-id='{reading}'] a.open")).await;
    client.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css("article.reader")).await.unwrap();
    click(&client, "[data-key-compose]").await;
    enter_compose(&client, ".compose-panel iframe").await;
    fill(&client, "#to", "panel@example.org").await;
    fill(&client, "#subject", "Written beside the conversation").await;
    client.enter_parent_frame().await.unwrap();
    let title = client.find(Locator::Css(".compose-panel .title")).await.unwrap().text().await.unwrap();
    assert_eq!(title, "Written beside the conversation");
    assert!(client.find(Locator::Css("article.reader")).await.is_ok(), "the conversation is still open");
    screenshot(&client, "9a-panel").await;
    let minimised = "return document.querySelector('.compose-panel').classList.contains('minimised');";
    click(&client, ".compose-panel .title").await;
    assert_eq!(client.execute(minimised, vec![]).await.unwrap(), serde_json::json!(true));
    click(&client, ".compose-panel .title").await;
    assert_eq!(client.execute(minimised, vec![]).await.unwrap(), serde_json::json!(false));
    let panel_before = sent_with_subject(&sim, "Written beside the conversation").await;
    send_from_frame(&client, ".compose-panel iframe").await;
    wait_for_sent(&client).await;
    assert!(client.find(Locator::Css(".compose-panel")).await.is_err(), "the panel closes once sent");
    eventually(60, "the panel's message at the provider", || async {
        sent_with_subject(&sim, "Written beside the conversation").await == panel_before + 1
    })
    .await;

    // A message scheduled two hours ahead (in the browser's time zone) waits in the Outbox, and
    // is taken back there.
    client.goto(&format!("{base}/mail/compose")).await.unwrap();
    fill(&client, "#to", "later@example.org").await;
    fill(&client, "#subject", "For the afternoon").await;
    schedule_in(&client, 120).await;
    click(&client, ".compose button.send").await;
    let toast = wait_for_sent(&client).await;
    assert!(toast.contains("Scheduled for"), "{toast}");
    // The outbox reloads itself while something is about to change: read it in one script.
    let newest = || async {
        let text = client.execute("return document.querySelector('[data-submission]').textContent;", vec![]);
        text.await.map(|t| t.as_str().unwrap_or_default().to_owned()).unwrap_or_default()
    };
    screenshot(&client, "9-scheduled").await;
    // Undo in the toast: it opens again as a draft in a panel, with what was written and its time.
    click_now(&client, ".toast [data-toast-undo] button").await;
    enter_compose(&client, ".compose-panel iframe").await;
    let subject = client.find(Locator::Css("#subject")).await.unwrap().prop("value").await.unwrap();
    assert_eq!(subject.as_deref(), Some("For the afternoon"));
    let time = client.find(Locator::Css("#send_at")).await.unwrap().prop("value").await.unwrap();
    assert!(time.is_some_and(|t| !t.is_empty()), "its time is kept");
    let draft = client.execute("return document.querySelector('[name=draft]').value;", vec![]).await.unwrap();
    assert!(draft.as_str().is_some_and(|d| !d.is_empty()), "as the draft it was written in");
    client.enter_parent_frame().await.unwrap();
    client.goto(&format!("{base}/mail/drafts")).await.unwrap();
    let drafts = client.find(Locator::Css("main")).await.unwrap().text().await.unwrap();
    assert_eq!(drafts.matches("For the afternoon").count(), 1, "in Drafts once: {drafts}");
    client.goto(&format!("{base}/mail/outbox")).await.unwrap();
    eventually(20, "the outbox saying it was taken back", || async { newest().await.contains("Taken back") }).await;
    // Edited and scheduled again from Drafts.
    client.goto(&format!("{base}/mail/drafts")).await.unwrap();
    click(&client, "main a[href^='/mail/compose?draft=']").await;
    fill(&client, "#subject", "For the evening").await;
    schedule_in(&client, 180).await;
    click(&client, ".compose button.send").await;
    assert!(wait_for_sent(&client).await.contains("Scheduled for"));
    client.goto(&format!("{base}/mail/outbox")).await.unwrap();
    let row = newest().await;
    assert!(row.contains("For the evening") && row.contains("Take back"), "{row}");

    // Another, with a file, scheduled two minutes ahead and left to go (checked further on).
    client.goto(&format!("{base}/mail/compose")).await.unwrap();
    fill(&client, "#to", "soon@example.org").await;
    fill(&client, "#subject", "In two minutes").await;
    let agenda = dir.path().join("agenda.txt");
    std::fs::write(&agenda, "1. start").unwrap();
    client.find(Locator::Css("#attachments")).await.unwrap().send_keys(agenda.to_str().unwrap()).await.unwrap();
    schedule_in(&client, 2).await;
    let scheduled_before = sent_with_subject(&sim, "In two minutes").await;
    click(&client, ".compose button.send").await;
    wait_for_sent(&client).await;
    client.goto(&format!("{base}/mail/outbox")).await.unwrap();
    assert!(newest().await.contains("In two minutes"), "waits in the Outbox");

    // A new message is saved as a draft two seconds after typing stops, and kept at the provider.
    client.goto(&format!("{base}/mail/compose")).await.unwrap();
    fill(&client, "#to", "later@example.org").await;
    fill(&client, "#subject", "Half written").await;
    eventually(30, "the draft saved", || async {
        let status = client.find(Locator::Css(".draft-status")).await.unwrap().text().await.unwrap_or_default();
        status.starts_with("Draft saved")
    })
    .await;
    // Discarded elsewhere while the page is open: the next save starts a new draft.
    let first = client.execute("return document.querySelector('[name=draft]').value;", vec![]).await.unwrap();
    let first = first.as_str().unwrap().to_owned();
    assert!(!first.is_empty());
    client
        .execute_async(
            "const done = arguments[arguments.length - 1]; const f = new FormData(); \
             f.append('csrf_token', document.querySelector('[name=csrf_token]').value); \
             fetch(`/mail/drafts/${arguments[0]}/discard`, {method: 'POST', body: f}).then(() => done());",
            vec![serde_json::json!(first)],
        )
        .await
        .unwrap();
    fill(&client, "#subject", ", again").await;
    eventually(30, "a new draft after the old one went", || async {
        let now = client.execute("return document.querySelector('[name=draft]').value;", vec![]).await.unwrap();
        now.as_str().is_some_and(|id| !id.is_empty() && id != first)
    })
    .await;
    client.goto(&format!("{base}/mail/drafts")).await.unwrap();
    let drafts = client.find(Locator::Css("[data-draft]")).await.unwrap().text().await.unwrap();
    assert!(drafts.contains("Half written"), "{drafts}");
    eventually(60, "the draft at the provider", || async {
        client.refresh().await.unwrap();
        let state = client.find(Locator::Css("[data-draft] .status")).await.unwrap().text().await.unwrap();
        state.contains("Saved in the mailbox")
    })
    .await;
    screenshot(&client, "10-drafts").await;

    // A file picked, then a form error: the file stays with the draft, which comes back with it
    // from Drafts and is sent with it.
    let file_names = || async {
        let names = "return Array.from(document.querySelectorAll('.compose ul.files li a'), a => a.textContent);";
        client.execute(names, vec![]).await.unwrap()
    };
    client.goto(&format!("{base}/mail/compose")).await.unwrap();
    // Typed without its accents, a name is still suggested.
    fill(&client, "#to", "novakova").await;
    let jana = ".suggestions li[data-value*='jana.novakova@firma.test']";
    client.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css(jana)).await.unwrap();
    client.execute("document.getElementById('to').value = '';", vec![]).await.unwrap();
    fill(&client, "#to", "not an address").await;
    fill(&client, "#subject", "With its file").await;
    let contract = dir.path().join("smlouva.txt");
    std::fs::write(&contract, "contract").unwrap();
    client.find(Locator::Css("#attachments")).await.unwrap().send_keys(contract.to_str().unwrap()).await.unwrap();
    eventually(20, "the file up", || async { file_names().await == serde_json::json!(["smlouva.txt"]) }).await;
    click(&client, ".compose button.send").await;
    client.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css("#to-error")).await.unwrap();
    assert_eq!(file_names().await, serde_json::json!(["smlouva.txt"]), "kept through the error");
    client.goto(&format!("{base}/mail/drafts")).await.unwrap();
    client
        .execute(
            "Array.from(document.querySelectorAll('main a')).find(a => a.textContent === 'With its file').click();",
            vec![],
        )
        .await
        .unwrap();
    client.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css(".compose ul.files li a")).await.unwrap();
    assert_eq!(file_names().await, serde_json::json!(["smlouva.txt"]), "resumed with its file");
    client.execute("document.getElementById('to').value = '';", vec![]).await.unwrap();
    fill(&client, "#to", "partner@example.org").await;
    let with_file_before = sent_with_subject(&sim, "With its file").await;
    click(&client, ".compose button.send").await;
    wait_for_sent(&client).await;
    eventually(60, "the resumed draft at the provider", || async {
        sent_with_subject(&sim, "With its file").await == with_file_before + 1
    })
    .await;

    // A formatted signature, and a template shared with everyone, start a new message.
    client.goto(&format!("{base}/settings/signatures")).await.unwrap();
    client
        .execute(
            "const e = document.querySelector('form.signature .editor'); e.innerHTML = '<b>Demo Administrator</b>'; \
             e.dispatchEvent(new Event('input', {bubbles: true}));",
            vec![],
        )
        .await
        .unwrap();
    click(&client, "form.signature button[type=submit]").await;
    client.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css(".notice")).await.unwrap();
    client.goto(&format!("{base}/settings/templates")).await.unwrap();
    fill(&client, "#name-new", "Offer").await;
    fill(&client, "#subject-new", "Our offer").await;
    fill(&client, "#body-new", "Dear customer,").await;
    click(&client, "form.template:last-of-type input[name=shared]").await;
    click(&client, "form.template:last-of-type button[type=submit]").await;
    client.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css(".notice")).await.unwrap();
    let shared = client.find(Locator::Css("form.template input[name=shared]")).await.unwrap();
    assert!(shared.prop("checked").await.unwrap().as_deref() == Some("true"), "shared with everyone");
    client.goto(&format!("{base}/mail/compose")).await.unwrap();
    client
        .execute(
            "Array.from(document.querySelectorAll('.template-links a')).find(a => a.textContent === 'Offer').click();",
            vec![],
        )
        .await
        .unwrap();
    eventually(20, "the message started from the template", || async {
        client.find(Locator::Css("#subject")).await.unwrap().prop("value").await.unwrap().as_deref()
            == Some("Our offer")
    })
    .await;
    let editor = client.execute("return document.querySelector('.compose .editor').innerHTML;", vec![]).await.unwrap();
    let editor = editor.as_str().unwrap_or_default();
    assert!(editor.starts_with("Dear customer,") && editor.contains("<b>Demo Administrator</b>"), "{editor}");

    // The scheduled message went at its time, with its file: at the provider and in Sent.
    eventually(180, "the scheduled message at the provider", || async {
        sent_with_subject(&sim, "In two minutes").await == scheduled_before + 1
    })
    .await;
    eventually(60, "the scheduled message in Sent", || async {
        client.goto(&format!("{base}/mail?kind=sent")).await.unwrap();
        listed_subjects(&client).await.iter().any(|s| s.contains("In two minutes"))
    })
    .await;

    // Outlook too, connected beside Gmail: a message written in a panel from Carl's address, with
    // a file dropped on it, is kept as an Outlook draft meanwhile and goes to Sent Items.
    let outlook = "carl@contoso.onmicrosoft.com";
    let graph = || async {
        let state: Value = reqwest::get(format!("{sim}/_sim/graph/{outlook}")).await.unwrap().json().await.unwrap();
        state["messages"].as_array().cloned().unwrap_or_default()
    };
    let placed = |messages: &[Value], subject: &str, folder: &str| {
        messages.iter().filter(|m| m["subject"] == subject && m["folder"] == folder).count()
    };
    client.goto(&format!("{base}/accounts")).await.unwrap();
    click(&client, "button[name=provider][value=microsoft]").await;
    click(&client, &format!("button[value='{outlook}']")).await;
    client.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css(".notice")).await.unwrap();
    client.goto(&format!("{base}/mail")).await.unwrap();
    click(&client, "[data-key-compose]").await;
    enter_compose(&client, ".compose-panel iframe").await;
    client
        .execute(
            "const s = document.getElementById('from'); \
             s.value = Array.from(s.options).find(o => o.value.endsWith(':' + arguments[0])).value; \
             s.dispatchEvent(new Event('input', {bubbles: true}));",
            vec![serde_json::json!(outlook)],
        )
        .await
        .unwrap();
    fill(&client, "#to", "dana@example.org").await;
    fill(&client, "#subject", "From Outlook").await;
    client
        .execute(
            "const d = new DataTransfer(); d.items.add(new File(['price list'], 'cenik.txt', {type: 'text/plain'})); \
             document.querySelector('.compose form').dispatchEvent(new DragEvent('drop', {dataTransfer: d, bubbles: true, cancelable: true}));",
            vec![],
        )
        .await
        .unwrap();
    eventually(20, "the dropped file up", || async { file_names().await == serde_json::json!(["cenik.txt"]) }).await;
    client.enter_parent_frame().await.unwrap();
    eventually(60, "the draft at Outlook", || async { placed(&graph().await, "From Outlook", "drafts") == 1 }).await;
    send_from_frame(&client, ".compose-panel iframe").await;
    wait_for_sent(&client).await;
    eventually(60, "the message in Outlook's Sent Items", || async {
        let messages = graph().await;
        placed(&messages, "From Outlook", "sentitems") == 1 && placed(&messages, "From Outlook", "drafts") == 0
    })
    .await;

    // At a phone's width the page fits the screen: nothing scrolls sideways.
    client.set_window_size(390, 844).await.unwrap();
    client.goto(&format!("{base}/mail")).await.unwrap();
    let wide =
        client.execute("return document.documentElement.scrollWidth - window.innerWidth;", vec![]).await.unwrap();
    assert!(wide.as_i64().is_some_and(|extra| extra <= 0), "the page scrolls sideways by {wide} px");
    screenshot(&client, "11-phone").await;

    // Disconnect asks first, and keeps the user's notes, tags and to-dos unless unticked.
    client.set_window_size(1280, 900).await.unwrap();
    client.goto(&format!("{base}/accounts")).await.unwrap();
    let keep = client.find(Locator::Css("form[action$='/disconnect'] input[name=keep]")).await.unwrap();
    assert_eq!(keep.prop("checked").await.unwrap().as_deref(), Some("true"));
    client.find(Locator::Css("form[action$='/disconnect'] button")).await.unwrap().click().await.unwrap();
    let question = client.get_alert_text().await.unwrap();
    assert!(question.starts_with("Disconnect this mailbox?"), "{question}");
    client.accept_alert().await.unwrap();
    eventually(20, "the mailbox disconnected", || async {
        client.current_url().await.unwrap().query().is_some_and(|q| q.contains("notice=account_disconnected"))
    })
    .await;

    client.close().await.unwrap();
    drop(demo);
}

/// On Gmail, then on Outlook: a message written in a compose panel while reading, with a file
/// dropped on it, refused for a bad address (the file kept), sent, undone from the toast (it comes
/// back whole in a panel: recipient, subject, text, From, file), and sent again, which goes once,
/// with its file.
/// The undo window is 30 seconds here (`MAILROOM_SEND_UNDO_SECONDS`, which a user may set), so
/// that Undo falls inside it however slow the machine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_from_a_panel_keeps_its_file_through_an_error_and_undo_and_goes_once_on_both_providers() {
    let Some(driver) = Driver::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start_with(dir.path(), &[("MAILROOM_SEND_UNDO_SECONDS", "30")]);
    let (sim, base) = (demo.sim.clone(), demo.base.clone());
    let client = browser(&driver, &dir.path().join("profile")).await;
    client.goto(&format!("{base}/login")).await.unwrap();
    fill(&client, "#email", "admin@mailroom.test").await;
    fill(&client, "#password", &demo.password).await;
    click(&client, "form button[type=submit]").await;
    let home = url::Url::parse(&format!("{base}/")).unwrap();
    client.wait().at_most(Duration::from_secs(20)).for_url(&home).await.unwrap();
    connect_gmail(&client, &base).await;
    panel_error_undo_send(&client, &base, None, "Sent, undone, sent").await;
    eventually(120, "the message at Gmail once", || async { sent_with_subject(&sim, "Sent, undone, sent").await == 1 })
        .await;
    sent_here_with_file(&client, "Sent, undone, sent").await;

    let outlook = "carl@contoso.onmicrosoft.com";
    client.goto(&format!("{base}/accounts")).await.unwrap();
    click(&client, "button[name=provider][value=microsoft]").await;
    click(&client, &format!("button[value='{outlook}']")).await;
    client.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css(".notice")).await.unwrap();
    panel_error_undo_send(&client, &base, Some(outlook), "Z Outlooku a zpět").await;
    let sent_items = || async {
        let state: Value = reqwest::get(format!("{sim}/_sim/graph/{outlook}")).await.unwrap().json().await.unwrap();
        let messages = state["messages"].as_array().cloned().unwrap_or_default();
        messages.iter().filter(|m| m["subject"] == "Z Outlooku a zpět" && m["folder"] == "sentitems").count()
    };
    eventually(120, "the message in Outlook's Sent Items once", || async { sent_items().await == 1 }).await;
    sent_here_with_file(&client, "Z Outlooku a zpět").await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(sent_with_subject(&sim, "Sent, undone, sent").await, 1, "the undone one never went");
    assert_eq!(sent_items().await, 1, "the undone one never went");
}

/// The panel's part of the test above, from the mail view, sending as `from` when given.
async fn panel_error_undo_send(client: &Client, base: &str, from: Option<&str>, subject: &str) {
    client.goto(&format!("{base}/mail")).await.unwrap();
    let (reading, _) = first_row(client).await;
    click_now(client, &format!(".rows .row[data-id='{reading}'] a.open")).await;
    client.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css("article.reader")).await.unwrap();
    click(client, "[data-key-compose]").await;
    enter_compose(client, ".compose-panel iframe").await;
    if let Some(from) = from {
        let pick = "const s = document.getElementById('from'); \
             s.value = Array.from(s.options).find(o => o.value.endsWith(':' + arguments[0])).value; \
             s.dispatchEvent(new Event('input', {bubbles: true}));";
        client.execute(pick, vec![serde_json::json!(from)]).await.unwrap();
    }
    fill(client, "#to", "not an address").await;
    fill(client, "#subject", subject).await;
    client.find(Locator::Css(".compose .editor")).await.unwrap().send_keys("Every word comes back.").await.unwrap();
    let drop = "const d = new DataTransfer(); d.items.add(new File(['the plan'], 'plan.txt', {type: 'text/plain'})); \
         document.querySelector('.compose form').dispatchEvent(new DragEvent('drop', {dataTransfer: d, bubbles: true, cancelable: true}));";
    client.execute(drop, vec![]).await.unwrap();
    let names = "return Array.from(document.querySelectorAll('.compose ul.files li a'), a => a.textContent);";
    eventually(20, "the dropped file up", || async {
        client.execute(names, vec![]).await.unwrap() == serde_json::json!(["plan.txt"])
    })
    .await;
    // Refused for its address, in the panel still, with its file.
    click(client, ".compose button.send").await;
    client.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css("#to-error")).await.unwrap();
    assert_eq!(client.execute(names, vec![]).await.unwrap(), serde_json::json!(["plan.txt"]), "kept through the error");
    client.execute("document.getElementById('to').value = '';", vec![]).await.unwrap();
    fill(client, "#to", "undo@example.org").await;
    client.enter_parent_frame().await.unwrap();
    send_from_frame(client, ".compose-panel iframe").await;
    let toast = wait_for_sent(client).await;
    assert!(toast.contains("Sending"), "{toast}");

    // Undo: the message opens again in a panel with all it held.
    click_now(client, ".toast [data-toast-undo] button").await;
    enter_compose(client, ".compose-panel iframe").await;
    let value = |css: &'static str| async move {
        client.find(Locator::Css(css)).await.unwrap().prop("value").await.unwrap().unwrap_or_default()
    };
    assert_eq!(value("#subject").await, subject);
    assert!(value("#to").await.contains("undo@example.org"));
    if let Some(from) = from {
        assert!(value("#from").await.ends_with(from), "sent as the same address");
    }
    let text = client.execute("return document.querySelector('.compose .editor').textContent;", vec![]).await;
    assert!(text.unwrap().as_str().unwrap_or_default().contains("Every word comes back."), "the text too");
    assert_eq!(client.execute(names, vec![]).await.unwrap(), serde_json::json!(["plan.txt"]), "the file too");
    client.enter_parent_frame().await.unwrap();
    screenshot(client, "9b-undone").await;
    // Sent again.
    send_from_frame(client, ".compose-panel iframe").await;
    wait_for_sent(client).await;
}

/// Waits for the message to be synced back into Sent with its file (read through the API with
/// the session).
async fn sent_here_with_file(client: &Client, subject: &str) {
    let files = "const done = arguments[arguments.length - 1]; \
         fetch('/api/v1/messages?kind=sent').then(r => r.json()).then(list => { \
           const m = list.data.find(m => m.subject === arguments[0]); \
           if (!m) { done(null); return; } \
           fetch(`/api/v1/messages/${m.id}`).then(r => r.json()).then(d => done(d.attachments.map(a => a.name))); \
         }).catch(() => done(null));";
    eventually(120, "the sent message in Sent with its file", || async {
        client.execute_async(files, vec![serde_json::json!(subject)]).await.unwrap() == serde_json::json!(["plan.txt"])
    })
    .await;
}
