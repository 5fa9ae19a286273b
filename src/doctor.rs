//! The preflight doctor (`sn27 check`): everything a host needs before it serves, checked by
//! role, each finding with its fix in one line. `sn27 run` runs the fatal subset at start and
//! refuses with the same words.
//!
//! Checks read and never change anything: the configuration, the wallet files and their
//! modes, the chain (endpoint, block, registration), the clock, free disk; for a miner also the
//! NVIDIA driver and GPUs (and CUDA with a tiny product), Docker, the NVIDIA container runtime,
//! the runtime image, which container limits the engine can enforce, the firewall's view of
//! the axon and SSH ports, and the address validators will be told.

use std::net::{IpAddr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde::Serialize;

use crate::chain;
use crate::config::{Config, Role};
use crate::docker::ContainerEngine;
use crate::gpu::inventory::Inventory;
use crate::wallet::{KeyRole, Wallet};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Ok,
    /// Works, but something is worth the operator's attention.
    Warn,
    /// The service cannot work like this.
    Fail,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub check: &'static str,
    pub verdict: Verdict,
    pub detail: String,
    /// What to do, when the verdict is not ok.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// A failure here stops `sn27 run` too.
    pub fatal: bool,
}

impl Finding {
    fn ok(check: &'static str, detail: impl Into<String>) -> Self {
        Finding {
            check,
            verdict: Verdict::Ok,
            detail: detail.into(),
            fix: None,
            fatal: false,
        }
    }

    fn warn(check: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Finding {
            check,
            verdict: Verdict::Warn,
            detail: detail.into(),
            fix: Some(fix.into()),
            fatal: false,
        }
    }

    fn fail(check: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Finding {
            check,
            verdict: Verdict::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
            fatal: false,
        }
    }

    /// Marks a failure as one `sn27 run` refuses to start with.
    fn fatal(mut self) -> Self {
        self.fatal = true;
        self
    }
}

/// Runs every check that applies to `config`'s role (the configuration itself loaded).
pub async fn examine(config: &Config) -> Vec<Finding> {
    let role = config.role.unwrap_or(Role::Miner);
    let mut findings = vec![wallet(config)];
    findings.extend(chain_checks(config).await);
    findings.extend(examine_host(config).await);
    if role == Role::Miner {
        findings.push(address(config));
    }
    findings.extend(wandb(config, role).await);
    findings
}

/// The checks of the host alone: clock and disk, and for a miner (the role assumed when none
/// is set, as on a machine not configured yet) its GPUs, Docker, ports and firewall, on
/// `config`'s values (the built-in defaults, when no file exists).
pub async fn examine_host(config: &Config) -> Vec<Finding> {
    let mut findings = vec![clock(), disk("state disk", &config.state_dir)];
    if config.role.unwrap_or(Role::Miner) == Role::Miner {
        findings.extend(gpus());
        findings.extend(docker(config).await);
        findings.extend(ports(config));
        let mut open = vec![config.axon.port, config.miner.ssh_port];
        open.extend(&config.miner.user_ports);
        findings.push(firewall(&open));
    }
    findings
}

/// With `[wandb] enabled`, whether W&B answers with this key; a miner of the v2.2.1 profile
/// without it is told what it costs.
async fn wandb(config: &Config, role: Role) -> Option<Finding> {
    use crate::wandb::{RunPath, WandbClient};
    let name = "w&b";
    let w = &config.wandb;
    if !w.enabled {
        let v2_miner =
            role == Role::Miner && config.miner.profile == crate::config::MinerProfile::Sn27V221;
        return v2_miner.then(|| {
            Finding::warn(
                name,
                "off: SN27 v2.x validators score a miner without a signed W&B specs run 0",
                "set [wandb] enabled = true and an API key (api_key_file or api_key_env)",
            )
        });
    }
    let fix = "check [wandb] base_url and the API key (wandb.ai/authorize)";
    let key = match w.api_key() {
        Ok(key) => key,
        Err(e) => return Some(Finding::fail(name, e, fix)),
    };
    let client = match WandbClient::new(&w.base_url, &key) {
        Ok(client) => client,
        Err(e) => return Some(Finding::fail(name, e.to_string(), fix)),
    };
    let probe = RunPath {
        entity: w.entity.clone(),
        project: w.project.clone(),
        name: w.penalty_run.clone(),
    };
    Some(match client.run(&probe).await {
        Ok(_) => Finding::ok(
            name,
            format!(
                "{} answers, key accepted ({}/{})",
                w.base_url, w.entity, w.project
            ),
        ),
        Err(e) => Finding::fail(name, e.to_string(), fix),
    })
}

