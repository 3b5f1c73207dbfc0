//! Which of a Redis Cluster's 16384 hash slots a key (or a shard channel)
//! belongs to, as Redis computes it: CRC16 (XMODEM) of the key, or of its
//! hash tag (the part between the first `{` and the next `}`, if not
//! empty), modulo 16384.

/// How many hash slots a Redis Cluster has.
pub const SLOTS: u16 = 16_384;

/// The slot of `key`.
pub fn of(key: &[u8]) -> u16 {
    crc16(hash_tag(key)) % SLOTS
}

/// The part of `key` that is hashed.
fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&b| b == b'{')
        && let Some(len) = key[open + 1..].iter().position(|&b| b == b'}')
        && len > 0
    {
        return &key[open + 1..open + 1 + len];
    }
    key
}

/// CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0.
fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_matches_the_cluster_specification_vector() {
        // The Redis Cluster specification's check value.
        assert_eq!(crc16(b"123456789"), 0x31C3);
    }

    #[test]
    fn slots_match_redis() {
        // What `CLUSTER KEYSLOT` answers for these keys.
        assert_eq!(of(b"foo"), 12182);
        assert_eq!(of(b"bar"), 5061);
        assert_eq!(of(b""), 0);
    }

    #[test]
    fn a_hash_tag_decides_the_slot() {
        assert_eq!(of(b"{user1000}.following"), of(b"user1000"));
        assert_eq!(of(b"{user1000}.followers"), of(b"user1000"));
        // Only the first tag counts; an empty one means the whole key.
        assert_eq!(of(b"foo{bar}{zap}"), of(b"bar"));
        assert_eq!(of(b"foo{}{bar}"), crc16(b"foo{}{bar}") % SLOTS);
        assert_eq!(of(b"foo{{bar}}zap"), of(b"{bar"));
        // An unclosed brace is part of the key.
        assert_eq!(of(b"foo{bar"), crc16(b"foo{bar") % SLOTS);
    }
}
