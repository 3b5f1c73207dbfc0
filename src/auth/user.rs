//! [`AuthUser`]: who a verified access token says the caller is. One type
//! for every edge that authenticates: the REST extractor, the STOMP session
//! (from CONNECT's token) and the send path (the sender).

use super::jwt::{Claims, TokenError};
use crate::store::LoginId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUser {
    pub id: i64,
    pub username: String,
    /// Unix seconds at which the access token expires (a STOMP session or
    /// an event stream opened with it ends then).
    pub expires_at: i64,
    /// The login the token was issued to (README, "Accounts": sessions).
    pub login: LoginId,
}

impl AuthUser {
    /// The user named by `claims` (already verified).
    pub fn from_claims(claims: Claims) -> Result<Self, TokenError> {
        Ok(AuthUser {
            id: claims.sub.parse().map_err(|_| TokenError::Invalid)?,
            username: claims.name,
            expires_at: claims.exp,
            login: LoginId(claims.sid),
        })
    }
}