/// The checks `sn27 run` insists on (a subset of [`examine`]): its refusal in the doctor's
/// words, or nothing.
pub async fn refuse_to_start(config: &Config) -> Option<String> {
    preflight(config)
        .await
        .into_iter()
        .next()
        .map(|f| format!("{}: {}; {}", f.check, f.detail, f.fix.unwrap_or_default()))
}

/// The failures of [`refuse_to_start`]'s checks marked fatal.
pub async fn preflight(config: &Config) -> Vec<Finding> {
    let mut findings = vec![clock(), disk("state disk", &config.state_dir)];
    if config.role == Some(Role::Miner) {
        findings.extend(docker(config).await);
    }
    findings
        .into_iter()
        .filter(|f| f.fatal && f.verdict == Verdict::Fail)
        .collect()
}

fn wallet(config: &Config) -> Finding {
    let name = "wallet";
    let wallet = match Wallet::new(
        config.wallet.root(),
        &config.wallet.name,
        &config.wallet.hotkey,
    ) {
        Ok(wallet) => wallet,
        Err(e) => return Finding::fail(name, e.to_string(), "fix [wallet] name and hotkey"),
    };
    let hotkey = wallet.key_path(KeyRole::Hotkey);
    let address = match wallet.address(KeyRole::Hotkey) {
        Ok(address) => address,
        Err(e) => {
            return Finding::fail(
                name,
                e.to_string(),
                "create the wallet with `sn27 wallet create`, or restore the hotkey with `sn27 wallet regen hotkey`",
            )
            .fatal()
        }
    };
    let mut loose = Vec::new();
    for path in [hotkey.clone(), wallet.key_path(KeyRole::Coldkey)] {
        if let Ok(meta) = std::fs::metadata(&path) {
            if meta.permissions().mode() & 0o077 != 0 {
                loose.push(path.display().to_string());
            }
        }
    }
    if !loose.is_empty() {
        return Finding::warn(
            name,
            format!("hotkey {address}; readable by others: {}", loose.join(", ")),
            format!("chmod 600 {}", loose.join(" ")),
        );
    }
    let coldkey = if wallet.key_path(KeyRole::Coldkey).exists() {
        "coldkey present (registration only; keep it off a server if you can)"
    } else {
        "no coldkey (fine for serving; registration needs it)"
    };
    Finding::ok(name, format!("hotkey {address}, files 0600; {coldkey}"))
}

