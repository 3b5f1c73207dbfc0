//! The refresh token as a browser cookie (README, "Staying signed in"):
//! `parley_refresh`, `HttpOnly`, `SameSite=Strict`, `Path=/api/v1/auth`,
//! `Max-Age` = `REFRESH_TTL_SECS`, and `Secure` whenever the request came
//! over HTTPS (directly, or per `X-Forwarded-Proto` from one of
//! `TRUSTED_PROXIES`). Only the refresh token ever goes in a cookie: access
//! tokens stay in the JSON answers and `Authorization` headers.

use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::http::header::{self, HeaderValue};

use crate::config::TrustedProxies;

/// The cookie's name.
pub const NAME: &str = "parley_refresh";
/// Where the browser sends it: the auth routes only.
pub const PATH: &str = "/api/v1/auth";

/// `Set-Cookie` for `token`, kept by the browser for `max_age`.
pub fn set(token: &str, max_age: Duration, secure: bool) -> HeaderValue {
    header_value(token, max_age.as_secs(), secure)
}

/// `Set-Cookie` that makes the browser forget the cookie.
pub fn clear(secure: bool) -> HeaderValue {
    header_value("", 0, secure)
}

fn header_value(value: &str, max_age: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = format!(
        "{NAME}={value}; Path={PATH}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    );
    // A refresh token is base64url: always a valid header value.
    HeaderValue::from_str(&text).expect("cookie is visible ASCII")
}

/// The refresh token the request's `Cookie` header carries, if any.
pub fn read(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == NAME)
        .map(|(_, value)| value.trim_matches('"').to_string())
        .filter(|value| !value.is_empty())
}

/// Whether the request came over HTTPS: the connection itself, or, when the
/// TCP peer is a trusted proxy, its `X-Forwarded-Proto`.
pub fn over_https(req: &HttpRequest, trusted: &TrustedProxies) -> bool {
    if req.app_config().secure() {
        return true;
    }
    let from_proxy = req
        .peer_addr()
        .is_some_and(|peer| trusted.contains(peer.ip().to_canonical()));
    from_proxy
        && req
            .headers()
            .get_all("x-forwarded-proto")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_has_every_attribute() {
        let v = set("abc_-1", Duration::from_secs(60), false);
        assert_eq!(
            v.to_str().unwrap(),
            "parley_refresh=abc_-1; Path=/api/v1/auth; Max-Age=60; HttpOnly; SameSite=Strict"
        );
        let v = clear(true);
        assert_eq!(
            v.to_str().unwrap(),
            "parley_refresh=; Path=/api/v1/auth; Max-Age=0; HttpOnly; SameSite=Strict; Secure"
        );
    }

    #[test]
    fn the_token_is_read_among_other_cookies() {
        let req = actix_web::test::TestRequest::default()
            .insert_header((header::COOKIE, "a=1; parley_refresh=tok-en_1; b=2"))
            .to_http_request();
        assert_eq!(read(&req).as_deref(), Some("tok-en_1"));
        let none = actix_web::test::TestRequest::default()
            .insert_header((header::COOKIE, "parley_refreshx=1; parley_refresh="))
            .to_http_request();
        assert_eq!(read(&none), None);
    }

    #[test]
    fn forwarded_proto_counts_only_from_a_trusted_proxy() {
        let trusted = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let via = |peer: &str| {
            actix_web::test::TestRequest::default()
                .peer_addr(format!("{peer}:4000").parse().unwrap())
                .insert_header(("X-Forwarded-Proto", "https"))
                .to_http_request()
        };
        assert!(over_https(&via("10.1.2.3"), &trusted));
        assert!(!over_https(&via("192.0.2.1"), &trusted));
        let plain = actix_web::test::TestRequest::default()
            .peer_addr("10.1.2.3:4000".parse().unwrap())
            .to_http_request();
        assert!(!over_https(&plain, &trusted));
    }
}
