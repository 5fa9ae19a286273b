//! Keyfile encryption: the `$NACL` format every current Bittensor wallet writes, and detection
//! of the legacy formats we refuse.
//!
//! `$NACL` ‖ nonce (24 B) ‖ Poly1305 tag (16 B) ‖ XSalsa20 ciphertext, keyed by Argon2i v1.3 over
//! the password with libsodium's `crypto_pwhash_argon2i` limits (8 passes, 512 MiB) and a fixed
//! salt. The KDF is slow and memory-hungry on purpose; callers on an async runtime must run
//! [`decrypt`] and [`encrypt`] on a blocking thread.

use argon2::{Algorithm, Argon2, Params, Version};
use crypto_secretbox::aead::{Aead, AeadCore, KeyInit, OsRng};
use crypto_secretbox::{Nonce, XSalsa20Poly1305};
use zeroize::Zeroizing;

/// Prefix of a NaCl-encrypted keyfile.
pub const NACL_PREFIX: &[u8] = b"$NACL";
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Fixed salt of bittensor's keyfile KDF.
const SALT: [u8; 16] = [
    0x13, 0x71, 0x83, 0xdf, 0xf5, 0x0a, 0x09, 0xbc, 0x9c, 0x90, 0xb5, 0x51, 0x87, 0x39, 0xe9, 0xb1,
];
/// libsodium `crypto_pwhash_argon2i_OPSLIMIT_SENSITIVE`.
const ARGON2_PASSES: u32 = 8;
/// libsodium `crypto_pwhash_argon2i_MEMLIMIT_SENSITIVE` (512 MiB), in KiB.
const ARGON2_MEMORY_KIB: u32 = 512 * 1024;

/// How a keyfile's bytes are protected, told by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    Plain,
    Nacl,
    /// Ansible Vault, written by SDK 5 and older.
    AnsibleVault,
    /// Fernet, written by some SDK 6 pre-releases.
    Fernet,
}

impl Protection {
    pub fn detect(data: &[u8]) -> Protection {
        if data.starts_with(NACL_PREFIX) {
            Protection::Nacl
        } else if data.starts_with(b"$ANSIBLE_VAULT") {
            Protection::AnsibleVault
        } else if data.starts_with(b"gAAAAA") {
            Protection::Fernet
        } else {
            Protection::Plain
        }
    }

    pub fn is_encrypted(self) -> bool {
        self != Protection::Plain
    }
}

/// Why a `$NACL` blob could not be opened.
#[derive(Debug, PartialEq, Eq)]
pub enum DecryptError {
    /// Shorter than prefix, nonce and tag together.
    Truncated,
    /// The authentication tag did not match: the password is wrong or the file was altered.
    WrongPassword,
    /// The KDF could not run (e.g. 512 MiB could not be allocated).
    Kdf(String),
}

fn derive_key(password: &str) -> Result<Zeroizing<[u8; 32]>, DecryptError> {
    let params = Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, 1, Some(32))
        .map_err(|e| DecryptError::Kdf(e.to_string()))?;
    let mut key = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2i, Version::V0x13, params)
        .hash_password_into(password.as_bytes(), &SALT, key.as_mut())
        .map_err(|e| DecryptError::Kdf(e.to_string()))?;
    Ok(key)
}

/// Encrypts keyfile JSON with `password` into the `$NACL` format.
pub fn encrypt(plaintext: &[u8], password: &str) -> Result<Vec<u8>, DecryptError> {
    let key = derive_key(password)?;
    let cipher = XSalsa20Poly1305::new(key.as_ref().into());
    let nonce = XSalsa20Poly1305::generate_nonce(&mut OsRng);
    let sealed = cipher
        .encrypt(&nonce, plaintext)
        .map_err(|_| DecryptError::Kdf("encryption failed".into()))?;
    let mut out = Vec::with_capacity(NACL_PREFIX.len() + NONCE_LEN + sealed.len());
    out.extend_from_slice(NACL_PREFIX);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Opens a `$NACL` keyfile with `password`.
pub fn decrypt(data: &[u8], password: &str) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
    let body = data.strip_prefix(NACL_PREFIX).unwrap_or(data);
    if body.len() < NONCE_LEN + TAG_LEN {
        return Err(DecryptError::Truncated);
    }
    let (nonce, sealed) = body.split_at(NONCE_LEN);
    let key = derive_key(password)?;
    let cipher = XSalsa20Poly1305::new(key.as_ref().into());
    cipher
        .decrypt(Nonce::from_slice(nonce), sealed)
        .map(Zeroizing::new)
        .map_err(|_| DecryptError::WrongPassword)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_password() {
        let blob = encrypt(b"{\"k\":1}", "correct horse").unwrap();
        assert_eq!(Protection::detect(&blob), Protection::Nacl);
        assert_eq!(blob.len(), 7 + 45, "plaintext + 45 bytes, as PyNaCl writes");
        assert_eq!(
            decrypt(&blob, "correct horse").unwrap().as_slice(),
            b"{\"k\":1}"
        );
        assert_eq!(
            decrypt(&blob, "wrong").unwrap_err(),
            DecryptError::WrongPassword
        );
        assert_eq!(
            decrypt(b"$NACL123", "x").unwrap_err(),
            DecryptError::Truncated
        );
    }

    #[test]
    fn legacy_formats_are_recognised() {
        assert_eq!(
            Protection::detect(b"$ANSIBLE_VAULT;1.1;AES256\n3061"),
            Protection::AnsibleVault
        );
        assert_eq!(Protection::detect(b"gAAAAABk..."), Protection::Fernet);
        assert_eq!(
            Protection::detect(b"{\"ss58Address\":1}"),
            Protection::Plain
        );
    }
}