async fn chain_checks(config: &Config) -> Vec<Finding> {
    let network = &config.chain.network;
    let connected = chain::connect(network, &config.devnet_path()).await;
    let chain = match connected {
        Ok(chain) => chain,
        Err(e) => {
            return vec![Finding::fail(
                "chain",
                e.to_string(),
                "check [chain] network and that the node answers",
            )
            .fatal()]
        }
    };
    let mut findings = Vec::new();
    match chain.status().await {
        Ok(status) => findings.push(Finding::ok(
            "chain",
            format!(
                "{} at block {}{}",
                status.endpoint,
                status.block,
                status
                    .spec_version
                    .map_or(String::new(), |v| format!(", runtime spec {v}"))
            ),
        )),
        Err(e) => {
            findings.push(
                Finding::fail("chain", e.to_string(), "check that the node is synced").fatal(),
            );
            return findings;
        }
    }
    let netuid = config.chain.netuid;
    let me = Wallet::new(
        config.wallet.root(),
        &config.wallet.name,
        &config.wallet.hotkey,
    )
    .ok()
    .and_then(|w| w.address(KeyRole::Hotkey).ok());
    match (chain.metagraph(netuid).await, me) {
        (Err(e), _) => findings.push(Finding::fail(
            "registration",
            e.to_string(),
            format!("check [chain] netuid ({netuid})"),
        )),
        (Ok(_), None) => {}
        (Ok(metagraph), Some(me)) => match metagraph.neurons.iter().find(|n| n.hotkey == me) {
            Some(neuron) => {
                let mut detail = format!("uid {} on netuid {netuid}", neuron.uid);
                if config.role == Some(Role::Validator) && !neuron.validator_permit {
                    findings.push(Finding::warn(
                        "registration",
                        format!("{detail}, without a validator permit"),
                        "weights are refused without a permit: add stake so that this hotkey is among the top validators",
                    ));
                } else {
                    if neuron.validator_permit {
                        detail.push_str(", validator permit");
                    }
                    findings.push(Finding::ok("registration", detail));
                }
            }
            None if config.chain.auto_register => findings.push(Finding::warn(
                "registration",
                format!("hotkey {me} is not registered on netuid {netuid}"),
                format!(
                    "`sn27 run` registers it when the burn is at most {} TAO ([chain] max_burn)",
                    config.chain.max_burn
                ),
            )),
            None => findings.push(
                Finding::fail(
                    "registration",
                    format!("hotkey {me} is not registered on netuid {netuid}"),
                    "register with `sn27 register` (burns the registration cost), or set [chain] auto_register",
                )
                .fatal(),
            ),
        },
    }
    findings
}

/// Whether the kernel considers the clock synchronised (NTP), as nonces and drand rounds need.
fn clock() -> Finding {
    // SAFETY: ntp_adjtime with modes 0 only reads the kernel's clock state into `timex`.
    let state = unsafe {
        let mut timex: libc::timex = std::mem::zeroed();
        libc::ntp_adjtime(&mut timex)
    };
    if state == libc::TIME_ERROR {
        Finding::warn(
            "clock",
            "the kernel reports the clock as not synchronised",
            "enable time synchronisation (systemd-timesyncd, chrony or ntpd): validators refuse stale nonces",
        )
    } else {
        Finding::ok("clock", "synchronised")
    }
}

fn disk(check: &'static str, dir: &Path) -> Finding {
    // The directory may not exist yet: measure the nearest one that does.
    let mut probe = dir;
    while !probe.exists() {
        match probe.parent() {
            Some(parent) => probe = parent,
            None => break,
        }
    }
    match nix::sys::statvfs::statvfs(probe) {
        Ok(stat) => {
            let free = stat.blocks_available() * stat.fragment_size();
            let gib = free as f64 / (1u64 << 30) as f64;
            let detail = format!("{gib:.1} GiB free at {}", probe.display());
            if free < 100 << 20 {
                Finding::fail(check, detail, "free some disk space").fatal()
            } else if free < 1 << 30 {
                Finding::warn(check, detail, "free some disk space")
            } else {
                Finding::ok(check, detail)
            }
        }
        Err(e) => Finding::warn(
            check,
            format!("{}: {e}", probe.display()),
            "check that the directory is readable",
        ),
    }
}

fn gpus() -> Vec<Finding> {
    match Inventory::read() {
        Err(absent) => vec![Finding::warn(
            "gpus",
            absent.to_string(),
            "without NVIDIA GPUs validators score this miner 0",
        )],
        Ok(inventory) => {
            let mut names: Vec<String> = Vec::new();
            for gpu in &inventory.gpus {
                let memory = gpu
                    .memory_total_bytes
                    .map(|b| format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64))
                    .unwrap_or_else(|| "memory ?".into());
                names.push(format!(
                    "{} ({}, {memory})",
                    gpu.name,
                    gpu.uuid.as_deref().unwrap_or("?")
                ));
            }
            let mut findings = vec![Finding::ok(
                "gpus",
                format!(
                    "driver {}, CUDA {}: {}",
                    inventory.driver_version,
                    inventory.cuda_version.as_deref().unwrap_or("?"),
                    names.join(", ")
                ),
            )];
            let cuda = crate::gpu::bench::devices()
                .map_err(|e| e.to_string())
                .and_then(|_| crate::gpu::bench::smoke(0).map_err(|e| e.to_string()));
            findings.push(match cuda {
                Ok(()) => Finding::ok("cuda", "a seeded product on GPU 0 is right"),
                Err(e) => Finding::fail(
                    "cuda",
                    e,
                    "install the CUDA libraries (libcublas) matching the driver",
                ),
            });
            findings
        }
    }
}

