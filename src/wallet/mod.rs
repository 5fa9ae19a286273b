//! btcli-compatible wallets: the directory layout, keyfiles, encryption and keys.
//!
//! `<path>/<name>/coldkey`, `coldkeypub.txt`, `hotkeys/<hotkey>` and `hotkeys/<hotkey>pub.txt`,
//! exactly where btcli and `bittensor-wallet` put them, so one wallet directory serves both
//! tools. Files are written atomically with mode 0600 in directories of mode 0700, and an
//! existing key is never replaced unless the caller asks for it.
//!
//! Invariant: secrets (mnemonics, seeds, private keys, passwords) never reach a log line or an
//! error message; errors name files and addresses only.

mod encryption;
mod keyfile;
mod password;

use std::fs;
use std::path::{Path, PathBuf};

pub use encryption::Protection;
pub use keyfile::KeyfileContent;
pub use password::{bittensor_env_name, PasswordSource};

use encryption::DecryptError;

use crate::keys::{KeyError, Keypair, PublicKey};

/// Everything that can go wrong with a wallet, phrased for the operator.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no {what} at {}; {hint}", path.display())]
    Missing {
        what: &'static str,
        path: PathBuf,
        hint: &'static str,
    },
    #[error("{} already exists; pass --overwrite to replace it (the old key is lost unless you have its mnemonic)", path.display())]
    Exists { path: PathBuf },
    #[error("{}: {reason}", path.display())]
    Malformed { path: PathBuf, reason: String },
    #[error("{}: wrong password (or the file was altered)", path.display())]
    WrongPassword { path: PathBuf },
    #[error("{}: key derivation failed: {reason}", path.display())]
    Kdf { path: PathBuf, reason: String },
    #[error(
        "{} is encrypted with the legacy {format} format, which sn27 does not read; \
         regenerate it from its mnemonic with `sn27 wallet regen`, or re-encrypt it with \
         `btcli wallet update` from bittensor 7 or older", path.display()
    )]
    LegacyEncryption { path: PathBuf, format: &'static str },
    #[error(
        "{} is encrypted and no password is available: set [wallet] password_env or \
         password_file in the config, or run on a terminal", path.display()
    )]
    NoPassword { path: PathBuf },
    #[error("{source_name} {reason}")]
    PasswordSource { source_name: String, reason: String },
    #[error("passwords did not match")]
    PasswordMismatch,
    #[error("password too short: use at least 6 characters")]
    WeakPassword,
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("invalid wallet {field} {value:?}: {reason}")]
    InvalidName {
        field: &'static str,
        value: String,
        reason: &'static str,
    },
}

/// Which of a wallet's two keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRole {
    /// Holds funds, registers and stakes; stays offline on a well-run miner.
    Coldkey,
    /// Signs every synapse and weight-setting; lives on the server.
    Hotkey,
}

impl KeyRole {
    /// The word an operator reads: `coldkey` or `hotkey`.
    pub fn noun(self) -> &'static str {
        match self {
            KeyRole::Coldkey => "coldkey",
            KeyRole::Hotkey => "hotkey",
        }
    }
}

/// One named wallet with one selected hotkey, under a wallets root directory.
#[derive(Debug, Clone)]
pub struct Wallet {
    root: PathBuf,
    name: String,
    hotkey: String,
}

