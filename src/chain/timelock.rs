//! Timelocked weight commits (`commit_timelocked_weights`, `bittensor-wire.md` §5.7): the
//! weights are encrypted to a future round of the drand **quicknet** beacon, and the chain
//! decrypts them itself once that round's signature is published — no reveal extrinsic.
//!
//! - The payload is SCALE `WeightsTlockPayload { hotkey, uids, values, version_key }`.
//! - Encryption is Boneh–Franklin identity-based encryption to identity `sha256(round BE)` under
//!   quicknet's public key, wrapping a random 32-byte key that AES-GCM-encrypts the payload
//!   (the `timelock` crate's TinyBLS381 engine and AES-GCM provider).
//! - The bytes on chain are the ciphertext as the chain's pinned timelock revision serialises it:
//!   the two 32-byte IBE hashes carry a u64 length prefix, which the crates.io `timelock`
//!   release writes without. [`encrypt`] and [`decrypt`] convert between the two layouts; the
//!   cryptography itself is the crate's.
//! - [`reveal_block`] predicts the block whose epoch reveals a commit made now, by stepping the
//!   subnet's epoch state forward as the chain does; [`reveal_round`] maps it to a drand round.

use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use parity_scale_codec::Encode;
use sha2::{Digest, Sha256};
use timelock::block_ciphers::AESGCMBlockCipherProvider;
use timelock::engines::drand::TinyBLS381;
use timelock::engines::EngineBLS;
use timelock::ibe::fullident::Identity;
use timelock::tlock::{tld, tle, TLECiphertext};

/// drand quicknet's public key (G2, compressed).
pub const QUICKNET_PUBLIC_KEY: &str = "83cf0f2896adee7eb8b5f01fcad3912212c437e0073e911fb90022d3e760183c8c4b450b6a0a6c3ac6a5776a2d1064510d1fec758c921cc22b0e17e63aaf4bcb5ed66304de9cf809bd274ca73bab4af5a6e9c76a4bc09e76eae8991ef5ece45a";
/// Unix time of quicknet round 1's predecessor (round `n` is published at genesis + 3n s).
pub const QUICKNET_GENESIS: u64 = 1_692_803_367;
/// Seconds between quicknet rounds.
pub const QUICKNET_PERIOD: u64 = 3;
/// Blocks added after the predicted reveal block so the pulse is on chain when it is needed.
pub const SECURITY_BLOCK_OFFSET: u64 = 3;
/// Epochs run at the latest this many blocks after the last step (`bittensor-wire.md` §5.7).
const MAX_BLOCKS_BETWEEN_STEPS: u64 = 50_400;

const G2_COMPRESSED: usize = 96;
const HASH: usize = 32;

/// Why a timelocked commit could not be made or opened.
#[derive(Debug, thiserror::Error)]
pub enum TimelockError {
    #[error("timelock encryption failed: {0}")]
    Encrypt(String),
    #[error("not a timelock ciphertext: {0}")]
    Malformed(String),
    #[error(
        "the signature does not open this ciphertext (wrong round or not a quicknet signature)"
    )]
    WrongSignature,
}

/// What the chain decrypts and applies as weights.
#[derive(Debug, Clone, PartialEq, Eq, Encode, parity_scale_codec::Decode)]
pub struct WeightsTlockPayload {
    /// The committing hotkey's 32-byte public key.
    pub hotkey: Vec<u8>,
    pub uids: Vec<u16>,
    pub values: Vec<u16>,
    pub version_key: u64,
}

fn quicknet_key() -> <TinyBLS381 as EngineBLS>::PublicKeyGroup {
    let bytes = hex::decode(QUICKNET_PUBLIC_KEY).expect("the quicknet key constant is hex");
    <TinyBLS381 as EngineBLS>::PublicKeyGroup::deserialize_compressed(&bytes[..])
        .expect("the quicknet key constant is a G2 point")
}

fn identity(round: u64) -> Identity {
    Identity::new(b"", &Sha256::digest(round.to_be_bytes()))
}

/// Encrypts `message` so that it opens with quicknet's signature of `round`; returns the bytes
/// the chain expects in `commit`.
pub fn encrypt(message: &[u8], round: u64) -> Result<Vec<u8>, TimelockError> {
    encrypt_to(quicknet_key(), message, round)
}