async fn docker(config: &Config) -> Vec<Finding> {
    let engine = match ContainerEngine::connect().await {
        Ok(engine) => engine,
        Err(e) => {
            return vec![Finding::fail(
                "docker",
                crate::report::Report(&e).to_string(),
                "install Docker and start it (`systemctl enable --now docker`); sn27 needs access to /var/run/docker.sock",
            )
            .fatal()]
        }
    };
    let host = match engine.host().await {
        Ok(host) => host,
        Err(e) => {
            return vec![Finding::fail(
                "docker",
                crate::report::Report(&e).to_string(),
                "check that the engine answers `docker info`",
            )
            .fatal()]
        }
    };
    let mut findings = vec![Finding::ok(
        "docker",
        format!(
            "{} CPUs, {:.1} GiB, storage driver {}",
            host.cpus,
            host.memory_bytes as f64 / (1u64 << 30) as f64,
            host.storage_driver
        ),
    )];
    findings.push(if host.gpu_runtime {
        Finding::ok("gpu runtime", "containers get the GPUs")
    } else {
        Finding::warn(
            "gpu runtime",
            "no NVIDIA container runtime: containers get no GPUs",
            "install the NVIDIA container toolkit and restart Docker",
        )
    });
    let base = &config.miner.container.base_image;
    let tag = ContainerEngine::runtime_tag(base);
    findings.push(if engine.image_present(&tag).await {
        Finding::ok("runtime image", format!("{tag} present"))
    } else if engine.image_present(base).await {
        Finding::ok(
            "runtime image",
            format!("{tag} is built from {base} (present) at the first start"),
        )
    } else {
        Finding::warn(
            "runtime image",
            format!("{base} is not on this engine"),
            format!("`docker pull {base}` (or let `sn27 run` fetch it at its first start)"),
        )
    });
    let mut limits = vec![format!(
        "cgroup v{}",
        host.cgroup_version.as_deref().unwrap_or("?")
    )];
    limits.push("CPU, memory, /dev/shm and process limits enforced".into());
    findings.push(if host.disk_quota_supported() {
        Finding::ok(
            "container limits",
            format!("{}; disk size enforced", limits.join(", ")),
        )
    } else {
        Finding::warn(
            "container limits",
            format!(
                "{}; disk size NOT enforced ({} has no per-container quota)",
                limits.join(", "),
                host.storage_driver
            ),
            "a storage driver with quotas (btrfs, zfs) bounds renters' disk use",
        )
    });
    if !host.root_dir.is_empty() {
        findings.push(disk("docker disk", Path::new(&host.root_dir)));
    }
    findings
}

fn ports(config: &Config) -> Vec<Finding> {
    let mut ports = vec![
        ("axon port", config.axon.port),
        ("ssh port", config.miner.ssh_port),
    ];
    ports.extend(config.miner.user_ports.iter().map(|&p| ("user port", p)));
    ports
        .into_iter()
        .map(|(check, port)| match TcpListener::bind(("0.0.0.0", port)) {
            Ok(_) => Finding::ok(check, format!("{port} free")),
            Err(e) => Finding::warn(
                check,
                format!("{port}: {e}"),
                "fine if sn27 itself is running (or renting); otherwise stop what holds the port \
                 or change it",
            ),
        })
        .collect()
}