impl Wallet {
    /// Names are single path components: `../x` or `a/b` would escape the wallet directory.
    pub fn new(root: impl Into<PathBuf>, name: &str, hotkey: &str) -> Result<Self, WalletError> {
        check_name("name", name)?;
        check_name("hotkey", hotkey)?;
        Ok(Wallet {
            root: root.into(),
            name: name.to_owned(),
            hotkey: hotkey.to_owned(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn hotkey_name(&self) -> &str {
        &self.hotkey
    }

    pub fn dir(&self) -> PathBuf {
        self.root.join(&self.name)
    }

    pub fn key_path(&self, role: KeyRole) -> PathBuf {
        match role {
            KeyRole::Coldkey => self.dir().join("coldkey"),
            KeyRole::Hotkey => self.dir().join("hotkeys").join(&self.hotkey),
        }
    }

    pub fn pub_path(&self, role: KeyRole) -> PathBuf {
        match role {
            KeyRole::Coldkey => self.dir().join("coldkeypub.txt"),
            KeyRole::Hotkey => self
                .dir()
                .join("hotkeys")
                .join(format!("{}pub.txt", self.hotkey)),
        }
    }

    /// The address of a key, read without a password: from its pub file, else (hotkeys are
    /// usually plaintext) from the key file itself when that is not encrypted.
    pub fn address(&self, role: KeyRole) -> Result<PublicKey, WalletError> {
        let pub_path = self.pub_path(role);
        if pub_path.exists() {
            return Ok(read_keyfile(&pub_path, role, None)?.public());
        }
        let key_path = self.key_path(role);
        match fs::read(&key_path) {
            Ok(data) if !Protection::detect(&data).is_encrypted() => {
                Ok(parse_keyfile(&key_path, &data)?.public())
            }
            Ok(_) | Err(_) => Err(WalletError::Missing {
                what: match role {
                    KeyRole::Coldkey => "coldkeypub.txt",
                    KeyRole::Hotkey => "hotkey public file",
                },
                path: pub_path,
                hint: "create the wallet with `sn27 wallet create` or restore the address with \
                       `sn27 wallet regen coldkeypub --ss58 <ss58>`",
            }),
        }
    }

    /// Loads a full key pair, decrypting it if needed with a password from `passwords`.
    pub fn keypair(
        &self,
        role: KeyRole,
        passwords: &PasswordSource,
    ) -> Result<Keypair, WalletError> {
        let path = self.key_path(role);
        match read_keyfile(&path, role, Some(passwords))? {
            KeyfileContent::Secret(key) => Ok(*key),
            KeyfileContent::Public(_) => Err(WalletError::Malformed {
                path,
                reason: "holds only a public key, no secret".into(),
            }),
        }
    }

    /// Writes a key file (encrypted when `password` is given) and its pub file.
    pub fn store_keypair(
        &self,
        role: KeyRole,
        key: &Keypair,
        password: Option<&str>,
        overwrite: bool,
    ) -> Result<(), WalletError> {
        let key_path = self.key_path(role);
        let pub_path = self.pub_path(role);
        refuse_existing(&[&key_path, &pub_path], overwrite)?;
        let plaintext = keyfile::secret_json(key);
        let contents = match password {
            Some(password) => {
                encryption::encrypt(&plaintext, password).map_err(|e| WalletError::Kdf {
                    path: key_path.clone(),
                    reason: format!("{e:?}"),
                })?
            }
            None => plaintext.to_vec(),
        };
        write_private(&key_path, &contents)?;
        write_private(&pub_path, &keyfile::public_json(&key.public()))?;
        tracing::info!(
            role = role.noun(),
            path = %key_path.display(),
            address = %key.public(),
            encrypted = password.is_some(),
            "key stored"
        );
        Ok(())
    }

    /// Writes only `coldkeypub.txt`, for a server that must know its coldkey address but must
    /// not hold the coldkey.
    pub fn store_coldkeypub(&self, public: &PublicKey, overwrite: bool) -> Result<(), WalletError> {
        let path = self.pub_path(KeyRole::Coldkey);
        refuse_existing(&[&path], overwrite)?;
        write_private(&path, &keyfile::public_json(public))
    }
}

/// One wallet found under a wallets root, for `sn27 wallet list`.
#[derive(Debug)]
pub struct WalletListing {
    pub name: String,
    pub coldkey: Result<PublicKey, WalletError>,
    pub hotkeys: Vec<(String, Result<PublicKey, WalletError>)>,
}

/// Lists the wallets under `root`, sorted by name; unreadable entries carry their error.
pub fn list(root: &Path) -> Result<Vec<WalletListing>, WalletError> {
    let io = |source| WalletError::Io {
        path: root.to_owned(),
        source,
    };
    let mut names: Vec<String> = fs::read_dir(root)
        .map_err(io)?
        .filter_map(Result::ok)
        .filter(|entry| entry.path().is_dir())
        .filter_map(|entry| entry.file_name().into_string().ok())
        .collect();
    names.sort();
    let mut wallets = Vec::new();
    for name in names {
        let Ok(wallet) = Wallet::new(root, &name, "default") else {
            continue;
        };
        let mut hotkey_names: Vec<String> = fs::read_dir(wallet.dir().join("hotkeys"))
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter(|entry| entry.path().is_file())
            .filter_map(|entry| entry.file_name().into_string().ok())
            .filter(|file| !file.ends_with("pub.txt"))
            .collect();
        hotkey_names.sort();
        let hotkeys = hotkey_names
            .into_iter()
            .filter_map(|hotkey| {
                let wallet = Wallet::new(root, &name, &hotkey).ok()?;
                Some((hotkey, wallet.address(KeyRole::Hotkey)))
            })
            .collect();
        wallets.push(WalletListing {
            coldkey: wallet.address(KeyRole::Coldkey),
            name,
            hotkeys,
        });
    }
    Ok(wallets)
}

fn check_name(field: &'static str, value: &str) -> Result<(), WalletError> {
    let reason = if value.is_empty() {
        "is empty"
    } else if value == "." || value == ".." || value.contains('/') || value.contains('\0') {
        "must be a plain file name (no '/', '.' or '..')"
    } else {
        return Ok(());
    };
    Err(WalletError::InvalidName {
        field,
        value: value.to_owned(),
        reason,
    })
}

fn read_keyfile(
    path: &Path,
    role: KeyRole,
    passwords: Option<&PasswordSource>,
) -> Result<KeyfileContent, WalletError> {
    let data = fs::read(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            WalletError::Missing {
                what: role.noun(),
                path: path.to_owned(),
                hint: "create it with `sn27 wallet create` or restore it with `sn27 wallet regen`",
            }
        } else {
            WalletError::Io {
                path: path.to_owned(),
                source,
            }
        }
    })?;
    let legacy = |format| WalletError::LegacyEncryption {
        path: path.to_owned(),
        format,
    };
    match Protection::detect(&data) {
        Protection::Plain => parse_keyfile(path, &data),
        Protection::AnsibleVault => Err(legacy("Ansible Vault")),
        Protection::Fernet => Err(legacy("Fernet")),
        Protection::Nacl => {
            let Some(passwords) = passwords else {
                return Err(WalletError::NoPassword {
                    path: path.to_owned(),
                });
            };
            let password = passwords.existing(path)?;
            let plaintext = encryption::decrypt(&data, &password).map_err(|e| match e {
                DecryptError::WrongPassword => WalletError::WrongPassword {
                    path: path.to_owned(),
                },
                DecryptError::Truncated => WalletError::Malformed {
                    path: path.to_owned(),
                    reason: "encrypted keyfile is truncated".into(),
                },
                DecryptError::Kdf(reason) => WalletError::Kdf {
                    path: path.to_owned(),
                    reason,
                },
            })?;
            parse_keyfile(path, &plaintext)
        }
    }
}

fn parse_keyfile(path: &Path, data: &[u8]) -> Result<KeyfileContent, WalletError> {
    keyfile::parse(data).map_err(|reason| WalletError::Malformed {
        path: path.to_owned(),
        reason,
    })
}

fn refuse_existing(paths: &[&Path], overwrite: bool) -> Result<(), WalletError> {
    if overwrite {
        return Ok(());
    }
    match paths.iter().find(|path| path.exists()) {
        Some(path) => Err(WalletError::Exists {
            path: path.to_path_buf(),
        }),
        None => Ok(()),
    }
}

fn write_private(path: &Path, contents: &[u8]) -> Result<(), WalletError> {
    crate::fsutil::write_private(path, contents).map_err(|source| WalletError::Io {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn wallet(dir: &Path) -> Wallet {
        Wallet::new(dir, "w", "h").unwrap()
    }

    #[test]
    fn layout_matches_btcli() {
        let w = wallet(Path::new("/r"));
        assert_eq!(w.key_path(KeyRole::Coldkey), Path::new("/r/w/coldkey"));
        assert_eq!(
            w.pub_path(KeyRole::Coldkey),
            Path::new("/r/w/coldkeypub.txt")
        );
        assert_eq!(w.key_path(KeyRole::Hotkey), Path::new("/r/w/hotkeys/h"));
        assert_eq!(
            w.pub_path(KeyRole::Hotkey),
            Path::new("/r/w/hotkeys/hpub.txt")
        );
    }

    #[test]
    fn names_cannot_escape_the_wallet_directory() {
        for bad in ["", "..", "a/b", "."] {
            assert!(Wallet::new("/r", bad, "h").is_err(), "{bad:?}");
            assert!(Wallet::new("/r", "w", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn plaintext_hotkey_round_trip_with_modes() {
        let dir = tempfile::tempdir().unwrap();
        let w = wallet(dir.path());
        let key = Keypair::generate(12).unwrap();
        w.store_keypair(KeyRole::Hotkey, &key, None, false).unwrap();
        let loaded = w
            .keypair(KeyRole::Hotkey, &PasswordSource::default())
            .unwrap();
        assert_eq!(loaded.public(), key.public());
        assert_eq!(loaded.mnemonic(), key.mnemonic());
        assert_eq!(w.address(KeyRole::Hotkey).unwrap(), key.public());
        for path in [w.key_path(KeyRole::Hotkey), w.pub_path(KeyRole::Hotkey)] {
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", path.display());
        }
        let mode = fs::metadata(w.dir().join("hotkeys"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o700);
    }

    #[test]
    fn existing_keys_are_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let w = wallet(dir.path());
        let first = Keypair::generate(12).unwrap();
        w.store_keypair(KeyRole::Hotkey, &first, None, false)
            .unwrap();
        let second = Keypair::generate(12).unwrap();
        let err = w
            .store_keypair(KeyRole::Hotkey, &second, None, false)
            .unwrap_err();
        assert!(matches!(err, WalletError::Exists { .. }), "{err}");
        assert_eq!(w.address(KeyRole::Hotkey).unwrap(), first.public());
        w.store_keypair(KeyRole::Hotkey, &second, None, true)
            .unwrap();
        assert_eq!(w.address(KeyRole::Hotkey).unwrap(), second.public());
    }

    #[test]
    fn encrypted_coldkey_needs_the_right_password() {
        let dir = tempfile::tempdir().unwrap();
        let w = wallet(dir.path());
        let key = Keypair::generate(12).unwrap();
        w.store_keypair(KeyRole::Coldkey, &key, Some("right password"), false)
            .unwrap();
        // The address is readable without the password.
        assert_eq!(w.address(KeyRole::Coldkey).unwrap(), key.public());
        let pw_file = dir.path().join("pw");
        fs::write(&pw_file, "wrong password\n").unwrap();
        let wrong = PasswordSource {
            file: Some(pw_file.clone()),
            ..Default::default()
        };
        let err = w.keypair(KeyRole::Coldkey, &wrong).unwrap_err();
        assert!(matches!(err, WalletError::WrongPassword { .. }), "{err}");
        fs::write(&pw_file, "right password\n").unwrap();
        let right = PasswordSource {
            file: Some(pw_file),
            ..Default::default()
        };
        assert_eq!(
            w.keypair(KeyRole::Coldkey, &right).unwrap().public(),
            key.public()
        );
        let err = w
            .keypair(KeyRole::Coldkey, &PasswordSource::default())
            .unwrap_err();
        assert!(matches!(err, WalletError::NoPassword { .. }), "{err}");
    }

    #[test]
    fn legacy_files_are_refused_with_a_way_out() {
        let dir = tempfile::tempdir().unwrap();
        let w = wallet(dir.path());
        fs::create_dir_all(w.dir()).unwrap();
        fs::write(
            w.key_path(KeyRole::Coldkey),
            "$ANSIBLE_VAULT;1.1;AES256\n6162",
        )
        .unwrap();
        let err = w
            .keypair(KeyRole::Coldkey, &PasswordSource::default())
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("Ansible Vault") && text.contains("sn27 wallet regen"),
            "{text}"
        );
    }

    #[test]
    fn missing_files_name_the_path_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let w = wallet(dir.path());
        let err = w.address(KeyRole::Coldkey).unwrap_err().to_string();
        assert!(
            err.contains("coldkeypub.txt") && err.contains("sn27 wallet"),
            "{err}"
        );
        let err = w
            .keypair(KeyRole::Hotkey, &PasswordSource::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("hotkeys/h"), "{err}");
    }

    #[test]
    fn listing_shows_wallets_and_hotkeys() {
        let dir = tempfile::tempdir().unwrap();
        let key = Keypair::generate(12).unwrap();
        for hotkey in ["b", "a"] {
            Wallet::new(dir.path(), "w", hotkey)
                .unwrap()
                .store_keypair(KeyRole::Hotkey, &key, None, false)
                .unwrap();
        }
        let listing = list(dir.path()).unwrap();
        assert_eq!(listing.len(), 1);
        assert!(listing[0].coldkey.is_err());
        let names: Vec<&str> = listing[0].hotkeys.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
    }
}
