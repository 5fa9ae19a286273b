//! The hash a `commit_weights` extrinsic carries (`bittensor-wire.md` §5.7): blake2b-256 over
//! the SCALE encoding of `(hotkey, netuid_index, uids, values, salt, version_key)`.

use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};
use parity_scale_codec::Encode;

use crate::keys::PublicKey;

/// `get_commit_hash` of the subtensor pallet. `netuid_index` is `mechanism · 4096 + netuid`,
/// i.e. the netuid itself for mechanism 0.
pub fn commit_hash(
    hotkey: &PublicKey,
    netuid_index: u16,
    uids: &[u16],
    values: &[u16],
    salt: &[u16],
    version_key: u64,
) -> [u8; 32] {
    // The account id encodes as its 32 raw bytes; the vectors with a compact length prefix.
    let encoded = (hotkey.0, netuid_index, uids, values, salt, version_key).encode();
    Blake2b::<U32>::digest(encoded).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_is_the_documented_tuple() {
        let hotkey = PublicKey([7; 32]);
        let encoded = (
            hotkey.0,
            27u16,
            &[1u16, 2][..],
            &[65535u16][..],
            &[9u16][..],
            183u64,
        )
            .encode();
        let mut expected = vec![7u8; 32];
        expected.extend([27, 0]); // netuid u16 LE
        expected.extend([8, 1, 0, 2, 0]); // compact(2) ‖ 1 ‖ 2
        expected.extend([4, 255, 255]); // compact(1) ‖ 65535
        expected.extend([4, 9, 0]); // salt
        expected.extend(183u64.to_le_bytes());
        assert_eq!(encoded, expected);
        assert_ne!(
            commit_hash(&hotkey, 27, &[1, 2], &[65535], &[9], 183),
            commit_hash(&hotkey, 27, &[1, 2], &[65535], &[9], 184)
        );
    }
}
