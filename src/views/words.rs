//! Schemas of string fields that hold one of a few words, for
//! `#[schema(schema_with = ...)]`: the document lists the words, so a client
//! generator gets an enum (and, for an event's `type`, a discriminator whose
//! value selects exactly one schema of `Event`).

use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

fn one_of(words: &[&str]) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(words.iter().copied()))
        .build()
}

macro_rules! words {
    ($($(#[$doc:meta])* $name:ident => [$($word:literal),+];)+) => {$(
        $(#[$doc])*
        pub(crate) fn $name() -> Object {
            one_of(&[$($word),+])
        }
    )+};
}

words! {
    /// The `type` of a `message` event.
    message => ["message"];
    edit => ["edit"];
    delete => ["delete"];
    reaction => ["reaction"];
    hidden => ["hidden"];
    horizon => ["horizon"];
    access_revoked => ["access_revoked"];
    /// A member's role (`domain::Role`).
    role => ["owner", "moderator", "member"];
    /// The roles the owner can give (never a second owner).
    assignable_role => ["moderator", "member"];
    /// A member's notification level (`views::NotificationsView`).
    notify_level => ["all", "mentions", "none"];
    /// `RoomView::kind`.
    room_kind => ["room", "direct"];
    /// Why an `access_revoked` notice ended a subscription.
    revoke_reason => ["left", "removed", "banned", "room_deleted"];
}
