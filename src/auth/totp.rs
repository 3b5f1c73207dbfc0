//! Two-factor authentication by TOTP (RFC 6238: SHA-1, 6 digits, 30 s
//! steps; README, "Accounts"): a new secret, kept encrypted, its
//! `otpauth://` URI, checking a code (±1 step) into the time step it is
//! for (the store accepts each step once), and recovery codes (80 random
//! bits each, stored only as SHA-256 hashes).
//!
//! The secret is encrypted with XChaCha20-Poly1305 under a key derived
//! from the access-token key (`JWT_SECRET`, or the one kept in the
//! database), so a copy of the database alone does not reveal it; the
//! server needs it in the clear to check codes, so it is decrypted only
//! for that (docs/SECURITY.md).

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Secret, TOTP};

/// Seconds per time step.
pub const STEP_SECS: u64 = 30;
const DIGITS: usize = 6;
/// Secret length: 160 bits, as RFC 4226 recommends.
const SECRET_BYTES: usize = 20;
/// Recovery codes given at confirmation.
pub const RECOVERY_CODES: usize = 10;
const NONCE_BYTES: usize = 24;
/// The issuer shown by authenticator apps.
const ISSUER: &str = "Parley";

/// The key that encrypts TOTP secrets, derived from the server's key.
#[derive(Clone)]
pub struct TotpKey(chacha20poly1305::Key);

impl TotpKey {
    pub fn derive(server_secret: &[u8]) -> Self {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(server_secret)
            .expect("HMAC takes a key of any length");
        mac.update(b"parley totp secret encryption v1");
        TotpKey(mac.finalize().into_bytes())
    }

    /// A new secret: (encrypted for the store, base32 for the person).
    pub fn new_secret(&self) -> (Vec<u8>, String) {
        let mut secret = [0u8; SECRET_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = XChaCha20Poly1305::new(&self.0)
            .encrypt(XNonce::from_slice(&nonce), secret.as_slice())
            .expect("encryption of a short secret cannot fail");
        let mut stored = nonce.to_vec();
        stored.extend_from_slice(&sealed);
        (stored, base32(&secret))
    }

    /// The secret kept by [`TotpKey::new_secret`]; None if it does not
    /// open (the server's key changed, or the bytes were altered).
    pub fn open(&self, stored: &[u8]) -> Option<Vec<u8>> {
        if stored.len() <= NONCE_BYTES {
            return None;
        }
        let (nonce, sealed) = stored.split_at(NONCE_BYTES);
        XChaCha20Poly1305::new(&self.0)
            .decrypt(XNonce::from_slice(nonce), sealed)
            .ok()
    }
}

fn base32(secret: &[u8]) -> String {
    match Secret::Raw(secret.to_vec()).to_encoded() {
        Secret::Encoded(s) => s,
        Secret::Raw(_) => unreachable!("to_encoded encodes"),
    }
}

/// `otpauth://totp/Parley:alice?secret=…&issuer=Parley…` for an
/// authenticator app (usernames need no escaping: `[A-Za-z0-9_.-]`).
pub fn otpauth_uri(username: &str, base32_secret: &str) -> String {
    format!(
        "otpauth://totp/{ISSUER}:{username}?secret={base32_secret}&issuer={ISSUER}\
         &algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}"
    )
}

/// The time step of `code` for `secret` at `now` (unix seconds), looking
/// one step back and one ahead; None if it matches none of them. Codes
/// are compared in constant time.
pub fn step_of(secret: &[u8], code: &str, now: u64) -> Option<i64> {
    let code = code.trim();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let totp = TOTP::new(Algorithm::SHA1, DIGITS, 1, STEP_SECS, secret.to_vec()).ok()?;
    let current = now / STEP_SECS;
    let mut found = None;
    for step in [current.saturating_sub(1), current, current + 1] {
        let expected = totp.generate(step * STEP_SECS);
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
            found = Some(step as i64);
        }
    }
    found
}

/// Ten new recovery codes (`xxxx-xxxx-xxxx-xxxx`, 80 random bits each) and
/// their hashes.
pub fn recovery_codes() -> (Vec<String>, Vec<Vec<u8>>) {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789"; // 32: no 0/o, 1/l
    let codes: Vec<String> = (0..RECOVERY_CODES)
        .map(|_| {
            let mut bytes = [0u8; 16];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            let chars: Vec<char> = bytes
                .iter()
                .map(|b| ALPHABET[(b & 31) as usize] as char)
                .collect();
            chars
                .chunks(4)
                .map(|c| c.iter().collect::<String>())
                .collect::<Vec<_>>()
                .join("-")
        })
        .collect();
    let hashes = codes.iter().map(|c| recovery_hash(c)).collect();
    (codes, hashes)
}

/// The stored hash of a recovery code as typed (case, spaces and dashes
/// ignored); None when it cannot be one.
pub fn recovery_hash_of_input(input: &str) -> Option<Vec<u8>> {
    let plain: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (plain.len() == 16 && plain.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then(|| Sha256::digest(plain.as_bytes()).to_vec())
}

fn recovery_hash(code: &str) -> Vec<u8> {
    recovery_hash_of_input(code).expect("a generated code is well formed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_opens_only_with_its_key() {
        let key = TotpKey::derive(b"0123456789abcdef0123456789abcdef");
        let (stored, shown) = key.new_secret();
        let secret = key.open(&stored).unwrap();
        assert_eq!(base32(&secret), shown);
        assert!(
            !stored.windows(secret.len()).any(|w| w == secret),
            "stored encrypted"
        );
        let other = TotpKey::derive(b"another-secret-another-secret-xx");
        assert_eq!(other.open(&stored), None);
        let mut altered = stored.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(key.open(&altered), None);
    }

    #[test]
    fn codes_match_their_step_with_one_step_of_skew() {
        // RFC 6238, appendix B: SHA-1, T = 59 s → 94287082 (8 digits; 6: 287082).
        let secret = b"12345678901234567890";
        assert_eq!(step_of(secret, "287082", 59), Some(1));
        assert_eq!(step_of(secret, "287082", 59 + 30), Some(1), "one step late");
        assert_eq!(step_of(secret, "287082", 0), Some(1), "one step early");
        assert_eq!(step_of(secret, "287082", 59 + 60), None, "two steps late");
        assert_eq!(step_of(secret, "28708", 59), None);
        assert_eq!(step_of(secret, "28708a", 59), None);
    }

    #[test]
    fn recovery_codes_are_distinct_and_typed_loosely() {
        let (codes, hashes) = recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), RECOVERY_CODES);
        assert_eq!(codes[0].len(), 19);
        let typed = codes[0].to_uppercase().replace('-', " ");
        assert_eq!(recovery_hash_of_input(&typed).as_ref(), Some(&hashes[0]));
        assert_eq!(recovery_hash_of_input("123456"), None);
    }
}
