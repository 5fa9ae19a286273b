//! The one configuration file: its model, defaults, layering and validation.
//!
//! Layers, later wins: built-in defaults ← the TOML file ← `SN27_*` environment variables
//! (nested keys joined by `__`, e.g. `SN27_AXON__PORT=9000`). Loading never stops at the first
//! mistake: [`load`] reports every unknown key, wrong type and out-of-range value it finds, each
//! with its dotted key and where it came from (file and line, or environment variable).
//!
//! Invariant: the configuration holds no secrets. Coldkey passwords are referenced by the
//! name of an environment variable or the path of a file, never written in the file, so the
//! effective configuration can always be printed in full.

mod diagnostic;
mod load;
mod scoring;
mod validate;

use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use diagnostic::{Diagnostic, Severity};
pub use load::{
    load, load_or_defaults, load_section, resolve_source, ConfigSource, LoadError, Loaded,
    ENV_PREFIX,
};
pub use scoring::{GpuModel, PassRequirement, ScoringConfig, ScoringProfile, WeightsRule};

pub use crate::chain::Network;

pub use crate::logging::LogFormat;

/// Where the service looks when no `--config` is given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/sn27/sn27.toml";

/// The documented example configuration, shipped as `sn27.toml.example`.
pub const EXAMPLE: &str = include_str!("../../sn27.toml.example");

/// The errors (not the warnings) of a configuration built in code, e.g. one with a live
/// configuration applied, each as `key.path: message`.
pub fn problems(config: &Config) -> Vec<String> {
    validate::validate(config)
        .into_iter()
        .filter(|(severity, _, _)| *severity == Severity::Error)
        .map(|(_, path, message)| format!("{}: {message}", path.join(".")))
        .collect()
}

/// A plain `http://host[:port][/path]` address (`[validator] live_config_url`) as host, port
/// and path; anything else is refused by name.
pub fn http_url(url: &str) -> Result<(String, u16, String), String> {
    let example = "e.g. http://203.0.113.5:8000/config";
    let uri: hyper::Uri = url
        .parse()
        .map_err(|e| format!("not a URL ({e}), {example}"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some(other) => {
            return Err(format!(
                "{other}:// is not supported: the reference serves plain http://"
            ))
        }
        None => {
            return Err(format!(
                "no scheme: write http://host[:port]/path, {example}"
            ))
        }
    }
    let host = uri
        .host()
        .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("no host, {example}"))?
        .to_string();
    // The port as written: the parser drops one it cannot read as a u16 instead of failing.
    let authority = uri.authority().map_or("", |a| a.as_str());
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let after_host = authority
        .rsplit_once(']')
        .map_or(authority, |(_, rest)| rest);
    let port = match after_host.rsplit_once(':') {
        None => 80,
        Some((_, port)) => match port.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => return Err(format!("port {port} is not a number from 1 to 65535")),
        },
    };
    let path = uri
        .path_and_query()
        .map_or("/".to_string(), |p| p.as_str().to_string());
    Ok((host, port, path))
}

/// What this node does on the subnet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Rents GPU machines out as SSH containers and answers validators.
    Miner,
    /// Verifies miners' GPUs, scores them and sets weights.
    Validator,
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Required: a file that does not say which role it configures is refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Journals, the devnet database and caches.
    pub state_dir: PathBuf,
    pub chain: ChainConfig,
    pub wallet: WalletConfig,
    pub axon: AxonConfig,
    pub miner: MinerConfig,
    pub validator: ValidatorConfig,
    pub scoring: ScoringConfig,
    pub log: LogConfig,
    pub metrics: MetricsConfig,
    pub wandb: WandbConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            role: None,
            state_dir: PathBuf::from("/var/lib/sn27"),
            chain: ChainConfig::default(),
            wallet: WalletConfig::default(),
            axon: AxonConfig::default(),
            miner: MinerConfig::default(),
            validator: ValidatorConfig::default(),
            scoring: ScoringConfig::default(),
            log: LogConfig::default(),
            metrics: MetricsConfig::default(),
            wandb: WandbConfig::default(),
        }
    }
}

