//! The credential blob of an allocation (`sn27-protocol.md` §4).
//!
//! The miner encrypts `{"username", "password", "port", "version"}` (plus, when it fits, the
//! container's SSH host-key fingerprint, which Python validators ignore) with RSAES-OAEP
//! (SHA-256, MGF1-SHA-256, empty label) to the caller's RSA public key and sends it base64 in
//! `output.info`. A renting validator makes a fresh key pair per rental and decrypts the blob.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use rsa::traits::PublicKeyParts;
use rsa::{Oaep, RsaPrivateKey, RsaPublicKey};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

/// RSA key sizes a caller may use.
const MIN_BITS: usize = 2048;
const MAX_BITS: usize = 4096;

/// Why a key or blob was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialError(pub String);

impl fmt::Display for CredentialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CredentialError {}

/// What a renter needs to log in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    pub port: u16,
    /// Container port → host port of the renter's own services (v2.2: 27015–27018), sent as
    /// `external_user_ports` with string keys, as Python's `json.dumps` writes int keys.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub external_user_ports: BTreeMap<u16, u16>,
    pub version: u32,
    /// `SHA256:…` of the container's SSH host key, for validators that pin it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_key_fingerprint: Option<String>,
}

impl Credentials {
    /// The plaintext, laid out as Python's `json.dumps` writes it (keys in this order, `", "` and
    /// `": "` separators, ASCII).
    fn to_python_json(&self) -> String {
        let mut out = format!(
            "{{\"username\": {}, \"password\": {}, \"port\": {}",
            ascii_json(&self.username),
            ascii_json(&self.password),
            self.port,
        );
        if !self.external_user_ports.is_empty() {
            let ports: Vec<String> = self
                .external_user_ports
                .iter()
                .map(|(inside, outside)| format!("\"{inside}\": {outside}"))
                .collect();
            out.push_str(&format!(
                ", \"external_user_ports\": {{{}}}",
                ports.join(", ")
            ));
        }
        out.push_str(&format!(", \"version\": {}", self.version));
        if let Some(fingerprint) = &self.host_key_fingerprint {
            out.push_str(&format!(
                ", \"host_key_fingerprint\": {}",
                ascii_json(fingerprint)
            ));
        }
        out.push('}');
        out
    }
}

