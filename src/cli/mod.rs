//! The command line: `sn27 [--config PATH] <command>`.
//!
//! Each subcommand lives in its own module and returns an [`ExitCode`]; errors are printed once,
//! here, with their causes. Exit status: 0 success, 1 failure, 2 usage error (from clap).

mod bench_cmd;
mod chain_cmd;
mod check_cmd;
mod config_cmd;
mod demo_cmd;
mod demo_setup;
mod query_cmd;
mod rent_cmd;
mod run_cmd;
mod scores_cmd;
mod status_cmd;
mod wallet_cmd;
mod wandb_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{self, LogConfig, LogFormat};

/// sn27: miner and validator for Bittensor Subnet 27 (NI Compute).
#[derive(Debug, Parser)]
#[command(name = "sn27", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file [default: $SN27_CONFIG, else /etc/sn27/sn27.toml]
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,

    /// Log output [default: [log] format, else auto: journald under systemd, text otherwise]
    #[arg(long, global = true)]
    log_format: Option<LogFormat>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check or print the configuration.
    #[command(subcommand)]
    Config(config_cmd::ConfigCommand),
    /// Create, restore, inspect and use btcli-compatible wallets.
    #[command(subcommand)]
    Wallet(wallet_cmd::WalletCommand),
    /// Send one signed synapse to an axon and print the answer (exit status 1 unless 200).
    Query(query_cmd::QueryArgs),
    /// The chain's endpoint, block and subnet hyperparameters.
    #[command(subcommand)]
    Chain(chain_cmd::ChainCommand),
    /// The subnet's neurons: uid, hotkey, stake, permit, axon.
    Metagraph {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Register the wallet's hotkey on the subnet, paying the burn from its coldkey.
    Register {
        #[command(flatten)]
        wallet: wallet_cmd::WalletArgs,
        /// Refuse if the burn costs more than this many TAO.
        #[arg(long, value_name = "TAO")]
        max_burn: Option<f64>,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Publish this miner's axon ([axon] external_ip, port, version) on chain, unless it is
    /// already there.
    ServeAxon {
        #[command(flatten)]
        wallet: wallet_cmd::WalletArgs,
    },
    /// Publish this validator's prometheus info ([validator] version, which SN27 v2.1+ miners
    /// check) on chain, unless it is already there; `sn27 run` does it at start.
    ServePrometheus {
        #[command(flatten)]
        wallet: wallet_cmd::WalletArgs,
    },
    /// Weights set on the subnet.
    #[command(subcommand)]
    Weights(chain_cmd::WeightsCommand),
    /// Run the configured role as a service until SIGINT or SIGTERM: a miner serves its axon
    /// and rents containers; a validator tests miners, scores them and sets weights.
    Run(run_cmd::RunArgs),
    /// Rent a container from a miner (validators): by --hotkey, or the first miner by
    /// incentive that accepts --gpu-type.
    Rent(rent_cmd::RentArgs),
    /// This validator's rentals, with their SSH commands.
    Rentals {
        /// Print JSON (without passwords).
        #[arg(long)]
        json: bool,
    },
    /// Release the rental of a miner.
    Release {
        /// The miner's hotkey (ss58).
        hotkey: String,
    },
    /// Restart, pause, resume or change the login key of a rental.
    #[command(subcommand)]
    Rental(rent_cmd::RentalCommand),
    /// The main job on this machine alone: a local devnet, a miner and a validator — register,
    /// serve, rent, test, score, set weights — then everything stopped and removed.
    Demo(demo_cmd::DemoArgs),
    /// Check this host before it serves: configuration, wallet, chain, clock, disk, and for a
    /// miner GPUs, CUDA, Docker, container limits, ports, firewall and address (exit 1 when a
    /// required check fails).
    Check {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The running service at a glance (from its [metrics] status endpoint).
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// This validator's view of every uid: proven GPUs, newest Proof-of-GPU results, points,
    /// weight, and why a zero is a zero.
    Scores {
        #[command(flatten)]
        wallet: wallet_cmd::WalletArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Measure this machine's GPUs as a validator's Proof-of-GPU test will, and show the
    /// model and score that follow from the [scoring] table.
    Bench(bench_cmd::BenchArgs),
    /// Administer the embedded local devnet (network = "devnet" only).
    #[command(subcommand)]
    Devnet(chain_cmd::DevnetCommand),
    /// What SN27 v2.x validators read from W&B ([wandb]): miners' specs runs and the
    /// penalty list.
    #[command(subcommand)]
    Wandb(wandb_cmd::WandbCommand),
}

/// `--log-format` takes the same names as `[log] format`.
impl clap::ValueEnum for LogFormat {
    fn value_variants<'a>() -> &'a [Self] {
        &[
            LogFormat::Auto,
            LogFormat::Text,
            LogFormat::Json,
            LogFormat::Journald,
        ]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        use clap::builder::PossibleValue;
        Some(match self {
            LogFormat::Auto => {
                PossibleValue::new("auto").help("journald when started by systemd, else text")
            }
            LogFormat::Text => PossibleValue::new("text"),
            LogFormat::Json => PossibleValue::new("json"),
            LogFormat::Journald => PossibleValue::new("journald"),
        })
    }
}

/// Parses the arguments, runs the command and maps failures to an exit code.
pub fn main() -> ExitCode {
    end_on_closed_stdout(true);
    let cli = Cli::parse();
    if matches!(cli.command, Command::Run(_)) {
        end_on_closed_stdout(false);
    }
    let source = config::resolve_source(cli.config.as_deref());
    let result = match cli.command {
        Command::Config(command) => {
            config_cmd::run(command, &source, cli.log_format.unwrap_or(LogFormat::Auto))
        }
        Command::Wallet(command) => {
            init_lenient_logging(&source, cli.log_format);
            wallet_cmd::run(command, &source)
        }
        Command::Query(args) => {
            init_lenient_logging(&source, cli.log_format);
            query_cmd::run(args, &source)
        }
        command => {
            init_lenient_logging(&source, cli.log_format);
            match command {
                Command::Chain(chain_cmd::ChainCommand::Info) => chain_cmd::info(&source),
                Command::Metagraph { json } => chain_cmd::metagraph(&source, json),
                Command::Register {
                    wallet,
                    max_burn,
                    yes,
                } => chain_cmd::register(&source, &wallet, max_burn, yes),
                Command::ServeAxon { wallet } => chain_cmd::serve_axon(&source, &wallet),
                Command::ServePrometheus { wallet } => {
                    chain_cmd::serve_prometheus(&source, &wallet)
                }
                Command::Weights(command) => chain_cmd::weights(&source, command),
                Command::Devnet(command) => chain_cmd::devnet(command, &source),
                Command::Run(args) => run_cmd::run(&source, &args),
                Command::Rent(args) => rent_cmd::rent(&source, args),
                Command::Rentals { json } => rent_cmd::rentals(&source, json),
                Command::Release { hotkey } => rent_cmd::release(&source, &hotkey),
                Command::Rental(command) => rent_cmd::rental(&source, command),
                Command::Bench(args) => bench_cmd::run(&source, &args),
                Command::Check { json } => check_cmd::run(&source, json),
                Command::Wandb(command) => wandb_cmd::run(&source, command),
                Command::Demo(args) => demo_cmd::run(&args),
                Command::Status { json } => status_cmd::run(&source, json),
                Command::Scores { wallet, json } => scores_cmd::run(&source, &wallet, json),
                Command::Config(_) | Command::Wallet(_) | Command::Query(_) => {
                    unreachable!("handled above")
                }
            }
        }
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            report(&error);
            ExitCode::FAILURE
        }
    }
}

/// Whether a write to a closed pipe ends the process (SIGPIPE at its default action), as Unix
/// tools end when their reader stops (`sn27 metagraph --json | head`), instead of Rust's
/// default of ignoring SIGPIPE and panicking in `println!`. Only for one-shot commands: the
/// service (`sn27 run`) keeps it ignored, so a log reader that goes away cannot stop it.
fn end_on_closed_stdout(end: bool) {
    use nix::sys::signal::{signal, SigHandler, Signal};
    let action = if end {
        SigHandler::SigDfl
    } else {
        SigHandler::SigIgn
    };
    // SAFETY: the default and ignore actions run no handler code; this only sets the
    // disposition, before any other thread exists.
    let _ = unsafe { signal(Signal::SIGPIPE, action) };
}

/// Prints a command's failure once, as `error: <error>: <cause>: …`. The configuration's
/// diagnostics already say `error:` (or `warning:`) on each line and are printed as they are.
fn report(error: &anyhow::Error) {
    match error.downcast_ref::<config::LoadError>() {
        Some(diagnostics) => eprintln!("{diagnostics}"),
        None => eprintln!("error: {error:#}"),
    }
}

/// The whole configuration, failing on errors and printing warnings (for commands that act).
pub(crate) fn load_config(source: &config::ConfigSource) -> anyhow::Result<config::Config> {
    let loaded = config::load(source)?;
    for warning in &loaded.warnings {
        eprintln!("{warning}");
    }
    Ok(loaded.config)
}

/// [`load_config`] for commands that measure the host before it is configured: without the
/// default file, the built-in defaults, said so on stderr. Whether a file was read.
pub(crate) fn load_config_or_defaults(
    source: &config::ConfigSource,
) -> anyhow::Result<(config::Config, bool)> {
    let loaded = config::load_or_defaults(source)?;
    for warning in &loaded.warnings {
        eprintln!("{warning}");
    }
    if loaded.file.is_none() {
        eprintln!(
            "note: no configuration file at {}; using the built-in defaults (scoring profile \
             {:?}, base image {}); `sn27 config example` writes one",
            source.path.display(),
            loaded.config.scoring.profile.name(),
            loaded.config.miner.container.base_image,
        );
    }
    Ok((loaded.config, loaded.file.is_some()))
}

/// The async runtime of a command (one thread: commands do one thing at a time; slow
/// cryptography goes to the blocking pool).
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// The runtime and the chain of a configuration; every use of the chain goes through this
/// runtime (a subtensor connection's background tasks live on it).
pub(crate) fn connected(
    config: &config::Config,
) -> anyhow::Result<(
    tokio::runtime::Runtime,
    std::sync::Arc<dyn crate::chain::Chain>,
)> {
    let runtime = runtime()?;
    let chain = runtime.block_on(crate::chain::connect(
        &config.chain.network,
        &config.devnet_path(),
    ))?;
    Ok((runtime, chain))
}

/// Logging for commands that work without a config file: a broken `[log]` section must not
/// stop an operator from reaching their keys, so it falls back to the defaults.
fn init_lenient_logging(source: &config::ConfigSource, flag: Option<LogFormat>) {
    let log: LogConfig = config::load_section(source, "log").unwrap_or_default();
    init_logging(flag.unwrap_or(log.format), &log.filter);
}

fn init_logging(format: LogFormat, filter: &str) {
    if let Some(note) = crate::logging::init(format, filter) {
        tracing::warn!("{note}");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