/// `[chain]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChainConfig {
    pub network: Network,
    /// 27 on finney, 15 on the test network.
    pub netuid: u16,
    /// The devnet database (`network = "devnet"`); default `<state_dir>/devnet.sqlite`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub devnet_path: Option<PathBuf>,
    /// `sn27 run` registers an unregistered hotkey by itself (paying the burn from the
    /// coldkey, whose password must then come from `password_env` or `password_file`).
    pub auto_register: bool,
    /// The most TAO `auto_register` may burn; a higher burn refuses to start instead.
    pub max_burn: f64,
}

impl Default for ChainConfig {
    fn default() -> Self {
        ChainConfig {
            network: Network::Finney,
            netuid: 27,
            devnet_path: None,
            auto_register: false,
            max_burn: 0.0,
        }
    }
}

/// `[wallet]`: which btcli wallet signs, and where its coldkey password comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WalletConfig {
    pub name: String,
    pub hotkey: String,
    /// Wallets root; a leading `~` means the home directory of the user running sn27.
    pub path: String,
    /// Name of an environment variable that holds the coldkey password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// Path of a file (mode 0600) whose content is the coldkey password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
}

impl Default for WalletConfig {
    fn default() -> Self {
        WalletConfig {
            name: "default".into(),
            hotkey: "default".into(),
            path: "~/.bittensor/wallets".into(),
            password_env: None,
            password_file: None,
        }
    }
}

impl WalletConfig {
    /// The wallets root with `~` expanded from `$HOME`.
    pub fn root(&self) -> PathBuf {
        expand_home(&self.path)
    }
}

/// Expands a leading `~/` (or a lone `~`) with `$HOME`; other paths are returned as they are.
pub fn expand_home(path: &str) -> PathBuf {
    let home = || std::env::var_os("HOME").map(PathBuf::from);
    match path.strip_prefix('~') {
        Some("") => home().unwrap_or_else(|| PathBuf::from(path)),
        Some(rest) if rest.starts_with('/') => match home() {
            Some(home) => home.join(rest.trim_start_matches('/')),
            None => PathBuf::from(path),
        },
        _ => PathBuf::from(path),
    }
}

/// `[axon]`: the HTTP endpoint validators call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AxonConfig {
    /// Port the axon listens on.
    pub port: u16,
    /// Address published on chain; when unset, the address of the outgoing interface.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_ip: Option<IpAddr>,
    /// Port published on chain when it differs from `port` (port forwarding).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_port: Option<u16>,
    /// Version int published with the axon: `100·major + 10·minor + patch` of the SN27 release
    /// spoken (183 = v1.8.3). Validators drop axons below the current upstream minimum.
    pub version: u32,
}

impl Default for AxonConfig {
    fn default() -> Self {
        AxonConfig {
            port: 8091,
            external_ip: None,
            external_port: None,
            version: MinerProfile::default().version(),
        }
    }
}

/// Which release of SN27 validators a miner answers as: the profile chooses the defaults of
/// the keys that differ (published axon version, user ports, who may call).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum MinerProfile {
    /// SN27 v2.2.1 (October 2025), the newest release whose validation is open.
    #[default]
    #[serde(rename = "sn27-v2.2.1")]
    Sn27V221,
    /// SN27 v1.8.3 (February 2025).
    #[serde(rename = "sn27-v1.8.3")]
    Sn27V183,
}

impl MinerProfile {
    pub fn name(self) -> &'static str {
        match self {
            MinerProfile::Sn27V221 => "sn27-v2.2.1",
            MinerProfile::Sn27V183 => "sn27-v1.8.3",
        }
    }

    /// The release's version int (`100·major + 10·minor + patch`).
    pub fn version(self) -> u32 {
        match self {
            MinerProfile::Sn27V221 => 221,
            MinerProfile::Sn27V183 => 183,
        }
    }
}

