//! Authentication: password hashing, access tokens (JWT), refresh tokens,
//! login rate limits, and the `AuthUser` extractor for REST routes.

pub mod extractor;
pub mod jwt;
pub mod password;
pub mod rate_limit;
pub mod refresh;

pub use extractor::AuthUser;
pub use jwt::{Claims, JwtKeys, TokenError};
