//! `sn27 config check` and `sn27 config example`.

use std::process::ExitCode;

use clap::Subcommand;

use crate::config::{self, ConfigSource, LogFormat, Severity, ENV_PREFIX};

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Load, layer and validate the configuration; print the effective configuration, or
    /// every problem found (exit status 1).
    Check,
    /// Print the documented example configuration (the same text as sn27.toml.example).
    Example,
}

pub fn run(
    command: ConfigCommand,
    source: &ConfigSource,
    log_format: LogFormat,
) -> anyhow::Result<ExitCode> {
    match command {
        ConfigCommand::Example => {
            print!("{}", config::EXAMPLE);
            Ok(ExitCode::SUCCESS)
        }
        ConfigCommand::Check => check(source, log_format),
    }
}

fn check(source: &ConfigSource, log_format: LogFormat) -> anyhow::Result<ExitCode> {
    match config::load(source) {
        Ok(loaded) => {
            super::init_logging(log_format, &loaded.config.log.filter);
            for warning in &loaded.warnings {
                eprintln!("{warning}");
            }
            let env: Vec<String> = std::env::vars_os()
                .filter_map(|(name, _)| name.into_string().ok())
                .filter(|name| name.starts_with(ENV_PREFIX) && name != "SN27_CONFIG")
                .collect();
            println!(
                "# effective configuration: defaults <- {} <- environment ({})",
                loaded
                    .file
                    .as_ref()
                    .map_or("no file".to_string(), |f| f.display().to_string()),
                if env.is_empty() {
                    "none".to_string()
                } else {
                    env.join(", ")
                }
            );
            let network = &loaded.config.chain.network;
            println!(
                "# chain endpoint: {}",
                network
                    .endpoint()
                    .unwrap_or("embedded local devnet (not a real chain)")
            );
            for note in profile_notes(&loaded.config) {
                println!("# {note}");
            }
            print!("{}", loaded.config.to_toml());
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            let errors = error
                .diagnostics
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .count();
            for diagnostic in &error.diagnostics {
                eprintln!("{diagnostic}");
            }
            eprintln!(
                "{}: {errors} error{} in the configuration",
                source.path.display(),
                if errors == 1 { "" } else { "s" }
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

/// What peers of the configured profile expect of this node, and the ports to open.
fn profile_notes(config: &config::Config) -> Vec<String> {
    use config::{MinerProfile, Role};
    let mut notes = Vec::new();
    match config.role {
        Some(Role::Validator) => {
            notes.push(format!(
                "scoring profile {}: {}",
                config.scoring.profile.name(),
                config.scoring.profile.reproduces()
            ));
            notes.push(format!(
                "miners of SN27 v2.1+ serve only validators with at least 10000 stake and, \
                 once most validators have updated, a published prometheus version at their \
                 minimum (this validator publishes {})",
                config.validator.version
            ));
        }
        _ => {
            let m = &config.miner;
            let mut ports = vec![config.axon.port, m.ssh_port];
            ports.extend(&m.user_ports);
            let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
            let expects = match m.profile {
                MinerProfile::Sn27V221 => format!(
                    "validators of that release test axons of version 221 or more, allocate \
                     without asking first and expect the answer within 60 s, a release within \
                     15 s, and SSH and the four user ports reachable from the internet; they \
                     also score only miners with a signed W&B specs run, {}",
                    if config.wandb.enabled {
                        "which this miner keeps ([wandb] enabled)"
                    } else {
                        "which this miner keeps only with [wandb] enabled: off, they score it 0"
                    }
                ),
                MinerProfile::Sn27V183 => "validators of that release ask before allocating, \
                                           expect the answer within 60 s and SSH reachable \
                                           from the internet"
                    .to_string(),
            };
            notes.push(format!(
                "miner profile {}: {expects}; this miner publishes axon version {}",
                m.profile.name(),
                config.axon.version
            ));
            notes.push(format!(
                "open TCP {} (axon, SSH{}) to the internet",
                ports.join(", "),
                if m.user_ports.is_empty() {
                    ""
                } else {
                    ", user ports"
                }
            ));
        }
    }
    notes
}
