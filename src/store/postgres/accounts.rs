//! Postgres's SQL for logins (`store/logins.rs`) and accounts
//! (`store/accounts.rs`). Ending a login takes its
//! family's advisory lock first, as a rotation does (`postgres/mod.rs`), so
//! a token rotated meanwhile is revoked too, never left live.

use super::PostgresStore;
use crate::store::Timestamp;
use crate::store::accounts::{AccountQueries, impl_accounts};
use crate::store::logins::{LoginQueries, impl_logins};

const LOGIN_SQL: LoginQueries = LoginQueries {
    insert_login: "INSERT INTO logins (user_id, family, user_agent, created_at, last_used_at) \
                   VALUES ($1, $2, $3, $4, $4) RETURNING id",
    insert_refresh_token: "INSERT INTO refresh_tokens (token_hash, user_id, family, expires_at) \
                           VALUES ($1, $2, $3, $4)",
    live_logins: "SELECT l.id, l.created_at, l.last_used_at, l.user_agent FROM logins l \
                  WHERE l.user_id = $1 AND l.ended_at IS NULL \
                    AND EXISTS (SELECT 1 FROM refresh_tokens t \
                                WHERE t.family = l.family AND t.revoked_at IS NULL \
                                  AND t.rotated_at IS NULL AND t.expires_at > $2) \
                  ORDER BY l.last_used_at DESC, l.id DESC LIMIT $3",
    open_logins: "SELECT id, family FROM logins WHERE user_id = $1 AND ended_at IS NULL \
                  ORDER BY family",
    lock_family: Some("SELECT pg_advisory_xact_lock(1347570777, hashtext($1))"),
    end_login: "UPDATE logins SET ended_at = $2 WHERE id = $1 AND ended_at IS NULL",
    revoke_family: "UPDATE refresh_tokens SET revoked_at = $2 \
                    WHERE family = $1 AND revoked_at IS NULL",
    ended_since: "SELECT user_id, id FROM logins WHERE ended_at > $1",
    login_of_token: "SELECT l.user_id, l.id FROM refresh_tokens t \
                     JOIN logins l ON l.family = t.family WHERE t.token_hash = $1",
};

impl_logins!(store: PostgresStore, time: Timestamp, sql: LOGIN_SQL);

const ACCOUNT_SQL: AccountQueries = AccountQueries {
    account_info: "SELECT email, email_verified, totp_enabled FROM users WHERE id = $1",
    password_hash: "SELECT password_hash FROM users WHERE id = $1",
    set_password_hash: "UPDATE users SET password_hash = $2 WHERE id = $1",
    totp_state: "SELECT totp_secret, totp_enabled, totp_last_step FROM users WHERE id = $1",
    set_totp_secret: "UPDATE users SET totp_secret = $2, totp_last_step = NULL \
                      WHERE id = $1 AND NOT totp_enabled",
    enable_totp: "UPDATE users SET totp_enabled = TRUE, totp_last_step = $2 \
                  WHERE id = $1 AND NOT totp_enabled AND totp_secret IS NOT NULL \
                    AND (totp_last_step IS NULL OR totp_last_step < $2)",
    delete_recovery_codes: "DELETE FROM recovery_codes WHERE user_id = $1",
    insert_recovery_code: "INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)",
    use_totp_step: "UPDATE users SET totp_last_step = $2 \
                    WHERE id = $1 AND totp_enabled \
                      AND (totp_last_step IS NULL OR totp_last_step < $2)",
    use_recovery_code: "UPDATE recovery_codes SET used_at = $3 \
                        WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
    disable_totp: "UPDATE users SET totp_enabled = FALSE, totp_secret = NULL, \
                   totp_last_step = NULL WHERE id = $1",
};

impl_accounts!(store: PostgresStore, time: Timestamp, sql: ACCOUNT_SQL);
