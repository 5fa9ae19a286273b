//! `sn27 run`: the long-running service of the configured role.

use std::process::ExitCode;

use anyhow::Context;

use super::wallet_cmd::{select_from, WalletArgs};
use crate::config::{ConfigSource, Role};
use crate::wallet::KeyRole;

pub fn run(source: &ConfigSource, wallet: &WalletArgs) -> anyhow::Result<ExitCode> {
    let config = super::load_config(source)?;
    match config.role {
        Some(Role::Miner) => {}
        Some(Role::Validator) => anyhow::bail!(
            "role = \"validator\": the validator service (Proof-of-GPU rounds, scoring, weights) \
             is not part of this build yet; the renting commands (`sn27 rent`, `sn27 rentals`) work"
        ),
        None => anyhow::bail!(
            "set role = \"miner\" or \"validator\" in {}",
            source.path.display()
        ),
    }
    let selected = select_from(config.wallet.clone(), wallet)?;
    let hotkey = selected
        .wallet
        .keypair(KeyRole::Hotkey, &selected.passwords)
        .context("loading the miner's hotkey")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(crate::miner::serve::run(config, hotkey))?;
    Ok(ExitCode::SUCCESS)
}
