//! The keyfile JSON that btcli and `bittensor-wallet` read and write.
//!
//! Readers are lenient the way the Python readers are (any key order, `null` for absent keys,
//! the legacy `" ss58Address"` key, bare hex seeds and bare mnemonics); the writer emits compact
//! JSON with the fields `bittensor-wallet` 4.x writes. Whatever the source, the key that comes
//! out is cross-checked against the addresses stored beside it.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::keys::{Keypair, PublicKey};

/// `cryptoType` of sr25519 keys.
const CRYPTO_SR25519: u64 = 1;

/// What a decrypted keyfile holds.
#[derive(Debug)]
pub enum KeyfileContent {
    /// A full key pair (hotkey or coldkey file).
    Secret(Box<Keypair>),
    /// Only an address (`coldkeypub.txt`, `<hotkey>pub.txt`).
    Public(PublicKey),
}

impl KeyfileContent {
    pub fn public(&self) -> PublicKey {
        match self {
            KeyfileContent::Secret(key) => key.public(),
            KeyfileContent::Public(public) => *public,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SecretJson<'a> {
    account_id: String,
    public_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    private_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_phrase: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_seed: Option<String>,
    ss58_address: String,
    crypto_type: u64,
}

/// Serialises a key pair as a keyfile (the plaintext that is written or encrypted).
pub fn secret_json(key: &Keypair) -> Zeroizing<Vec<u8>> {
    let public = key.public();
    let json = SecretJson {
        account_id: public.to_hex(),
        public_key: public.to_hex(),
        private_key: Some(format!("0x{}", hex::encode(key.private_key().as_slice()))),
        secret_phrase: key.mnemonic(),
        secret_seed: key.seed().map(|seed| format!("0x{}", hex::encode(seed))),
        ss58_address: public.to_ss58(),
        crypto_type: CRYPTO_SR25519,
    };
    let bytes = serde_json::to_vec(&json).expect("keyfile JSON always serialises");
    // The intermediate strings held secrets too; they are dropped here, the result is zeroised.
    Zeroizing::new(bytes)
}

/// Serialises the public half, as written to `coldkeypub.txt` and `<hotkey>pub.txt`.
pub fn public_json(public: &PublicKey) -> Vec<u8> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct PublicJson {
        account_id: String,
        public_key: String,
        ss58_address: String,
        crypto_type: u64,
    }
    serde_json::to_vec(&PublicJson {
        account_id: public.to_hex(),
        public_key: public.to_hex(),
        ss58_address: public.to_ss58(),
        crypto_type: CRYPTO_SR25519,
    })
    .expect("public keyfile JSON always serialises")
}

#[derive(Deserialize, Default)]
struct AnyJson {
    #[serde(rename = "secretPhrase")]
    secret_phrase: Option<String>,
    #[serde(rename = "secretSeed")]
    secret_seed: Option<String>,
    #[serde(rename = "privateKey")]
    private_key: Option<String>,
    #[serde(rename = "ss58Address", alias = " ss58Address")]
    ss58_address: Option<String>,
    #[serde(rename = "publicKey")]
    public_key: Option<String>,
    #[serde(rename = "accountId")]
    account_id: Option<String>,
    #[serde(rename = "cryptoType")]
    crypto_type: Option<Value>,
}

/// Parses decrypted keyfile bytes. Errors are plain sentences for the caller to attach a path to.
pub fn parse(data: &[u8]) -> Result<KeyfileContent, String> {
    let text = std::str::from_utf8(data).map_err(|_| "not UTF-8 text".to_string())?;
    let trimmed = text.trim();
    if trimmed.starts_with('{') {
        let json: AnyJson =
            serde_json::from_str(trimmed).map_err(|e| format!("not keyfile JSON: {e}"))?;
        return from_json(json);
    }
    // Bare hex seeds (32 or 64 bytes) and bare mnemonics are valid keyfiles too.
    let hex_digits = trimmed.trim_start_matches("0x");
    if (hex_digits.len() == 64 || hex_digits.len() == 128)
        && hex_digits.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Keypair::from_secret_hex(trimmed)
            .map(|key| KeyfileContent::Secret(Box::new(key)))
            .map_err(|e| e.to_string());
    }
    if trimmed.split_whitespace().count() >= 12 {
        return Keypair::from_mnemonic(trimmed)
            .map(|key| KeyfileContent::Secret(Box::new(key)))
            .map_err(|e| e.to_string());
    }
    Err("neither keyfile JSON, a hex seed nor a mnemonic".into())
}

