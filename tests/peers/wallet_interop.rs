//! Wallets interoperate with `bittensor-wallet` (PyPI, pinned in tests/python/requirements.txt):
//! each side reads what the other writes, and signatures verify both ways.

use std::path::Path;

use crate::support::{python_peer, sn27, stderr, stdout};
use serde_json::Value;

const ABANDON: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

/// A config file whose `[wallet]` section points at `root` and reads the coldkey password
/// from `password_file`.
fn config(dir: &Path, root: &Path, password_file: &Path) -> String {
    let path = dir.join("sn27.toml");
    std::fs::write(
        &path,
        format!(
            "role = \"miner\"\n[wallet]\nname = \"w\"\nhotkey = \"h\"\npath = \"{}\"\npassword_file = \"{}\"\n",
            root.display(),
            password_file.display()
        ),
    )
    .unwrap();
    path.to_string_lossy().into_owned()
}

/// A temporary wallets root and a config pointing at it, whose password file holds `password`.
struct Fixture {
    /// Removed when the fixture is dropped.
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    config: String,
}

impl Fixture {
    fn new(password: &str) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("wallets");
        let password_file = dir.path().join("password");
        std::fs::write(&password_file, format!("{password}\n")).unwrap();
        let config = config(dir.path(), &root, &password_file);
        Fixture {
            _dir: dir,
            root,
            config,
        }
    }

    fn root(&self) -> &str {
        self.root.to_str().unwrap()
    }

    /// bittensor-wallet signs `message_hex` with wallet `w`'s hotkey or coldkey.
    fn python_sign(&self, which: &str, message_hex: &str, password: &str) -> Value {
        python_peer(
            "wallet_peer.py",
            &["sign", self.root(), "w", "h", which, message_hex, password],
        )
    }

    /// bittensor-wallet creates wallet `w` with hotkey `h` and an encrypted coldkey.
    fn python_create(&self, password: &str) -> Value {
        python_peer(
            "wallet_peer.py",
            &["create", self.root(), "w", "h", password],
        )
    }
}

