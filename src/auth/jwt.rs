//! HS256 access tokens. Validation accepts only HS256 and checks signature,
//! `exp` (no leeway), `iat` (present, at most 60 s in the future) and
//! `iss: "parley"`, and that the token names its login (`sid`; whether
//! that login was ended is the `logins` service's question).

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

use crate::store::LoginId;

pub const ISSUER: &str = "parley";
const MAX_IAT_SKEW_SECS: i64 = 60;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// User id, as a string.
    pub sub: String,
    /// Username.
    pub name: String,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    /// The login (session) the token was issued to (`logins.id`).
    pub sid: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token expired")]
    Expired,
    #[error("invalid token")]
    Invalid,
}

/// The key pair derived from `JWT_SECRET`.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl_secs: i64,
}

impl JwtKeys {
    pub fn new(secret: &[u8], ttl_secs: u64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = 0;
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "sub"]);
        JwtKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl_secs: ttl_secs as i64,
        }
    }

    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    /// Issues an access token for the user, valid for the configured TTL.
    pub fn issue(&self, user_id: i64, username: &str, login: LoginId, now: i64) -> String {
        let claims = Claims {
            sid: login.0,
            sub: user_id.to_string(),
            name: username.to_string(),
            iat: now,
            exp: now + self.ttl_secs,
            iss: ISSUER.to_string(),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 encoding cannot fail")
    }

    /// Validates a token and returns its claims.
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        let data =
            decode::<Claims>(token, &self.decoding, &self.validation).map_err(|e| {
                match e.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                    _ => TokenError::Invalid,
                }
            })?;
        let claims = data.claims;
        // jsonwebtoken checks exp against its own clock; check ours too so a
        // session's expiry and the REST answer agree.
        if claims.exp <= now {
            return Err(TokenError::Expired);
        }
        if claims.iat > now + MAX_IAT_SKEW_SECS {
            return Err(TokenError::Invalid);
        }
        if claims.sub.parse::<i64>().is_err() {
            return Err(TokenError::Invalid);
        }
        Ok(claims)
    }
}

/// The token of an `Authorization: Bearer …` value (REST header or STOMP
/// CONNECT header).
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

pub fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn b64(v: &serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    }

    fn claims(now: i64) -> serde_json::Value {
        serde_json::json!({"sub":"1","name":"alice","iat":now,"exp":now+60,"iss":"parley","sid":1})
    }

    /// `claims` signed with `SECRET` by `alg`, whatever they say.
    fn sign(alg: Algorithm, claims: &serde_json::Value) -> String {
        encode(&Header::new(alg), claims, &EncodingKey::from_secret(SECRET)).unwrap()
    }

    #[test]
    fn issue_and_verify() {
        let k = JwtKeys::new(SECRET, 900);
        let now = now_secs();
        let t = k.issue(7, "alice", LoginId(3), now);
        let c = k.verify(&t, now).unwrap();
        assert_eq!(c.sub, "7");
        assert_eq!(c.name, "alice");
        assert_eq!(c.exp, now + 900);
        assert_eq!(c.sid, 3);
    }

    #[test]
    fn rejects_a_token_without_its_login() {
        let k = JwtKeys::new(SECRET, 900);
        let now = now_secs();
        let mut c = claims(now);
        c.as_object_mut().unwrap().remove("sid");
        let t = sign(Algorithm::HS256, &c);
        assert_eq!(k.verify(&t, now), Err(TokenError::Invalid));
    }

    #[test]
    fn rejects_alg_none() {
        let k = JwtKeys::new(SECRET, 900);
        let now = now_secs();
        let t = format!(
            "{}.{}.",
            b64(&serde_json::json!({"alg":"none","typ":"JWT"})),
            b64(&claims(now))
        );
        assert_eq!(k.verify(&t, now), Err(TokenError::Invalid));
    }

    #[test]
    fn rejects_other_algorithms_and_wrong_key() {
        let now = now_secs();
        let c = claims(now);
        let hs512 = sign(Algorithm::HS512, &c);
        let k = JwtKeys::new(SECRET, 900);
        assert_eq!(k.verify(&hs512, now), Err(TokenError::Invalid));
        let other = JwtKeys::new(b"another-secret-another-secret-xx", 900).issue(
            1,
            "alice",
            LoginId(1),
            now,
        );
        assert_eq!(k.verify(&other, now), Err(TokenError::Invalid));
    }

    #[test]
    fn rejects_expired_wrong_issuer_future_iat() {
        let k = JwtKeys::new(SECRET, 900);
        let now = now_secs();
        let expired = k.issue(1, "alice", LoginId(1), now - 1000);
        assert_eq!(k.verify(&expired, now), Err(TokenError::Expired));
        let mut c = claims(now);
        c["iss"] = "someone-else".into();
        let t = sign(Algorithm::HS256, &c);
        assert_eq!(k.verify(&t, now), Err(TokenError::Invalid));
        let mut c = claims(now);
        c["iat"] = (now + 600).into();
        c["exp"] = (now + 1200).into();
        let t = sign(Algorithm::HS256, &c);
        assert_eq!(k.verify(&t, now), Err(TokenError::Invalid));
        let mut c = claims(now);
        c.as_object_mut().unwrap().remove("iat");
        let t = sign(Algorithm::HS256, &c);
        assert_eq!(k.verify(&t, now), Err(TokenError::Invalid));
    }
}
