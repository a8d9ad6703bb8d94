//! How soon an action shows in the page, measured in Debian's Chromium through its chromedriver:
//! signed in with the benchmark's session, the inbox is opened, `j` keys its first conversation
//! and `e` archives it; the page's own clock gives the time to the next frame with the row gone
//! (what the user sees) and to the toast (the server has confirmed it). `z` undoes it before the
//! next sample, so the store stays as it was.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use fantoccini::ClientBuilder;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Archives timed.
const SAMPLES: usize = 30;

/// Milliseconds from `e` to the frame without the row, and to the server's answer, each sorted.
pub async fn action_shown(base: &str, session: &str) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    anyhow::ensure!(
        std::path::Path::new(CHROMEDRIVER).exists(),
        "--browser needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut driver = tokio::process::Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        anyhow::ensure!(Instant::now() < deadline, "chromedriver did not listen in time");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let profile = tempfile::tempdir()?;
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1440,900", format!("--user-data-dir={}", profile.path().display())],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = ClientBuilder::new(connector)
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .context("a browser session")?;
    let measured = measure(&client, base, session).await;
    let _ = client.close().await;
    let _ = driver.kill().await;
    measured
}

async fn measure(client: &fantoccini::Client, base: &str, session: &str) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    client.goto(&format!("{base}/healthz")).await?;
    // Set by the page (chromedriver refuses a cookie for an IP address).
    client
        .execute("document.cookie = `mailroom_session=${arguments[0]}; path=/`;", vec![serde_json::json!(session)])
        .await?;
    let (mut shown, mut confirmed) = (Vec::with_capacity(SAMPLES), Vec::with_capacity(SAMPLES));
    for _ in 0..SAMPLES {
        client.goto(&format!("{base}/mail")).await?;
        let times = client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 const key = (k) => document.body.dispatchEvent(new KeyboardEvent('keydown', { key: k, bubbles: true }));
                 key('j');
                 const row = document.querySelector('.rows .row.keyed');
                 const toast = document.querySelector('.toast');
                 const start = performance.now();
                 key('e');
                 requestAnimationFrame(() => {
                   const shown = performance.now() - start;
                   if (!row.classList.contains('leaving')) { done(null); return; }
                   const wait = () => {
                     if (toast.querySelector('button')) {
                       const confirmed = performance.now() - start;
                       key('z');
                       const undone = () => toast.textContent && !toast.querySelector('button') ? done([shown, confirmed]) : setTimeout(undone, 5);
                       setTimeout(undone, 5);
                     } else setTimeout(wait, 1);
                   };
                   wait();
                 });",
                vec![],
            )
            .await?;
        let times = times.as_array().context("the row did not leave the list at once")?;
        shown.push(times[0].as_f64().unwrap_or(f64::NAN));
        confirmed.push(times[1].as_f64().unwrap_or(f64::NAN));
    }
    shown.sort_by(f64::total_cmp);
    confirmed.sort_by(f64::total_cmp);
    Ok((shown, confirmed))
}
