//! Server-side requests (docs/SECURITY.md, "Server-side requests"): every request
//! Parley sends to a URL a client chose (Web Push endpoints, webhooks,
//! slash commands) goes through an [`Egress`], which
//!
//! - accepts only `https://` URLs without credentials, and `http://` only
//!   for hosts the operator listed ([`AllowedHosts`], e.g.
//!   `PUSH_ALLOWED_HOSTS`);
//! - refuses loopback, private, link-local, unique-local and other
//!   special-purpose addresses ([`address::is_forbidden`]), both when the
//!   URL names an address and for every address a host name resolves to
//!   at connection time (so a name that resolves to `127.0.0.1`, or starts
//!   doing so later, is refused too), unless the host is listed;
//! - follows no redirects (a 3xx is the answer, which callers count as a
//!   failure), uses no proxy from the environment;
//! - bounds the connection time, the whole exchange, and how much of the
//!   answer is read.

pub mod address;
#[cfg(test)]
mod tests;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
pub use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};

/// Hosts the operator allows a server-side request to reach whatever their
/// address, over `http://` too: `host` (any port) or `host:port`, as in
/// `PUSH_ALLOWED_HOSTS=push.internal,127.0.0.1:9000,[::1]:9000`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts {
    entries: Vec<(String, Option<u16>)>,
}

impl AllowedHosts {
    /// Parses a comma-separated list; blanks are ignored.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut entries = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            entries.push(parse_entry(item).ok_or_else(|| format!("invalid host entry {item:?}"))?);
        }
        Ok(AllowedHosts { entries })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// True if the URL's host (and port) is listed.
    pub fn allows(&self, url: &Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let port = url.port_or_known_default();
        self.entries
            .iter()
            .any(|(h, p)| *h == host && (p.is_none() || *p == port))
    }
}

fn parse_entry(item: &str) -> Option<(String, Option<u16>)> {
    let item = item.to_ascii_lowercase();
    if let Some(rest) = item.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        host.parse::<std::net::Ipv6Addr>().ok()?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?.parse().ok()?),
        };
        return Some((host.to_string(), port));
    }
    match item.matches(':').count() {
        0 => Some((item, None)),
        1 => {
            let (host, port) = item.split_once(':')?;
            (!host.is_empty()).then_some(())?;
            Some((host.to_string(), Some(port.parse().ok()?)))
        }
        // A bare IPv6 address.
        _ => item
            .parse::<std::net::Ipv6Addr>()
            .ok()
            .map(|_| (item, None)),
    }
}

/// Why a URL may not be requested.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("not an absolute URL")]
    NotAUrl,
    #[error("the URL must use https")]
    Scheme,
    #[error("the URL must not carry credentials")]
    Credentials,
    #[error("the URL has no host")]
    NoHost,
    #[error("the address {0} is not reachable from this server")]
    Address(IpAddr),
    #[error("{0} resolves only to addresses not reachable from this server")]
    Resolved(String),
}

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("refused: {0}")]
    Refused(Refusal),
    #[error("timed out")]
    Timeout,
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("request failed: {0}")]
    Other(String),
}

/// What the remote end answered: the status, the headers, and at most
/// `max_response_bytes` of the body (`truncated` if there was more).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub truncated: bool,
}

/// The bounds of one [`Egress`].
#[derive(Debug, Clone)]
pub struct EgressSettings {
    pub allowed: AllowedHosts,
    pub connect_timeout: Duration,
    /// The whole exchange, from connecting to the end of the body read.
    pub timeout: Duration,
    pub max_response_bytes: usize,
}

/// A client for server-side requests under one list of allowed hosts.
/// Cheap to clone (the connection pools are shared).
#[derive(Clone)]
pub struct Egress {
    /// For hosts not listed: every resolved address is checked.
    guarded: reqwest::Client,
    /// For listed hosts only.
    open: reqwest::Client,
    allowed: Arc<AllowedHosts>,
    max_response_bytes: usize,
}

impl Egress {
    pub fn new(settings: EgressSettings) -> Self {
        let builder = || {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .connect_timeout(settings.connect_timeout)
                .timeout(settings.timeout)
                .user_agent(concat!("Parley/", env!("CARGO_PKG_VERSION")))
        };
        let guarded = builder()
            .dns_resolver(Arc::new(GuardedResolver))
            .build()
            .expect("a TLS backend is compiled in");
        let open = builder().build().expect("a TLS backend is compiled in");
        Egress {
            guarded,
            open,
            allowed: Arc::new(settings.allowed),
            max_response_bytes: settings.max_response_bytes,
        }
    }

    /// Checks a URL a client gave (when it is stored, and again before
    /// each request): `https` (or `http` for a listed host), no
    /// credentials, a host, and not a forbidden address literal. Names are
    /// resolved only when connecting.
    pub fn check_url(&self, raw: &str) -> Result<Url, Refusal> {
        let url = Url::parse(raw).map_err(|_| Refusal::NotAUrl)?;
        let allowed = self.allowed.allows(&url);
        match url.scheme() {
            "https" => {}
            "http" if allowed => {}
            _ => return Err(Refusal::Scheme),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refusal::Credentials);
        }
        let host = url.host().ok_or(Refusal::NoHost)?;
        let literal = match host {
            url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
            url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
            url::Host::Domain(_) => None,
        };
        if let Some(ip) = literal.filter(|ip| !allowed && address::is_forbidden(*ip)) {
            return Err(Refusal::Address(ip));
        }
        Ok(url)
    }

    /// POSTs `body` with `headers` to `url` (checked again here) and reads
    /// at most `max_response_bytes` of the answer.
    pub async fn post(
        &self,
        url: &str,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<Answer, Failure> {
        let url = self.check_url(url).map_err(Failure::Refused)?;
        let client = if self.allowed.allows(&url) {
            &self.open
        } else {
            &self.guarded
        };
        let response = client
            .request(Method::POST, url)
            .headers(headers)
            .body(body)
            .send()
            .await
            .map_err(failure)?;
        let status = response.status();
        let headers = response.headers().clone();
        let (body, truncated) = read_bounded(response, self.max_response_bytes).await?;
        Ok(Answer {
            status,
            headers,
            body,
            truncated,
        })
    }
}

async fn read_bounded(
    mut response: reqwest::Response,
    max: usize,
) -> Result<(Bytes, bool), Failure> {
    let mut body = BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(failure)? {
        let room = max - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body.freeze(), true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body.freeze(), false))
}

fn failure(e: reqwest::Error) -> Failure {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        if let Some(refused) = s.downcast_ref::<ResolvedToForbidden>() {
            return Failure::Refused(Refusal::Resolved(refused.0.clone()));
        }
        source = s.source();
    }
    if e.is_timeout() {
        Failure::Timeout
    } else if e.is_connect() {
        Failure::Connect(e.to_string())
    } else {
        Failure::Other(e.to_string())
    }
}

/// A name that resolved only to forbidden addresses.
#[derive(Debug, thiserror::Error)]
#[error("{0} resolves only to forbidden addresses")]
struct ResolvedToForbidden(String);

/// Resolves with the system resolver, then drops every forbidden address:
/// the connection can only go to what is left.
struct GuardedResolver;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let usable: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| !address::is_forbidden(a.ip()))
                .collect();
            if usable.is_empty() {
                return Err(Box::new(ResolvedToForbidden(host)) as _);
            }
            Ok(Box::new(usable.into_iter()) as Addrs)
        })
    }
}