fn encrypt_to(
    key: <TinyBLS381 as EngineBLS>::PublicKeyGroup,
    message: &[u8],
    round: u64,
) -> Result<Vec<u8>, TimelockError> {
    let mut rng = rand::rngs::OsRng;
    let secret: [u8; 32] = rand::Rng::gen(&mut rng);
    let ciphertext =
        tle::<TinyBLS381, AESGCMBlockCipherProvider, _>(key, secret, message, identity(round), rng)
            .map_err(|e| TimelockError::Encrypt(format!("{e:?}")))?;
    let mut crate_layout = Vec::new();
    ciphertext
        .serialize_compressed(&mut crate_layout)
        .map_err(|e| TimelockError::Encrypt(e.to_string()))?;
    Ok(to_chain_layout(&crate_layout))
}

/// Opens a chain-layout ciphertext with the beacon signature (48 bytes, compressed G1) of its
/// round.
pub fn decrypt(ciphertext: &[u8], signature: &[u8]) -> Result<Vec<u8>, TimelockError> {
    let crate_layout = from_chain_layout(ciphertext)?;
    let ciphertext = TLECiphertext::<TinyBLS381>::deserialize_compressed(&crate_layout[..])
        .map_err(|e| TimelockError::Malformed(e.to_string()))?;
    let signature = <TinyBLS381 as EngineBLS>::SignatureGroup::deserialize_compressed(signature)
        .map_err(|e| TimelockError::Malformed(format!("signature: {e}")))?;
    tld::<TinyBLS381, AESGCMBlockCipherProvider>(ciphertext, signature)
        .map_err(|_| TimelockError::WrongSignature)
}

/// `u ‖ v ‖ w ‖ rest` → `u ‖ len ‖ v ‖ len ‖ w ‖ rest` (lengths u64 LE).
fn to_chain_layout(crate_layout: &[u8]) -> Vec<u8> {
    let (u, rest) = crate_layout.split_at(G2_COMPRESSED);
    let (v, rest) = rest.split_at(HASH);
    let (w, rest) = rest.split_at(HASH);
    let length = (HASH as u64).to_le_bytes();
    [u, &length, v, &length, w, rest].concat()
}

fn from_chain_layout(chain_layout: &[u8]) -> Result<Vec<u8>, TimelockError> {
    let header = G2_COMPRESSED + 2 * (8 + HASH);
    if chain_layout.len() < header {
        return Err(TimelockError::Malformed(format!(
            "{} bytes, shorter than the {header}-byte header",
            chain_layout.len()
        )));
    }
    let length = (HASH as u64).to_le_bytes();
    let (u, rest) = chain_layout.split_at(G2_COMPRESSED);
    let (v_len, rest) = rest.split_at(8);
    let (v, rest) = rest.split_at(HASH);
    let (w_len, rest) = rest.split_at(8);
    let (w, rest) = rest.split_at(HASH);
    if v_len != length || w_len != length {
        return Err(TimelockError::Malformed(
            "the IBE hashes are not 32 bytes long".into(),
        ));
    }
    Ok([u, v, w, rest].concat())
}

/// The commit bytes for `uids`/`values` of `hotkey`, opening at `round`.
pub fn weights_commit(
    hotkey: &crate::keys::PublicKey,
    uids: &[u16],
    values: &[u16],
    version_key: u64,
    round: u64,
) -> Result<Vec<u8>, TimelockError> {
    let payload = WeightsTlockPayload {
        hotkey: hotkey.0.to_vec(),
        uids: uids.to_vec(),
        values: values.to_vec(),
        version_key,
    };
    encrypt(&payload.encode(), round)
}

/// A subnet's epoch bookkeeping at one block (`bittensor-wire.md` §5.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochSchedule {
    pub last_epoch_block: u64,
    /// Block of an owner-triggered epoch still to run, 0 if none.
    pub pending_epoch_at: u64,
    pub epoch_index: u64,
    pub tempo: u16,
    pub blocks_since_last_step: u64,
    /// The block these values were read at.
    pub block: u64,
}

impl EpochSchedule {
    fn should_run(&self, block: u64) -> bool {
        self.tempo != 0
            && ((self.pending_epoch_at > 0 && block >= self.pending_epoch_at)
                || self.blocks_since_last_step > MAX_BLOCKS_BETWEEN_STEPS
                || block.saturating_sub(self.last_epoch_block) >= u64::from(self.tempo))
    }

    /// The epoch an extrinsic in `block` belongs to (before that block's own step).
    fn epoch_before(&self, block: u64) -> u64 {
        self.epoch_index + u64::from(self.should_run(block))
    }

    /// The state after `block` was stepped.
    fn step(mut self, block: u64) -> Self {
        self.blocks_since_last_step += 1;
        if self.should_run(block) {
            self.last_epoch_block = block;
            self.pending_epoch_at = 0;
            self.epoch_index += 1;
            self.blocks_since_last_step = 0;
        }
        self
    }
}