/// A JSON string with every non-ASCII character escaped, as `json.dumps` does by default.
fn ascii_json(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A caller's RSA public key, as sent in `Allocate.public_key`.
#[derive(Debug, Clone, PartialEq)]
pub struct CallerKey {
    key: RsaPublicKey,
}

impl CallerKey {
    /// Accepts SubjectPublicKeyInfo (`BEGIN PUBLIC KEY`) and PKCS#1 (`BEGIN RSA PUBLIC KEY`)
    /// PEM of 2048 to 4096 bits; anything else is refused.
    pub fn from_pem(pem: &str) -> Result<Self, CredentialError> {
        let pem = normalize_pem(pem);
        let key = RsaPublicKey::from_public_key_pem(&pem)
            .or_else(|_| RsaPublicKey::from_pkcs1_pem(&pem))
            .map_err(|_| CredentialError("public_key is not an RSA public key in PEM".into()))?;
        let bits = key.size() * 8;
        if !(MIN_BITS..=MAX_BITS).contains(&bits) {
            return Err(CredentialError(format!(
                "public_key has {bits} bits; 2048 to 4096 are accepted"
            )));
        }
        Ok(CallerKey { key })
    }

    /// Encrypts `credentials` into the base64 blob of `output.info`. The fingerprint is left
    /// out when the plaintext would not fit one OAEP block.
    pub fn seal(&self, credentials: &Credentials) -> Result<String, CredentialError> {
        let limit = self.key.size() - 2 * 32 - 2;
        let mut plaintext = Zeroizing::new(credentials.to_python_json());
        if plaintext.len() > limit && credentials.host_key_fingerprint.is_some() {
            let bare = Credentials {
                host_key_fingerprint: None,
                ..credentials.clone()
            };
            plaintext = Zeroizing::new(bare.to_python_json());
        }
        if plaintext.len() > limit {
            return Err(CredentialError(format!(
                "credentials of {} bytes exceed the {limit} bytes one RSA block holds",
                plaintext.len()
            )));
        }
        let sealed = self
            .key
            .encrypt(
                &mut rand::thread_rng(),
                Oaep::new::<Sha256>(),
                plaintext.as_bytes(),
            )
            .map_err(|e| CredentialError(format!("encryption failed: {e}")))?;
        Ok(base64::engine::general_purpose::STANDARD.encode(sealed))
    }
}

/// Trims surrounding whitespace and unifies line endings, so that the same key sent with
/// `\r\n` or trailing blanks compares equal.
pub fn normalize_pem(pem: &str) -> String {
    let lines: Vec<&str> = pem.trim().lines().map(str::trim_end).collect();
    format!("{}\n", lines.join("\n"))
}

/// A renter's key pair for one rental: the public half goes in `Allocate.public_key`, the
/// private half opens the miner's answer.
pub struct RentalKey {
    key: RsaPrivateKey,
}

impl RentalKey {
    /// A fresh RSA-2048 key (e = 65537), as SN27 validators make per allocation.
    pub fn generate() -> Result<Self, CredentialError> {
        RsaPrivateKey::new(&mut rand::thread_rng(), MIN_BITS)
            .map(|key| RentalKey { key })
            .map_err(|e| CredentialError(format!("key generation failed: {e}")))
    }

    /// A key stored with [`RentalKey::private_pem`].
    pub fn from_private_pem(pem: &str) -> Result<Self, CredentialError> {
        RsaPrivateKey::from_pkcs8_pem(pem)
            .map(|key| RentalKey { key })
            .map_err(|e| CredentialError(format!("not a PKCS#8 RSA private key: {e}")))
    }

    /// SubjectPublicKeyInfo PEM with 64-character lines and a trailing newline.
    pub fn public_pem(&self) -> String {
        self.key
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("an RSA public key always encodes")
    }

    /// PKCS#8 PEM, unencrypted, for storing with the rental (mode 0600).
    pub fn private_pem(&self) -> Zeroizing<String> {
        self.key
            .to_pkcs8_pem(LineEnding::LF)
            .expect("an RSA private key always encodes")
    }

    /// Opens a miner's `output.info`.
    pub fn open(&self, blob: &str) -> Result<Credentials, CredentialError> {
        let sealed = base64::engine::general_purpose::STANDARD
            .decode(blob.trim())
            .map_err(|_| CredentialError("info is not base64".into()))?;
        let plaintext = Zeroizing::new(
            self.key
                .decrypt(Oaep::new::<Sha256>(), &sealed)
                .map_err(|_| {
                    CredentialError("info does not decrypt with this rental's key".into())
                })?,
        );
        serde_json::from_slice(&plaintext).map_err(|e| {
            CredentialError(format!("decrypted info is not the credentials JSON: {e}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials(fingerprint: Option<&str>) -> Credentials {
        Credentials {
            username: "root".into(),
            password: "aB3dE5gH7jK9mN1p".into(),
            port: 4444,
            external_user_ports: BTreeMap::new(),
            version: 183,
            host_key_fingerprint: fingerprint.map(str::to_owned),
        }
    }

    /// `sn27-v2.md` §2.5: string keys, int values, between `port` and `version`.
    #[test]
    fn user_ports_are_laid_out_as_the_v2_reference_writes_them() {
        let mut c = credentials(None);
        c.version = 221;
        c.password = "X".repeat(10);
        c.external_user_ports = [
            (27015, 27015),
            (27016, 27016),
            (27017, 27017),
            (27018, 27018),
        ]
        .into_iter()
        .collect();
        let text = c.to_python_json();
        assert_eq!(
            text,
            r#"{"username": "root", "password": "XXXXXXXXXX", "port": 4444, "external_user_ports": {"27015": 27015, "27016": 27016, "27017": 27017, "27018": 27018}, "version": 221}"#
        );
        assert_eq!(
            text.len(),
            165,
            "the reference's 166 less one digit of the port"
        );
        let rental = RentalKey::generate().unwrap();
        let caller = CallerKey::from_pem(&rental.public_pem()).unwrap();
        assert_eq!(rental.open(&caller.seal(&c).unwrap()).unwrap(), c);
    }

    #[test]
    fn plaintext_is_laid_out_like_json_dumps() {
        assert_eq!(
            credentials(None).to_python_json(),
            r#"{"username": "root", "password": "aB3dE5gH7jK9mN1p", "port": 4444, "version": 183}"#
        );
        assert_eq!(ascii_json("é\"\n"), r#""\u00e9\"\n""#);
    }

    #[test]
    fn seal_and_open_round_trip_with_a_fingerprint() {
        let rental = RentalKey::generate().unwrap();
        let caller = CallerKey::from_pem(&rental.public_pem()).unwrap();
        let fingerprint = format!("SHA256:{}", "A".repeat(43));
        let blob = caller.seal(&credentials(Some(&fingerprint))).unwrap();
        assert_eq!(blob.len(), 344, "256 bytes of base64");
        assert_eq!(rental.open(&blob).unwrap(), credentials(Some(&fingerprint)));
        // A fingerprint that would not fit is dropped rather than failing the allocation.
        let long = format!("SHA256:{}", "B".repeat(150));
        assert_eq!(
            rental
                .open(&caller.seal(&credentials(Some(&long))).unwrap())
                .unwrap(),
            credentials(None)
        );
    }

    #[test]
    fn bad_keys_and_blobs_are_refused() {
        assert!(CallerKey::from_pem("not a key").is_err());
        assert!(
            CallerKey::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")
                .is_err()
        );
        let small = RsaPrivateKey::new(&mut rand::thread_rng(), 1024).unwrap();
        let pem = small
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        assert!(CallerKey::from_pem(&pem)
            .unwrap_err()
            .0
            .contains("1024 bits"));
        let rental = RentalKey::generate().unwrap();
        assert!(rental.open("%%%").is_err());
        let other = RentalKey::generate().unwrap();
        let blob = CallerKey::from_pem(&other.public_pem())
            .unwrap()
            .seal(&credentials(None))
            .unwrap();
        assert!(rental
            .open(&blob)
            .unwrap_err()
            .0
            .contains("does not decrypt"));
    }

    #[test]
    fn pem_with_crlf_and_padding_is_the_same_key() {
        let rental = RentalKey::generate().unwrap();
        let messy = format!("  {}  \r\n", rental.public_pem().replace('\n', "\r\n"));
        assert_eq!(normalize_pem(&messy), normalize_pem(&rental.public_pem()));
        assert!(CallerKey::from_pem(&messy).is_ok());
    }
}
