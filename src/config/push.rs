//! Web Push settings (README, "Notifications"): the flags as given and
//! their validated form. The key itself is parsed by `push::vapid` (this
//! module is a leaf of the crate); the allowed hosts by the egress module.

/// The Web Push flags, flattened into `Settings`.
#[derive(Debug, Clone, clap::Args)]
pub struct PushFlags {
    /// VAPID key (P-256) signing pushes: PKCS#8 PEM, or its DER in base64url; unset: one is generated once and kept in the database.
    #[arg(long, env = "VAPID_PRIVATE_KEY", hide_env_values = true)]
    pub vapid_private_key: Option<String>,

    /// VAPID contact of the operator for push services: a `mailto:` or `https:` URL.
    #[arg(long, env = "VAPID_SUBJECT", default_value = "mailto:admin@localhost")]
    pub vapid_subject: String,

    /// Include the first 200 characters of a message in its push; `false` sends `"body": null`.
    #[arg(long, env = "PUSH_PREVIEW", default_value_t = true, action = clap::ArgAction::Set)]
    pub push_preview: bool,

    /// Comma-separated `host` or `host:port` of push services allowed on a loopback or private address, over `http://` too.
    #[arg(long, env = "PUSH_ALLOWED_HOSTS", default_value = "")]
    pub push_allowed_hosts: String,

    /// Push subscriptions kept per user (1–1000): a new one beyond it replaces the user's oldest.
    #[arg(long, env = "PUSH_SUBSCRIPTIONS_PER_USER", default_value_t = 10)]
    pub push_subscriptions_per_user: u32,
}

/// The validated Web Push settings.
#[derive(Debug, Clone)]
pub struct PushSettings {
    /// As given; `None`: generated and kept in the database.
    pub vapid_private_key: Option<String>,
    pub vapid_subject: String,
    pub preview: bool,
    pub allowed_hosts: String,
    /// How many subscriptions a user keeps (README, "Notifications").
    pub subscriptions_per_user: u32,
}

impl PushFlags {
    pub fn validate(&self) -> Result<PushSettings, String> {
        let subject = self.vapid_subject.trim();
        let valid = subject
            .strip_prefix("mailto:")
            .or_else(|| subject.strip_prefix("https://"))
            .is_some_and(|rest| !rest.is_empty() && !rest.chars().any(char::is_whitespace));
        if !valid {
            return Err(format!(
                "VAPID_SUBJECT {subject:?} must be a mailto: or https: URL"
            ));
        }
        if !(1..=1000).contains(&self.push_subscriptions_per_user) {
            return Err(format!(
                "PUSH_SUBSCRIPTIONS_PER_USER {} must be between 1 and 1000",
                self.push_subscriptions_per_user
            ));
        }
        Ok(PushSettings {
            vapid_private_key: self
                .vapid_private_key
                .clone()
                .filter(|k| !k.trim().is_empty()),
            vapid_subject: subject.to_string(),
            preview: self.push_preview,
            allowed_hosts: self.push_allowed_hosts.clone(),
            subscriptions_per_user: self.push_subscriptions_per_user,
        })
    }
}
