//! The egress rules against real sockets on loopback: a tiny HTTP server
//! per test answers with a canned response (or never).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

fn egress(allowed: &str) -> Egress {
    Egress::new(EgressSettings {
        allowed: AllowedHosts::parse(allowed).unwrap(),
        connect_timeout: Duration::from_secs(2),
        timeout: Duration::from_millis(800),
        max_response_bytes: 1000,
    })
}

/// Serves `response` (None: accept and never answer) to every connection;
/// counts the requests that arrived.
async fn server(response: Option<Vec<u8>>) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&hits);
    tokio::spawn(async move {
        for _ in 0..20 {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let response = response.clone();
            let counted = Arc::clone(&counted);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let _ = socket.read(&mut buf).await;
                counted.fetch_add(1, Ordering::SeqCst);
                match response {
                    Some(r) => {
                        let _ = socket.write_all(&r).await;
                    }
                    None => tokio::time::sleep(Duration::from_secs(5)).await,
                }
            });
        }
    });
    (port, hits)
}

fn ok(body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

#[test]
fn allowed_hosts_parse_names_ports_and_ipv6() {
    let a = AllowedHosts::parse(" push.example , 127.0.0.1:9000,[::1]:81, ::2 ,").unwrap();
    let url = |s: &str| Url::parse(s).unwrap();
    assert!(a.allows(&url("https://PUSH.example/x")));
    assert!(a.allows(&url("http://push.example:8443/x")));
    assert!(a.allows(&url("http://127.0.0.1:9000/")));
    assert!(!a.allows(&url("http://127.0.0.1:9001/")));
    assert!(a.allows(&url("http://[::1]:81/")));
    assert!(a.allows(&url("http://[::2]:5/")));
    assert!(!a.allows(&url("https://other.example/")));
    assert!(AllowedHosts::parse("host:notaport").is_err());
    assert!(AllowedHosts::parse("[::1").is_err());
    assert!(AllowedHosts::parse("").unwrap().is_empty());
}

#[tokio::test]
async fn urls_are_checked_before_anything_is_sent() {
    let e = egress("");
    assert_eq!(e.check_url("not a url"), Err(Refusal::NotAUrl));
    assert_eq!(e.check_url("http://push.example/"), Err(Refusal::Scheme));
    assert_eq!(e.check_url("ftp://push.example/"), Err(Refusal::Scheme));
    assert_eq!(
        e.check_url("https://u:p@push.example/"),
        Err(Refusal::Credentials)
    );
    for bad in [
        "https://127.0.0.1/",
        "https://10.0.0.8:8443/",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/",
        "https://[::ffff:127.0.0.1]/",
        "https://[fd00::1]/",
        "https://0x7f000001/",
        "https://2130706433/",
    ] {
        assert!(
            matches!(e.check_url(bad), Err(Refusal::Address(_))),
            "{bad}"
        );
    }
    assert!(e.check_url("https://push.example/abc").is_ok());
    assert!(e.check_url("https://8.8.8.8/").is_ok());
}

#[tokio::test]
async fn loopback_is_refused_by_address_and_by_name() {
    let (port, hits) = server(Some(ok(b"hi"))).await;
    let e = egress("");
    let by_address = e
        .post(
            &format!("https://127.0.0.1:{port}/"),
            HeaderMap::new(),
            Bytes::new(),
        )
        .await;
    assert!(
        matches!(by_address, Err(Failure::Refused(Refusal::Address(_)))),
        "{by_address:?}"
    );
    let by_name = e
        .post(
            &format!("https://localhost:{port}/"),
            HeaderMap::new(),
            Bytes::new(),
        )
        .await;
    assert!(
        matches!(by_name, Err(Failure::Refused(Refusal::Resolved(_)))),
        "{by_name:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0, "nothing reached the server");
}

#[tokio::test]
async fn a_listed_host_is_reached_over_http() {
    let (port, hits) = server(Some(ok(b"{\"text\":\"pong\"}"))).await;
    let e = egress(&format!("127.0.0.1:{port},localhost:{port}"));
    for host in ["127.0.0.1", "localhost"] {
        let answer = e
            .post(
                &format!("http://{host}:{port}/hook"),
                HeaderMap::new(),
                Bytes::from_static(b"{}"),
            )
            .await
            .unwrap();
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(&answer.body[..], b"{\"text\":\"pong\"}");
        assert!(!answer.truncated);
    }
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn redirects_are_answers_not_followed() {
    let (target, target_hits) = server(Some(ok(b"secret"))).await;
    let redirect = format!(
        "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:{target}/\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
    let (port, _) = server(Some(redirect.into_bytes())).await;
    let e = egress(&format!("127.0.0.1:{port}"));
    let answer = e
        .post(
            &format!("http://127.0.0.1:{port}/"),
            HeaderMap::new(),
            Bytes::new(),
        )
        .await
        .unwrap();
    assert_eq!(answer.status, StatusCode::FOUND);
    assert_eq!(
        target_hits.load(Ordering::SeqCst),
        0,
        "the redirect was not followed"
    );
}

#[tokio::test]
async fn the_answer_read_is_bounded() {
    let (port, _) = server(Some(ok(&vec![b'x'; 200_000]))).await;
    let e = egress(&format!("127.0.0.1:{port}"));
    let answer = e
        .post(
            &format!("http://127.0.0.1:{port}/"),
            HeaderMap::new(),
            Bytes::new(),
        )
        .await
        .unwrap();
    assert_eq!(answer.body.len(), 1000);
    assert!(answer.truncated);
}

#[tokio::test]
async fn a_silent_server_times_out() {
    let (port, hits) = server(None).await;
    let e = egress(&format!("127.0.0.1:{port}"));
    let started = std::time::Instant::now();
    let result = e
        .post(
            &format!("http://127.0.0.1:{port}/"),
            HeaderMap::new(),
            Bytes::new(),
        )
        .await;
    assert!(matches!(result, Err(Failure::Timeout)), "{result:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bounded by the total timeout"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}