/// The first block whose epoch reveals a commit included in the block after `state.block`,
/// `reveal_period` epochs later; `None` for a subnet whose tempo is 0 (no epochs run).
pub fn reveal_block(state: EpochSchedule, reveal_period: u64) -> Option<u64> {
    if state.tempo == 0 {
        return None;
    }
    // The commit lands in the block after the one the state was read at.
    let first = state.block + 1;
    let mut current = state;
    let commit_epoch = current.epoch_before(first);
    let target = commit_epoch + reveal_period;
    // An epoch runs at least every tempo blocks, so the search is bounded.
    let limit =
        first + (reveal_period + 2) * (u64::from(state.tempo) + 1) + MAX_BLOCKS_BETWEEN_STEPS;
    let mut block = first;
    while block <= limit {
        if current.epoch_before(block) >= target {
            return Some(block);
        }
        current = current.step(block);
        block += 1;
    }
    None
}

/// The reveal block by the formula of runtimes without the stateful epoch storage (spec ≤ 393):
/// epoch of block `b` = `(b + netuid + 1) / (tempo + 1)`.
pub fn reveal_block_fixed_epochs(
    block: u64,
    netuid: u16,
    tempo: u16,
    reveal_period: u64,
) -> Option<u64> {
    if tempo == 0 {
        return None;
    }
    let length = u64::from(tempo) + 1;
    let offset = u64::from(netuid) + 1;
    let commit_epoch = (block + 1 + offset) / length;
    Some(((commit_epoch + reveal_period) * length).saturating_sub(offset))
}

/// The quicknet round published when `reveal_block` (plus [`SECURITY_BLOCK_OFFSET`]) is
/// reached, `block_time_secs` apart from `current_block` observed at `now_unix`.
pub fn reveal_round(
    reveal_block: u64,
    current_block: u64,
    now_unix: f64,
    block_time_secs: f64,
) -> u64 {
    let blocks = (reveal_block + SECURITY_BLOCK_OFFSET).saturating_sub(current_block);
    let at = now_unix + blocks as f64 * block_time_secs;
    (((at - QUICKNET_GENESIS as f64) / QUICKNET_PERIOD as f64).floor() as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// quicknet's published beacon for round 1000 (public data).
    const ROUND_1000_SIGNATURE: &str = "b44679b9a59af2ec876b1a6b1ad52ea9b1615fc3982b19576350f93447cb1125e342b73a8dd2bacbe47e4b6b63ed5e39";

    #[test]
    fn encrypts_to_a_round_that_the_beacon_signature_opens() {
        let signature = hex::decode(ROUND_1000_SIGNATURE).unwrap();
        let sealed = encrypt(b"weights", 1000).unwrap();
        assert_eq!(decrypt(&sealed, &signature).unwrap(), b"weights");
        // Another round's identity: the round-1000 signature does not open it.
        let other = encrypt(b"weights", 1001).unwrap();
        assert!(matches!(
            decrypt(&other, &signature),
            Err(TimelockError::WrongSignature)
        ));
        assert!(matches!(
            decrypt(&sealed[..100], &signature),
            Err(TimelockError::Malformed(_))
        ));
    }

    #[test]
    fn epochs_every_tempo_blocks() {
        // Last epoch at 1000, tempo 10: epochs run at 1010, 1020, … A commit in block 1006
        // is in epoch 5; with a reveal period of 1 it opens in epoch 6, which starts at 1010.
        let state = EpochSchedule {
            last_epoch_block: 1000,
            pending_epoch_at: 0,
            epoch_index: 5,
            tempo: 10,
            blocks_since_last_step: 5,
            block: 1005,
        };
        assert_eq!(reveal_block(state, 1), Some(1010));
        assert_eq!(reveal_block(state, 2), Some(1020));
        // An owner-triggered epoch at 1007 comes first.
        let pending = EpochSchedule {
            pending_epoch_at: 1007,
            ..state
        };
        assert_eq!(reveal_block(pending, 1), Some(1007));
        assert_eq!(reveal_block(pending, 2), Some(1017));
        assert_eq!(reveal_block(EpochSchedule { tempo: 0, ..state }, 1), None);
    }

    #[test]
    fn fixed_epoch_formula_and_round_mapping() {
        // netuid 1, tempo 9: epochs of 10 blocks offset by 2; block 100 → epoch 10.
        assert_eq!(reveal_block_fixed_epochs(99, 1, 9, 1), Some(108));
        let round = reveal_round(1010, 1000, QUICKNET_GENESIS as f64 + 3000.0, 12.0);
        // 13 blocks of 12 s after round 1000's time: 156 s = 52 rounds.
        assert_eq!(round, 1052);
        assert_eq!(reveal_round(0, 10, 0.0, 12.0), 1);
    }
}
