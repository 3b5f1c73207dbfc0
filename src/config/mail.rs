//! The mail settings (README, "Configuration"): `SMTP_URL`, `MAIL_FROM`,
//! `PUBLIC_URL`. Unset `SMTP_URL`: no mail, and the email and password-reset
//! routes answer 503 `mail_unavailable`. The SMTP URL may hold a password:
//! it is shown only redacted (`Debug` and logs).

use super::{ConfigError, redact_url};

/// Validated mail settings (present only when `SMTP_URL` is set).
#[derive(Clone)]
pub struct MailSettings {
    /// `smtp://host:port`, `smtps://user:pass@host`, … (lettre's
    /// `from_url`).
    pub smtp_url: String,
    /// The `From:` mailbox, such as `Parley <parley@example.com>`.
    pub from: String,
    /// The web client's address, without a trailing `/`, for links in mails.
    pub public_url: String,
}

impl std::fmt::Debug for MailSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailSettings")
            .field("smtp_url", &redact_url(&self.smtp_url))
            .field("from", &self.from)
            .field("public_url", &self.public_url)
            .finish()
    }
}

impl MailSettings {
    /// None without an SMTP URL; an error for a URL lettre cannot use, a
    /// `MAIL_FROM` that is not a mailbox or a `PUBLIC_URL` that is not http(s).
    pub fn parse(
        smtp_url: Option<&str>,
        from: &str,
        public_url: &str,
    ) -> Result<Option<Self>, ConfigError> {
        let Some(smtp_url) = smtp_url.map(str::trim).filter(|u| !u.is_empty()) else {
            return Ok(None);
        };
        use lettre::{AsyncSmtpTransport, Tokio1Executor};
        AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
            .map_err(|e| ConfigError::Mail(format!("SMTP_URL {}: {e}", redact_url(smtp_url))))?;
        from.parse::<lettre::message::Mailbox>()
            .map_err(|e| ConfigError::Mail(format!("MAIL_FROM {from:?}: {e}")))?;
        let public_url = public_url.trim().trim_end_matches('/');
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            return Err(ConfigError::Mail(format!(
                "PUBLIC_URL {public_url:?} must start with http:// or https://"
            )));
        }
        Ok(Some(MailSettings {
            smtp_url: smtp_url.to_string(),
            from: from.to_string(),
            public_url: public_url.to_string(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_is_none() {
        assert!(
            MailSettings::parse(None, "a@b.c", "http://x")
                .unwrap()
                .is_none()
        );
        assert!(
            MailSettings::parse(Some(""), "a@b.c", "http://x")
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn password_is_redacted_in_debug() {
        let m = MailSettings::parse(
            Some("smtps://user:secret@mail.example.com"),
            "Parley <p@example.com>",
            "https://chat.example.com/",
        )
        .unwrap()
        .unwrap();
        assert_eq!(m.public_url, "https://chat.example.com");
        let shown = format!("{m:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("***"), "{shown}");
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(MailSettings::parse(Some("ftp://h"), "a@b.c", "http://x").is_err());
        assert!(MailSettings::parse(Some("smtp://h:25"), "not a mailbox", "http://x").is_err());
        assert!(MailSettings::parse(Some("smtp://h:25"), "a@b.c", "x").is_err());
    }
}
