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
