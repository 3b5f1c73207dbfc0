//! Authentication: password hashing, access tokens (JWT), refresh tokens,
//! two-factor codes (TOTP and recovery codes),
//! the signing key kept in the database when none is configured, login
//! rate limits, and [`AuthUser`] (the authenticated user) with its
//! extractor for REST routes.

pub mod bot_token;
pub mod cookie;
pub mod extractor;
pub mod jwt;
pub mod mail_secrets;
pub mod password;
pub mod rate_limit;
pub mod refresh;
pub mod secret;
pub mod totp;
pub mod user;

pub use jwt::{Claims, JwtKeys, TokenError};
pub use user::AuthUser;
