//! Fuzzes the renting validator's side of credentials (`protocol::credentials`) and the
//! allocate answer it reads them from (`AllocateOutput`, as `validator::renting` reads it),
//! plus the caller-key parsing a miner does on `Allocate.public_key`.
//!
//! Input layout: the first byte selects the mode (`(b - b'0') % 5`, wrapping, so the seeds'
//! digits `0`–`4` name the modes), the rest is the hostile value:
//!
//! - `0`: a miner's `output.info` blob, opened with the fixed rental key;
//! - `1`: the decrypted credentials JSON, decoded as `Credentials` (what `open` does after
//!   decrypting), and re-encoded;
//! - `2`: a plaintext of at most 190 bytes, encrypted here to the fixed key and opened, so
//!   that decoding after a real decryption is reached; accepted credentials are then sealed
//!   as a miner seals them and must open to themselves;
//! - `3`: PEM text for `CallerKey::from_pem` and `normalize_pem`;
//! - `4`: a JSON object as a miner's `Allocate.output`: decoded, re-encoded, and its `info`
//!   opened as `renting::rent` opens it.
//!
//! The rental key is fixed (`credentials_fixture_key.pem`, a throwaway key made for this
//! target and used nowhere else) rather than generated: RSA-2048 generation is slow, and a
//! fixed key lets the seed blobs decrypt and makes every finding reproducible.

#![no_main]

use std::sync::OnceLock;

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use rsa::pkcs8::DecodePublicKey;
use rsa::{Oaep, RsaPublicKey};
use serde_json::Value;
use sha2::Sha256;
use sn27::protocol::credentials::{normalize_pem, CallerKey, Credentials, RentalKey};
use sn27::protocol::AllocateOutput;

/// Most plaintext bytes one OAEP-SHA-256 block of a 2048-bit key holds.
const MAX_PLAINTEXT: usize = 256 - 2 * 32 - 2;

struct Keys {
    rental: RentalKey,
    caller: CallerKey,
    public: RsaPublicKey,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let rental = RentalKey::from_private_pem(include_str!("credentials_fixture_key.pem"))
            .expect("the fixture key is a PKCS#8 RSA key");
        let pem = rental.public_pem();
        Keys {
            caller: CallerKey::from_pem(&pem).expect("our own public key is accepted"),
            public: RsaPublicKey::from_public_key_pem(&pem).expect("our own public key parses"),
            rental,
        }
    })
}

/// A deterministic generator for OAEP's seed: the ciphertext's randomness does not matter
/// here, reproducibility does.
struct Counter(u64);

impl rsa::rand_core::RngCore for Counter {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rsa::rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rsa::rand_core::CryptoRng for Counter {}

/// Seals `credentials` as a miner does and checks they open to themselves (less the
/// fingerprint, which `seal` drops when it does not fit the block).
fn seal_round_trip(credentials: &Credentials) {
    let keys = keys();
    let Ok(blob) = keys.caller.seal(credentials) else {
        return;
    };
    let opened = keys
        .rental
        .open(&blob)
        .expect("credentials we sealed open with the same key");
    let without_fingerprint = Credentials {
        host_key_fingerprint: None,
        ..credentials.clone()
    };
    assert!(
        opened == *credentials || opened == without_fingerprint,
        "sealed {credentials:?}, opened {opened:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let keys = keys();
    match mode.wrapping_sub(b'0') % 5 {
        0 => {
            let _ = keys.rental.open(&String::from_utf8_lossy(rest));
        }
        1 => {
            if let Ok(credentials) = serde_json::from_slice::<Credentials>(rest) {
                let text = serde_json::to_string(&credentials).expect("credentials serialise");
                let again: Credentials =
                    serde_json::from_str(&text).expect("credentials we write read back");
                assert_eq!(again, credentials);
            }
        }
        2 => {
            if rest.len() > MAX_PLAINTEXT {
                return;
            }
            let mut rng = Counter(rest.len() as u64);
            let sealed = keys
                .public
                .encrypt(&mut rng, Oaep::new::<Sha256>(), rest)
                .expect("a plaintext of at most one block encrypts");
            let blob = base64::engine::general_purpose::STANDARD.encode(sealed);
            let opened = keys.rental.open(&blob);
            let decoded = serde_json::from_slice::<Credentials>(rest);
            assert_eq!(opened.as_ref().ok(), decoded.as_ref().ok());
            if let Ok(credentials) = opened {
                seal_round_trip(&credentials);
            }
        }
        3 => {
            let text = String::from_utf8_lossy(rest);
            let normalized = normalize_pem(&text);
            assert_eq!(
                normalize_pem(&normalized),
                normalized,
                "normalize_pem is idempotent"
            );
            let direct = CallerKey::from_pem(&text);
            assert_eq!(direct.is_ok(), CallerKey::from_pem(&normalized).is_ok());
            if let Ok(caller) = direct {
                let credentials = Credentials {
                    username: "root".into(),
                    password: "aB3dE5gH7jK9mN1p".into(),
                    port: 4444,
                    external_user_ports: Default::default(),
                    version: 221,
                    host_key_fingerprint: None,
                };
                let _ = caller.seal(&credentials);
            }
        }
        _ => {
            let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(rest) else {
                return;
            };
            let output = AllocateOutput::from_json(&map);
            assert_eq!(output.ok(), map.get("status") == Some(&Value::Bool(true)));
            assert_eq!(AllocateOutput::from_json(&output.to_json()), output);
            // What `renting::rent` does with a yes.
            if let Some(info) = &output.info {
                if let Ok(credentials) = keys.rental.open(info) {
                    let _fingerprint = credentials
                        .host_key_fingerprint
                        .or(output.host_key_fingerprint.clone());
                }
            }
        }
    }
});
