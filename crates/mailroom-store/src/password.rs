//! Argon2id password hashes (PHC strings), computed off the async threads because each costs tens
//! of milliseconds of CPU by design.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use mailroom_domain::Password;

use crate::StoreError;

pub(crate) async fn hash(password: &Password) -> Result<String, StoreError> {
    let password = password.clone();
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.expose().as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|err| StoreError::Hashing(err.to_string()))
    })
    .await
    .map_err(|err| StoreError::Hashing(err.to_string()))?
}

/// Whether `password` matches `phc`. An unreadable hash matches nothing.
pub(crate) async fn verify(password: &str, phc: String) -> bool {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&phc)
            .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// A hash of a random password nobody knows, verified when the email is unknown so that a failed
/// login takes as long whether or not the account exists. Made once per process.
pub(crate) async fn decoy_hash() -> Result<String, StoreError> {
    static DECOY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    DECOY
        .get_or_try_init(|| async {
            let mut random = [0u8; 24];
            crate::crypto::fill_random(&mut random);
            let password = Password::parse(&hex::encode(random)).map_err(|err| StoreError::Hashing(err.to_string()))?;
            hash(&password).await
        })
        .await
        .cloned()
}
