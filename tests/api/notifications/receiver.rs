//! A push service on loopback for the tests (RFC 8030's receiving end):
//! records each request, answers as scripted (201 by default), and checks
//! what a real one would: the VAPID token (RFC 8292: ES256, `aud` the
//! endpoint's origin) and the payload, decrypted as a browser does (RFC
//! 8291, `aes128gcm`). Shared by tests/api and tests/cluster.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use ring::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::hkdf::{HKDF_SHA256, KeyType, Salt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request as the push service got it.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    /// Header names lowercased.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    /// The status it was answered with.
    pub answered: u16,
    /// When it arrived.
    pub at: Instant,
}

/// A scripted answer: a status and extra headers.
type Answer = (u16, Vec<(String, String)>);

#[derive(Default)]
struct State {
    received: Vec<Received>,
    /// Per path: the next answers (then 201).
    script: HashMap<String, VecDeque<Answer>>,
    /// Per path: a `Location` to answer with (a redirect).
    redirects: HashMap<String, String>,
}

pub struct Receiver {
    pub port: u16,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, Arc::clone(&shared)));
            }
        });
        Receiver { port, state, task }
    }

    /// `host:port`, for `PUSH_ALLOWED_HOSTS`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A browser subscribed at `/push/{name}` of this service.
    pub fn subscriber(&self, name: &str) -> Subscriber {
        let secret = loop {
            let mut bytes = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
            if let Ok(key) = p256::SecretKey::from_slice(&bytes) {
                break key;
            }
        };
        let mut auth = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut auth);
        Subscriber {
            path: format!("/push/{name}"),
            endpoint: format!("{}/push/{name}", self.origin()),
            secret,
            auth,
        }
    }

    /// The next answers to `path`, in order (201 after them).
    pub fn answer(&self, path: &str, statuses: &[u16]) {
        for &status in statuses {
            self.answer_with(path, status, &[]);
        }
    }

    /// The next answer to `path` after those scripted: `status` with
    /// `headers` (such as `Retry-After`).
    pub fn answer_with(&self, path: &str, status: u16, headers: &[(&str, &str)]) {
        let headers = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.state
            .lock()
            .unwrap()
            .script
            .entry(path.to_string())
            .or_default()
            .push_back((status, headers));
    }

    /// Every request to `path` is answered 307 to `location`.
    pub fn redirect(&self, path: &str, location: &str) {
        self.state
            .lock()
            .unwrap()
            .redirects
            .insert(path.to_string(), location.to_string());
    }

    pub fn received(&self, path: &str) -> Vec<Received> {
        let state = self.state.lock().unwrap();
        state
            .received
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    pub fn all(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// Waits (at most `within`) until `path` got `n` requests.
    pub async fn wait_for(&self, path: &str, n: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.received(path);
            if got.len() >= n || Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn serve(mut stream: TcpStream, state: Arc<Mutex<State>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if buf.len() > 64 * 1024 {
            return;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let path = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or("")
        .to_string();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body = buf[head_end..head_end + length].to_vec();
    let (status, extra) = {
        let mut s = state.lock().unwrap();
        let redirect = s.redirects.get(&path).cloned();
        let (status, extra) = match redirect {
            Some(location) => (307, vec![("location".to_string(), location)]),
            None => s
                .script
                .get_mut(&path)
                .and_then(VecDeque::pop_front)
                .unwrap_or((201, Vec::new())),
        };
        s.received.push(Received {
            path,
            headers,
            body,
            answered: status,
            at: Instant::now(),
        });
        (status, extra)
    };
    let extra: String = extra.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    let answer =
        format!("HTTP/1.1 {status} X\r\n{extra}content-length: 0\r\nconnection: close\r\n\r\n");
    let _ = stream.write_all(answer.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// A browser's side of one subscription: its keys, and decryption.
pub struct Subscriber {
    pub path: String,
    pub endpoint: String,
    secret: p256::SecretKey,
    auth: [u8; 16],
}

struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

impl Subscriber {
    fn public(&self) -> Vec<u8> {
        self.secret
            .public_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec()
    }

    /// The `PushSubscription` JSON a browser would post.
    pub fn json(&self) -> Value {
        json!({
            "endpoint": self.endpoint,
            "expirationTime": null,
            "keys": {
                "p256dh": URL_SAFE_NO_PAD.encode(self.public()),
                "auth": URL_SAFE_NO_PAD.encode(self.auth),
            },
        })
    }

    /// The payload of a push, decrypted per RFC 8291 / RFC 8188.
    #[track_caller]
    pub fn decrypt(&self, body: &[u8]) -> Value {
        assert!(body.len() > 86, "an aes128gcm body: {} bytes", body.len());
        let salt = &body[..16];
        let rs = u32::from_be_bytes(body[16..20].try_into().unwrap());
        assert!(rs >= 18, "record size {rs}");
        assert_eq!(body[20], 65, "the key id is the sender's P-256 key");
        let as_public = &body[21..86];
        let ciphertext = &body[86..];
        let sender = p256::PublicKey::from_sec1_bytes(as_public).expect("a P-256 point");
        let shared =
            p256::ecdh::diffie_hellman(self.secret.to_nonzero_scalar(), sender.as_affine());
        let ua_public = self.public();
        let expand = |prk: &ring::hkdf::Prk, info: &[&[u8]], n: usize| {
            let mut out = vec![0u8; n];
            prk.expand(info, Len(n)).unwrap().fill(&mut out).unwrap();
            out
        };
        let prk_key = Salt::new(HKDF_SHA256, &self.auth).extract(shared.raw_secret_bytes());
        let ikm = expand(&prk_key, &[b"WebPush: info\0", &ua_public, as_public], 32);
        let prk = Salt::new(HKDF_SHA256, salt).extract(&ikm);
        let cek = expand(&prk, &[b"Content-Encoding: aes128gcm\0"], 16);
        let nonce = expand(&prk, &[b"Content-Encoding: nonce\0"], 12);
        let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &cek).unwrap());
        let mut record = ciphertext.to_vec();
        let plain = key
            .open_in_place(
                Nonce::try_assume_unique_for_key(&nonce).unwrap(),
                Aad::empty(),
                &mut record,
            )
            .expect("the payload decrypts with the subscription's keys");
        let end = plain
            .iter()
            .rposition(|b| *b != 0)
            .expect("a padding delimiter");
        assert_eq!(plain[end], 2, "one record, the last: delimiter 2");
        serde_json::from_slice(&plain[..end]).expect("the payload is JSON")
    }
}

/// Checks the request's VAPID `Authorization` (RFC 8292): an ES256 JWT
/// signed by `public_key` (base64url, as `GET /push/vapid-key` gives it)
/// with `aud` = `origin`, a future `exp` within 24 h, and a `sub`.
#[track_caller]
pub fn verify_vapid(r: &Received, origin: &str, public_key: &str) -> Value {
    let auth = r
        .headers
        .get("authorization")
        .expect("an Authorization header");
    let rest = auth.strip_prefix("vapid ").expect("the vapid scheme");
    let mut token = None;
    let mut key = None;
    for part in rest.split(',').map(str::trim) {
        if let Some(t) = part.strip_prefix("t=") {
            token = Some(t);
        } else if let Some(k) = part.strip_prefix("k=") {
            key = Some(k);
        }
    }
    assert_eq!(key, Some(public_key), "k= is the VAPID public key");
    let point = URL_SAFE_NO_PAD.decode(public_key).unwrap();
    let decoding = jsonwebtoken::DecodingKey::from_ec_components(
        &URL_SAFE_NO_PAD.encode(&point[1..33]),
        &URL_SAFE_NO_PAD.encode(&point[33..65]),
    )
    .unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&[origin]);
    validation.set_required_spec_claims(&["exp", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<Value>(token.expect("t= token"), &decoding, &validation)
        .expect("the VAPID token verifies")
        .claims;
    let exp = claims["exp"].as_i64().unwrap();
    let now = chrono::Utc::now().timestamp();
    assert!(
        exp > now && exp <= now + 24 * 3600,
        "exp within 24 h: {claims}"
    );
    claims
}
