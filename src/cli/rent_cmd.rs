//! The validator's renting commands: `sn27 rent`, `rentals`, `release`, `rental …`.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};

use super::wallet_cmd::{select_from, WalletArgs};
use crate::chain::NeuronInfo;
use crate::config::{Config, ConfigSource};
use crate::dendrite::{Dendrite, Target};
use crate::keys::PublicKey;
use crate::protocol::{DeviceRequirement, DockerAction, GpuRequirement, KeySlot, SshPublicKey};
use crate::validator::renting::{
    self, LostAllocation, RentError, RentRequest, Rental, RentalStore,
};
use crate::wallet::KeyRole;

const GIB: f64 = (1u64 << 30) as f64;

#[derive(Debug, Args)]
pub struct RentArgs {
    /// Rent from this miner (ss58 hotkey). Requests are signed with the [wallet] hotkey of
    /// the configuration.
    #[arg(long, conflicts_with_all = ["gpu_type"])]
    hotkey: Option<String>,
    /// GPU model wanted, e.g. "NVIDIA H100 80GB HBM3"; miners are asked in order of
    /// incentive and the first that accepts is rented. The model is not verified after
    /// login yet: check nvidia-smi in the container.
    #[arg(long, requires = "gpu_memory")]
    gpu_type: Option<String>,
    /// GPU memory wanted, GB.
    #[arg(long)]
    gpu_memory: Option<u64>,
    #[arg(long, default_value_t = 1)]
    cpus: u32,
    /// Memory, GB.
    #[arg(long, default_value_t = 1.0)]
    ram: f64,
    /// Disk, GB.
    #[arg(long, default_value_t = 1.0)]
    disk: f64,
    /// Lease in days.
    #[arg(long)]
    days: i64,
    /// An OpenSSH public key file to log in with, besides the password.
    #[arg(long, value_name = "FILE")]
    ssh_key: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum RentalCommand {
    /// Restart the rented container.
    Restart { hotkey: String },
    /// Pause it (the lease keeps running).
    Pause { hotkey: String },
    /// Resume a paused rental.
    Resume { hotkey: String },
    /// Replace a login key: line 1 (`user`, default) or 2 (`terminal`) of authorized_keys.
    SetKey {
        hotkey: String,
        /// OpenSSH public key file.
        #[arg(long, value_name = "FILE")]
        key: std::path::PathBuf,
        #[arg(long, default_value = "user", value_parser = ["user", "terminal"])]
        key_type: String,
    },
}

use super::load_config as load;

use super::{connected, runtime};

/// A dendrite signing with the configuration's `[wallet]` hotkey.
fn dendrite(config: &Config) -> anyhow::Result<Arc<Dendrite>> {
    let selected = select_from(config.wallet.clone(), &WalletArgs::default())?;
    let hotkey = selected
        .wallet
        .keypair(KeyRole::Hotkey, &selected.passwords)
        .context("loading the hotkey that signs the requests")?;
    Ok(Dendrite::new(hotkey))
}

fn target(neuron: &NeuronInfo) -> Option<Target> {
    neuron.axon.ip_addr().map(|ip| Target {
        addr: (ip, neuron.axon.port).into(),
        hotkey: neuron.hotkey.to_ss58(),
    })
}

pub fn rent(source: &ConfigSource, args: RentArgs) -> anyhow::Result<ExitCode> {
    let config = load(source)?;
    if args.days < 1 {
        bail!("--days must be at least 1");
    }
    if args.hotkey.is_none() && args.gpu_type.is_none() {
        bail!("name a miner with --hotkey, or the GPU wanted with --gpu-type and --gpu-memory");
    }
    let ssh_key = match &args.ssh_key {
        Some(path) => Some(read_ssh_key(path)?),
        None => None,
    };
    let request = RentRequest {
        device: DeviceRequirement {
            cpu_count: u64::from(args.cpus.max(1)),
            gpu: args.gpu_type.clone().map(|model| GpuRequirement {
                count: 1,
                capacity_mb: args.gpu_memory.unwrap_or(0) * 1024,
                model,
            }),
            disk_bytes: (args.disk * GIB) as u64,
            ram_bytes: (args.ram * GIB) as u64,
            testing: false,
        },
        days: args.days,
        ssh_key,
        base_image: config.miner.container.base_image.clone(),
    };
    let store = RentalStore::new(&config.state_dir);
    let dendrite = dendrite(&config)?;
    let (runtime, chain) = connected(&config)?;
    let metagraph = runtime.block_on(chain.metagraph(config.chain.netuid))?;
    let mut candidates: Vec<&NeuronInfo> = match &args.hotkey {
        Some(hotkey) => {
            let key = PublicKey::from_ss58(hotkey)?;
            let neuron = metagraph
                .neurons
                .iter()
                .find(|n| n.hotkey == key)
                .with_context(|| {
                    format!("{hotkey} is not registered on netuid {}", metagraph.netuid)
                })?;
            vec![neuron]
        }
        None => metagraph
            .neurons
            .iter()
            .filter(|n| n.axon.ip_addr().is_some())
            .collect(),
    };
    candidates.sort_by(|a, b| {
        b.incentive
            .unwrap_or(0.0)
            .total_cmp(&a.incentive.unwrap_or(0.0))
    });
    for neuron in candidates {
        let miner = neuron.hotkey.to_ss58();
        if let Ok(existing) = store.load(&miner) {
            if existing.pending {
                eprintln!(
                    "{miner}: an earlier allocation is unsettled; `sn27 release {miner}` first"
                );
            } else {
                eprintln!("{miner}: already rented by this validator (see `sn27 rentals`)");
            }
            continue;
        }
        let Some(target) = target(neuron) else {
            eprintln!("{miner}: serves no axon");
            continue;
        };
        match runtime.block_on(renting::available(&dendrite, &target, request.days)) {
            Ok(true) => {}
            Ok(false) => {
                eprintln!("{miner}: busy");
                continue;
            }
            Err(e) => {
                eprintln!("{e}");
                continue;
            }
        }
        // The key is on disk before the request leaves, so that whatever happens to either
        // side, `sn27 release` can free an allocation made with it.
        let key = runtime.block_on(renting::new_key())?;
        store.save(&Rental::pending(&target, &key, request.days))?;
        match runtime.block_on(renting::rent(&dendrite, &target, &request, &key)) {
            Ok(rental) => {
                let path = store.save(&rental)?;
                print_rental(&rental);
                println!("saved           {} (mode 0600)", path.display());
                return Ok(ExitCode::SUCCESS);
            }
            Err(e @ RentError::NoAnswer { .. }) => {
                eprintln!("{e}");
                match runtime.block_on(renting::settle_lost(&dendrite, &target, &key)) {
                    LostAllocation::Unknown => bail!(
                        "{miner} did not answer and cannot say now whether it allocated; the key \
                         is kept: `sn27 release {miner}` frees the allocation once the miner is back"
                    ),
                    LostAllocation::Released => {
                        eprintln!("{miner}: had allocated without answering; released it")
                    }
                    LostAllocation::NothingAllocated => {}
                }
                store.remove(&miner)?;
            }
            Err(e) => {
                eprintln!("{e}");
                store.remove(&miner)?;
            }
        }
    }
    bail!("no miner accepted the rental")
}

fn print_rental(rental: &Rental) {
    println!("miner           {}", rental.miner_hotkey);
    println!("ssh             {}", rental.ssh_command());
    println!("password        {}", rental.password);
    if let Some(fingerprint) = &rental.host_key_fingerprint {
        println!("host key        {fingerprint}");
    }
    if !rental.user_ports.is_empty() {
        let ports: Vec<String> = rental
            .user_ports
            .iter()
            .map(|(inside, outside)| format!("{inside} -> {}:{outside}", rental.host))
            .collect();
        println!("your ports      {}", ports.join(", "));
    }
    println!("lease           {}", days(rental.days));
}

pub fn rentals(source: &ConfigSource, json: bool) -> anyhow::Result<ExitCode> {
    let config = load(source)?;
    let rentals = RentalStore::new(&config.state_dir).list()?;
    if json {
        let public: Vec<serde_json::Value> = rentals
            .iter()
            .map(|r| {
                serde_json::json!({
                    "miner_hotkey": r.miner_hotkey, "host": r.host, "ssh_port": r.ssh_port,
                    "username": r.username, "ssh": r.ssh_command(),
                    "host_key_fingerprint": r.host_key_fingerprint, "days": r.days,
                    "rented_at": r.rented_at, "pending": r.pending,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&public)?);
        return Ok(ExitCode::SUCCESS);
    }
    if rentals.is_empty() {
        println!("no rentals");
    }
    for rental in rentals {
        if rental.pending {
            println!(
                "{}  pending: the allocation was never confirmed; `sn27 release {}` frees it",
                rental.miner_hotkey, rental.miner_hotkey
            );
            continue;
        }
        println!(
            "{}  {}  ({})",
            rental.miner_hotkey,
            rental.ssh_command(),
            days(rental.days)
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn release(source: &ConfigSource, hotkey: &str) -> anyhow::Result<ExitCode> {
    let config = load(source)?;
    let store = RentalStore::new(&config.state_dir);
    let rental = store.load(hotkey)?;
    let dendrite = dendrite(&config)?;
    let runtime = runtime()?;
    if rental.pending {
        let key = rental.key()?;
        match runtime.block_on(renting::settle_lost(&dendrite, &rental.target(), &key)) {
            LostAllocation::Released => println!("released the unconfirmed allocation on {hotkey}"),
            LostAllocation::NothingAllocated => {
                println!("{hotkey} holds no allocation of this key; nothing to release")
            }
            LostAllocation::Unknown => {
                bail!("{hotkey} does not answer; the key is kept, try again later")
            }
        }
        store.remove(hotkey)?;
        return Ok(ExitCode::SUCCESS);
    }
    runtime.block_on(renting::release(&dendrite, &rental))?;
    store.remove(hotkey)?;
    println!("released the rental of {hotkey}");
    Ok(ExitCode::SUCCESS)
}

pub fn rental(source: &ConfigSource, command: RentalCommand) -> anyhow::Result<ExitCode> {
    let config = load(source)?;
    let store = RentalStore::new(&config.state_dir);
    let (hotkey, action) = match &command {
        RentalCommand::Restart { hotkey } => (hotkey, DockerAction::Restart),
        RentalCommand::Pause { hotkey } => (hotkey, DockerAction::Pause),
        RentalCommand::Resume { hotkey } => (hotkey, DockerAction::Unpause),
        RentalCommand::SetKey {
            hotkey,
            key,
            key_type,
        } => {
            let slot = match key_type.as_str() {
                "user" => KeySlot::User,
                "terminal" => KeySlot::Terminal,
                other => bail!("--key-type must be user or terminal, not {other:?}"),
            };
            let key = read_ssh_key(key)?;
            (hotkey, DockerAction::ExchangeKey { slot, key })
        }
    };
    let rental = store.load(hotkey)?;
    let dendrite = dendrite(&config)?;
    let name = action.name();
    runtime()?.block_on(renting::act(&dendrite, &rental, action))?;
    println!("{name}: done on the rental of {hotkey}");
    Ok(ExitCode::SUCCESS)
}

/// An OpenSSH public key file, checked before anything is sent.
fn read_ssh_key(path: &std::path::Path) -> anyhow::Result<SshPublicKey> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    SshPublicKey::parse(&text)
        .map_err(|e| anyhow::anyhow!("{}: not an OpenSSH public key: {e}", path.display()))
}

fn days(n: i64) -> String {
    if n == 1 {
        "1 day".into()
    } else {
        format!("{n} days")
    }
}
