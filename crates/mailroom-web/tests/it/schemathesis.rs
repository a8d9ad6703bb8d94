//! The API against its own OpenAPI document, by schemathesis (from PyPI): thousands of requests
//! generated from the document, valid and not, sent to the real router over HTTP with a user's
//! token and their synced mailbox behind it, every answer checked against the document (no
//! server error, statuses, content types, headers and bodies as documented, valid input taken,
//! invalid refused, nothing reachable without the token). Failures that are accepted are listed
//! in `schemathesis-baseline.json` beside this file, each with its reason in
//! `schemathesis-accepted.md`; `schemathesis.toml` holds what the checks are told of the API.
//!
//! The run is the same every time (a fixed seed and number of cases, one worker, no example
//! database), so a failure in CI is one to reproduce. Its summary (operations tested, test
//! cases generated, failures, accepted failures met) is written to the test's standard error
//! even when cargo captures the output, and the whole report to
//! `target/tmp/schemathesis-<database>.txt`.

use std::fs::File;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::Backend;
use crate::workspace::setup;

crate::on_both_databases!(schemathesis:
    the_api_answers_as_its_openapi_document_says,
);

/// The version CI installs; another may generate other cases or check otherwise.
const VERSION: &str = "4.32.5";
/// Fixed, so that every run sends the same requests.
const SEED: &str = "20261207";
/// Most test cases per operation: about a minute per database in a debug build, the two
/// databases side by side.
const EXAMPLES: &str = "200";
/// A run still going after this has hung; it is stopped and the test fails.
const HANG: Duration = Duration::from_secs(600);

/// A file kept beside this test.
fn beside(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it").join(name)
}

/// How schemathesis is run: the module of its command line, through the Python it was
/// installed for, when that is the version CI installs.
fn schemathesis() -> Option<Command> {
    let mut probe = Command::new("python3");
    probe.args(["-m", "schemathesis.cli", "--version"]);
    let found = probe.output().is_ok_and(|out| {
        let version = String::from_utf8_lossy(&out.stdout);
        out.status.success() && version.trim_end().ends_with(&format!("version {VERSION}"))
    });
    found.then(|| {
        let mut command = Command::new("python3");
        command.args(["-m", "schemathesis.cli"]);
        command
    })
}

/// Every failure the baseline accepts has its reason in `schemathesis-accepted.md`, under a
/// heading that names its id, and every reason given there is for an entry of the baseline.
fn accepted_failures_are_each_explained() -> usize {
    let baseline: Value = serde_json::from_str(&std::fs::read_to_string(beside("schemathesis-baseline.json")).unwrap())
        .expect("the baseline is JSON");
    let reasons = std::fs::read_to_string(beside("schemathesis-accepted.md")).unwrap();
    let entries = baseline["entries"].as_array().expect("the baseline lists entries");
    let ids: Vec<&str> = entries.iter().map(|e| e["id"].as_str().expect("each entry has its id")).collect();
    let explained: Vec<&str> =
        reasons.lines().filter_map(|l| l.strip_prefix("## ")).filter_map(|h| h.split('`').nth(1)).collect();
    for id in &ids {
        assert!(explained.contains(id), "baseline entry {id} has no reason in schemathesis-accepted.md");
    }
    for id in &explained {
        assert!(ids.contains(id), "schemathesis-accepted.md explains {id}, which the baseline does not hold");
    }
    ids.len()
}

async fn the_api_answers_as_its_openapi_document_says(backend: Backend) {
    let accepted = accepted_failures_are_each_explained();
    let Some(mut command) = schemathesis() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "schemathesis {VERSION} is required in CI: pip install schemathesis=={VERSION}"
        );
        return eprintln!("skipped: schemathesis {VERSION} is not installed (pip install schemathesis=={VERSION})");
    };
    let Some(mut s) = setup(backend, "google", 12).await else { return };
    // Something of every kind for the calls that take an id: a tag, a draft, a submission, and a
    // message with an attachment and an inline image.
    let (status, _) = s.post("/api/v1/tags", json!({"name": "Clients", "color": "blue"})).await;
    assert_eq!(status, 201);
    let account = s.account.id.0;
    let draft = json!({"account_id": account, "to": ["x@example.org"], "subject": "Draft", "text": "x"});
    assert_eq!(s.post("/api/v1/drafts", draft).await.0, 201);
    let send = json!({"account_id": account, "idempotency_key": "k1", "to": ["x@example.org"], "text": "hi"});
    assert_eq!(s.post("/api/v1/messages/send", send).await.0, 202);
    {
        let now = s.sim.state.clock().now_ms();
        let raw = "From: Jana <jana@example.org>\r\nTo: ann@example.test\r\nSubject: Logo and report\r\n\
                   Message-ID: <logo@example.org>\r\nDate: Tue, 1 Oct 2024 10:00:00 +0000\r\n\
                   Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n\
                   <p>Our logo: <img src=\"cid:logo\"></p>\r\n--b\r\nContent-Type: image/png\r\n\
                   Content-ID: <logo>\r\nContent-Disposition: inline; filename=logo.png\r\n\r\nPNG\r\n--b\r\n\
                   Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=report.pdf\r\n\r\n\
                   %PDF\r\n--b--\r\n";
        s.sim.state.world().gmail("ann@example.test").unwrap().deliver(raw.as_bytes().to_vec(), &["INBOX"], now);
    }
    s.run().await;

    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = s.app.router.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>()).await.unwrap();
    });
    let base = format!("http://{address}/api/v1");
    let token = s.api.authorization.clone().unwrap();
    let report = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("schemathesis-{backend:?}.txt").to_lowercase());
    let out = File::create(&report).unwrap();
    command
        .arg("--config-file")
        .arg(beside("schemathesis.toml"))
        .arg("run")
        .arg(format!("{base}/openapi.json"))
        .args(["--url", &base])
        .args(["--header", &format!("Authorization: {token}")])
        .args(["--checks", "all"])
        .args(["--max-examples", EXAMPLES])
        .args(["--seed", SEED])
        // One worker: with two, the order of their requests varies from run to run, and a run once
        // failed on an internal error of hypothesis's (reading a lambda's source in two threads).
        .args(["--workers", "1"])
        // Cases found by an earlier run would be tried again, so no two runs would be alike.
        .args(["--generation-database", "none"])
        .arg("--baseline")
        .arg(beside("schemathesis-baseline.json"))
        .args(["--no-color", "--output-truncate", "false"])
        .env("SCHEMATHESIS_HOOKS", "")
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .current_dir(std::env::temp_dir());
    let mut child = command.spawn().expect("schemathesis starts");
    let status = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return Some(status);
            }
            if started.elapsed() > HANG {
                child.kill().unwrap();
                child.wait().unwrap();
                return None;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    })
    .await
    .unwrap();
    server.abort();

    let printed = std::fs::read_to_string(&report).unwrap();
    let summary: Vec<&str> = printed.lines().skip_while(|l| !l.contains("SUMMARY")).collect();
    // Straight to the standard error, past cargo's capture, so that CI's log shows the figures of
    // a run that passed too.
    let mut stderr = std::io::stderr().lock();
    writeln!(
        stderr,
        "schemathesis on {backend:?} (seed {SEED}, {EXAMPLES} examples, {accepted} accepted failures listed; \
         the whole report in {}):\n{}",
        report.display(),
        summary.join("\n")
    )
    .unwrap();
    let status = status.unwrap_or_else(|| panic!("schemathesis ran longer than {HANG:?}:\n{printed}"));
    assert!(status.success(), "schemathesis found failures:\n{printed}");
}
