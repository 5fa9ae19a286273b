//! `sn27 scores`: what this validator thinks of every uid — the GPUs it proved, its newest
//! Proof-of-GPU results, its points and weight, and why a zero is a zero. Read from the
//! validator's state file and the chain, so it works while `sn27 run` runs and after it.

use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;

use super::wallet_cmd::{select_from, WalletArgs};
use super::{connected, load_config};
use crate::config::ConfigSource;
use crate::validator::live_config;
use crate::validator::serve::{score_now, selection_rules};
use crate::validator::state::StateFile;
use crate::wallet::KeyRole;

pub fn run(source: &ConfigSource, wallet: &WalletArgs, json: bool) -> anyhow::Result<ExitCode> {
    let file_config = load_config(source)?;
    let selected = select_from(file_config.wallet.clone(), wallet)?;
    // The address is enough: no password is needed to read scores.
    let me = selected
        .wallet
        .address(KeyRole::Hotkey)
        .context("reading the validator's hotkey address")?;
    let file = StateFile::new(&file_config.state_dir);
    let mut state = file.load()?;
    if !file_config.wandb.enabled {
        // What a reader found while it was on no longer counts.
        state.wandb = None;
    }
    let specs_read = state
        .wandb
        .as_ref()
        .is_some_and(|w| !w.specs_reads.is_empty());
    let penalties_read = state.wandb.as_ref().is_some_and(|w| w.penalized.is_some());
    let wandb_summary = wandb_summary(&state);
    let (runtime, chain) = connected(&file_config)?;
    // The live configuration the service follows, read now: the service's copy may be a
    // minute older.
    let (config, live, live_read) = match &file_config.validator.live_config_url {
        None => (file_config, None, false),
        Some(url) => match runtime
            .block_on(live_config::fetch(url))
            .and_then(|live| live.apply(&file_config))
        {
            Ok(config) => (
                config,
                Some(format!("live configuration read from {url}")),
                true,
            ),
            Err(e) => (
                file_config,
                Some(format!(
                    "live configuration not taken ({e}); the file's values apply"
                )),
                false,
            ),
        },
    };
    let metagraph = runtime.block_on(chain.metagraph(config.chain.netuid))?;
    let rules = selection_rules(&config.validator)?;
    let table = runtime.block_on(score_now(
        chain.as_ref(),
        &config,
        &rules,
        &metagraph,
        &me,
        &state,
    ))?;
    let rows = &table.rows;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "netuid": config.chain.netuid,
                "block": metagraph.block,
                "validator": me.to_ss58(),
                "profile": config.scoring.profile.name(),
                "reproduces": config.scoring.profile.reproduces(),
                "last_round_block": state.last_round_block,
                "last_weights_block": state.last_weights_block,
                "uids": rows,
                "caps": table.caps,
                "owner": table.owner,
                "weights_blocked": table.blocked,
                "live_config": live,
                "wandb": state.wandb,
                "missing_inputs": config.scoring.profile.missing_inputs(live_read, specs_read, penalties_read),
            }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "netuid {} at block {}; scoring profile {}; last round at block {}, last weights at block {}",
        config.chain.netuid,
        metagraph.block,
        config.scoring.profile.name(),
        state
            .last_round_block
            .map_or("-".to_string(), |b| b.to_string()),
        state
            .last_weights_block
            .map_or("-".to_string(), |b| b.to_string()),
    );
    println!(
        "{:>4}  {:<48}  {:<28}  {:<9}  {:>7}  {:>8}  {:>6}  note",
        "uid", "hotkey", "proven GPUs", "last runs", "points", "weight", "u16"
    );
    for row in rows {
        let gpus = row
            .spec
            .as_ref()
            .map_or("-".to_string(), |s| format!("{} × {}", s.gpus, s.model));
        // Oldest first: P passed, F failed.
        let runs: String = row
            .results
            .iter()
            .map(|r| if r.spec.is_some() { 'P' } else { 'F' })
            .collect();
        let mut note = row.reason.clone().unwrap_or_default();
        if row.rented {
            note = format!(
                "rented by this validator{}",
                if note.is_empty() { "" } else { "; " }
            ) + &note;
        }
        println!(
            "{:>4}  {:<48}  {:<28}  {:<9}  {:>7.3}  {:>8.5}  {:>6}  {}",
            row.uid,
            row.hotkey,
            gpus,
            if runs.is_empty() { "-".into() } else { runs },
            row.points,
            row.weight,
            row.weight_u16,
            note
        );
    }
    if !table.caps.is_empty() {
        println!();
        println!(
            "capped weights: {} of the weights to miners at most, by GPU model",
            config.scoring.total_miner_emission
        );
        println!(
            "{:<34}  {:>6}  {:>9}  {:>7}  {:>9}",
            "model", "weight", "cap", "members", "share"
        );
        for cap in &table.caps {
            println!(
                "{:<34}  {:>6}  {:>9.6}  {:>7}  {:>9.6}",
                cap.model, cap.weight, cap.cap, cap.members, cap.share
            );
        }
    }
    if let Some(owner) = &table.owner {
        println!(
            "subnet owner uid {} ({}) receives the remainder: {:.6}",
            owner.uid, owner.hotkey, owner.share
        );
    }
    if let Some(blocked) = &table.blocked {
        println!("no weights can be set: {blocked}");
    }
    if let Some(live) = &live {
        println!("{live}");
    }
    if let Some(summary) = &wandb_summary {
        println!("{summary}");
    }
    let missing = config
        .scoring
        .profile
        .missing_inputs(live_read, specs_read, penalties_read);
    if !missing.is_empty() {
        println!(
            "not read (weights differ from the profile's validators where these say otherwise):"
        );
        for input in missing {
            println!("  - {input}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What the W&B reader last found, in a line; `None` while it is off.
fn wandb_summary(state: &crate::validator::state::ValidatorState) -> Option<String> {
    let w = state.wandb.as_ref()?;
    let block = w.last_read_block.map_or("never read yet".to_string(), |b| {
        format!("last read at block {b}")
    });
    let specs = match w.specs_reads.last() {
        Some(hotkeys) => format!(
            "{} miners with a signed, running specs run in the newest read",
            hotkeys.len()
        ),
        None => "no specs runs read yet (nobody is zeroed for lacking one)".into(),
    };
    let penalties = match &w.penalized {
        Some(list) => format!("{} hotkeys on the penalty list", list.len()),
        None => "penalty list not read yet".into(),
    };
    let error = w
        .last_error
        .as_ref()
        .map_or(String::new(), |e| format!("; last read failed: {e}"));
    Some(format!("W&B inputs: {block}; {specs}; {penalties}{error}"))
}
