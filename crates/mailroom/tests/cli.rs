#![allow(clippy::unwrap_used, reason = "a test that cannot go on should stop loudly")]

//! The `mailroom` binary as an administrator runs it: help, configuration errors, serving, user
//! creation, key checks, and PostgreSQL selected by the database URL.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

#[path = "cli/browser.rs"]
mod browser;
#[path = "cli/workspace.rs"]
mod workspace;

const PASSWORD: &str = "correct horse battery";

/// The binary, run in `dir` with no MAILROOM_* variables but those given.
fn mailroom(dir: &Path, env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mailroom"));
    command.current_dir(dir);
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("MAILROOM_")) {
        command.env_remove(key);
    }
    command.env("RUST_LOG", "info");
    command.envs(env.iter().copied());
    command
}

fn run(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    mailroom(dir, env).args(args).output().expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_documents_every_subcommand_and_setting() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &[], &["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for word in [
        "serve",
        "migrate",
        "user",
        "token",
        "backup",
        "restore",
        "doctor",
        "--data-dir",
        "MAILROOM_LISTEN",
        "MAILROOM_PUBLIC_URL",
        "MAILROOM_DATA_DIR",
        "MAILROOM_DATABASE_URL",
        "MAILROOM_SECRET_KEY",
        "MAILROOM_LOG_FORMAT",
        "MAILROOM_GOOGLE_TOKEN_URL",
        "MAILROOM_MICROSOFT_AUTH_URL",
    ] {
        assert!(help.contains(word), "{word} missing from --help:\n{help}");
    }
    let out = run(dir.path(), &[], &["user", "create", "--help"]);
    assert!(text(&out.stdout).contains("--admin"));
    let out = run(dir.path(), &[], &["serve", "--help"]);
    assert!(text(&out.stdout).contains("--listen") && text(&out.stdout).contains("--data-dir"));
    let out = run(dir.path(), &[], &["demo", "--help"]);
    assert!(text(&out.stdout).contains("--sim-listen") && text(&out.stdout).contains("--generate"));
}

