//! Web Push (README, "Notifications"): the VAPID key, endpoint checks for
//! new subscriptions, and the sender that drains the push outbox.
//!
//! Which events are due to whom is decided when they are stored (the
//! outbox rows written in the append transaction: `store/push.rs`); this
//! service only sends them. Every instance runs a sender; a row is claimed
//! by one of them with a lease (`FOR UPDATE SKIP LOCKED` on Postgres),
//! deleted once the push service answered, and claimed again when the lease
//! ends without an answer (docs/ARCHITECTURE.md, "The push outbox"). It
//! must not make a request except through `egress`.

mod encrypt;
mod outbox;
mod retry;
mod vapid;

use std::sync::Arc;
use std::time::Duration;

use crate::config::PushSettings;
use crate::egress::{AllowedHosts, Egress, EgressSettings, Refusal};
use crate::presence::Presence;
use crate::store::DynStore;

pub use encrypt::{EncryptError, encrypt};
pub use vapid::{VAPID_KEY_SETTING, VapidError, VapidKey};

/// How long a push request may take, connecting included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long connecting to a push service may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How much of a push service's answer is read (only its status matters).
const MAX_ANSWER_BYTES: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum PushStartError {
    #[error(transparent)]
    Vapid(#[from] VapidError),
    #[error("PUSH_ALLOWED_HOSTS: {0}")]
    AllowedHosts(String),
}

/// What the service needs that is read before the state is built.
pub struct PushSetup {
    vapid: VapidKey,
    egress: Egress,
    preview: bool,
    subscriptions_per_user: u32,
}

impl PushSetup {
    /// Reads the VAPID key (generating and keeping one when none is
    /// configured) and builds the egress client for push services.
    pub async fn load(settings: &PushSettings, store: &DynStore) -> Result<Self, PushStartError> {
        let allowed =
            AllowedHosts::parse(&settings.allowed_hosts).map_err(PushStartError::AllowedHosts)?;
        let vapid = VapidKey::load(
            settings.vapid_private_key.as_deref(),
            &settings.vapid_subject,
            store,
        )
        .await?;
        let egress = Egress::new(EgressSettings {
            allowed,
            connect_timeout: CONNECT_TIMEOUT,
            timeout: REQUEST_TIMEOUT,
            max_response_bytes: MAX_ANSWER_BYTES,
        });
        Ok(PushSetup {
            vapid,
            egress,
            preview: settings.preview,
            subscriptions_per_user: settings.subscriptions_per_user,
        })
    }
}

/// The Web Push service of this instance.
pub struct Push {
    store: DynStore,
    presence: Arc<Presence>,
    vapid: VapidKey,
    egress: Egress,
    preview: bool,
    subscriptions_per_user: u32,
}

impl Push {
    pub fn new(setup: PushSetup, store: DynStore, presence: Arc<Presence>) -> Arc<Self> {
        Arc::new(Push {
            store,
            presence,
            vapid: setup.vapid,
            egress: setup.egress,
            preview: setup.preview,
            subscriptions_per_user: setup.subscriptions_per_user,
        })
    }

    /// Starts this instance's sender; it stops when `shutdown` turns true.
    pub fn start_sending(self: &Arc<Self>, shutdown: tokio::sync::watch::Receiver<bool>) {
        tokio::spawn(outbox::run(Arc::downgrade(self), shutdown));
    }

    /// The VAPID public key (uncompressed P-256 point), base64url.
    pub fn public_key(&self) -> &str {
        self.vapid.public_key()
    }

    /// How many subscriptions a user keeps: a new one beyond it replaces
    /// their oldest (`PUSH_SUBSCRIPTIONS_PER_USER`).
    pub fn subscriptions_per_user(&self) -> u32 {
        self.subscriptions_per_user
    }

    /// Whether a subscription may use `endpoint` (the egress rules:
    /// `https`, or `http` for a listed host; no address this server must
    /// not reach). Names are checked again, resolved, at each push.
    pub fn check_endpoint(&self, endpoint: &str) -> Result<(), Refusal> {
        self.egress.check_url(endpoint).map(|_| ())
    }
}