fn from_json(json: AnyJson) -> Result<KeyfileContent, String> {
    match &json.crypto_type {
        None | Some(Value::Null) => {}
        Some(Value::Number(n)) if n.as_u64() == Some(CRYPTO_SR25519) => {}
        Some(Value::Number(n)) if n.as_u64() == Some(0) => {
            return Err(
                "holds an ed25519 key (cryptoType 0); Bittensor hotkeys and coldkeys \
                        used by sn27 must be sr25519"
                    .into(),
            )
        }
        Some(other) => return Err(format!("unknown cryptoType {other}")),
    }
    // Precedence as in bittensor-wallet: mnemonic, seed, private key, then public only.
    let secret = if let Some(phrase) = non_empty(&json.secret_phrase) {
        Some(Keypair::from_mnemonic(phrase))
    } else if let Some(seed) = non_empty(&json.secret_seed) {
        Some(Keypair::from_secret_hex(seed))
    } else {
        non_empty(&json.private_key).map(Keypair::from_secret_hex)
    };
    let content = if let Some(secret) = secret {
        KeyfileContent::Secret(Box::new(secret.map_err(|e| e.to_string())?))
    } else if let Some(address) = non_empty(&json.ss58_address) {
        KeyfileContent::Public(PublicKey::from_ss58(address).map_err(|e| e.to_string())?)
    } else if let Some(public) = non_empty(&json.public_key).or(non_empty(&json.account_id)) {
        KeyfileContent::Public(PublicKey::from_hex(public).map_err(|e| e.to_string())?)
    } else {
        return Err(
            "holds no key: none of secretPhrase, secretSeed, privateKey, ss58Address, \
                    publicKey is set"
                .into(),
        );
    };
    cross_check(&content, &json)?;
    Ok(content)
}

/// Refuses a keyfile whose stored addresses disagree with the key it holds: that file was
/// edited or corrupted, and using it would sign as someone other than the operator thinks.
fn cross_check(content: &KeyfileContent, json: &AnyJson) -> Result<(), String> {
    let derived = content.public();
    if let Some(address) = non_empty(&json.ss58_address) {
        let stored = PublicKey::from_ss58(address).map_err(|e| e.to_string())?;
        if stored != derived {
            return Err(format!(
                "stored ss58Address {address} does not match the key it holds ({derived})"
            ));
        }
    }
    for (field, value) in [
        ("publicKey", &json.public_key),
        ("accountId", &json.account_id),
    ] {
        if let Some(hex) = non_empty(value) {
            let stored = PublicKey::from_hex(hex).map_err(|e| format!("{field}: {e}"))?;
            if stored != derived {
                return Err(format!(
                    "stored {field} {hex} does not match the key it holds ({derived})"
                ));
            }
        }
    }
    Ok(())
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABANDON: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
    const ABANDON_SS58: &str = "5EPCUjPxiHAcNooYipQFWr9NmmXJKpNG5RhcntXwbtUySrgH";

    #[test]
    fn written_keyfile_reads_back_with_every_field() {
        let key = Keypair::from_mnemonic(ABANDON).unwrap();
        let json = secret_json(&key);
        let value: Value = serde_json::from_slice(&json).unwrap();
        for field in [
            "accountId",
            "publicKey",
            "privateKey",
            "secretPhrase",
            "secretSeed",
            "ss58Address",
            "cryptoType",
        ] {
            assert!(value.get(field).is_some(), "missing {field}");
        }
        assert_eq!(parse(&json).unwrap().public().to_ss58(), ABANDON_SS58);
    }

    #[test]
    fn python_sdk_7_layout_with_nulls_and_legacy_key() {
        let file = format!(
            r#"{{"accountId": null, "publicKey": null, "secretPhrase": "{ABANDON}",
                "secretSeed": null, "privateKey": null, " ss58Address": "{ABANDON_SS58}"}}"#
        );
        assert_eq!(
            parse(file.as_bytes()).unwrap().public().to_ss58(),
            ABANDON_SS58
        );
    }

    #[test]
    fn public_file_gives_a_public_key() {
        let key = Keypair::from_mnemonic(ABANDON).unwrap();
        match parse(&public_json(&key.public())).unwrap() {
            KeyfileContent::Public(public) => assert_eq!(public, key.public()),
            KeyfileContent::Secret(_) => panic!("a pub file holds no secret"),
        }
    }

    #[test]
    fn bare_seed_and_bare_mnemonic_are_keyfiles() {
        let seed = "0x4ed8d4b17698ddeaa1f1559f152f87b5d472f725ca86d341bd0276f1b61197e2";
        assert_eq!(
            parse(seed.as_bytes()).unwrap().public().to_ss58(),
            ABANDON_SS58
        );
        assert_eq!(
            parse(ABANDON.as_bytes()).unwrap().public().to_ss58(),
            ABANDON_SS58
        );
    }

    #[test]
    fn mismatched_address_is_refused() {
        let file = format!(
            r#"{{"secretPhrase": "{ABANDON}", "ss58Address": "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"}}"#
        );
        let err = parse(file.as_bytes()).unwrap_err();
        assert!(err.contains("does not match"), "{err}");
    }

    #[test]
    fn ed25519_and_garbage_are_refused_with_reasons() {
        let err = parse(br#"{"secretSeed": "0x00", "cryptoType": 0}"#).unwrap_err();
        assert!(err.contains("ed25519"), "{err}");
        assert!(parse(b"{}").unwrap_err().contains("holds no key"));
        assert!(parse(b"hello").unwrap_err().contains("neither"));
        assert!(parse(&[0xff, 0xfe]).unwrap_err().contains("UTF-8"));
    }
}
