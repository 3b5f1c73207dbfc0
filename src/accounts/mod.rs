//! Accounts beyond signing in (README, "Accounts"): profiles, which others
//! see live, and closing an account, which erases what it wrote.
//!
//! `profile.rs` changes a profile and tells whoever shares a room with the
//! user (`user_updated` on the user destination); `deletion.rs` closes an
//! account ([`delete_account`], also what an administrator's deletion
//! calls) and resumes an erasure a restart interrupted; `sessions.rs` ends
//! what a deactivated or deleted account (and the bots it owns) has open.
//! They go through the existing owners of each rule: the room log's deletions through `chat`,
//! leaving rooms through `membership`, the rows through the store's
//! `ProfileStore`. Nothing here speaks HTTP (`http/profile.rs`,
//! `http/export.rs` do).

mod deletion;
mod profile;
mod sessions;

pub use deletion::{
    DeletionError, ERASE_PAGE, delete_account, delete_account_as_admin, resume_erasures,
};
pub use profile::{announce_profile, update_profile};
pub use sessions::end_sessions;