/// The container ports user ports are published from (`sn27-v2.md` §3.1).
pub const USER_PORTS_INSIDE: [u16; 4] = [27015, 27016, 27017, 27018];

/// `[miner]`: the rented container's SSH port and who may call the miner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MinerConfig {
    /// The SN27 release this miner answers as; chooses the defaults of the keys that differ.
    pub profile: MinerProfile,
    /// Host port mapped to the rented container's SSH port 22.
    pub ssh_port: u16,
    /// Host ports the container's ports 27015, 27016, … are published to, in that order (v2.2
    /// renters' own services; validators check them). Empty: none.
    pub user_ports: Vec<u16>,
    /// The prometheus version a caller must have published once more than
    /// `whitelist_updated_threshold` percent of the staked validators have (0: no check).
    pub min_validator_version: u32,
    /// Accept registered validators whose stake is below `min_validator_stake`.
    pub whitelist_not_enough_stake: bool,
    /// Accept validators whose served version is below the current minimum.
    pub whitelist_not_updated: bool,
    /// Percentage (0–100) of validators that must run the current version before older ones
    /// are refused.
    pub whitelist_updated_threshold: u8,
    /// Stake (TAO) a caller needs unless it holds a validator permit.
    pub min_validator_stake: f64,
    /// When non-empty, only these hotkeys (ss58) are admitted, on top of the other checks.
    pub hotkey_whitelist: Vec<String>,
    /// Hotkeys (ss58) that are always refused.
    pub hotkey_blacklist: Vec<String>,
    /// When non-empty, only callers whose coldkey is listed are admitted.
    pub coldkey_whitelist: Vec<String>,
    /// Coldkeys (ss58) whose hotkeys are always refused.
    pub coldkey_blacklist: Vec<String>,
    pub container: ContainerConfig,
}

/// `[miner.container]`: the image rented containers run and the limits they get.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContainerConfig {
    /// Image the runtime image (adding sshd) is built from, once.
    pub base_image: String,
    /// CPUs kept for the host and the miner; allocations get at most the rest.
    pub reserve_cpus: u32,
    /// Memory (GiB) kept for the host and the miner.
    pub reserve_memory_gb: f64,
    /// Process limit inside a container.
    pub pids_limit: i64,
    /// Proof-of-GPU test allocations are reclaimed after this long even if never released.
    pub test_lifetime_secs: u64,
}

impl Default for ContainerConfig {
    fn default() -> Self {
        ContainerConfig {
            base_image: "pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime".into(),
            reserve_cpus: 1,
            reserve_memory_gb: 4.0,
            pids_limit: 4096,
            test_lifetime_secs: 900,
        }
    }
}

impl Default for MinerConfig {
    fn default() -> Self {
        Self::for_profile(MinerProfile::default())
    }
}

impl MinerConfig {
    /// The defaults of a profile (`sn27-v2.md` §1.4, §3.1, §3.4 for v2.2.1).
    pub fn for_profile(profile: MinerProfile) -> Self {
        let v2 = profile == MinerProfile::Sn27V221;
        MinerConfig {
            profile,
            ssh_port: 4444,
            user_ports: if v2 {
                USER_PORTS_INSIDE.to_vec()
            } else {
                Vec::new()
            },
            min_validator_version: if v2 { 221 } else { 0 },
            whitelist_not_enough_stake: false,
            whitelist_not_updated: false,
            whitelist_updated_threshold: if v2 { 20 } else { 60 },
            min_validator_stake: if v2 { 10_000.0 } else { 1024.0 },
            hotkey_whitelist: Vec::new(),
            hotkey_blacklist: Vec::new(),
            coldkey_whitelist: Vec::new(),
            coldkey_blacklist: Vec::new(),
            container: ContainerConfig::default(),
        }
    }
}

