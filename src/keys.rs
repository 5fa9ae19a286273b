//! sr25519 keys and ss58 addresses, derived exactly as the Python tools derive them.
//!
//! Hotkeys sign synapses and extrinsics, coldkeys pay; every part of sn27 that names a
//! neuron or checks a signature uses these two types (the wire, the axon, the chain, the
//! wallet files). This module does no I/O.
//!
//! A mnemonic becomes a key through substrate-bip39 (BIP39 *entropy* → PBKDF2-HMAC-SHA512 →
//! 32-byte mini-secret → schnorrkel expansion in Ed25519 mode), which is what `sp-core`'s
//! `Pair::from_phrase` does and what `bittensor-wallet` does. It is not the standard BIP39 seed.
//!
//! Secret material lives only inside [`Keypair`]; its `Debug` output names the address and
//! nothing else, so a keypair that ends up in a log line leaks nothing.

use std::fmt;

use sp_core::crypto::{Ss58AddressFormat, Ss58Codec};
use sp_core::{sr25519, Pair as _};
use zeroize::Zeroizing;

/// A key, address, mnemonic or seed that cannot be used; the message names it (never the
/// secret itself).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("invalid mnemonic: {0}")]
    InvalidMnemonic(String),
    #[error("invalid seed: {0}")]
    InvalidSeed(String),
    #[error("invalid address {address:?}: {reason}")]
    InvalidAddress { address: String, reason: String },
}

/// The ss58 address format of every Bittensor network.
pub const SS58_FORMAT: u16 = 42;

/// Word counts a BIP39 mnemonic may have.
pub const MNEMONIC_WORD_COUNTS: [usize; 5] = [12, 15, 18, 21, 24];

/// A 32-byte sr25519 public key: a hotkey or coldkey address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// Parses an ss58 address and insists on format 42, so that a Polkadot or Kusama address
    /// pasted by mistake is refused rather than silently reinterpreted.
    pub fn from_ss58(address: &str) -> Result<Self, KeyError> {
        let (public, format) = sr25519::Public::from_ss58check_with_version(address.trim())
            .map_err(|e| KeyError::InvalidAddress {
                address: address.to_owned(),
                reason: format!("{e:?}"),
            })?;
        if u16::from(format) != SS58_FORMAT {
            return Err(KeyError::InvalidAddress {
                address: address.to_owned(),
                reason: format!(
                    "ss58 format {} is not Bittensor's format {SS58_FORMAT}",
                    u16::from(format)
                ),
            });
        }
        Ok(PublicKey(public.0))
    }

    /// Parses `0x`-prefixed (or bare) hex of exactly 32 bytes.
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        let bytes = decode_hex(text).ok_or_else(|| KeyError::InvalidAddress {
            address: text.to_owned(),
            reason: "not hex".into(),
        })?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| KeyError::InvalidAddress {
            address: text.to_owned(),
            reason: "a public key is 32 bytes".into(),
        })?;
        Ok(PublicKey(bytes))
    }

    pub fn to_ss58(&self) -> String {
        sr25519::Public::from_raw(self.0)
            .to_ss58check_with_version(Ss58AddressFormat::custom(SS58_FORMAT))
    }

    /// `0x`-prefixed lower-case hex, the form keyfiles store.
    pub fn to_hex(&self) -> String {
        format!("0x{}", hex::encode(self.0))
    }

    /// Verifies an sr25519 signature (context `substrate`) over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(signature) = <[u8; 64]>::try_from(signature) else {
            return false;
        };
        sr25519::Pair::verify(
            &sr25519::Signature::from_raw(signature),
            message,
            &sr25519::Public::from_raw(self.0),
        )
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_ss58())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_ss58())
    }
}

/// An sr25519 key pair, with the mnemonic or seed it came from when known (a keyfile keeps
/// them so that the key can be regenerated elsewhere).
#[derive(Clone)]
pub struct Keypair {
    pair: sr25519::Pair,
    mnemonic: Option<Zeroizing<String>>,
    seed: Option<Zeroizing<[u8; 32]>>,
}

impl Keypair {
    /// Generates a fresh key from a new random mnemonic of `words` words.
    pub fn generate(words: usize) -> Result<Self, KeyError> {
        if !MNEMONIC_WORD_COUNTS.contains(&words) {
            return Err(KeyError::InvalidMnemonic(format!(
                "{words} words requested; a mnemonic has 12, 15, 18, 21 or 24 words"
            )));
        }
        let mnemonic = bip39::Mnemonic::generate(words)
            .map_err(|e| KeyError::InvalidMnemonic(e.to_string()))?;
        Self::from_mnemonic(&mnemonic.to_string())
    }

    /// Derives the key of an English BIP39 mnemonic (no passphrase), as `bittensor-wallet` does.
    pub fn from_mnemonic(phrase: &str) -> Result<Self, KeyError> {
        // Normalise spacing the way a person types it; the word list itself is checked by bip39.
        let phrase = Zeroizing::new(phrase.split_whitespace().collect::<Vec<_>>().join(" "));
        let words = phrase.split(' ').count();
        let (pair, seed) = sr25519::Pair::from_phrase(&phrase, None).map_err(|_| {
            KeyError::InvalidMnemonic(format!(
                "{words} words given; expected 12, 15, 18, 21 or 24 English BIP39 words with a valid checksum"
            ))
        })?;
        Ok(Keypair {
            pair,
            mnemonic: Some(phrase),
            seed: Some(Zeroizing::new(seed)),
        })
    }

