//! A real SMTP server on loopback for the mail tests: Python's aiosmtpd
//! (`tests/support/smtp_capture.py`), started per test and stopped when the
//! [`SmtpCapture`] is dropped. Each message it receives is one JSON line of
//! its capture file. `PYTHON` names the interpreter (default `python3`);
//! `scripts/test` installs aiosmtpd. Without it the test fails, saying so.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct SmtpCapture {
    pub port: u16,
    file: PathBuf,
    child: Child,
    _dir: TempDir,
}

/// A directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl SmtpCapture {
    pub async fn start() -> SmtpCapture {
        tokio::task::spawn_blocking(Self::start_blocking)
            .await
            .expect("smtp capture started")
    }

    fn start_blocking() -> SmtpCapture {
        let dir = std::env::temp_dir().join(format!("parley-smtp-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("mails.jsonl");
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_capture.py");
        let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
        // A free port: bound, read, released (the server binds it at once).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new(&python)
            .arg(&script)
            .arg(port.to_string())
            .arg(&file)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("{python} did not start (PYTHON): {e}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        if line.trim() != "ready" {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the SMTP capture did not start (is aiosmtpd installed? `pip install aiosmtpd`, \
                 as scripts/test does)"
            );
        }
        SmtpCapture {
            port,
            file,
            child,
            _dir: TempDir(dir),
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far.
    pub fn mails(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.file)
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The messages to `to`, once there are at least `n` (waits up to 10 s).
    pub async fn wait_for(&self, to: &str, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mails = self.mails_to(to);
            if mails.len() >= n {
                return mails;
            }
            assert!(
                Instant::now() < deadline,
                "{n} mail(s) to {to} expected, got {}: {:?}",
                mails.len(),
                self.mails()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn mails_to(&self, to: &str) -> Vec<Value> {
        self.mails()
            .into_iter()
            .filter(|m| m["to"].as_array().unwrap().iter().any(|t| t == to))
            .collect()
    }
}

impl Drop for SmtpCapture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The 6-digit code in an email-code mail.
pub fn code_in(mail: &Value) -> String {
    let body = mail["body"].as_str().unwrap();
    body.split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .unwrap_or_else(|| panic!("no code in {body:?}"))
        .to_string()
}

/// The token of the `#reset=` link in a reset mail.
pub fn reset_token_in(mail: &Value) -> String {
    let body = mail["body"].as_str().unwrap();
    let start = body
        .find("#reset=")
        .unwrap_or_else(|| panic!("no link in {body:?}"))
        + "#reset=".len();
    body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}
