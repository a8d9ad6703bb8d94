//! What the store benchmarks share: the user and mailbox a store is filled for, the default
//! provider endpoints the web server is built with, and percentiles of timings.

use anyhow::Context as _;
use mailroom_domain::{AccountId, DisplayName, EmailAddress, Password, Provider, Role, UserId};
use mailroom_store::{Connection, NewUser, Store};
use secrecy::SecretString;

/// The `p` percentile (0 to 1) of sorted figures, NaN when there are none.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// The provider endpoints of the default configuration (the web server is never asked to reach
/// them).
pub fn endpoints() -> anyhow::Result<mailroom_providers::Endpoints> {
    let config = mailroom_config::Config::load(None, &std::collections::HashMap::new())
        .map_err(|errors| anyhow::anyhow!("default configuration: {errors}"))?;
    Ok(mailroom_providers::Endpoints::from(&config))
}

/// The user and the Gmail mailbox the store is filled for.
pub async fn owner(store: &Store) -> anyhow::Result<(UserId, AccountId)> {
    let user = store
        .create_user(&NewUser {
            email: EmailAddress::parse("bench@mailroom.test").map_err(|e| anyhow::anyhow!("{e}"))?,
            name: DisplayName::parse("Bench").map_err(|e| anyhow::anyhow!("{e}"))?,
            password: Password::parse("bench password 1").map_err(|e| anyhow::anyhow!("{e}"))?,
            role: Role::Member,
        })
        .await?
        .context("a new user")?;
    let (access, refresh) = (SecretString::from("a"), SecretString::from("r"));
    let connection = Connection {
        user: user.id,
        provider: Provider::Google,
        remote_id: "bench",
        address: "bench@mailroom.test",
        display_name: None,
        identities: &[],
        access_token: &access,
        refresh_token: &refresh,
        expires_at: i64::MAX,
        scopes: &[],
        import_days: 0,
    };
    let (account, _) = store.connect_account(&connection, mailroom_store::now()).await?;
    Ok((user.id, account.id))
}
