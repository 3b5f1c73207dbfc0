//! Opening a STOMP-over-WebSocket connection: a TCP socket bound to a chosen
//! local address (so more than 64k connections fit), the WebSocket upgrade,
//! CONNECT/CONNECTED and SUBSCRIBE/RECEIPT, and the frames the generator
//! writes (encoded and decoded by `stomp_client`).

use std::net::{IpAddr, SocketAddr};

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use stomp_client::{Decoder, escape, text_frame};

pub type Ws = WebSocketStream<TcpStream>;

/// CONNECT credentials.
#[derive(Clone, Debug)]
pub enum Credentials {
    /// A bearer token (Parley access token), sent as `passcode`.
    Token(String),
    /// Plain `login` / `passcode` (RabbitMQ and friends).
    LoginPasscode(String, String),
    /// No credentials at all.
    None,
}

/// CONNECT for STOMP 1.2 or 1.1, without heart-beats (CONNECT headers are
/// never escaped).
pub fn connect_frame(creds: &Credentials, host: Option<&str>) -> String {
    let mut headers = vec![("accept-version", "1.2,1.1"), ("heart-beat", "0,0")];
    headers.extend(host.map(|h| ("host", h)));
    match creds {
        Credentials::Token(t) => headers.push(("passcode", t)),
        Credentials::LoginPasscode(l, p) => headers.extend([("login", &**l), ("passcode", p)]),
        Credentials::None => {}
    }
    let mut out = String::new();
    text_frame(&mut out, "CONNECT", &headers, "");
    out
}

pub fn subscribe_frame(destination: &str, id: &str, receipt: &str) -> String {
    let mut out = String::new();
    text_frame(
        &mut out,
        "SUBSCRIBE",
        &[
            ("id", &escape(id)),
            ("destination", &escape(destination)),
            ("ack", "auto"),
            ("receipt", &escape(receipt)),
        ],
        "",
    );
    out
}

/// A SEND frame with a text body into `out`; `receipt` asks for a RECEIPT.
pub fn send_frame(out: &mut String, destination: &str, body: &str, receipt: Option<&str>) {
    let length = body.len().to_string();
    let destination = escape(destination);
    let headers = [
        ("destination", &*destination),
        ("content-type", "text/plain"),
        ("content-length", &length),
    ];
    match receipt {
        None => text_frame(out, "SEND", &headers, body),
        Some(r) => {
            let receipt = escape(r);
            let [d, t, l] = headers;
            text_frame(out, "SEND", &[d, t, l, ("receipt", &receipt)], body);
        }
    }
}

/// Where to connect: the WebSocket URL and its resolved socket address.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: String,
    pub addr: SocketAddr,
    /// `http://host:port` for the REST API (signup, rooms).
    pub http_base: String,
}

/// The parts of a `ws://host:port/path` URL we need.
pub struct UrlParts {
    pub secure: bool,
    pub host: String,
    pub port: u16,
}

pub fn parse_ws_url(url: &str) -> Result<UrlParts, String> {
    let (secure, rest) = if let Some(r) = url.strip_prefix("ws://") {
        (false, r)
    } else if let Some(r) = url.strip_prefix("wss://") {
        (true, r)
    } else {
        return Err(format!("--url must start with ws:// (got {url:?})"));
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    if authority.is_empty() {
        return Err(format!("--url has no host: {url:?}"));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("bad IPv6 host in {url:?}"))?;
        let port = after.strip_prefix(':').unwrap_or("");
        (h.to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p),
            None => (authority.to_string(), ""),
        }
    };
    let port = if port.is_empty() {
        if secure { 443 } else { 80 }
    } else {
        port.parse()
            .map_err(|_| format!("bad port {port:?} in {url:?}"))?
    };
    Ok(UrlParts { secure, host, port })
}

impl Target {
    pub async fn resolve(url: &str, http_url: Option<&str>) -> Result<Target, String> {
        let parts = parse_ws_url(url)?;
        if parts.secure {
            return Err("wss:// is not supported (no TLS in this generator)".into());
        }
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((parts.host.as_str(), parts.port))
            .await
            .map_err(|e| format!("cannot resolve {}: {e}", parts.host))?
            .collect();
        let addr = addrs
            .iter()
            .find(|a| a.is_ipv4())
            .or_else(|| addrs.first())
            .copied()
            .ok_or_else(|| format!("{} resolves to no address", parts.host))?;
        let host = if parts.host.contains(':') {
            format!("[{}]", parts.host)
        } else {
            parts.host.clone()
        };
        let http_base = match http_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => format!("http://{host}:{}", parts.port),
        };
        Ok(Target {
            url: url.to_string(),
            addr,
            http_base,
        })
    }
}

