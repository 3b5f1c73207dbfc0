//! The client address that per-IP limits (login attempts, signups) are
//! keyed by.
//!
//! The TCP peer is the client unless it is one of `TRUSTED_PROXIES`; then
//! the client is the right-most `X-Forwarded-For` address that is not a
//! trusted proxy (everything left of it could have been written by the
//! client itself). From an untrusted peer `X-Forwarded-For` is ignored.
//! IPv6 clients are keyed by their /64, the block one subscriber usually
//! holds; IPv4 clients by their address.

use std::net::IpAddr;

use actix_web::HttpRequest;

use crate::config::TrustedProxies;
use crate::config::proxies::mask;

/// The key per-IP limits use for `ip`: the address for IPv4, the /64 for
/// IPv6.
pub fn limit_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("{}/64", mask(IpAddr::V6(v6), 64)),
    }
}

/// The per-IP limit key of the client that sent `req`.
pub fn client_key(req: &HttpRequest, trusted: &TrustedProxies) -> String {
    let Some(peer) = req.peer_addr() else {
        return "unknown".into();
    };
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok());
    limit_key(trusted.client(peer.ip(), forwarded))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv6_is_keyed_by_its_64() {
        assert_eq!(limit_key(ip("192.0.2.7")), "192.0.2.7");
        assert_eq!(limit_key(ip("::ffff:192.0.2.7")), "192.0.2.7");
        assert_eq!(
            limit_key(ip("2001:db8:1:2:aaaa::1")),
            limit_key(ip("2001:db8:1:2:bbbb::9"))
        );
        assert_eq!(limit_key(ip("2001:db8:1:2:aaaa::1")), "2001:db8:1:2::/64");
        assert_ne!(
            limit_key(ip("2001:db8:1:2::1")),
            limit_key(ip("2001:db8:1:3::1"))
        );
    }
}