/// `[validator]`: which miners are tested, and how weights are set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ValidatorConfig {
    /// Version int sent as the weights' `version_key` (and published with prometheus):
    /// `100·major + 10·minor + patch` of the SN27 release spoken (183 = v1.8.3).
    pub version: u32,
    /// Served axon version below which miners are not tested, once more than
    /// `whitelist_updated_threshold` percent of them serve at least this one; 0 = no gate.
    pub min_miner_version: u32,
    /// Percentage (0–100) of miners that must serve `min_miner_version` before older ones
    /// are no longer tested.
    pub whitelist_updated_threshold: u8,
    /// Test only the lowest uid of each axon IP address, as reference validators do.
    pub one_uid_per_ip: bool,
    /// Hotkeys (ss58) never tested (they score 0).
    pub hotkey_blacklist: Vec<String>,
    /// Coldkeys (ss58) whose hotkeys are never tested.
    pub coldkey_blacklist: Vec<String>,
    /// Blocks between two weight settings (the chain's own rate limit applies too).
    pub weights_interval_blocks: u32,
    /// `http://host:port/path` of a live configuration in the SN27 reference's `/config`
    /// format (`sn27-v2.md` §5.4), followed over this file's scoring table, weights and
    /// Proof-of-GPU timings; unset: this file only.
    pub live_config_url: Option<String>,
    /// Seconds between two reads of `live_config_url` (the reference's `pull_interval`).
    pub live_config_interval_secs: u64,
    pub pog: PogConfig,
}

impl ValidatorConfig {
    /// The defaults that go with a scoring profile: the release's version, its miner version
    /// gate, IP rule and Proof-of-GPU cadence.
    pub fn for_profile(profile: ScoringProfile) -> Self {
        let base = ValidatorConfig {
            version: 221,
            min_miner_version: 0,
            whitelist_updated_threshold: 60,
            one_uid_per_ip: true,
            hotkey_blacklist: Vec::new(),
            coldkey_blacklist: Vec::new(),
            weights_interval_blocks: 100,
            live_config_url: None,
            live_config_interval_secs: 60,
            pog: PogConfig::default(),
        };
        match profile {
            ScoringProfile::Default => base,
            ScoringProfile::Sn27V183 => ValidatorConfig {
                version: 183,
                ..base
            },
            ScoringProfile::Sn27V221 => ValidatorConfig {
                min_miner_version: 221,
                whitelist_updated_threshold: 20,
                one_uid_per_ip: false,
                pog: PogConfig {
                    base_image: "pytorch/pytorch:2.8.0-cuda12.8-cudnn9-runtime".into(),
                    check_availability: false,
                    interval_blocks: 720,
                    max_random_delay_secs: 600,
                    retry_limit: 20,
                    ..PogConfig::default()
                },
                ..base
            },
        }
    }
}

impl Default for ValidatorConfig {
    fn default() -> Self {
        Self::for_profile(ScoringProfile::Default)
    }
}

/// `[validator.pog]`: Proof-of-GPU cadence, concurrency and retries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PogConfig {
    /// Image asked for in the test allocation (`docker_requirement.base_image`).
    pub base_image: String,
    /// Ask whether a miner is free (`checking = true`) before allocating, as v1.x validators do.
    pub check_availability: bool,
    /// Blocks between the starts of two rounds.
    pub interval_blocks: u32,
    /// A round starts after a random delay of up to this many seconds.
    pub max_random_delay_secs: u64,
    /// Miners tested at once.
    pub concurrency: u32,
    /// Time limit of one attempt on one miner.
    pub attempt_timeout_secs: u64,
    /// Attempts per miner per round after the first failure. The reference allows 22, which
    /// with its timeouts can outlast a round; the default keeps a round within its interval.
    pub retry_limit: u32,
    /// Pause before a failed miner is tried again.
    pub retry_interval_secs: u64,
    /// Seconds added to the expected run time before a miner is too slow.
    pub time_tolerance_secs: u64,
    /// Run the test worker's torch-free CPU mode, which reports one `CPU (test)` device:
    /// for tests and demos on machines without GPUs only (scores are meaningless).
    pub cpu_test_mode: bool,
}

