//! The VAPID key (RFC 8292) that signs every push: `VAPID_PRIVATE_KEY`, or
//! one generated at the first start and kept in the database, so every
//! instance and restart signs with the same key (docs/SECURITY.md, "Web
//! Push").

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde::Serialize;

use crate::store::DynStore;

/// The `server_settings` name of the generated key (PKCS#8, base64url).
pub const VAPID_KEY_SETTING: &str = "vapid_private_key";

/// How long one VAPID token is valid (RFC 8292 allows at most 24 h).
const TOKEN_TTL_SECS: i64 = 12 * 3600;

#[derive(Debug, thiserror::Error)]
pub enum VapidError {
    #[error("VAPID_PRIVATE_KEY is neither PEM nor base64url: {0}")]
    Encoding(String),
    #[error("VAPID_PRIVATE_KEY is not a PKCS#8 P-256 key with its public key")]
    NotP256,
    #[error("keeping the generated VAPID key failed: {0}")]
    Store(#[from] crate::store::StoreError),
}

/// The signing key and its public half.
pub struct VapidKey {
    encoding: EncodingKey,
    /// The uncompressed P-256 point (65 bytes), base64url: what browsers
    /// pass as `applicationServerKey`.
    public_b64: String,
    subject: String,
}

#[derive(Serialize)]
struct Claims<'a> {
    aud: &'a str,
    exp: i64,
    sub: &'a str,
}

impl VapidKey {
    /// The configured key, else the one kept in the database (generated
    /// and kept by the first instance that needs it).
    pub async fn load(
        configured: Option<&str>,
        subject: &str,
        store: &DynStore,
    ) -> Result<Self, VapidError> {
        let der = match configured {
            Some(text) => decode_key(text)?,
            None => {
                let proposed = EcdsaKeyPair::generate_pkcs8(
                    &ECDSA_P256_SHA256_FIXED_SIGNING,
                    &SystemRandom::new(),
                )
                .map_err(|_| VapidError::NotP256)?;
                let kept = store
                    .keep_setting(
                        VAPID_KEY_SETTING,
                        &URL_SAFE_NO_PAD.encode(proposed.as_ref()),
                    )
                    .await?;
                decode_key(&kept)?
            }
        };
        Self::from_pkcs8(&der, subject)
    }

    fn from_pkcs8(der: &[u8], subject: &str) -> Result<Self, VapidError> {
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &SystemRandom::new())
                .map_err(|_| VapidError::NotP256)?;
        Ok(VapidKey {
            encoding: EncodingKey::from_ec_der(der),
            public_b64: URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
            subject: subject.to_string(),
        })
    }

    /// The public key, base64url (`GET /push/vapid-key`).
    pub fn public_key(&self) -> &str {
        &self.public_b64
    }

    /// The `Authorization` header for a push to `endpoint` (RFC 8292,
    /// section 3): `vapid t=<JWT>, k=<public key>`, the JWT's `aud` the
    /// endpoint's origin.
    pub fn authorization(
        &self,
        endpoint: &crate::egress::Url,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let origin = endpoint.origin().ascii_serialization();
        let claims = Claims {
            aud: &origin,
            exp: chrono::Utc::now().timestamp() + TOKEN_TTL_SECS,
            sub: &self.subject,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &self.encoding)?;
        Ok(format!("vapid t={token}, k={}", self.public_b64))
    }
}

/// PKCS#8 DER from PEM (`-----BEGIN PRIVATE KEY-----`) or base64url.
fn decode_key(text: &str) -> Result<Vec<u8>, VapidError> {
    let text = text.trim();
    if text.starts_with("-----BEGIN") {
        if !text.starts_with("-----BEGIN PRIVATE KEY-----") {
            return Err(VapidError::NotP256);
        }
        let body: String = text
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .map(str::trim)
            .collect();
        return STANDARD
            .decode(body)
            .map_err(|e| VapidError::Encoding(e.to_string()));
    }
    URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|e| VapidError::Encoding(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generated() -> Vec<u8> {
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .unwrap()
            .as_ref()
            .to_vec()
    }

    #[test]
    fn a_key_reads_the_same_from_pem_and_base64url() {
        let der = generated();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(&der)
        );
        let a = VapidKey::from_pkcs8(&decode_key(&pem).unwrap(), "mailto:a@b").unwrap();
        let b = VapidKey::from_pkcs8(
            &decode_key(&URL_SAFE_NO_PAD.encode(&der)).unwrap(),
            "mailto:a@b",
        )
        .unwrap();
        assert_eq!(a.public_key(), b.public_key());
        assert_eq!(URL_SAFE_NO_PAD.decode(a.public_key()).unwrap().len(), 65);
    }

    #[test]
    fn other_keys_are_refused() {
        assert!(
            decode_key("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----")
                .is_err()
        );
        assert!(VapidKey::from_pkcs8(b"not a key", "mailto:a@b").is_err());
    }

    #[test]
    fn the_token_is_for_the_endpoints_origin() {
        let key = VapidKey::from_pkcs8(&generated(), "mailto:ops@example.com").unwrap();
        let url = crate::egress::Url::parse("https://push.example.com:8443/send/abc").unwrap();
        let header = key.authorization(&url).unwrap();
        let token = header
            .strip_prefix("vapid t=")
            .and_then(|r| r.split(',').next())
            .unwrap();
        let claims = token.split('.').nth(1).unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
        assert_eq!(claims["aud"], "https://push.example.com:8443");
        assert_eq!(claims["sub"], "mailto:ops@example.com");
        assert!(header.ends_with(&format!("k={}", key.public_key())));
    }
}