fn show(config: &str) -> Value {
    let out = sn27(&["--config", config, "wallet", "show", "--json"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

fn sign(config: &str, coldkey: bool, message_hex: &str) -> String {
    let mut args = vec!["--config", config, "wallet", "sign", "--hex", message_hex];
    if coldkey {
        args.push("--coldkey");
    }
    let out = sn27(&args, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out).trim().to_string()
}

fn python_verifies(ss58: &str, message_hex: &str, signature: &str) -> bool {
    python_peer("wallet_peer.py", &["verify", ss58, message_hex, signature])["valid"]
        .as_bool()
        .unwrap()
}

#[test]
fn wallet_made_by_python_is_read_and_used_by_sn27() {
    let fixture = Fixture::new("py-coldkey-pass");
    let made = fixture.python_create("py-coldkey-pass");
    let (root, config) = (&fixture.root, fixture.config.as_str());

    // Same addresses, through the documented command line too.
    let shown = show(config);
    assert_eq!(shown["coldkey"], made["coldkey"]);
    assert_eq!(shown["hotkey"], made["hotkey"]);
    let out = sn27(
        &[
            "wallet",
            "show",
            "--path",
            root.to_str().unwrap(),
            "--name",
            "w",
            "--hotkey",
            "h",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains(made["coldkey"].as_str().unwrap()), "{text}");
    assert!(text.contains(made["hotkey"].as_str().unwrap()), "{text}");

    // The encrypted coldkey opens with the password, and both keys sign for Python.
    let message = hex::encode(b"sn27 interop: python wallet");
    let coldkey_signature = sign(config, true, &message);
    assert!(python_verifies(
        made["coldkey"].as_str().unwrap(),
        &message,
        &coldkey_signature
    ));
    let hotkey_signature = sign(config, false, &message);
    assert!(python_verifies(
        made["hotkey"].as_str().unwrap(),
        &message,
        &hotkey_signature
    ));
    assert!(!python_verifies(
        made["hotkey"].as_str().unwrap(),
        &message,
        &coldkey_signature
    ));

    // Python's signatures verify with sn27.
    let signed = fixture.python_sign("coldkey", &message, "py-coldkey-pass");
    let verify = |signature: &str, ss58: &str| {
        sn27(
            &[
                "wallet",
                "verify",
                "--hex",
                &message,
                "--signature",
                signature,
                "--ss58",
                ss58,
            ],
            &[],
        )
    };
    let coldkey = made["coldkey"].as_str().unwrap();
    assert!(verify(signed["signature"].as_str().unwrap(), coldkey)
        .status
        .success());
    let out = verify(&hotkey_signature, coldkey);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("INVALID"));
}

#[test]
fn wrong_password_is_a_clear_error() {
    let fixture = Fixture::new("not the password");
    fixture.python_create("the-real-password");
    let config = fixture.config.as_str();
    let out = sn27(
        &[
            "--config",
            config,
            "wallet",
            "sign",
            "--coldkey",
            "--message",
            "x",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("coldkey: wrong password"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bittensor_password_variable_opens_the_coldkey() {
    let fixture = Fixture::new("unused");
    let made = fixture.python_create("env-pass-123");
    let root = &fixture.root;
    // The variable bittensor-wallet's `save_password_to_env` sets: base64 of the password
    // XOR-ed with the variable name.
    let coldkey = root.join("w/coldkey");
    let name = sn27::wallet::bittensor_env_name(&coldkey);
    let xored: Vec<u8> = b"env-pass-123"
        .iter()
        .zip(name.bytes().cycle())
        .map(|(b, k)| b ^ k)
        .collect();
    use base64::Engine as _;
    let value = base64::engine::general_purpose::STANDARD.encode(xored);
    let out = sn27(
        &[
            "wallet",
            "sign",
            "--coldkey",
            "--hex",
            "00",
            "--path",
            root.to_str().unwrap(),
            "--name",
            "w",
            "--hotkey",
            "h",
        ],
        &[(&name, &value)],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(python_verifies(
        made["coldkey"].as_str().unwrap(),
        "00",
        stdout(&out).trim()
    ));
}

#[test]
fn wallet_made_by_sn27_is_loaded_by_python() {
    let fixture = Fixture::new("sn27-coldkey-pass");
    let (root, config) = (&fixture.root, fixture.config.as_str());
    let out = sn27(
        &[
            "--config",
            config,
            "wallet",
            "create",
            "--no-print-mnemonic",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stdout(&out).contains("mnemonic"), "{}", stdout(&out));
    let shown = show(config);

    // Files and directories are private.
    use std::os::unix::fs::PermissionsExt;
    for path in [
        "w/coldkey",
        "w/coldkeypub.txt",
        "w/hotkeys/h",
        "w/hotkeys/hpub.txt",
    ] {
        let mode = std::fs::metadata(root.join(path))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{path}");
    }
    for path in ["w", "w/hotkeys"] {
        let mode = std::fs::metadata(root.join(path))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o700, "{path}");
    }

    let loaded = python_peer(
        "wallet_peer.py",
        &[
            "load",
            root.to_str().unwrap(),
            "w",
            "h",
            "sn27-coldkey-pass",
        ],
    );
    for field in ["coldkey", "coldkeypub"] {
        assert_eq!(loaded[field], shown["coldkey"], "{field}");
    }
    for field in ["hotkey", "hotkeypub"] {
        assert_eq!(loaded[field], shown["hotkey"], "{field}");
    }

    // Python signs with both keys; sn27 verifies against the wallet's addresses.
    let message = hex::encode(b"sn27 interop: sn27 wallet");
    for which in ["hotkey", "coldkey"] {
        let signed = fixture.python_sign(which, &message, "sn27-coldkey-pass");
        assert_eq!(signed["ss58"], shown[which]);
        let out = sn27(
            &[
                "wallet",
                "verify",
                "--hex",
                &message,
                "--signature",
                signed["signature"].as_str().unwrap(),
                "--ss58",
                shown[which].as_str().unwrap(),
            ],
            &[],
        );
        assert!(out.status.success(), "{which}: {}", stdout(&out));
    }

    // A second create refuses to replace the keys.
    let out = sn27(
        &["--config", config, "wallet", "create", "--no-password"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--overwrite"), "{}", stderr(&out));
    assert_eq!(show(config), shown);
}

#[test]
fn mnemonic_vector_gives_the_documented_address_on_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("wallets");
    let root_text = root.to_str().unwrap();
    for target in ["hotkey", "coldkey"] {
        let out = sn27(
            &[
                "wallet",
                "regen",
                target,
                "--mnemonic",
                ABANDON,
                "--no-password",
                "--path",
                root_text,
                "--name",
                "v",
                "--hotkey",
                "h",
            ],
            &[],
        );
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let out = sn27(
        &[
            "wallet", "show", "--json", "--path", root_text, "--name", "v", "--hotkey", "h",
        ],
        &[],
    );
    let shown: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let documented = "5EPCUjPxiHAcNooYipQFWr9NmmXJKpNG5RhcntXwbtUySrgH";
    assert_eq!(shown["hotkey"], documented);
    assert_eq!(shown["coldkey"], documented);
    let words: Vec<&str> = ABANDON.split(' ').collect();
    let mut args = vec!["mnemonic"];
    args.extend(words);
    assert_eq!(python_peer("wallet_peer.py", &args)["ss58"], documented);

    // A wallet regenerated by sn27 from a mnemonic loads in Python with the same address
    // (unencrypted coldkey: no password).
    let loaded = python_peer("wallet_peer.py", &["load", root_text, "v", "h", ""]);
    assert_eq!(loaded["coldkey"], documented);
}

#[test]
fn coldkeypub_alone_is_enough_for_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("wallets");
    let root_text = root.to_str().unwrap();
    let alice = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
    let out = sn27(
        &[
            "wallet",
            "regen",
            "coldkeypub",
            "--ss58",
            alice,
            "--path",
            root_text,
            "--name",
            "s",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = sn27(&["wallet", "list", "--path", root_text], &[]);
    assert!(
        stdout(&out).contains(&format!("s  coldkey {alice}")),
        "{}",
        stdout(&out)
    );
    // Signing with a coldkey that is not there names the file and the fix.
    let out = sn27(
        &[
            "wallet",
            "sign",
            "--coldkey",
            "--message",
            "x",
            "--path",
            root_text,
            "--name",
            "s",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("s/coldkey") && err.contains("sn27 wallet"),
        "{err}"
    );
}
