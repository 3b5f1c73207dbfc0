//! The payload of a push, encrypted for one subscription (RFC 8291, with
//! the `aes128gcm` content coding of RFC 8188): a fresh P-256 key and salt
//! per message, one record.

use ring::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::agreement::{ECDH_P256, EphemeralPrivateKey, UnparsedPublicKey, agree_ephemeral};
use ring::hkdf::{HKDF_SHA256, KeyType, Prk, Salt};
use ring::rand::{SecureRandom, SystemRandom};

/// The record size written in the header: one record holds any payload
/// Parley sends (a push service accepts at most 4096 bytes).
const RECORD_SIZE: u32 = 4096;
/// Largest plaintext that fits one record with its delimiter and tag.
pub const MAX_PLAINTEXT: usize = RECORD_SIZE as usize - 17 - 86;

#[derive(Debug, thiserror::Error)]
pub enum EncryptError {
    #[error("the subscription's p256dh is not an uncompressed P-256 point")]
    PublicKey,
    #[error("the subscription's auth secret is not 16 bytes")]
    AuthSecret,
    #[error("the payload is over {MAX_PLAINTEXT} bytes")]
    TooLarge,
    #[error("encryption failed")]
    Crypto,
}

impl From<ring::error::Unspecified> for EncryptError {
    fn from(_: ring::error::Unspecified) -> Self {
        EncryptError::Crypto
    }
}

/// An HKDF output length.
struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn expand<const N: usize>(prk: &Prk, info: &[&[u8]]) -> Result<[u8; N], EncryptError> {
    let mut out = [0u8; N];
    prk.expand(info, Len(N))?.fill(&mut out)?;
    Ok(out)
}

/// The body of a push request: `salt | rs | idlen | keyid | ciphertext`,
/// `plaintext` encrypted for the user agent key `ua_public` (65 bytes) and
/// `auth_secret` (16 bytes).
pub fn encrypt(
    plaintext: &[u8],
    ua_public: &[u8],
    auth_secret: &[u8],
) -> Result<Vec<u8>, EncryptError> {
    if ua_public.len() != 65 || ua_public[0] != 4 {
        return Err(EncryptError::PublicKey);
    }
    if auth_secret.len() != 16 {
        return Err(EncryptError::AuthSecret);
    }
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(EncryptError::TooLarge);
    }
    let rng = SystemRandom::new();
    let as_private = EphemeralPrivateKey::generate(&ECDH_P256, &rng)?;
    let as_public = as_private.compute_public_key()?;
    let as_public = as_public.as_ref();
    let ecdh_secret = agree_ephemeral(
        as_private,
        &UnparsedPublicKey::new(&ECDH_P256, ua_public),
        |secret| secret.to_vec(),
    )
    .map_err(|_| EncryptError::PublicKey)?;

    // RFC 8291, section 3.4: the input keying material from the shared
    // secret and the authentication secret.
    let prk_key = Salt::new(HKDF_SHA256, auth_secret).extract(&ecdh_secret);
    let ikm: [u8; 32] = expand(&prk_key, &[b"WebPush: info\0", ua_public, as_public])?;

    // RFC 8188, section 2.2: the content-encryption key and nonce.
    let mut salt = [0u8; 16];
    rng.fill(&mut salt)?;
    let prk = Salt::new(HKDF_SHA256, &salt).extract(&ikm);
    let cek: [u8; 16] = expand(&prk, &[b"Content-Encoding: aes128gcm\0"])?;
    let nonce: [u8; 12] = expand(&prk, &[b"Content-Encoding: nonce\0"])?;

    // One record, the last: the plaintext then the delimiter 0x02.
    let mut record = Vec::with_capacity(plaintext.len() + 17);
    record.extend_from_slice(plaintext);
    record.push(2);
    let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &cek)?);
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::empty(),
        &mut record,
    )?;

    let mut body = Vec::with_capacity(16 + 4 + 1 + 65 + record.len());
    body.extend_from_slice(&salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(as_public.len() as u8);
    body.extend_from_slice(as_public);
    body.extend_from_slice(&record);
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_keys_of_the_wrong_shape() {
        assert!(matches!(
            encrypt(b"x", &[4u8; 33], &[0u8; 16]),
            Err(EncryptError::PublicKey)
        ));
        let rng = SystemRandom::new();
        let ua = EphemeralPrivateKey::generate(&ECDH_P256, &rng).unwrap();
        let ua_public = ua.compute_public_key().unwrap();
        assert!(matches!(
            encrypt(b"x", ua_public.as_ref(), &[0u8; 8]),
            Err(EncryptError::AuthSecret)
        ));
        assert!(matches!(
            encrypt(
                &vec![b'x'; MAX_PLAINTEXT + 1],
                ua_public.as_ref(),
                &[0u8; 16]
            ),
            Err(EncryptError::TooLarge)
        ));
    }

    #[test]
    fn the_header_carries_salt_record_size_and_sender_key() {
        let rng = SystemRandom::new();
        let ua = EphemeralPrivateKey::generate(&ECDH_P256, &rng).unwrap();
        let ua_public = ua.compute_public_key().unwrap();
        let body = encrypt(b"hello", ua_public.as_ref(), &[7u8; 16]).unwrap();
        assert_eq!(&body[16..20], &4096u32.to_be_bytes());
        assert_eq!(body[20], 65);
        assert_eq!(body[21], 4, "an uncompressed point");
        assert_eq!(body.len(), 16 + 4 + 1 + 65 + 5 + 1 + 16);
    }
}