    /// Builds a key from a 32-byte mini-secret (`secretSeed`) or a 64-byte secret key
    /// (`privateKey`: scalar ‖ nonce).
    pub fn from_secret_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let pair = sr25519::Pair::from_seed_slice(bytes).map_err(|_| {
            KeyError::InvalidSeed(format!(
                "{} bytes given; a seed is 32 bytes and a private key 64 bytes",
                bytes.len()
            ))
        })?;
        let seed = <[u8; 32]>::try_from(bytes).ok().map(Zeroizing::new);
        Ok(Keypair {
            pair,
            mnemonic: None,
            seed,
        })
    }

    /// Parses a `0x`-prefixed (or bare) hex seed or private key.
    pub fn from_secret_hex(text: &str) -> Result<Self, KeyError> {
        let bytes = Zeroizing::new(
            decode_hex(text).ok_or_else(|| KeyError::InvalidSeed("not hex".into()))?,
        );
        Self::from_secret_bytes(&bytes)
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.pair.public().0)
    }

    pub fn ss58(&self) -> String {
        self.public().to_ss58()
    }

    /// The 64-byte schnorrkel secret key (scalar ‖ nonce), as keyfiles store it.
    pub fn private_key(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.pair.to_raw_vec())
    }

    pub fn mnemonic(&self) -> Option<&str> {
        self.mnemonic.as_deref().map(String::as_str)
    }

    pub fn seed(&self) -> Option<&[u8; 32]> {
        self.seed.as_deref()
    }

    /// Signs with context `substrate`, the signature every Bittensor peer verifies.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.pair.sign(message).0
    }
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keypair({}, secret redacted)", self.ss58())
    }
}

/// Decodes hex with or without a `0x` prefix.
pub(crate) fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    let text = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    hex::decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABANDON: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

    /// The test vector of `bittensor-wire.md` §6.4.
    #[test]
    fn mnemonic_vector_matches_python_derivation() {
        let key = Keypair::from_mnemonic(ABANDON).unwrap();
        assert_eq!(
            hex::encode(key.seed().unwrap()),
            "4ed8d4b17698ddeaa1f1559f152f87b5d472f725ca86d341bd0276f1b61197e2"
        );
        assert_eq!(
            key.public().to_hex(),
            "0x66933bd1f37070ef87bd1198af3dacceb095237f803f3d32b173e6b425ed7972"
        );
        assert_eq!(
            key.ss58(),
            "5EPCUjPxiHAcNooYipQFWr9NmmXJKpNG5RhcntXwbtUySrgH"
        );
        assert_eq!(
            hex::encode(key.private_key().as_slice()),
            "2ec306fc1c5bc2f0e3a2c7a6ec6014ca4a0823a7d7d42ad5e9d7f376a1c36c0d14a2ddb1ef1df4adba49f3a4d8c0f6205117907265f09a53ccf07a4e8616dfd8"
        );
    }

    #[test]
    fn private_key_and_seed_reproduce_the_same_key() {
        let key = Keypair::from_mnemonic(ABANDON).unwrap();
        let from_private = Keypair::from_secret_bytes(&key.private_key()).unwrap();
        let from_seed = Keypair::from_secret_bytes(key.seed().unwrap()).unwrap();
        assert_eq!(from_private.public(), key.public());
        assert_eq!(from_seed.public(), key.public());
    }

    #[test]
    fn dev_addresses_round_trip_through_ss58() {
        for address in [
            "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
            "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty",
        ] {
            assert_eq!(PublicKey::from_ss58(address).unwrap().to_ss58(), address);
        }
    }

    #[test]
    fn foreign_ss58_format_is_refused() {
        // Alice's key in Polkadot's format 0.
        let err =
            PublicKey::from_ss58("15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5").unwrap_err();
        assert!(err.to_string().contains("format 0"), "{err}");
    }

    #[test]
    fn signatures_verify_and_tampering_fails() {
        let key = Keypair::generate(12).unwrap();
        let signature = key.sign(b"message");
        assert!(key.public().verify(b"message", &signature));
        assert!(!key.public().verify(b"messagE", &signature));
        assert!(!key.public().verify(b"message", &signature[..63]));
    }

    #[test]
    fn generated_mnemonics_have_the_requested_length() {
        for words in MNEMONIC_WORD_COUNTS {
            let key = Keypair::generate(words).unwrap();
            assert_eq!(key.mnemonic().unwrap().split(' ').count(), words);
            let again = Keypair::from_mnemonic(key.mnemonic().unwrap()).unwrap();
            assert_eq!(again.public(), key.public());
        }
        assert!(Keypair::generate(13).is_err());
    }

    #[test]
    fn bad_mnemonic_and_seed_are_errors() {
        assert!(Keypair::from_mnemonic("abandon abandon abandon").is_err());
        assert!(Keypair::from_mnemonic(&ABANDON.replace("about", "abandon")).is_err());
        assert!(Keypair::from_secret_hex("0x1234").is_err());
        assert!(Keypair::from_secret_hex("zz").is_err());
    }

    #[test]
    fn debug_output_hides_secrets() {
        let key = Keypair::from_mnemonic(ABANDON).unwrap();
        let shown = format!("{key:?}");
        assert!(!shown.contains("abandon"));
        assert!(!shown.contains("4ed8d4b1"));
    }
}
