//! Outgoing mail (README, "Accounts"): email codes and password-reset links,
//! sent over SMTP (`SMTP_URL`) by one background task from a bounded queue,
//! off the request path: a request only queues its mail, so answering takes
//! about the same time whether a mail is sent or not (no account discovery
//! through timing), and a slow or absent SMTP server never holds a request.
//! A mail that fails is logged (without its secret) and dropped.

use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::future::Future;
use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc};

use crate::config::MailSettings;

/// Mails waiting for the SMTP server; beyond it a new one is refused.
const QUEUE: usize = 256;
/// Requests' mail work (a lookup, a token kept) running in the background
/// at once; beyond it a new one is refused.
const JOBS: usize = 64;

/// One mail to send.
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// The queue is full (the SMTP server is slow or down).
#[derive(Debug, thiserror::Error)]
#[error("the mail queue is full")]
pub struct QueueFull;

/// Queues mails for the sending task.
pub struct Mailer {
    queue: mpsc::Sender<Mail>,
    jobs: Arc<Semaphore>,
    public_url: String,
}

impl Mailer {
    /// Starts the sending task (on the current Tokio runtime). The settings
    /// were validated by `config`.
    pub fn start(settings: &MailSettings) -> Mailer {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&settings.smtp_url)
            .expect("SMTP_URL validated by config")
            .build();
        let from: Mailbox = settings
            .from
            .parse()
            .expect("MAIL_FROM validated by config");
        let (queue, rx) = mpsc::channel(QUEUE);
        tokio::spawn(send_all(transport, from, rx));
        Mailer {
            queue,
            jobs: Arc::new(Semaphore::new(JOBS)),
            public_url: settings.public_url.clone(),
        }
    }

    /// The web client's address (`PUBLIC_URL`, no trailing `/`).
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// Runs `job` (what decides whether a mail goes, and queues it) in the
    /// background, so that the request is answered the same way and in
    /// about the same time either way. At most [`JOBS`] run at once.
    pub fn run_off_request<F>(&self, job: F) -> Result<(), QueueFull>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let permit = Arc::clone(&self.jobs).try_acquire_owned().map_err(|_| {
            tracing::warn!("too many mail jobs; one was not run");
            QueueFull
        })?;
        tokio::spawn(async move {
            job.await;
            drop(permit);
        });
        Ok(())
    }

    /// Background jobs running now.
    pub fn jobs_running(&self) -> usize {
        JOBS - self.jobs.available_permits()
    }

    /// Queues `mail`; it is sent in the background.
    pub fn queue(&self, mail: Mail) -> Result<(), QueueFull> {
        self.queue.try_send(mail).map_err(|_| {
            tracing::warn!("mail queue full; a mail was not sent");
            QueueFull
        })
    }
}

async fn send_all(
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    mut rx: mpsc::Receiver<Mail>,
) {
    while let Some(mail) = rx.recv().await {
        let to: Mailbox = match mail.to.parse() {
            Ok(to) => to,
            Err(e) => {
                tracing::warn!(error = %e, "mail not sent: bad recipient");
                continue;
            }
        };
        let message = Message::builder()
            .from(from.clone())
            .to(to)
            .subject(mail.subject)
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body);
        let message = match message {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "mail not built");
                continue;
            }
        };
        match transport.send(message).await {
            Ok(_) => tracing::debug!("mail sent"),
            Err(e) => tracing::warn!(error = %e, "mail not sent"),
        }
    }
}
