//! Where a keyfile password comes from.
//!
//! In order: the environment variable named by `[wallet] password_env`, the file named by
//! `[wallet] password_file`, the `BT_PW_<path>` variable that `bittensor-wallet` sets for a
//! keyfile, and finally a prompt on the controlling terminal. The password itself never appears
//! in the config file, in arguments or in logs.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use zeroize::Zeroizing;

use super::WalletError;

/// How passwords are obtained for this process.
#[derive(Debug, Clone, Default)]
pub struct PasswordSource {
    /// Name of an environment variable holding the password.
    pub env: Option<String>,
    /// Path of a file whose content (without the trailing newline) is the password.
    pub file: Option<PathBuf>,
    /// Whether a terminal prompt may be shown.
    pub interactive: bool,
}

impl PasswordSource {
    /// A source that prompts when standard input is a terminal.
    pub fn new(env: Option<String>, file: Option<PathBuf>) -> Self {
        PasswordSource {
            env,
            file,
            interactive: std::io::stdin().is_terminal(),
        }
    }

    /// The password that opens `keyfile`.
    pub fn existing(&self, keyfile: &Path) -> Result<Zeroizing<String>, WalletError> {
        if let Some(password) = self.configured()? {
            return Ok(password);
        }
        if let Some(password) = bittensor_env_password(keyfile)? {
            return Ok(password);
        }
        if self.interactive {
            return prompt(&format!("Password for {}: ", keyfile.display()));
        }
        Err(WalletError::NoPassword {
            path: keyfile.to_owned(),
        })
    }

    /// A password for a key about to be encrypted: from the configured source, else asked
    /// twice on the terminal.
    pub fn new_password(&self, keyfile: &Path) -> Result<Zeroizing<String>, WalletError> {
        if let Some(password) = self.configured()? {
            return Ok(password);
        }
        if !self.interactive {
            return Err(WalletError::NoPassword {
                path: keyfile.to_owned(),
            });
        }
        let first = prompt(&format!("New password for {}: ", keyfile.display()))?;
        if first.chars().count() < 6 {
            return Err(WalletError::WeakPassword);
        }
        let second = prompt("Repeat the password: ")?;
        if first != second {
            return Err(WalletError::PasswordMismatch);
        }
        Ok(first)
    }

    fn configured(&self) -> Result<Option<Zeroizing<String>>, WalletError> {
        if let Some(var) = &self.env {
            let value = std::env::var(var).map_err(|_| WalletError::PasswordSource {
                source_name: format!("environment variable {var}"),
                reason: "is not set (or not UTF-8)".into(),
            })?;
            return Ok(Some(Zeroizing::new(value)));
        }
        if let Some(path) = &self.file {
            use std::os::unix::fs::PermissionsExt;
            if let Ok(meta) = std::fs::metadata(path) {
                if meta.permissions().mode() & 0o077 != 0 {
                    tracing::warn!(
                        path = %path.display(),
                        "the password file is readable by other users; restrict it with chmod 600"
                    );
                }
            }
            let text = std::fs::read_to_string(path).map_err(|e| WalletError::PasswordSource {
                source_name: format!("password file {}", path.display()),
                reason: e.to_string(),
            })?;
            let text = Zeroizing::new(text);
            return Ok(Some(Zeroizing::new(
                text.trim_end_matches(['\n', '\r']).to_owned(),
            )));
        }
        Ok(None)
    }
}

/// Name of the variable in which `bittensor-wallet` keeps a keyfile's password.
pub fn bittensor_env_name(keyfile: &Path) -> String {
    let path = keyfile.to_string_lossy();
    let mangled: String = path
        .chars()
        .map(|c| {
            if c == std::path::MAIN_SEPARATOR || c == '.' {
                '_'
            } else {
                c
            }
        })
        .collect();
    format!("BT_PW_{}", mangled.to_uppercase())
}

/// Reads `BT_PW_<path>`: base64 of the password XOR-ed with the variable's own name (an
/// obfuscation `bittensor-wallet` applies, not encryption).
fn bittensor_env_password(keyfile: &Path) -> Result<Option<Zeroizing<String>>, WalletError> {
    let name = bittensor_env_name(keyfile);
    let Ok(encoded) = std::env::var(&name) else {
        return Ok(None);
    };
    let bad = |reason: &str| WalletError::PasswordSource {
        source_name: format!("environment variable {name}"),
        reason: reason.into(),
    };
    let raw = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| bad("is not base64"))?,
    );
    let plain: Zeroizing<Vec<u8>> = Zeroizing::new(
        raw.iter()
            .zip(name.bytes().cycle())
            .map(|(byte, key)| byte ^ key)
            .collect(),
    );
    let text = String::from_utf8(plain.to_vec()).map_err(|_| bad("does not decode to text"))?;
    Ok(Some(Zeroizing::new(text)))
}

fn prompt(text: &str) -> Result<Zeroizing<String>, WalletError> {
    let answer = rpassword::prompt_password(text).map_err(|e| WalletError::PasswordSource {
        source_name: "terminal prompt".into(),
        reason: e.to_string(),
    })?;
    let answer = Zeroizing::new(answer);
    // The Python prompt trims surrounding whitespace; keys made there open here only if we do too.
    Ok(Zeroizing::new(answer.trim().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_name_matches_bittensor_wallet() {
        // Value printed by bittensor-wallet 4.1.1 `Keyfile.env_var_name()` for this path.
        assert_eq!(
            bittensor_env_name(Path::new("/tmp/wtest/pyw/coldkey")),
            "BT_PW__TMP_WTEST_PYW_COLDKEY"
        );
        assert_eq!(
            bittensor_env_name(Path::new("/a/b.c/hotkeys/x")),
            "BT_PW__A_B_C_HOTKEYS_X"
        );
    }

    #[test]
    fn bittensor_env_password_is_decoded() {
        // `Keyfile("/tmp/wtest/pyw/coldkey").save_password_to_env("hunter22")` in
        // bittensor-wallet 4.1.1 returned this value.
        let path = Path::new("/tmp/wtest/pyw/coldkey");
        std::env::set_var(bittensor_env_name(path), "KiExJDItbWY=");
        let password = bittensor_env_password(path).unwrap().unwrap();
        std::env::remove_var(bittensor_env_name(path));
        assert_eq!(password.as_str(), "hunter22");
    }

    #[test]
    fn file_source_strips_only_the_newline() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, " spaced secret \n").unwrap();
        let source = PasswordSource {
            env: None,
            file: Some(file),
            interactive: false,
        };
        assert_eq!(
            source.existing(Path::new("/x")).unwrap().as_str(),
            " spaced secret "
        );
    }

    #[test]
    fn missing_everything_is_a_clear_error() {
        let source = PasswordSource::default();
        let err = source
            .existing(Path::new("/nonexistent/sn27-test/coldkey"))
            .unwrap_err();
        assert!(err.to_string().contains("password_env"), "{err}");
        let source = PasswordSource {
            env: Some("SN27_TEST_SURELY_UNSET_VARIABLE".into()),
            ..Default::default()
        };
        let err = source.existing(Path::new("/x")).unwrap_err();
        assert!(
            err.to_string().contains("SN27_TEST_SURELY_UNSET_VARIABLE"),
            "{err}"
        );
    }
}
