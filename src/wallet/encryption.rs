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
/// Fixed salt of bittensor's keyfile KDF, `137183dff15a09bc9c90b5518739e9b1`.
const SALT: [u8; 16] = *b"\x13\x71\x83\xdf\xf1\x5a\x09\xbc\x9c\x90\xb5\x51\x87\x39\xe9\xb1";
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

    /// `bittensor-wallet` 4.1.1 `regenerate_coldkey` of the public test mnemonic (`abandon` ×11,
    /// `about`) with password `hunter22`.
    const PYTHON_BLOB: &str = concat!(
        "244e41434cf83cb2ee6e7a460b303926173e341a0e944e7ef57d26a274a6f90526643d48c684faa81dfe5f52e0",
        "3deaf5753d4f6826555ee403b2576bdf595f3a917ea46f5b967d95cb2fb75f311cf722187c0f453b7428edb907",
        "cfcfd5f4bf227b4cc40497462b7c0d4de424db902bd13df03b4ae50e0402c92c7a4d791fad30d7c426f5e80a54",
        "fb4d4c838a18ed86b019be06fd09affa1f30d414f8c1a803c1be10105a168675daffaa6199609dab33eac93536",
        "bf730a6f65c5831073cc8850a86b0e643eb9d25472b1bded3e7bc53beed473c91ca9805e6a8729a165db345e5c",
        "2354aa5d4bf03954b191b25fb6ade2b4b4a4db16d5d67ab91c3ab79a689bf6b765d48851a17cf7e8614a144042",
        "03652abe83dd3799217f561c6ac0e100a6ab04e594ccee59d6c5ffa635e93665cadecda99be0a1990c572a15f4",
        "c997507cfe2eda526f966f8e2bccb9804d1a4424697f33aebd2668d0c8762985857900de8263880fd147abca88",
        "bf0597b8e05cc740de1580dfbaec81c34499912a988cfb52a194e536c7ab6559f5ea276c3119abb78c0dafbd40",
        "f354df8f5c97fc3818385b22347b8aca28ff726f72809f3fb1212dcb9ce7deed33aec9aa5b82746379f9f414ab",
        "ff383b26149ff3ec72db7ba83e941e047f3ec7dc59e57799b0b6f66629172d6ca120896b2819a961848b97866c",
        "7711bd0fc535ff64f01ddd2ec1a1c29348c84759c1b85dca1da7ef7034ebca2f9ae8b35222eee4459cdbc7aba1",
        "1552c7f123382f4ce36ab36798ed1f44ab52096da35880cc03a9d308abb7c8374383c6ef66ad99317579749f62",
        "a5dc25777cd58b94d25257a2df0fd4fd9b16647c18d3bd237bef347345f8ca5881c567f9d8bcf252c060",
    );

    /// The KDF parameters and the layout match bittensor-wallet's byte for byte.
    #[test]
    fn opens_a_blob_written_by_bittensor_wallet() {
        let blob = hex::decode(PYTHON_BLOB).unwrap();
        let plaintext = decrypt(&blob, "hunter22").unwrap();
        let json: serde_json::Value = serde_json::from_slice(&plaintext).unwrap();
        assert_eq!(
            json["ss58Address"],
            "5EPCUjPxiHAcNooYipQFWr9NmmXJKpNG5RhcntXwbtUySrgH"
        );
        assert_eq!(
            decrypt(&blob, "hunter23").unwrap_err(),
            DecryptError::WrongPassword
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
