//! `mailroom sim` and `mailroom demo`: the simulator on its own, and the simulator with a
//! configured Mailroom in one process. The only production code that uses `mailroom-sim`.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use mailroom_config::Config;
use mailroom_domain::{
    DisplayName, EmailAddress, ImportStart, MicrosoftTenant, OAuthClientId, Password, Role, SyncInterval,
};
use mailroom_sim::{ProviderKind, RunningSim, SimClient, SimConfig, SimState, SimUser, seed};
use mailroom_store::{NewUser, ProviderUpdate};
use secrecy::SecretString;

use crate::report;

pub const GOOGLE_CLIENT_ID: &str = "mailroom-sim.apps.googleusercontent.com";
pub const GOOGLE_CLIENT_SECRET: &str = "GOCSPX-mailroom-sim-secret";
pub const MICROSOFT_CLIENT_ID: &str = "5e3ce6c0-2b1f-4285-8d4b-75ee78787346";
pub const MICROSOFT_CLIENT_SECRET: &str = "mailroom~sim~secret";
const DEFAULT_USERS: &str = "ann@example.test,ben@example.test,microsoft:carl@contoso.onmicrosoft.com";

#[derive(clap::Args)]
pub struct SimArgs {
    /// Address to listen on; must be a loopback address.
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// A folder or tarball (.tar, .tar.gz) of .eml files to deal out to the users' mailboxes;
    /// without it, generated mail fills them.
    #[arg(long)]
    seed: Option<PathBuf>,
    /// Generated messages per user when no --seed is given.
    #[arg(long, default_value_t = 60)]
    generate: usize,
    /// The simulated users, comma-separated; `microsoft:` or `google:` before an address picks the
    /// provider (Microsoft's consumer and onmicrosoft.com domains default to Microsoft).
    #[arg(long, default_value = DEFAULT_USERS, value_delimiter = ',')]
    users: Vec<String>,
    /// Consent at once on the authorization pages instead of showing them (for scripts).
    #[arg(long)]
    auto_consent: bool,
    /// The redirect URI registered for the simulated OAuth clients.
    #[arg(long, default_value = "http://127.0.0.1:8080/oauth/callback")]
    redirect_uri: String,
    /// Seed of the simulator's random choices (tokens, ids, injected faults).
    #[arg(long, default_value_t = 1)]
    random_seed: u64,
}

#[derive(clap::Args)]
pub struct DemoArgs {
    /// Address Mailroom listens on; must be a loopback address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Address the simulator of Google and Microsoft listens on; must be a loopback address. The
    /// port after Mailroom's when omitted (127.0.0.1:8081 with the defaults).
    #[arg(long)]
    sim_listen: Option<SocketAddr>,
    /// Generated messages per simulated mailbox.
    #[arg(long, default_value_t = 80)]
    generate: usize,
}

fn require_loopback(addr: SocketAddr, what: &str) -> anyhow::Result<()> {
    anyhow::ensure!(addr.ip().is_loopback(), "{what} listens on loopback addresses only, not {}", addr.ip());
    Ok(())
}

/// Starts a simulator with users, clients and mail.
async fn start_sim(
    listen: SocketAddr,
    config: SimConfig,
    users: &[String],
    redirect_uri: &str,
    mail: Option<&PathBuf>,
    generate: usize,
) -> anyhow::Result<RunningSim> {
    let state = SimState::new(config);
    let mut emails = Vec::new();
    for spec in users {
        let user = SimUser::parse(spec).with_context(|| format!("--users: {spec:?} is not an address"))?;
        emails.push(user.email.clone());
        state.add_user(user);
    }
    for (provider, client_id, client_secret) in [
        (ProviderKind::Google, GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET),
        (ProviderKind::Microsoft, MICROSOFT_CLIENT_ID, MICROSOFT_CLIENT_SECRET),
    ] {
        state.add_client(SimClient {
            provider,
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            redirect_uris: vec![redirect_uri.to_owned()],
        });
    }
    let report = match mail {
        Some(path) => seed::seed(&state, &emails, seed::read_emls(path)?)?,
        // Generated mail is addressed to its owner, so each user gets their own.
        None => {
            let mut total = seed::SeedReport::default();
            for (i, email) in (1u64..).zip(&emails) {
                total.messages +=
                    seed::seed(&state, std::slice::from_ref(email), seed::generate(i, generate, email))?.messages;
            }
            total
        }
    };
    let running = RunningSim::start(listen, state).await.with_context(|| format!("cannot listen on {listen}"))?;
    tracing::info!(messages = report.messages, users = emails.len(), "the simulator's mailboxes are filled");
    Ok(running)
}

