//! Chain commands: `chain info`, `metagraph`, `register`, `serve-axon`, `weights show`, and the
//! devnet's admin commands (`devnet init|fund|register`).

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Subcommand;

use super::wallet_cmd::{select_from, WalletArgs};
use crate::chain::devnet::{Devnet, Genesis};
use crate::chain::types::{rao, tao};
use crate::chain::{publish_axon, ServeOutcome};
use crate::config::{ConfigSource, Network};
use crate::keys::PublicKey;
use crate::wallet::KeyRole;

#[derive(Debug, Subcommand)]
pub enum ChainCommand {
    /// Show the chain endpoint, block and the subnet's hyperparameters.
    Info,
}

#[derive(Debug, Subcommand)]
pub enum WeightsCommand {
    /// Show the weights currently set on the subnet.
    Show {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum DevnetCommand {
    /// Create the devnet database, or reset it to genesis.
    Init {
        /// Seconds per block (fractions allowed).
        #[arg(long, default_value_t = 12.0)]
        block_time: f64,
    },
    /// Credit TAO to an account.
    Fund { account: String, tao: f64 },
    /// Change a subnet parameter (e.g. `commit_reveal true`, `tempo 10`, `burn 0.5`,
    /// `owner_hotkey 5F…` for the subnet owner's hotkey).
    Set { name: String, value: String },
    /// Register any hotkey (e.g. a Python validator's) without burn, optionally with stake.
    Register {
        hotkey: String,
        /// The owning coldkey [default: the hotkey itself]
        #[arg(long)]
        coldkey: Option<String>,
        /// Stake, in whole units; the devnet has no pool and counts it as alpha on the
        /// subnet (1 TAO = 1 alpha).
        #[arg(long, default_value_t = 0.0)]
        stake: f64,
    },
}

use super::load_config as load;

use super::{connected, runtime};

fn address(text: &str) -> anyhow::Result<PublicKey> {
    Ok(PublicKey::from_ss58(text)?)
}

pub fn devnet(command: DevnetCommand, source: &ConfigSource) -> anyhow::Result<ExitCode> {
    let config = load(source)?;
    if config.chain.network != Network::Devnet {
        bail!(
            "devnet commands act on the embedded devnet only; this configuration uses network \
             {:?} (set [chain] network = \"devnet\")",
            config.chain.network.to_string()
        );
    }
    let path = config.devnet_path();
    let netuid = config.chain.netuid;
    let runtime = runtime()?;
    match command {
        DevnetCommand::Init { block_time } => {
            if !(block_time.is_finite() && block_time >= 0.001) {
                bail!("--block-time must be at least 0.001 seconds");
            }
            let genesis = Genesis {
                block_time: Duration::from_secs_f64(block_time),
                netuids: vec![netuid],
            };
            Devnet::init(&path, &genesis)?;
            println!(
                "local devnet created at {} (netuid {netuid}, {block_time} s blocks; not a real chain)",
                path.display()
            );
        }
        DevnetCommand::Fund {
            account,
            tao: amount,
        } => {
            let account = address(&account)?;
            let amount = rao(amount).context("the amount must be a non-negative number of TAO")?;
            let devnet = Devnet::open(&path)?;
            let balance = runtime.block_on(devnet.fund(account, amount))?;
            println!("{account}: {:.9} TAO (local devnet)", tao(balance));
        }
        DevnetCommand::Set { name, value } => {
            let devnet = Devnet::open(&path)?;
            runtime.block_on(devnet.set_hyperparameter(netuid, &name, &value))?;
            println!("netuid {netuid}: {name} = {value} (local devnet)");
        }
        DevnetCommand::Register {
            hotkey,
            coldkey,
            stake,
        } => {
            let hotkey = address(&hotkey)?;
            let coldkey = coldkey
                .as_deref()
                .map(address)
                .transpose()?
                .unwrap_or(hotkey);
            let stake = rao(stake).context("--stake must be a non-negative number of TAO")?;
            let devnet = Devnet::open(&path)?;
            let uid = runtime.block_on(devnet.register_free(netuid, hotkey, coldkey, stake))?;
            println!("{hotkey} registered on netuid {netuid} as uid {uid} (local devnet)");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn info(source: &ConfigSource) -> anyhow::Result<ExitCode> {
    let config = load(source)?;
    let (runtime, chain) = connected(&config)?;
    let netuid = config.chain.netuid;
    runtime.block_on(async {
        let status = chain.status().await?;
        let h = chain.hyperparameters(netuid).await?;
        println!("endpoint        {}", status.endpoint);
        if let Some(spec) = status.spec_version {
            println!("spec version    {spec}");
        }
        println!(
            "block           {} ({} ms blocks)",
            status.block, status.block_time_ms
        );
        println!("netuid          {netuid}");
        println!("tempo           {}", h.tempo);
        println!("weights rate    every {} blocks", h.weights_rate_limit);
        println!("serving rate    every {} blocks", h.serving_rate_limit);
        println!("version key     {}", h.weights_version_key);
        println!(
            "commit-reveal   {}",
            if h.commit_reveal_enabled {
                format!("on (reveal after {} epochs)", h.commit_reveal_period)
            } else {
                "off".into()
            }
        );
        // One is a count of uids, the other a cap on one uid's share of a weights vector.
        println!(
            "min weights     at least {} uid{} per weights vector (min_allowed_weights)",
            h.min_allowed_weights,
            if h.min_allowed_weights == 1 { "" } else { "s" }
        );
        println!(
            "max weight      at most {:.2}% of a weights vector on one uid (max_weights_limit {} of 65535)",
            f64::from(h.max_weights_limit) / 655.35,
            h.max_weights_limit
        );
        println!("burn            {:.9} TAO", tao(h.burn));
        println!(
            "registration    {}",
            if h.registration_allowed {
                "open"
            } else {
                "closed"
            }
        );
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

pub fn metagraph(source: &ConfigSource, json: bool) -> anyhow::Result<ExitCode> {
    let config = load(source)?;
    let (runtime, chain) = connected(&config)?;
    let metagraph = runtime.block_on(chain.metagraph(config.chain.netuid))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&metagraph)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "netuid {} at block {}: {} neurons",
        metagraph.netuid,
        metagraph.block,
        metagraph.neurons.len()
    );
    if config.chain.network == Network::Devnet {
        println!(
            "stake in alpha of netuid {} (local devnet: one stake number per neuron, no TAO \
             stake), the total validator checks count",
            metagraph.netuid
        );
    } else {
        println!(
            "stake in alpha of netuid {}: alpha stake + TaoWeight x TAO stake, the total \
             validator checks count (`--json` gives the parts)",
            metagraph.netuid
        );
    }
    println!(
        "{:>4}  {:<48}  {:>14}  {:<6}  {:>8}  {:>10}  axon",
        "uid", "hotkey", "stake (alpha)", "permit", "updated", "prometheus"
    );
    for n in &metagraph.neurons {
        // The version is what SN27 miners check; `--json` gives the address too.
        let prometheus = match n.prometheus.ip_addr() {
            Some(_) => format!("v{}", n.prometheus.version),
            None => "-".to_string(),
        };
        println!(
            "{:>4}  {:<48}  {:>14.3}  {:<6}  {:>8}  {:>10}  {}",
            n.uid,
            n.hotkey.to_ss58(),
            tao(n.stake),
            if n.validator_permit { "yes" } else { "no" },
            n.last_update,
            prometheus,
            n.axon
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn register(
    source: &ConfigSource,
    wallet: &WalletArgs,
    max_burn: Option<f64>,
    yes: bool,
) -> anyhow::Result<ExitCode> {
    let config = load(source)?;
    let selected = select_from(config.wallet.clone(), wallet)?;
    let hotkey = selected.wallet.address(KeyRole::Hotkey)?;
    let coldkey_address = selected.wallet.address(KeyRole::Coldkey)?;
    let netuid = config.chain.netuid;
    let (runtime, chain) = connected(&config)?;
    let plan = runtime.block_on(crate::registration::plan(
        chain.as_ref(),
        netuid,
        &hotkey,
        &coldkey_address,
    ))?;
    if let Some(uid) = plan.registered {
        println!("hotkey {hotkey} is already registered on netuid {netuid} as uid {uid}");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "registering hotkey {hotkey} on netuid {netuid} costs {:.9} TAO (burned)",
        tao(plan.burn)
    );
    let limit = match max_burn {
        Some(limit) => Some(rao(limit).context("--max-burn must be a non-negative number of TAO")?),
        None => None,
    };
    plan.check(&coldkey_address, limit.map(|l| (l, "--max-burn")))
        .map_err(anyhow::Error::msg)?;
    if !yes {
        if !std::io::stdin().is_terminal() {
            bail!("confirmation needed: pass --yes to register without a prompt");
        }
        print!("Proceed? [y/N] ");
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            println!("not registered");
            return Ok(ExitCode::FAILURE);
        }
    }
    // Decrypting the coldkey is slow and blocking; it happens before the runtime is used.
    let coldkey = selected
        .wallet
        .keypair(KeyRole::Coldkey, &selected.passwords)?;
    let uid = runtime.block_on(chain.burned_register(&coldkey, netuid, &hotkey))?;
    println!("registered: uid {uid} on netuid {netuid}");
    Ok(ExitCode::SUCCESS)
}

pub fn serve_axon(source: &ConfigSource, wallet: &WalletArgs) -> anyhow::Result<ExitCode> {
    let config = load(source)?;
    let selected = select_from(config.wallet.clone(), wallet)?;
    let hotkey = selected
        .wallet
        .keypair(KeyRole::Hotkey, &selected.passwords)?;
    let axon = crate::miner::serve::axon_to_publish(&config.axon)?;
    let (runtime, chain) = connected(&config)?;
    let outcome = runtime.block_on(publish_axon(
        chain.as_ref(),
        &hotkey,
        config.chain.netuid,
        axon,
    ))?;
    match outcome {
        ServeOutcome::Unchanged => println!("axon {axon} is already published; nothing sent"),
        ServeOutcome::Served { block } => println!("axon {axon} published at block {block}"),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn serve_prometheus(source: &ConfigSource, wallet: &WalletArgs) -> anyhow::Result<ExitCode> {
    let config = load(source)?;
    let selected = select_from(config.wallet.clone(), wallet)?;
    let hotkey = selected
        .wallet
        .keypair(KeyRole::Hotkey, &selected.passwords)?;
    let info = crate::validator::serve::prometheus_to_publish(&config)?;
    let (runtime, chain) = connected(&config)?;
    let outcome = runtime.block_on(crate::chain::publish_prometheus(
        chain.as_ref(),
        &hotkey,
        config.chain.netuid,
        info,
    ))?;
    match outcome {
        ServeOutcome::Unchanged => {
            println!("prometheus {info} is already published; nothing sent")
        }
        ServeOutcome::Served { block } => println!("prometheus {info} published at block {block}"),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn weights(source: &ConfigSource, command: WeightsCommand) -> anyhow::Result<ExitCode> {
    let WeightsCommand::Show { json } = command;
    let config = load(source)?;
    let (runtime, chain) = connected(&config)?;
    let weights = runtime.block_on(chain.weights(config.chain.netuid))?;
    if json {
        let value: Vec<_> = weights
            .iter()
            .map(|(uid, row)| serde_json::json!({"uid": uid, "weights": row}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(ExitCode::SUCCESS);
    }
    if weights.is_empty() {
        println!("no weights set on netuid {}", config.chain.netuid);
    }
    for (uid, row) in weights {
        let total: u64 = row.iter().map(|(_, w)| u64::from(*w)).sum();
        let shown: Vec<String> = row
            .iter()
            .map(|(dest, w)| format!("{dest}:{:.4}", f64::from(*w) / total.max(1) as f64))
            .collect();
        println!("uid {uid} -> {}", shown.join(" "));
    }
    Ok(ExitCode::SUCCESS)
}
