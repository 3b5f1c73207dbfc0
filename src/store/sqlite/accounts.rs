//! SQLite's SQL for logins (`store/logins.rs`) and accounts
//! (`store/accounts.rs`). `BEGIN IMMEDIATE` holds the database's only
//! write lock, so no family lock is needed.

use super::{Millis, SqliteStore};
use crate::store::accounts::{AccountQueries, impl_accounts};
use crate::store::logins::{LoginQueries, impl_logins};
use crate::store::mail_tokens::{MailTokenQueries, impl_mail_tokens};

const LOGIN_SQL: LoginQueries = LoginQueries {
    insert_login: "INSERT INTO logins (user_id, family, user_agent, created_at, last_used_at) \
                   VALUES (?1, ?2, ?3, ?4, ?4) RETURNING id",
    insert_refresh_token: "INSERT INTO refresh_tokens \
                               (token_hash, user_id, family, expires_at, created_at) \
                           VALUES (?1, ?2, ?3, ?4, \
                               CAST(ROUND((julianday('now') - 2440587.5) * 86400000) AS INTEGER))",
    live_logins: "SELECT l.id, l.created_at, l.last_used_at, l.user_agent FROM logins l \
                  WHERE l.user_id = ?1 AND l.ended_at IS NULL \
                    AND EXISTS (SELECT 1 FROM refresh_tokens t \
                                WHERE t.family = l.family AND t.revoked_at IS NULL \
                                  AND t.rotated_at IS NULL AND t.expires_at > ?2) \
                  ORDER BY l.last_used_at DESC, l.id DESC LIMIT ?3",
    open_logins: "SELECT id, family FROM logins WHERE user_id = ?1 AND ended_at IS NULL \
                  ORDER BY family",
    lock_family: None,
    end_login: "UPDATE logins SET ended_at = ?2 WHERE id = ?1 AND ended_at IS NULL",
    revoke_family: "UPDATE refresh_tokens SET revoked_at = ?2 \
                    WHERE family = ?1 AND revoked_at IS NULL",
    ended_since: "SELECT user_id, id FROM logins WHERE ended_at > ?1",
    login_of_token: "SELECT l.user_id, l.id FROM refresh_tokens t \
                     JOIN logins l ON l.family = t.family WHERE t.token_hash = ?1",
    mark_used: "UPDATE logins SET last_used_at = ?2 \
                WHERE id = ?1 AND ended_at IS NULL AND last_used_at < ?2",
};

impl_logins!(store: SqliteStore, time: Millis, sql: LOGIN_SQL);

const ACCOUNT_SQL: AccountQueries = AccountQueries {
    account_info: "SELECT email, email_verified, totp_enabled FROM users WHERE id = ?1",
    password_hash: "SELECT password_hash FROM users WHERE id = ?1",
    set_password_hash: "UPDATE users SET password_hash = ?2 WHERE id = ?1",
    totp_state: "SELECT totp_secret, totp_enabled, totp_last_step FROM users WHERE id = ?1",
    set_totp_secret: "UPDATE users SET totp_secret = ?2, totp_last_step = NULL \
                      WHERE id = ?1 AND NOT totp_enabled",
    enable_totp: "UPDATE users SET totp_enabled = TRUE, totp_last_step = ?2 \
                  WHERE id = ?1 AND NOT totp_enabled AND totp_secret IS NOT NULL \
                    AND (totp_last_step IS NULL OR totp_last_step < ?2)",
    delete_recovery_codes: "DELETE FROM recovery_codes WHERE user_id = ?1",
    insert_recovery_code: "INSERT INTO recovery_codes (user_id, code_hash) VALUES (?1, ?2)",
    use_totp_step: "UPDATE users SET totp_last_step = ?2 \
                    WHERE id = ?1 AND totp_enabled \
                      AND (totp_last_step IS NULL OR totp_last_step < ?2)",
    use_recovery_code: "UPDATE recovery_codes SET used_at = ?3 \
                        WHERE user_id = ?1 AND code_hash = ?2 AND used_at IS NULL",
    disable_totp: "UPDATE users SET totp_enabled = FALSE, totp_secret = NULL, \
                   totp_last_step = NULL WHERE id = ?1",
};

impl_accounts!(store: SqliteStore, time: Millis, sql: ACCOUNT_SQL);

const MAIL_SQL: MailTokenQueries = MailTokenQueries {
    lock_user: None,
    count_since: "SELECT count(*) FROM account_tokens \
                  WHERE user_id = ?1 AND kind = ?2 AND created_at > ?3",
    void_email_codes: "UPDATE account_tokens SET used_at = ?2 \
                       WHERE user_id = ?1 AND kind = 'email' AND used_at IS NULL",
    set_email: "UPDATE users SET email = ?2, email_verified = 0 WHERE id = ?1",
    insert_token: "INSERT INTO account_tokens \
                       (token_hash, user_id, kind, email, expires_at, created_at) \
                   VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                   ON CONFLICT (token_hash) DO UPDATE SET user_id = ?2, kind = ?3, email = ?4, \
                       attempts = 0, expires_at = ?5, used_at = NULL, created_at = ?6",
    live_email_code: "SELECT token_hash, email FROM account_tokens \
                      WHERE user_id = ?1 AND kind = 'email' AND used_at IS NULL \
                        AND expires_at > ?2 \
                      ORDER BY created_at DESC LIMIT 1",
    count_wrong: "UPDATE account_tokens SET attempts = attempts + 1, \
                      used_at = CASE WHEN attempts + 1 >= ?3 THEN ?2 ELSE used_at END \
                  WHERE token_hash = ?1",
    use_token: "UPDATE account_tokens SET used_at = ?2 WHERE token_hash = ?1",
    verify_email: "UPDATE users SET email_verified = 1 WHERE id = ?1 AND email = ?2",
    user_by_verified_email: "SELECT id, email FROM users \
                             WHERE lower(email) = lower(?1) AND email_verified",
    reset_token_live: "SELECT 1 FROM account_tokens \
                       WHERE token_hash = ?1 AND kind = 'reset' AND used_at IS NULL \
                         AND expires_at > ?2",
    consume_reset: "UPDATE account_tokens SET used_at = ?2 \
                    WHERE token_hash = ?1 AND kind = 'reset' AND used_at IS NULL \
                      AND expires_at > ?2 RETURNING user_id",
    void_resets: "UPDATE account_tokens SET used_at = ?2 \
                  WHERE user_id = ?1 AND kind = 'reset' AND used_at IS NULL",
    set_password_hash: "UPDATE users SET password_hash = ?2 WHERE id = ?1",
};

impl_mail_tokens!(store: SqliteStore, time: Millis, sql: MAIL_SQL);
