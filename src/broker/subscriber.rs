//! What is registered with the hub for one subscription, and what it is
//! handed: a [`Subscriber`] (its [`Recipient`], its user, its connection's
//! bounded queue), and [`Delivery`]s, one message for one subscription.

use std::sync::Arc;

use tokio::sync::{Notify, mpsc};

use super::published::{Audience, Published};
use crate::stomp::SubscriptionHeader;

/// Which subscription a delivery is for, and how its MESSAGE frames are
/// written. Each registration has its own (the connection tells a
/// subscription from an earlier one with the same id by pointer).
#[derive(Debug)]
pub struct Recipient {
    /// The client's subscription id.
    pub id: String,
    /// The room subscribed to.
    pub room: Box<str>,
    pub header: SubscriptionHeader,
    /// Client-ack modes get an `ack` header.
    pub wants_ack: bool,
}

/// One message for one subscription, queued on its connection.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub message: Arc<Published>,
    pub recipient: Arc<Recipient>,
}

/// What is registered with the broker for one subscription: its
/// [`Recipient`], its connection's bounded queue, and a signal raised when
/// the queue overflows (the connection then ends as a slow consumer; the
/// room never waits for it).
#[derive(Debug, Clone)]
pub struct Subscriber {
    pub recipient: Arc<Recipient>,
    /// Of the room's activity (else of its log).
    pub activity: bool,
    /// The user it delivers to.
    pub audience: Arc<dyn Audience>,
    pub queue: mpsc::Sender<Delivery>,
    pub overflow: Arc<Notify>,
}

impl Subscriber {
    /// Queues `message` without waiting; false when the subscriber is to be
    /// dropped (its queue is full, which is signalled as an overflow, or
    /// its connection is gone).
    pub(super) fn offer(&self, message: &Arc<Published>) -> bool {
        let delivery = Delivery {
            message: Arc::clone(message),
            recipient: Arc::clone(&self.recipient),
        };
        match self.queue.try_send(delivery) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.overflow.notify_one();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

/// Identifies a registered subscriber for `unsubscribe`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubscriberKey(pub u64);