impl Default for PogConfig {
    fn default() -> Self {
        PogConfig {
            base_image: "pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime".into(),
            check_availability: true,
            interval_blocks: 360,
            max_random_delay_secs: 900,
            concurrency: 64,
            attempt_timeout_secs: 300,
            retry_limit: 7,
            retry_interval_secs: 60,
            time_tolerance_secs: 5,
            cpu_test_mode: false,
        }
    }
}

/// `[metrics]`: the Prometheus and status endpoint of a running service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Address `/metrics` and `/status` are served on; unset, they are off. Not
    /// authenticated: keep it on loopback or a private network.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<std::net::SocketAddr>,
}

/// `[wandb]`: the W&B side channel of SN27 v2.x nodes (`sn27-protocol.md` §11), off by
/// default. A miner keeps its signed specs run `miner-<hotkey>` (v2.2.1 validators score only
/// miners that keep one); a validator reads miners' runs and the penalty list into its scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WandbConfig {
    /// Publish (miner) or read (validator) the runs.
    pub enabled: bool,
    /// The W&B API address.
    pub base_url: String,
    /// The entity and project SN27 nodes share.
    pub entity: String,
    pub project: String,
    /// Name of the environment variable holding the API key.
    pub api_key_env: String,
    /// Path of a file (mode 0600) holding the API key; when set, used instead of the variable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_file: Option<PathBuf>,
    /// Miner: seconds between the run's heartbeats (and checks whether its config changed);
    /// at most 120.
    pub heartbeat_secs: u64,
    /// Validator: blocks between reads of the miners' runs (the reference's 150).
    pub read_interval_blocks: u32,
    /// Validator: id of the run whose `penalized_hotkeys_checklist` zeroes miners.
    pub penalty_run: String,
    /// Validator: the hotkey that must have signed the penalty run.
    pub penalty_hotkey: String,
}

impl Default for WandbConfig {
    fn default() -> Self {
        WandbConfig {
            enabled: false,
            base_url: "https://api.wandb.ai".into(),
            entity: "neuralinternet".into(),
            project: "opencompute".into(),
            api_key_env: "WANDB_API_KEY".into(),
            api_key_file: None,
            heartbeat_secs: 60,
            read_interval_blocks: 150,
            penalty_run: "ckig4h3x".into(),
            penalty_hotkey: "5GmvyePN9aYErXBBhBnxZKGoGk4LKZApE4NkaSzW62CYCYNA".into(),
        }
    }
}

impl WandbConfig {
    /// The API key, from `api_key_file` when set, else `api_key_env`; the error names the
    /// source and never the key.
    pub fn api_key(&self) -> Result<zeroize::Zeroizing<String>, String> {
        if let Some(path) = &self.api_key_file {
            use std::os::unix::fs::PermissionsExt;
            let meta = std::fs::metadata(path)
                .map_err(|e| format!("W&B API key file {}: {e}", path.display()))?;
            if meta.permissions().mode() & 0o077 != 0 {
                return Err(format!(
                    "W&B API key file {} is readable by other users: chmod 600 it",
                    path.display()
                ));
            }
            let text = zeroize::Zeroizing::new(
                std::fs::read_to_string(path)
                    .map_err(|e| format!("W&B API key file {}: {e}", path.display()))?,
            );
            let key = text.trim();
            if key.is_empty() {
                return Err(format!("W&B API key file {} is empty", path.display()));
            }
            return Ok(zeroize::Zeroizing::new(key.to_string()));
        }
        match std::env::var(&self.api_key_env) {
            Ok(key) if !key.trim().is_empty() => Ok(zeroize::Zeroizing::new(key.trim().into())),
            _ => Err(format!(
                "no W&B API key: set the environment variable {} or [wandb] api_key_file",
                self.api_key_env
            )),
        }
    }
}

