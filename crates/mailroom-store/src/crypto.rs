//! Sealing secrets at rest with XChaCha20-Poly1305. The 24-byte nonce is random per value, which is
//! safe at any volume with this cipher. What the value is for goes in the associated data, so a
//! sealed value copied into another row or column does not open.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

/// Format version, first byte of every sealed value.
const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;

/// The install's 32-byte secret key.
pub struct SecretKey(Zeroizing<[u8; 32]>);

impl SecretKey {
    /// Parses 64 hexadecimal characters.
    pub fn from_hex(text: &str) -> Option<SecretKey> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text.trim(), bytes.as_mut_slice()).ok()?;
        Some(SecretKey(bytes))
    }

    pub fn generate() -> SecretKey {
        let mut bytes = Zeroizing::new([0u8; 32]);
        fill_random(bytes.as_mut_slice());
        SecretKey(bytes)
    }

    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.0.as_slice()))
    }

    /// HMAC-SHA-256 of `purpose` under the key: independent keys for independent uses.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256>>::new_from_slice(self.0.as_slice()).expect("HMAC takes keys of any length");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("sealed value is malformed")]
    Malformed,
    #[error("sealed value does not open with this key")]
    WrongKey,
}

/// Seals and opens values with the secret key.
pub struct Cipher(XChaCha20Poly1305);

impl Cipher {
    pub fn new(key: &SecretKey) -> Cipher {
        Cipher(XChaCha20Poly1305::new(&(*key.0).into()))
    }

    /// `VERSION || nonce || ciphertext+tag`.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce);
        let ciphertext = self
            .0
            .encrypt(&XNonce::from(nonce), Payload { msg: plaintext, aad })
            .expect("XChaCha20-Poly1305 encrypts any message that fits in memory");
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        sealed.push(VERSION);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let [VERSION, rest @ ..] = sealed else {
            return Err(CryptoError::Malformed);
        };
        if rest.len() < NONCE_LEN {
            return Err(CryptoError::Malformed);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError::Malformed)?;
        self.0
            .decrypt(&XNonce::from(nonce), Payload { msg: ciphertext, aad })
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::WrongKey)
    }
}

/// Fills `buf` from the operating system's generator. Without it nothing here is safe, so its
/// absence is fatal.
pub(crate) fn fill_random(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the operating system's random generator is unavailable");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_value_opens_with_the_same_key_and_purpose() {
        let cipher = Cipher::new(&SecretKey::generate());
        let sealed = cipher.seal(b"client secret", b"purpose");
        assert_eq!(cipher.open(&sealed, b"purpose").unwrap().as_slice(), b"client secret");
        assert!(!sealed.windows(6).any(|w| w == b"client"));
    }

    #[test]
    fn sealed_value_does_not_open_with_another_key_or_purpose() {
        let cipher = Cipher::new(&SecretKey::generate());
        let sealed = cipher.seal(b"client secret", b"purpose");
        assert_eq!(cipher.open(&sealed, b"other").err(), Some(CryptoError::WrongKey));
        let other = Cipher::new(&SecretKey::generate());
        assert_eq!(other.open(&sealed, b"purpose").err(), Some(CryptoError::WrongKey));
        assert_eq!(cipher.open(&sealed[..10], b"purpose").err(), Some(CryptoError::Malformed));
        assert_eq!(cipher.open(b"", b"purpose").err(), Some(CryptoError::Malformed));
    }

    #[test]
    fn the_same_value_seals_differently_each_time() {
        let cipher = Cipher::new(&SecretKey::generate());
        assert_ne!(cipher.seal(b"x", b"p"), cipher.seal(b"x", b"p"));
    }

    #[test]
    fn key_round_trips_through_hex_and_refuses_bad_hex() {
        let key = SecretKey::generate();
        let again = SecretKey::from_hex(&key.to_hex()).unwrap();
        assert_eq!(key.derive("x"), again.derive("x"));
        assert_ne!(key.derive("x"), key.derive("y"));
        assert!(SecretKey::from_hex("abc").is_none());
        assert!(SecretKey::from_hex(&"zz".repeat(32)).is_none());
    }
}
