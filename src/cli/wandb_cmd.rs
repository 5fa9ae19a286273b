//! `sn27 wandb show`: what validators of SN27 v2.x read from W&B for the configured netuid —
//! every running miner run with its hotkey, whether its signature verifies and whether it has
//! specs, and the penalty list — so a miner can see its run as they see it and a validator
//! what its scores would take in. Reads `[wandb]` (which need not be enabled).

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;

use super::{load_config, runtime};
use crate::config::ConfigSource;
use crate::validator::wandb_inputs::{miner_runs, penalty_list};
use crate::wallet::{KeyRole, Wallet};
use crate::wandb::{RunPath, WandbClient};

#[derive(Debug, Subcommand)]
pub enum WandbCommand {
    /// Every running miner run of the netuid as validators judge it, and the penalty list
    /// (exit 1 when W&B could not be read).
    Show {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(source: &ConfigSource, command: WandbCommand) -> anyhow::Result<ExitCode> {
    let WandbCommand::Show { json } = command;
    let config = load_config(source)?;
    let w = &config.wandb;
    let key = w.api_key().map_err(anyhow::Error::msg)?;
    let client = WandbClient::new(&w.base_url, &key)?;
    let netuid = config.chain.netuid;
    // This node's hotkey, to point out its own run; none when the wallet is not here.
    let me = Wallet::new(
        config.wallet.root(),
        &config.wallet.name,
        &config.wallet.hotkey,
    )
    .and_then(|wallet| wallet.address(KeyRole::Hotkey))
    .ok()
    .map(|key| key.to_ss58());
    let penalty_run = RunPath {
        entity: w.entity.clone(),
        project: w.project.clone(),
        name: w.penalty_run.clone(),
    };
    let (runs, penalties) = runtime()?.block_on(async {
        (
            miner_runs(&client, &w.entity, &w.project, netuid).await,
            penalty_list(&client, &penalty_run, &w.penalty_hotkey).await,
        )
    });
    let runs = runs?;
    let own = me.as_ref().map(|me| {
        runs.iter()
            .any(|r| r.accepted() && r.hotkey.as_ref() == Some(me))
    });
    if json {
        let rows: Vec<_> = runs
            .iter()
            .map(|r| {
                let mut row = serde_json::to_value(r).unwrap_or_default();
                row["accepted"] = json!(r.accepted());
                row
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "base_url": w.base_url,
                "project": format!("{}/{}", w.entity, w.project),
                "netuid": netuid,
                "miner_runs": rows,
                "own_hotkey": me,
                "own_run_accepted": own,
                "penalty_run": penalty_run.to_string(),
                "penalized": penalties.as_ref().ok(),
                "penalty_error": penalties.as_ref().err().map(|e| e.to_string()),
            }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{}/{} at {}: {} running miner runs of netuid {netuid}",
        w.entity,
        w.project,
        w.base_url,
        runs.len()
    );
    println!(
        "{:<10}  {:<48}  {:<9}  {:<5}  verdict",
        "run", "hotkey", "signature", "specs"
    );
    for run in &runs {
        let verdict = if run.accepted() {
            "accepted"
        } else if run.hotkey.is_none() {
            "refused: no hotkey"
        } else if !run.signature_ok {
            "refused: the signature does not verify"
        } else {
            "refused: no specs"
        };
        println!(
            "{:<10}  {:<48}  {:<9}  {:<5}  {verdict}",
            run.run_id,
            run.hotkey.as_deref().unwrap_or("-"),
            if run.signature_ok { "ok" } else { "bad" },
            if run.has_specs { "yes" } else { "no" },
        );
    }
    if let (Some(me), Some(own)) = (&me, own) {
        println!(
            "this node ({me}): {}",
            if own {
                "has an accepted run"
            } else {
                "no accepted run: SN27 v2.x validators score it 0"
            }
        );
    }
    match &penalties {
        Ok(list) => println!(
            "penalty list (run {penalty_run}): {}",
            if list.is_empty() {
                "empty".to_string()
            } else {
                list.join(", ")
            }
        ),
        Err(e) => println!("penalty list not taken: {e}"),
    }
    Ok(ExitCode::SUCCESS)
}