/// `[log]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `RUST_LOG`-style filter, e.g. `info` or `info,sn27::wallet=debug`; `RUST_LOG` overrides it.
    pub filter: String,
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            filter: "info".into(),
            format: LogFormat::Auto,
        }
    }
}

impl Config {
    /// The devnet database: `[chain] devnet_path`, else `<state_dir>/devnet.sqlite`.
    pub fn devnet_path(&self) -> PathBuf {
        self.chain
            .devnet_path
            .clone()
            .unwrap_or_else(|| self.state_dir.join("devnet.sqlite"))
    }

    /// The dotted keys whose values differ between `self` and `other`, for a reload's report.
    pub fn changed_keys(&self, other: &Config) -> Vec<String> {
        fn walk(
            path: &str,
            a: Option<&toml::Value>,
            b: Option<&toml::Value>,
            out: &mut Vec<String>,
        ) {
            match (a, b) {
                (Some(toml::Value::Table(x)), Some(toml::Value::Table(y))) => {
                    let keys: std::collections::BTreeSet<&String> =
                        x.keys().chain(y.keys()).collect();
                    for key in keys {
                        let child = if path.is_empty() {
                            key.clone()
                        } else {
                            format!("{path}.{key}")
                        };
                        walk(&child, x.get(key), y.get(key), out);
                    }
                }
                (a, b) if a != b => out.push(path.to_string()),
                _ => {}
            }
        }
        let mut out = Vec::new();
        walk(
            "",
            toml::Value::try_from(self).ok().as_ref(),
            toml::Value::try_from(other).ok().as_ref(),
            &mut out,
        );
        out
    }

    /// The defaults that apply to a file choosing `profile`.
    pub fn defaults_for(profile: ScoringProfile, miner: MinerProfile) -> Self {
        Config {
            scoring: ScoringConfig::for_profile(profile),
            axon: AxonConfig {
                version: miner.version(),
                ..AxonConfig::default()
            },
            miner: MinerConfig::for_profile(miner),
            validator: ValidatorConfig::for_profile(profile),
            ..Config::default()
        }
    }