#[test]
fn invalid_settings_are_all_reported_at_once_and_nothing_starts() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("mailroom.toml"), "lisen = \"x\"\n[google]\ntoken_url = \"not a url\"\n").unwrap();
    let env = [("MAILROOM_LISTEN", "nowhere"), ("MAILROOM_LOG_FORMAT", "xml"), ("MAILROOM_SECRET_KEY", "tooshort")];
    let out = run(dir.path(), &env, &["serve"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    for source in ["MAILROOM_LISTEN", "MAILROOM_LOG_FORMAT", "MAILROOM_SECRET_KEY", "lisen", "google.token_url"] {
        assert!(err.contains(source), "{source} missing from:\n{err}");
    }
    assert!(!err.contains("tooshort"), "the secret key is not echoed:\n{err}");
    assert!(!dir.path().join("mailroom-data").exists(), "nothing was created");
}

/// A running server; killed if the test fails before stopping it.
struct Server {
    child: std::process::Child,
    addr: String,
    log: std::sync::mpsc::Receiver<String>,
    seen: std::cell::RefCell<Vec<String>>,
}

impl Server {
    fn start(dir: &Path, env: &[(&str, &str)]) -> Server {
        let mut env = env.to_vec();
        env.push(("MAILROOM_LISTEN", "127.0.0.1:0"));
        Server::spawn(dir, &env, &["serve"])
    }

    fn spawn(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Server {
        let mut child = mailroom(dir, env).args(args).stderr(Stdio::piped()).spawn().expect("spawn");
        let stderr = child.stderr.take().unwrap();
        let (tx, log) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut server = Server { child, addr: String::new(), log, seen: Default::default() };
        let line = server.wait_for("Mailroom is running");
        // Text logs say `listen=ADDR`, JSON logs `"listen":"ADDR"`.
        let start = ["listen=", "\"listen\":\""]
            .iter()
            .find_map(|key| line.find(key).map(|i| i + key.len()))
            .expect("the address is logged");
        server.addr = line[start..].split([' ', '"']).next().unwrap().to_owned();
        server
    }

    fn wait_for(&self, needle: &str) -> String {
        loop {
            match self.log.recv_timeout(Duration::from_secs(30)) {
                Ok(raw) => {
                    let line = strip_ansi(&raw);
                    self.seen.borrow_mut().push(raw);
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(err) => panic!("no log line with {needle:?}: {err}"),
            }
        }
    }

    fn get(&self, path: &str) -> String {
        let mut stream = TcpStream::connect(&self.addr).expect("connect");
        write!(stream, "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", self.addr).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    }

    /// Sends SIGTERM and waits for the process; returns its status and every log line it wrote.
    fn terminate(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        self.wait_for("stopped");
        let status = self.child.wait().unwrap();
        (status, self.seen.take())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn serve_creates_its_data_answers_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    server.wait_for("/setup to create the first administrator");
    assert!(server.get("/healthz").starts_with("HTTP/1.1 200"));
    assert!(server.get("/readyz").starts_with("HTTP/1.1 200"));
    let root = server.get("/");
    assert!(root.starts_with("HTTP/1.1 303") && root.contains("location: /setup"), "{root}");
    let (status, _) = server.terminate();
    assert!(status.success(), "{status}");

    let data = dir.path().join("mailroom-data");
    assert!(data.join("mailroom.db").exists());
    let key = data.join("secret.key");
    assert_eq!(std::fs::read_to_string(&key).unwrap().trim().len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    }
}

#[test]
fn serve_flags_override_the_settings_and_logs_to_a_pipe_are_plain_text() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("MAILROOM_LISTEN", "127.0.0.1:1"), ("MAILROOM_DATA_DIR", "from-the-environment")];
    let server = Server::spawn(dir.path(), &env, &["serve", "--listen", "127.0.0.1:0", "--data-dir", "from-a-flag"]);
    assert!(server.get("/healthz").starts_with("HTTP/1.1 200"));
    let (status, lines) = server.terminate();
    assert!(status.success(), "{status}");
    assert!(dir.path().join("from-a-flag/mailroom.db").exists());
    assert!(!dir.path().join("from-the-environment").exists());
    // journald and log files show escape codes raw: standard error here is a pipe.
    assert!(lines.iter().all(|l| !l.contains('\u{1b}')), "{lines:?}");

    let out = run(dir.path(), &[], &["migrate", "--data-dir", "migrated-here"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(dir.path().join("migrated-here/mailroom.db").exists());
    let out = run(dir.path(), &[], &["demo", "--data-dir", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--data-dir"), "{}", text(&out.stderr));
}

#[test]
fn json_logs_are_json_and_hold_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let key = "ab".repeat(32);
    let server = Server::start(dir.path(), &[("MAILROOM_LOG_FORMAT", "json"), ("MAILROOM_SECRET_KEY", &key)]);
    let line = server.wait_for("first administrator");
    assert!(line.starts_with('{') && line.contains("\"level\":\"INFO\""), "{line}");
    server.get("/login?code=should-not-be-logged");
    let (status, lines) = server.terminate();
    assert!(status.success());
    assert!(lines.iter().all(|l| l.starts_with('{')), "{lines:?}");
    assert!(lines.iter().all(|l| !l.contains("should-not-be-logged") && !l.contains(&key)), "{lines:?}");
    assert!(!dir.path().join("mailroom-data/secret.key").exists(), "a given key writes no key file");
}

#[test]
fn user_create_makes_users_and_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &[("MAILROOM_USER_PASSWORD", PASSWORD)],
        &["user", "create", "--email", "Ann@Example.test", "--admin"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("created admin ann@example.test"));

    let out = run(dir.path(), &[], &["user", "create", "--email", "ann@example.test", "--password", PASSWORD]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("already exists"), "{}", text(&out.stderr));

    let out = run(dir.path(), &[], &["user", "create", "--email", "ben@example.test", "--password", "short"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--password: must be at least 12 characters"), "{}", text(&out.stderr));

    let out = run(dir.path(), &[], &["user", "create", "--email", "ben", "--password", PASSWORD]);
    assert!(text(&out.stderr).contains("--email: not a valid email address"), "{}", text(&out.stderr));
}

#[test]
fn token_create_prints_a_new_token_once_and_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &[], &["user", "create", "--email", "ann@example.test", "--password", PASSWORD]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let make = |email: &str, name: &str| run(dir.path(), &[], &["token", "create", "--email", email, "--name", name]);
    let out = make("Ann@Example.test", "CRM import");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let first = text(&out.stdout).trim().to_owned();
    assert!(first.starts_with("mr_") && first.len() == 46, "{first}");
    let out = make("ann@example.test", "Reports");
    let second = text(&out.stdout).trim().to_owned();
    assert!(second.starts_with("mr_") && second != first);
    assert!(!text(&out.stderr).contains(&second), "the token is not logged");

    let out = make("nobody@example.test", "CRM");
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("no user has the email nobody@example.test"), "{}", text(&out.stderr));
    assert!(text(&out.stdout).is_empty());
    let out = make("ann@example.test", "  ");
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--name: give 1 to 100 characters"), "{}", text(&out.stderr));
    let out = make("ann", "CRM");
    assert!(text(&out.stderr).contains("--email: not a valid email address"), "{}", text(&out.stderr));
}

#[test]
fn a_wrong_or_missing_key_stops_the_start_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &[], &["user", "create", "--email", "ann@example.test", "--password", PASSWORD]);
    assert!(out.status.success());
    let key_file = dir.path().join("mailroom-data/secret.key");
    let original = std::fs::read_to_string(&key_file).unwrap();

    let wrong = "cd".repeat(32);
    let out = run(dir.path(), &[("MAILROOM_SECRET_KEY", &wrong)], &["serve"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("is not the key this database's secrets were encrypted with"), "{err}");
    assert!(!err.contains(&wrong));

    std::fs::rename(&key_file, dir.path().join("moved.key")).unwrap();
    let out = run(dir.path(), &[], &["serve"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("no secret key was found"), "{}", text(&out.stderr));
    assert!(!key_file.exists(), "no new key replaces the lost one");
    std::fs::rename(dir.path().join("moved.key"), &key_file).unwrap();
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), original);
}

#[test]
fn the_database_url_selects_postgresql() {
    let admin_url = std::env::var("MAILROOM_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let name = format!("mailroom_cli_{}", std::process::id());
    let psql = |sql: &str, db: &str| {
        let mut url = url::Url::parse(&admin_url).unwrap();
        url.set_path(db);
        Command::new("psql").args([url.as_str(), "-Atqc", sql]).output()
    };
    match psql(&format!("CREATE DATABASE {name}"), "postgres") {
        Ok(out) if out.status.success() => {}
        result if std::env::var("CI").is_ok_and(|v| v == "true") => panic!("PostgreSQL is required in CI: {result:?}"),
        _ => {
            eprintln!("skipped: PostgreSQL is not reachable at {admin_url}");
            return;
        }
    }
    let mut url = url::Url::parse(&admin_url).unwrap();
    url.set_path(&name);
    let dir = tempfile::tempdir().unwrap();
    let env = [("MAILROOM_DATABASE_URL", url.as_str())];
    let out = run(dir.path(), &env, &["migrate"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(dir.path(), &env, &["user", "create", "--email", "ann@example.test", "--password", PASSWORD]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let server = Server::start(dir.path(), &env);
    assert!(server.get("/readyz").starts_with("HTTP/1.1 200"));
    assert!(server.terminate().0.success());

    let users = psql("SELECT email FROM users", &name).unwrap();
    let _ = psql(&format!("DROP DATABASE {name} WITH (FORCE)"), "postgres");
    assert_eq!(text(&users.stdout).trim(), "ann@example.test");
    assert!(!dir.path().join("mailroom-data/mailroom.db").exists(), "SQLite was not used");
}

/// Runs a long-lived subcommand, returns its stdout once `ready` appears on stderr, and the child.
fn spawn_until(dir: &Path, args: &[&str], ready: &str) -> (std::process::Child, String) {
    spawn_until_with(dir, &[], args, ready)
}

/// [`spawn_until`] with these environment settings.
fn spawn_until_with(dir: &Path, env: &[(&str, &str)], args: &[&str], ready: &str) -> (std::process::Child, String) {
    let mut child = mailroom(dir, env).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        assert!(std::time::Instant::now() < deadline, "no {ready:?} in time");
        match lines.next() {
            Some(Ok(line)) if strip_ansi(&line).contains(ready) => break,
            Some(Ok(_)) => {}
            _ => panic!("the process ended before {ready:?}"),
        }
    }
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut out = Vec::new();
    while let Ok(chunk) = rx.recv_timeout(Duration::from_millis(500)) {
        out.extend(chunk);
    }
    (child, text(&out))
}

fn http_get(addr: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// A child process stopped with SIGTERM when dropped, so that a failing test leaves none behind.
struct Stopping(Option<std::process::Child>);

impl Drop for Stopping {
    fn drop(&mut self) {
        if let Some(child) = self.0.take() {
            stop(child);
        }
    }
}

fn stop(mut child: std::process::Child) -> std::process::ExitStatus {
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    child.wait().unwrap()
}

#[test]
fn sim_prints_the_settings_mailroom_needs_and_serves_seeded_mailboxes() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "sim",
        "--listen",
        "127.0.0.1:0",
        "--users",
        "ann@example.test,microsoft:carl@contoso.onmicrosoft.com",
        "--generate",
        "5",
    ];
    let (child, out) = spawn_until(dir.path(), &args, "mailboxes are filled");
    let base = out.lines().next().and_then(|l| l.strip_prefix("mailroom-sim is listening on ")).expect(&out).to_owned();
    for setting in ["MAILROOM_GOOGLE_TOKEN_URL=", "MAILROOM_MICROSOFT_API_URL=", "Client Secret"] {
        assert!(out.contains(setting), "{setting} missing from:\n{out}");
    }
    let addr = base.trim_start_matches("http://");
    let state = http_get(addr, "/_sim/state");
    assert!(state.starts_with("HTTP/1.1 200"), "{state}");
    assert!(state.contains("\"messages\":5") && state.contains("carl@contoso.onmicrosoft.com"), "{state}");
    let consent =
        http_get(addr, "/google/o/oauth2/v2/auth?client_id=nobody&redirect_uri=x&response_type=code&scope=email");
    assert!(consent.starts_with("HTTP/1.1 401"), "{consent}");
    assert!(stop(child).success());
}

#[test]
fn sim_and_demo_listen_on_loopback_only() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["sim", "--listen", "0.0.0.0:0"][..],
        &["demo", "--listen", "0.0.0.0:0"],
        &["demo", "--listen", "127.0.0.1:0", "--sim-listen", "0.0.0.0:0"],
    ] {
        let out = run(dir.path(), &[], args);
        assert!(!out.status.success());
        assert!(text(&out.stderr).contains("loopback"), "{}", text(&out.stderr));
    }
}

#[test]
fn demo_runs_mailroom_with_both_providers_configured_and_an_administrator() {
    let dir = tempfile::tempdir().unwrap();
    let free = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (listen, sim_listen) = (format!("127.0.0.1:{}", free()), format!("127.0.0.1:{}", free()));
    let args = ["demo", "--listen", &listen, "--sim-listen", &sim_listen, "--generate", "3"];
    let (child, out) = spawn_until(dir.path(), &args, "Mailroom is running");
    assert!(out.contains("admin@mailroom.test") && out.contains("with the password "), "{out}");
    assert!(out.contains(&format!("Simulator  http://{sim_listen}")), "{out}");
    assert!(http_get(&sim_listen, "/_sim/state").starts_with("HTTP/1.1 200"));
    let data = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Data"))
        .map(|l| l.trim().split(' ').next().unwrap().to_owned())
        .expect(&out);
    assert!(Path::new(&data).join("mailroom.db").exists());
    assert!(http_get(&listen, "/readyz").starts_with("HTTP/1.1 200"));
    let login = http_get(&listen, "/login");
    assert!(login.starts_with("HTTP/1.1 200"), "the administrator exists, so setup is over: {login}");
    assert!(stop(child).success());
    assert!(!Path::new(&data).exists(), "the demo's data is removed when it stops");
}

#[test]
fn backup_copies_a_running_server_s_database_and_restore_needs_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    server.wait_for("first administrator");
    let env = [("MAILROOM_USER_PASSWORD", PASSWORD)];
    let created = run(dir.path(), &env, &["user", "create", "--email", "kept@example.test"]);
    assert!(created.status.success(), "{}", text(&created.stderr));

    let out = run(dir.path(), &[], &["backup", "--to", "copy.db"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.contains("backed up 1 user(s), 0 mailbox(es) and 0 message(s) to copy.db"), "{said}");
    assert!(said.contains("secret key is not in the backup") && said.contains("secret.key"), "{said}");
    let again = run(dir.path(), &[], &["backup", "--to", "copy.db"]);
    assert!(!again.status.success() && text(&again.stderr).contains("already exists"), "{}", text(&again.stderr));
    let (status, _) = server.terminate();
    assert!(status.success());

    // Into an empty data directory: refused without the key, then done with it.
    let refused = run(dir.path(), &[], &["restore", "--from", "copy.db", "--data-dir", "restored"]);
    assert!(!refused.status.success());
    assert!(text(&refused.stderr).contains("no secret key was found"), "{}", text(&refused.stderr));
    assert!(!dir.path().join("restored/mailroom.db").exists());
    std::fs::copy(dir.path().join("mailroom-data/secret.key"), dir.path().join("restored/secret.key")).unwrap();
    let out = run(dir.path(), &[], &["restore", "--from", "copy.db", "--data-dir", "restored"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("restored 1 user(s)"), "{}", text(&out.stdout));
    let twice = run(dir.path(), &[], &["restore", "--from", "copy.db", "--data-dir", "restored"]);
    assert!(!twice.status.success() && text(&twice.stderr).contains("already exists"), "{}", text(&twice.stderr));
    let same_user =
        run(dir.path(), &env, &["user", "create", "--email", "kept@example.test", "--data-dir", "restored"]);
    assert!(text(&same_user.stderr).contains("already exists"), "the user came back: {}", text(&same_user.stderr));

    let postgres = [("MAILROOM_DATABASE_URL", "postgres://postgres@127.0.0.1:1/none")];
    let out = run(dir.path(), &postgres, &["backup", "--to", "pg.db"]);
    assert!(!out.status.success() && text(&out.stderr).contains("pg_dump"), "{}", text(&out.stderr));
}

/// The settings `mailroom sim` prints for Mailroom, as environment variables.
fn sim_settings(out: &str) -> Vec<(String, String)> {
    out.lines()
        .filter_map(|l| l.trim().split_once('='))
        .filter(|(k, _)| k.starts_with("MAILROOM_"))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn doctor_checks_an_installation_against_the_simulator_and_says_what_to_fix() {
    use mailroom_domain::{ImportStart, MicrosoftTenant, OAuthClientId, SyncInterval};
    let dir = tempfile::tempdir().unwrap();
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let sim_listen = format!("127.0.0.1:{free}");
    let (sim, out) = spawn_until(dir.path(), &["sim", "--listen", &sim_listen], "mailboxes are filled");
    let _sim = Stopping(Some(sim));
    let settings = sim_settings(&out);
    assert!(settings.len() >= 5, "{out}");
    let mut env: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push(("MAILROOM_DATA_DIR", "data"));
    let doctor = |extra: &[(&str, &str)]| {
        let mut all = env.clone();
        all.extend_from_slice(extra);
        let out = run(dir.path(), &all, &["doctor"]);
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    };

    // A fresh installation: nothing wrong, nothing created.
    let (code, said, err) = doctor(&[]);
    assert_eq!(code, Some(0), "{said}{err}");
    assert!(said.contains("does not exist yet") && said.contains("no database at"), "{said}");
    assert!(said.contains("warning  Google endpoints point at 127.0.0.1"), "{said}");
    assert!(said.contains("/oauth/callback"), "the redirect URI is shown: {said}");
    assert!(!dir.path().join("data").exists(), "the doctor creates nothing");

    // Email settings with the right Google client and a wrong Microsoft secret.
    let data = dir.path().join("data");
    let save = |microsoft_secret: &str| {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let db =
                mailroom_store::Db::connect(&mailroom_store::DbTarget::Sqlite(data.join("mailroom.db"))).await.unwrap();
            db.migrate().await.unwrap();
            let key = mailroom_store::KeyInput { given: None, file: data.join("secret.key") };
            let store = mailroom_store::Store::unlock(db, key).await.unwrap();
            let update = |id: &str, secret: &str| mailroom_store::ProviderUpdate {
                enabled: true,
                client_id: Some(OAuthClientId::parse(id).unwrap()),
                new_secret: Some(secrecy::SecretString::from(secret.to_owned())),
                tenant: MicrosoftTenant::common(),
                secret_expires_at: None,
            };
            store
                .save_email_settings(
                    &update("mailroom-sim.apps.googleusercontent.com", "GOCSPX-mailroom-sim-secret"),
                    &update("5e3ce6c0-2b1f-4285-8d4b-75ee78787346", microsoft_secret),
                    SyncInterval::DEFAULT,
                    ImportStart::DEFAULT,
                )
                .await
                .unwrap();
            store.db().close().await;
        });
    };
    save("not the secret");
    let (code, said, _) = doctor(&[]);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("ok       Google accepts the client ID and secret"), "{said}");
    assert!(said.contains("PROBLEM  Microsoft refuses the client ID or secret"), "{said}");
    assert!(said.contains("opens the database's secrets"), "{said}");

    save("mailroom~sim~secret");
    let (code, said, _) = doctor(&[]);
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("ok       Microsoft accepts the client ID and secret"), "{said}");

    // Each of these is a problem of its own.
    let other_key = "cd".repeat(32);
    let (code, said, _) = doctor(&[("MAILROOM_SECRET_KEY", &other_key)]);
    assert_eq!(code, Some(1));
    assert!(said.contains("is not the key this database's secrets were encrypted with"), "{said}");
    let (code, said, _) = doctor(&[("MAILROOM_PUBLIC_URL", "http://mail.example.com")]);
    assert_eq!(code, Some(1));
    assert!(said.contains("PROBLEM  public URL http://mail.example.com is plain http on another host"), "{said}");
    let (code, said, _) = doctor(&[("MAILROOM_GOOGLE_TOKEN_URL", "http://tokens.example.com/token")]);
    assert_eq!(code, Some(1));
    assert!(said.contains("PROBLEM  Google endpoints over plain http"), "{said}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(data.join("secret.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
        let (code, said, _) = doctor(&[]);
        assert_eq!(code, Some(1));
        assert!(said.contains("warning  the data directory") && said.contains("chmod 700"), "{said}");
        assert!(said.contains("PROBLEM  the key file") && said.contains("chmod 600"), "{said}");
    }
}
