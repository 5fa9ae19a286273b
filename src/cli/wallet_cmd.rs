//! `sn27 wallet …`: btcli-compatible wallet management.
//!
//! Mnemonics are printed only by `create`, to standard output, once, so the operator can write
//! them down; nothing secret is ever logged.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use zeroize::Zeroizing;

use crate::config::{self, ConfigSource, WalletConfig};
use crate::keys::{Keypair, PublicKey, MNEMONIC_WORD_COUNTS};
use crate::wallet::{self, KeyRole, PasswordSource, Wallet};

/// Which wallet: defaults come from the config's `[wallet]` section.
#[derive(Debug, Args, Default)]
pub struct WalletArgs {
    /// Wallets root directory [default: [wallet] path]
    #[arg(long, value_name = "DIR")]
    path: Option<PathBuf>,
    /// Wallet name [default: [wallet] name]
    #[arg(long)]
    name: Option<String>,
    /// Hotkey name [default: [wallet] hotkey]
    #[arg(long)]
    hotkey: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum WalletCommand {
    /// Create a new coldkey and hotkey (or only one of them).
    Create {
        #[command(flatten)]
        wallet: WalletArgs,
        /// Store the coldkey unencrypted (for unattended set-ups; keep the file safe).
        #[arg(long)]
        no_password: bool,
        /// Replace existing keys (they are lost unless you have their mnemonics).
        #[arg(long)]
        overwrite: bool,
        /// Mnemonic length.
        #[arg(long, default_value_t = 12, value_parser = parse_words)]
        words: usize,
        /// Only create the hotkey, in an existing wallet.
        #[arg(long, conflicts_with = "coldkey_only")]
        hotkey_only: bool,
        /// Only create the coldkey.
        #[arg(long)]
        coldkey_only: bool,
        /// Do not print the new mnemonics (they are still stored in the key files).
        #[arg(long)]
        no_print_mnemonic: bool,
    },
    /// Restore a key from its mnemonic or seed, or coldkeypub.txt from an address.
    Regen {
        /// What to restore.
        #[arg(value_enum)]
        target: RegenTarget,
        #[command(flatten)]
        wallet: WalletArgs,
        /// The mnemonic words, or `-` to read them from standard input; asked for on a
        /// terminal when neither this nor --seed is given.
        #[arg(long, conflicts_with_all = ["seed", "ss58"])]
        mnemonic: Option<String>,
        /// A 32-byte seed or 64-byte private key in hex, or `-` for standard input.
        #[arg(long, conflicts_with = "ss58")]
        seed: Option<String>,
        /// The coldkey address, for `regen coldkeypub`.
        #[arg(long, value_name = "SS58", required_if_eq("target", "coldkeypub"))]
        ss58: Option<String>,
        /// Store a restored coldkey unencrypted.
        #[arg(long)]
        no_password: bool,
        /// Replace existing keys.
        #[arg(long)]
        overwrite: bool,
    },
    /// List the wallets and hotkeys under the wallets root.
    List {
        #[command(flatten)]
        wallet: WalletArgs,
    },
    /// Print the coldkey and hotkey ss58 addresses.
    Show {
        #[command(flatten)]
        wallet: WalletArgs,
        /// Print JSON: {"wallet", "path", "coldkey", "hotkey_name", "hotkey"}.
        #[arg(long)]
        json: bool,
    },
    /// Sign a message with the hotkey (or the coldkey); prints the 0x-hex signature.
    Sign {
        #[command(flatten)]
        wallet: WalletArgs,
        /// Sign with the coldkey instead of the hotkey.
        #[arg(long)]
        coldkey: bool,
        #[command(flatten)]
        message: MessageArgs,
    },
    /// Verify a signature; exit status 0 when valid, 1 when not.
    Verify {
        #[command(flatten)]
        wallet: WalletArgs,
        /// The 0x-hex signature.
        #[arg(long)]
        signature: String,
        /// Signer address [default: the wallet's hotkey]
        #[arg(long, value_name = "SS58")]
        ss58: Option<String>,
        #[command(flatten)]
        message: MessageArgs,
    },
}

/// What `wallet regen` restores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RegenTarget {
    /// The coldkey (encrypted unless --no-password) and coldkeypub.txt.
    Coldkey,
    /// The hotkey and its pub file.
    Hotkey,
    /// Only coldkeypub.txt, from --ss58: a server needs the address, not the coldkey.
    Coldkeypub,
}