    /// The effective configuration as TOML, for `sn27 config check`. There is nothing to redact
    /// (see the module invariant): password sources appear as variable names and paths.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("the configuration always serialises to TOML")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Lines of the example that are settings shown commented out (`# key = value`, table
    /// headers, array continuation lines), with the comment marker removed.
    fn uncomment(example: &str) -> String {
        example
            .lines()
            .map(|line| {
                let Some(rest) = line.strip_prefix("# ") else {
                    return line.to_string();
                };
                let header = (rest.starts_with('[') && rest.ends_with(']'))
                    && rest
                        .trim_matches(['[', ']'])
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.');
                let setting = rest.split_once(" = ").is_some_and(|(key, _)| {
                    key.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                });
                let continuation = rest.starts_with("    [") || rest == "]";
                if header || setting || continuation {
                    rest.to_string()
                } else {
                    line.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Dotted key paths of every leaf; array-of-table rows contribute their fields once.
    fn leaf_keys(value: &toml::Value, prefix: &str, out: &mut BTreeSet<String>) {
        match value {
            toml::Value::Table(table) => {
                for (key, child) in table {
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    leaf_keys(child, &path, out);
                }
            }
            toml::Value::Array(items)
                if items.iter().all(toml::Value::is_table) && !items.is_empty() =>
            {
                for item in items {
                    leaf_keys(item, prefix, out);
                }
            }
            _ => {
                out.insert(prefix.to_string());
            }
        }
    }

    #[test]
    fn example_documents_every_key_and_nothing_else() {
        let mut full = Config {
            role: Some(Role::Miner),
            ..Config::default()
        };
        full.wallet.password_env = Some("X".into());
        full.wallet.password_file = Some("/x".into());
        full.axon.external_ip = Some("203.0.113.10".parse().unwrap());
        full.axon.external_port = Some(1);
        full.chain.devnet_path = Some("/x".into());
        full.metrics.listen = Some("127.0.0.1:9127".parse().unwrap());
        full.validator.live_config_url = Some("http://203.0.113.5:8000/config".into());
        full.wandb.api_key_file = Some("/x".into());
        let mut expected = BTreeSet::new();
        leaf_keys(&toml::Value::try_from(&full).unwrap(), "", &mut expected);

        let uncommented: toml::Value = toml::from_str(&uncomment(EXAMPLE)).unwrap();
        let mut documented = BTreeSet::new();
        leaf_keys(&uncommented, "", &mut documented);
        assert_eq!(documented, expected);

        // The commented-out values are the defaults they claim to be.
        let mut shown: Config = uncommented.try_into().unwrap();
        // The live configuration's address is an example (the reference's); it has no default.
        assert_eq!(
            shown.validator.live_config_url.take().as_deref(),
            Some("http://65.108.33.88:8000/config")
        );
        assert_eq!(shown.scoring, ScoringConfig::default());
        assert_eq!(shown.validator, ValidatorConfig::default());
        // The key file's path is an example; it has no default.
        assert_eq!(
            shown.wandb.api_key_file.take(),
            Some(PathBuf::from("/etc/sn27/wandb-api-key"))
        );
        assert_eq!(shown.wandb, WandbConfig::default());
    }

    #[test]
    fn http_urls_are_plain_http_with_a_host_and_a_port() {
        assert_eq!(
            http_url("http://65.108.33.88:8000/config").unwrap(),
            ("65.108.33.88".into(), 8000, "/config".into())
        );
        assert_eq!(
            http_url("http://example.org").unwrap(),
            ("example.org".into(), 80, "/".into())
        );
        assert_eq!(
            http_url("http://[::1]:8000/config?x=1").unwrap(),
            ("::1".into(), 8000, "/config?x=1".into())
        );
        for (url, expected) in [
            ("https://example.org/config", "https:// is not supported"),
            ("example.org:8000/config", "not a URL"),
            ("/config", "no scheme"),
            ("not a url", "not a URL"),
            ("http://h:99999/config", "port 99999 is not a number"),
            ("http://h:0/config", "port 0 is not a number"),
        ] {
            let error = http_url(url).unwrap_err();
            assert!(error.contains(expected), "{url}: {error}");
        }
    }

    #[test]
    fn example_is_the_defaults_of_a_miner() {
        let parsed: Config = toml::from_str(EXAMPLE).unwrap();
        assert_eq!(
            parsed,
            Config {
                role: Some(Role::Miner),
                ..Config::default()
            }
        );
    }

    #[test]
    fn changed_keys_name_each_difference() {
        let a = Config::default();
        let mut b = a.clone();
        assert!(a.changed_keys(&b).is_empty());
        b.miner.min_validator_stake = 1.0;
        b.log.filter = "debug".into();
        b.axon.external_ip = Some("203.0.113.1".parse().unwrap());
        assert_eq!(
            a.changed_keys(&b),
            [
                "axon.external_ip",
                "log.filter",
                "miner.min_validator_stake"
            ]
        );
    }

    #[test]
    fn home_is_expanded() {
        let home = std::env::var("HOME").unwrap();
        assert_eq!(expand_home("~/w"), PathBuf::from(&home).join("w"));
        assert_eq!(expand_home("~"), PathBuf::from(&home));
        assert_eq!(expand_home("/abs"), PathBuf::from("/abs"));
        assert_eq!(expand_home("~user/x"), PathBuf::from("~user/x"));
    }
}
