//! `sn27 run`: the long-running service of the configured role.

use std::process::ExitCode;

use anyhow::Context;

use super::wallet_cmd::{select_from, WalletArgs};
use crate::config::{ConfigSource, Role};
use crate::miner::journal::Stage;
use crate::miner::serve::RunOptions;
use crate::wallet::KeyRole;

/// `sn27 run`'s arguments.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub wallet: WalletArgs,
    /// Abort right after journaling this allocation stage (crash-safety tests only).
    #[arg(long, hide = true, value_parser = parse_stage)]
    pub crash_at: Option<Stage>,
}

fn parse_stage(text: &str) -> Result<Stage, String> {
    Stage::from_label(text).ok_or_else(|| {
        let names: Vec<&str> = Stage::ALL.iter().map(|s| s.label()).collect();
        format!("expected one of {}", names.join(", "))
    })
}

pub fn run(source: &ConfigSource, args: &RunArgs) -> anyhow::Result<ExitCode> {
    let wallet = &args.wallet;
    let config = super::load_config(source)?;
    let Some(role) = config.role else {
        anyhow::bail!(
            "set role = \"miner\" or \"validator\" in {}",
            source.path.display()
        );
    };
    let selected = select_from(config.wallet.clone(), wallet)?;
    let hotkey = selected
        .wallet
        .keypair(KeyRole::Hotkey, &selected.passwords)
        .context("loading the hotkey")?;
    let runtime = service_runtime().context("starting the async runtime")?;
    match role {
        Role::Miner => {
            let options = RunOptions {
                crash_at: args.crash_at,
                source: source.clone(),
            };
            runtime.block_on(crate::miner::serve::run(config, hotkey, options))?;
        }
        Role::Validator => {
            runtime.block_on(crate::validator::serve::run(config, hotkey, source.clone()))?
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The service's runtime: one worker thread per CPU this process may use, or, when that is
/// one (a one-core host, `taskset`, a unit's `CPUAffinity=`), the current-thread scheduler,
/// which serves the same tasks without the work-stealing machinery's cost.
fn service_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    }
}