pub async fn sim(args: SimArgs, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    require_loopback(args.listen, "the simulator")?;
    let config = SimConfig {
        auto_consent: args.auto_consent,
        faults: mailroom_sim::Faults { seed: args.random_seed, ..Default::default() },
        ..SimConfig::default()
    };
    let running =
        start_sim(args.listen, config, &args.users, &args.redirect_uri, args.seed.as_ref(), args.generate).await?;
    let base = running.base_url();
    let mut out = format!("mailroom-sim is listening on {base}\n\nUsers:\n");
    for user in running.state.world().users.values() {
        out.push_str(&format!("  {:<10} {}\n", format!("{:?}", user.user.provider).to_lowercase(), user.user.email));
    }
    out.push_str("\nPoint Mailroom at it with these settings:\n");
    for (name, value) in mailroom_sim::mailroom_endpoints(&base) {
        out.push_str(&format!("  {name}={value}\n"));
    }
    out.push_str(&format!(
        "\nand enter on Mailroom's email settings page (redirect URI {}):\n  Google:    Client ID {GOOGLE_CLIENT_ID}, Client Secret {GOOGLE_CLIENT_SECRET}\n  \
         Microsoft: Client ID {MICROSOFT_CLIENT_ID}, Client Secret {MICROSOFT_CLIENT_SECRET}, tenant common\n\n\
         Control API: {base}/_sim/state",
        args.redirect_uri
    ));
    report(&out);
    shutdown.await;
    running.stop().await;
    Ok(())
}

pub async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    require_loopback(args.listen, "the demo")?;
    let data_dir = std::env::temp_dir().join(format!("mailroom-demo-{}", std::process::id()));
    let public_url = format!("http://{}", args.listen);
    let redirect_uri = format!("{public_url}/oauth/callback");
    let users: Vec<String> = DEFAULT_USERS.split(',').map(str::to_owned).collect();
    let sim_listen = args.sim_listen.unwrap_or_else(|| {
        // Port 0 (any free port) stays 0.
        let port = if args.listen.port() == 0 { 0 } else { args.listen.port().saturating_add(1) };
        SocketAddr::new(args.listen.ip(), port)
    });
    require_loopback(sim_listen, "the demo's simulator")?;
    let running = start_sim(sim_listen, SimConfig::default(), &users, &redirect_uri, None, args.generate).await?;

    let mut env: HashMap<String, String> = HashMap::from([
        ("MAILROOM_LISTEN".to_owned(), args.listen.to_string()),
        ("MAILROOM_PUBLIC_URL".to_owned(), public_url.clone()),
        ("MAILROOM_DATA_DIR".to_owned(), data_dir.display().to_string()),
    ]);
    env.extend(mailroom_sim::mailroom_endpoints(&running.base_url()).into_iter().map(|(k, v)| (k.to_owned(), v)));
    // The demo sets everything itself but what a user tries out: how long Send can be undone.
    if let Ok(seconds) = std::env::var("MAILROOM_SEND_UNDO_SECONDS") {
        env.insert("MAILROOM_SEND_UNDO_SECONDS".to_owned(), seconds);
    }
    let config = Config::load(None, &env).map_err(|errors| anyhow::anyhow!("demo configuration: {errors}"))?;
    let store = crate::open_store(&config).await?;

    let password = mailroom_store::random_token()[..16].to_owned();
    let admin = NewUser {
        email: EmailAddress::parse("admin@mailroom.test").map_err(|e| anyhow::anyhow!("{e}"))?,
        name: DisplayName::parse("Demo Administrator").map_err(|e| anyhow::anyhow!("{e}"))?,
        password: Password::parse(&password).map_err(|e| anyhow::anyhow!("{e}"))?,
        role: Role::Admin,
    };
    store.create_user(&admin).await?;
    let update = |client_id: &str, secret: &str| -> anyhow::Result<ProviderUpdate> {
        Ok(ProviderUpdate {
            enabled: true,
            client_id: Some(OAuthClientId::parse(client_id).map_err(|e| anyhow::anyhow!("{e}"))?),
            new_secret: Some(SecretString::from(secret.to_owned())),
            tenant: MicrosoftTenant::common(),
            secret_expires_at: None,
        })
    };
    store
        .save_email_settings(
            &update(GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET)?,
            &update(MICROSOFT_CLIENT_ID, MICROSOFT_CLIENT_SECRET)?,
            SyncInterval::DEFAULT,
            ImportStart::DEFAULT,
        )
        .await?;

    report(&format!(
        "Mailroom demo\n\n  Open       {public_url}\n  Sign in as admin@mailroom.test with the password {password}\n  \
         Simulator  {} (Google users ann@example.test, ben@example.test; Microsoft user carl@contoso.onmicrosoft.com)\n  \
         Data       {} (deleted when the demo stops)\n",
        running.base_url(),
        data_dir.display()
    ));
    let result = crate::run_server(config, store).await;
    running.stop().await;
    let _ = std::fs::remove_dir_all(&data_dir);
    result
}