/// The signed message, as UTF-8 text or as hex bytes.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct MessageArgs {
    /// The message as text (its UTF-8 bytes are signed).
    #[arg(long)]
    message: Option<String>,
    /// The message as hex bytes.
    #[arg(long, value_name = "HEX")]
    hex: Option<String>,
}

impl MessageArgs {
    fn bytes(&self) -> anyhow::Result<Vec<u8>> {
        match (&self.message, &self.hex) {
            (Some(text), _) => Ok(text.as_bytes().to_vec()),
            (None, Some(hex)) => {
                let digits = hex.trim().trim_start_matches("0x");
                hex::decode(digits).context("--hex is not valid hex")
            }
            (None, None) => bail!("give --message or --hex"),
        }
    }
}

fn parse_words(text: &str) -> Result<usize, String> {
    let words: usize = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if MNEMONIC_WORD_COUNTS.contains(&words) {
        Ok(words)
    } else {
        Err("a mnemonic has 12, 15, 18, 21 or 24 words".into())
    }
}

/// The wallet selection and password source after applying the config and the flags.
pub(super) struct Selected {
    pub(super) wallet: Wallet,
    root: PathBuf,
    pub(super) passwords: PasswordSource,
}

pub(super) fn select(source: &ConfigSource, args: &WalletArgs) -> anyhow::Result<Selected> {
    select_from(config::load_section(source, "wallet")?, args)
}

/// [`select`] for commands that have already loaded the whole configuration.
pub(super) fn select_from(section: WalletConfig, args: &WalletArgs) -> anyhow::Result<Selected> {
    let root = args.path.clone().unwrap_or_else(|| section.root());
    let name = args.name.as_deref().unwrap_or(&section.name);
    let hotkey = args.hotkey.as_deref().unwrap_or(&section.hotkey);
    Ok(Selected {
        wallet: Wallet::new(&root, name, hotkey)?,
        root,
        passwords: PasswordSource::new(section.password_env, section.password_file),
    })
}

