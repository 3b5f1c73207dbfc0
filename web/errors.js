// The one place where the server's error codes (`{"error":{"code",…}}`, the
// README's API tables) become sentences a person reads. Every view shows
// errors through `describeError`; a caller that knows more (whose name,
// which room) passes `overrides` (code → text). An unknown code falls back
// to the server's own message.

/** code → sentence, or a function of the error for the ones that need its details. */
const SENTENCES = {
  invalid_credentials: 'Wrong username or password.',
  too_many_attempts: (err) =>
    err.retryAfterSecs
      ? `Too many attempts. Try again in ${err.retryAfterSecs} seconds.`
      : 'Too many attempts. Try again in a little while.',
  invalid_username: 'A username is 3 to 32 letters, digits, “_”, “.” or “-”.',
  weak_password: 'That password is too short: use at least 8 characters.',
  username_taken: 'That username is taken. Choose another one.',
  invalid_refresh_token: 'Your session has ended. Log in again.',
  session_expired: 'Your session has ended. Log in again.',
  unauthorized: 'Your session has ended. Log in again.',
  invalid_room_name:
    'A room name is 1 to 64 lower-case letters, digits, “_” or “-”, and cannot start with “dm-”.',
  room_not_found: 'Room not found. It does not exist, or it is private and you have not been added to it.',
  room_exists: 'A room with that name already exists.',
  user_not_found: 'There is no user with that name.',
  not_a_member: 'You are not a member of this room any more.',
  forbidden: 'You are not allowed to do that here.',
  user_banned: 'That person is banned from this room. Unban them first.',
  owner_cannot_leave: 'The owner cannot leave their own room. Delete the room instead.',
  invalid_role: 'That role does not exist: a member is a moderator or a plain member.',
  blocked: 'This person has blocked you.',
  message_not_found: 'That message is not in this room.',
  message_deleted: 'That message has been deleted.',
  reaction_not_found: 'You had not reacted with that.',
  invalid_reaction: 'That reaction cannot be used.',
  invalid_reply: 'The message you replied to is not in this room.',
  // The server's reason ("message body is over 4096 bytes", "… is empty").
  invalid_body: (err) => `The server refused this message: ${err.message}.`,
  invalid_query: 'The server cannot answer that request: it asks for too much or too little.',
  invalid_seq: 'That position is not in this room.',
  rate_limited: 'You are sending too fast. Wait a moment and try again.',
  too_many_connections: 'Too many pages are open for this account. Close one and try again.',
  network_error: 'Cannot reach the server. Check your connection and try again.',
  totp_required: 'Enter the 6-digit code from your authenticator app, or one of your recovery codes.',
  invalid_code: 'That code is not right, or it was already used. Wait for the next code and try again.',
  totp_enabled: 'Two-factor authentication is already on.',
  not_found: 'That is no longer there.',
  forbidden_origin: 'This page’s address is not allowed to use this server. Open Parley at its own address.',
};

/** What to tell a person about a failed call (an ApiError of api.js, or any error). */
export function describeError(err, overrides = {}) {
  const code = typeof err?.code === 'string' ? err.code : null;
  if (code === null || !('status' in err)) return err?.message || String(err);
  if (Object.hasOwn(overrides, code)) return overrides[code];
  const sentence = SENTENCES[code];
  if (typeof sentence === 'function') return sentence(err);
  if (sentence) return sentence;
  // An unknown code: the server's own message.
  return err.message || `The server answered ${err.status}.`;
}

/** The codes this module words (for the tests). */
export const KNOWN_CODES = Object.keys(SENTENCES);