/// IP_BIND_ADDRESS_NO_PORT: with a bound local address, let the kernel
/// pick the port at connect time (per destination), not at bind time, so
/// bound sockets do not exhaust the address's ephemeral ports early.
fn defer_port_choice(socket: &TcpSocket) {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: a valid socket fd and a c_int option value of the right size.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// Buffer sizes per role: idle connections must stay small.
#[derive(Clone, Copy)]
pub enum Role {
    Idle,
    Subscriber,
    Publisher,
}

fn ws_config(role: Role) -> WebSocketConfig {
    let (read, write) = match role {
        Role::Idle => (4 << 10, 0),
        Role::Subscriber => (32 << 10, 0),
        Role::Publisher => (8 << 10, 64 << 10),
    };
    let mut c = WebSocketConfig::default();
    c.read_buffer_size = read;
    c.write_buffer_size = write;
    c
}

/// An open, STOMP-connected socket and its frame decoder.
pub struct Conn {
    pub ws: Ws,
    pub dec: Decoder,
}

impl Conn {
    pub async fn open(target: &Target, local: Option<IpAddr>, role: Role) -> Result<Conn, String> {
        let socket = if target.addr.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .map_err(|e| format!("socket: {e}"))?;
        if let Some(ip) = local {
            defer_port_choice(&socket);
            socket
                .bind(SocketAddr::new(ip, 0))
                .map_err(|e| format!("bind {ip}: {e}"))?;
        }
        let stream = socket
            .connect(target.addr)
            .await
            .map_err(|e| format!("connect {}: {e}", target.addr))?;
        let _ = stream.set_nodelay(true);
        let mut request = target
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| format!("bad url: {e}"))?;
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("v12.stomp, v11.stomp, v10.stomp"),
        );
        let (ws, _response) =
            tokio_tungstenite::client_async_with_config(request, stream, Some(ws_config(role)))
                .await
                .map_err(|e| format!("websocket upgrade: {e}"))?;
        Ok(Conn {
            ws,
            dec: Decoder::default(),
        })
    }

    pub async fn send_text(&mut self, frame: String) -> Result<(), String> {
        self.ws
            .send(Message::Text(Utf8Bytes::from(frame)))
            .await
            .map_err(|e| format!("write: {e}"))
    }

    /// Reads until one frame is complete; returns its command and a
    /// description (`describe`) plus the `receipt-id` header.
    async fn next_frame(&mut self) -> Result<(String, String, Option<String>), String> {
        loop {
            if let Some(f) = self.dec.next_frame().map_err(|e| e.to_string())? {
                return Ok((
                    f.command_str().into_owned(),
                    f.describe(),
                    f.header("receipt-id").map(|c| c.into_owned()),
                ));
            }
            match self.ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    self.dec.push(t.as_bytes()).map_err(|e| e.to_string())?
                }
                Some(Ok(Message::Binary(b))) => self.dec.push(&b).map_err(|e| e.to_string())?,
                Some(Ok(Message::Close(c))) => {
                    return Err(format!("closed by server during setup: {c:?}"));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(format!("read: {e}")),
                None => return Err("closed by server during setup".into()),
            }
        }
    }

    /// CONNECT and wait for CONNECTED.
    pub async fn stomp_connect(
        &mut self,
        creds: &Credentials,
        host: Option<&str>,
    ) -> Result<(), String> {
        self.send_text(connect_frame(creds, host)).await?;
        let (command, describe, _) = self.next_frame().await?;
        if command == "CONNECTED" {
            Ok(())
        } else {
            Err(format!("CONNECT answered {describe}"))
        }
    }

    /// SUBSCRIBE with a receipt, and wait for that RECEIPT: once it is
    /// here, the subscription is live on the server.
    pub async fn subscribe(&mut self, destination: &str) -> Result<(), String> {
        self.send_text(subscribe_frame(destination, "0", "sub-0"))
            .await?;
        loop {
            let (command, describe, receipt) = self.next_frame().await?;
            match command.as_str() {
                "RECEIPT" if receipt.as_deref() == Some("sub-0") => return Ok(()),
                // A live MESSAGE may overtake the receipt: ignore it, the
                // run has not started yet.
                "MESSAGE" | "RECEIPT" => {}
                _ => return Err(format!("SUBSCRIBE answered {describe}")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Credentials, connect_frame, parse_ws_url, send_frame, subscribe_frame};

    #[test]
    fn frames_are_well_formed() {
        let mut s = String::new();
        send_frame(&mut s, "/topic/rooms/r0", "hi", Some("7:9"));
        assert_eq!(
            s,
            "SEND\ndestination:/topic/rooms/r0\ncontent-type:text/plain\ncontent-length:2\nreceipt:7\\c9\n\nhi\0"
        );
        assert_eq!(
            subscribe_frame("/topic/rooms/r0", "0", "sub-0"),
            "SUBSCRIBE\nid:0\ndestination:/topic/rooms/r0\nack:auto\nreceipt:sub-0\n\n\0"
        );
        assert_eq!(
            connect_frame(
                &Credentials::LoginPasscode("guest".into(), "g:1".into()),
                Some("/")
            ),
            "CONNECT\naccept-version:1.2,1.1\nheart-beat:0,0\nhost:/\nlogin:guest\npasscode:g:1\n\n\0"
        );
        assert_eq!(
            connect_frame(&Credentials::Token("t".into()), None),
            "CONNECT\naccept-version:1.2,1.1\nheart-beat:0,0\npasscode:t\n\n\0"
        );
    }

    #[test]
    fn parses_urls() {
        let p = parse_ws_url("ws://127.0.0.1:8080/ws").unwrap();
        assert_eq!(
            (p.host.as_str(), p.port, p.secure),
            ("127.0.0.1", 8080, false)
        );
        let p = parse_ws_url("ws://localhost/ws").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("localhost", 80));
        let p = parse_ws_url("ws://[::1]:15674/ws").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("::1", 15674));
        assert!(parse_ws_url("http://x/ws").is_err());
    }
}