pub fn run(command: WalletCommand, source: &ConfigSource) -> anyhow::Result<ExitCode> {
    match command {
        WalletCommand::Create {
            wallet,
            no_password,
            overwrite,
            words,
            hotkey_only,
            coldkey_only,
            no_print_mnemonic,
        } => {
            let s = select(source, &wallet)?;
            let mut roles = Vec::new();
            if !hotkey_only {
                roles.push(KeyRole::Coldkey);
            }
            if !coldkey_only {
                roles.push(KeyRole::Hotkey);
            }
            // Check every target before writing anything, so a refusal leaves no half wallet.
            if !overwrite {
                for role in &roles {
                    for path in [s.wallet.key_path(*role), s.wallet.pub_path(*role)] {
                        if path.exists() {
                            return Err(wallet::WalletError::Exists { path }.into());
                        }
                    }
                }
            }
            for role in roles {
                let key = Keypair::generate(words)?;
                store(&s, role, &key, no_password, overwrite)?;
                println!(
                    "{} {} created: {}",
                    role.noun(),
                    s.wallet.key_path(role).display(),
                    key.ss58()
                );
                if !no_print_mnemonic {
                    println!(
                        "  mnemonic (write it down; anyone with it controls the key): {}",
                        key.mnemonic().unwrap_or_default()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        WalletCommand::Regen {
            target,
            wallet,
            mnemonic,
            seed,
            ss58,
            no_password,
            overwrite,
        } => {
            let s = select(source, &wallet)?;
            let role = match target {
                RegenTarget::Coldkeypub => {
                    let address = ss58.context("regen coldkeypub needs --ss58")?;
                    let public = PublicKey::from_ss58(&address)?;
                    s.wallet.store_coldkeypub(&public, overwrite)?;
                    println!(
                        "coldkeypub {} written: {public}",
                        s.wallet.pub_path(KeyRole::Coldkey).display()
                    );
                    return Ok(ExitCode::SUCCESS);
                }
                RegenTarget::Coldkey => KeyRole::Coldkey,
                RegenTarget::Hotkey => KeyRole::Hotkey,
            };
            let key = match (mnemonic, seed) {
                (_, Some(seed)) => Keypair::from_secret_hex(&secret_input(&seed, "seed")?)?,
                (Some(words), None) => Keypair::from_mnemonic(&secret_input(&words, "mnemonic")?)?,
                (None, None) => {
                    if !std::io::stdin().is_terminal() {
                        bail!("give --mnemonic (or --mnemonic - to read it from standard input) or --seed");
                    }
                    let words = Zeroizing::new(rpassword::prompt_password("Mnemonic: ")?);
                    Keypair::from_mnemonic(&words)?
                }
            };
            store(&s, role, &key, no_password, overwrite)?;
            println!(
                "{} {} restored: {}",
                role.noun(),
                s.wallet.key_path(role).display(),
                key.ss58()
            );
            Ok(ExitCode::SUCCESS)
        }
        WalletCommand::List { wallet } => {
            let s = select(source, &wallet)?;
            let listing = wallet::list(&s.root)?;
            if listing.is_empty() {
                println!("no wallets under {}", s.root.display());
            }
            for entry in listing {
                println!(
                    "{}  coldkey {}",
                    entry.name,
                    address_or_problem(&entry.coldkey)
                );
                for (hotkey, address) in &entry.hotkeys {
                    println!("  hotkey {hotkey}  {}", address_or_problem(address));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        WalletCommand::Show { wallet, json } => {
            let s = select(source, &wallet)?;
            let coldkey = s.wallet.address(KeyRole::Coldkey)?;
            let hotkey = s.wallet.address(KeyRole::Hotkey)?;
            if json {
                let value = serde_json::json!({
                    "wallet": s.wallet.name(),
                    "path": s.wallet.dir(),
                    "coldkey": coldkey.to_ss58(),
                    "hotkey_name": s.wallet.hotkey_name(),
                    "hotkey": hotkey.to_ss58(),
                });
                println!("{value}");
            } else {
                println!(
                    "wallet   {}  ({})",
                    s.wallet.name(),
                    s.wallet.dir().display()
                );
                println!("coldkey  {coldkey}");
                println!("hotkey   {}  {hotkey}", s.wallet.hotkey_name());
            }
            Ok(ExitCode::SUCCESS)
        }
        WalletCommand::Sign {
            wallet,
            coldkey,
            message,
        } => {
            let s = select(source, &wallet)?;
            let role = if coldkey {
                KeyRole::Coldkey
            } else {
                KeyRole::Hotkey
            };
            let bytes = message.bytes()?;
            let key = s.wallet.keypair(role, &s.passwords)?;
            println!("0x{}", hex::encode(key.sign(&bytes)));
            eprintln!("signed by {} {}", role.noun(), key.ss58());
            Ok(ExitCode::SUCCESS)
        }
        WalletCommand::Verify {
            wallet,
            signature,
            ss58,
            message,
        } => {
            let signer = match ss58 {
                Some(address) => PublicKey::from_ss58(&address)?,
                None => select(source, &wallet)?.wallet.address(KeyRole::Hotkey)?,
            };
            let signature = hex::decode(signature.trim().trim_start_matches("0x"))
                .context("--signature is not valid hex")?;
            if signer.verify(&message.bytes()?, &signature) {
                println!("valid signature by {signer}");
                Ok(ExitCode::SUCCESS)
            } else {
                println!("INVALID signature for {signer}");
                Ok(ExitCode::FAILURE)
            }
        }
    }
}

fn store(
    s: &Selected,
    role: KeyRole,
    key: &Keypair,
    no_password: bool,
    overwrite: bool,
) -> anyhow::Result<()> {
    // Hotkeys are stored in plaintext, as btcli does: the server signs with them unattended.
    let password = match role {
        KeyRole::Coldkey if !no_password => {
            Some(s.passwords.new_password(&s.wallet.key_path(role))?)
        }
        _ => None,
    };
    s.wallet.store_keypair(
        role,
        key,
        password.as_deref().map(String::as_str),
        overwrite,
    )?;
    Ok(())
}

/// Reads a secret given on the command line, or from standard input when it is `-`.
fn secret_input(value: &str, what: &str) -> anyhow::Result<Zeroizing<String>> {
    if value != "-" {
        return Ok(Zeroizing::new(value.to_owned()));
    }
    let mut line = Zeroizing::new(String::new());
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .with_context(|| format!("reading the {what} from standard input"))?;
    Ok(Zeroizing::new(line.trim().to_owned()))
}

fn address_or_problem(address: &Result<PublicKey, wallet::WalletError>) -> String {
    match address {
        Ok(public) => public.to_string(),
        Err(e) => format!("(unreadable: {e})"),
    }
}