/// The firewall's view of `ports`, read only: ufw if it is active, else the nftables or
/// iptables input policy.
fn firewall(ports: &[u16]) -> Finding {
    let run = |program: &str, args: &[&str]| -> Option<String> {
        let out = std::process::Command::new(program)
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let list = ports
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    if let Some(status) = run("ufw", &["status"]) {
        if status.contains("Status: active") {
            let closed: Vec<String> = ports
                .iter()
                .filter(|p| {
                    !status.lines().any(|l| {
                        l.contains("ALLOW")
                            && l.split_whitespace()
                                .next()
                                .is_some_and(|r| r.split('/').next() == Some(&p.to_string()))
                    })
                })
                .map(|p| p.to_string())
                .collect();
            return if closed.is_empty() {
                Finding::ok("firewall", format!("ufw allows {list}"))
            } else {
                Finding::warn(
                    "firewall",
                    format!("ufw is active and does not allow {}", closed.join(", ")),
                    format!("ufw allow {}/tcp", closed.join("/tcp && ufw allow ")),
                )
            };
        }
    }
    let ruleset = run("nft", &["list", "ruleset"]).or_else(|| run("iptables", &["-S", "INPUT"]));
    match ruleset {
        Some(rules) if rules.contains("policy drop") || rules.contains("-P INPUT DROP") => {
            let mentioned: Vec<String> = ports
                .iter()
                .filter(|p| !rules.contains(&p.to_string()))
                .map(|p| p.to_string())
                .collect();
            if mentioned.is_empty() {
                Finding::ok(
                    "firewall",
                    format!("input is dropped by default; rules name {list}"),
                )
            } else {
                Finding::warn(
                    "firewall",
                    format!(
                        "input is dropped by default and no rule names {}",
                        mentioned.join(", ")
                    ),
                    "allow TCP on the axon, SSH and user ports (`install.sh --with-firewall` does it)",
                )
            }
        }
        Some(_) => Finding::ok(
            "firewall",
            format!("no default drop on input; {list} reachable"),
        ),
        None => Finding::ok(
            "firewall",
            "no ufw, nftables or iptables rules found (or not readable)",
        ),
    }
}

fn address(config: &Config) -> Finding {
    match crate::registration::axon_to_publish(&config.axon) {
        Ok(axon) => {
            let ip = axon.ip_addr();
            let private = ip.is_some_and(|ip| match ip {
                IpAddr::V4(v4) => v4.is_private() || v4.is_loopback() || v4.is_link_local(),
                IpAddr::V6(v6) => v6.is_loopback(),
            });
            if private && config.chain.network.endpoint().is_some() {
                Finding::warn(
                    "address",
                    format!("validators would be told {axon}, which the internet cannot reach"),
                    "set [axon] external_ip to this machine's public address",
                )
            } else {
                Finding::ok("address", format!("validators are told {axon}"))
            }
        }
        Err(e) => Finding::fail(
            "address",
            format!("{e:#}"),
            "set [axon] external_ip to this machine's public address",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_w_and_b_check_says_what_is_missing_or_unreachable() {
        let mut config = Config {
            role: Some(Role::Miner),
            ..Config::default()
        };
        let off = wandb(&config, Role::Miner).await.unwrap();
        assert_eq!(off.verdict, Verdict::Warn);
        assert!(wandb(&config, Role::Validator).await.is_none());

        config.wandb.enabled = true;
        config.wandb.api_key_env = "SN27_DOCTOR_TEST_UNSET_VARIABLE".into();
        let no_key = wandb(&config, Role::Miner).await.unwrap();
        assert_eq!(no_key.verdict, Verdict::Fail);
        assert!(
            no_key.detail.contains("SN27_DOCTOR_TEST_UNSET_VARIABLE"),
            "{no_key:?}"
        );

        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key");
        std::fs::write(&key, "k").unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        config.wandb.api_key_file = Some(key);
        // Nothing listens on a port just released.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        config.wandb.base_url = format!("http://127.0.0.1:{port}");
        let down = wandb(&config, Role::Validator).await.unwrap();
        assert_eq!(down.verdict, Verdict::Fail);
        assert!(down.detail.contains("connecting to 127.0.0.1"), "{down:?}");
        assert!(!down.fatal, "W&B never stops the service");
    }
}
