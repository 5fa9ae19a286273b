//! Range and consistency checks that types alone cannot express.
//!
//! Each check yields `(severity, key path, message)`; the loader attaches where the key was set.

use std::collections::HashSet;

use super::diagnostic::Severity;
use super::{Config, Network, ScoringConfig, ScoringProfile};
use crate::keys::PublicKey;
use crate::wallet::Wallet;

type Finding = (Severity, Vec<String>, String);

/// Every finding for a configuration that already has the right types.
pub(super) fn validate(config: &Config) -> Vec<Finding> {
    let mut out = Findings(Vec::new());
    let c = config;

    if c.role.is_none() {
        out.error(
            &["role"],
            "required: set role = \"miner\" or role = \"validator\"",
        );
    }
    if c.state_dir.as_os_str().is_empty() || !c.state_dir.is_absolute() {
        out.error(&["state_dir"], "must be an absolute path");
    }

    match c.chain.network {
        Network::Test if c.chain.netuid != 15 => out.warn(
            &["chain", "netuid"],
            &format!(
                "netuid {} on the test network; SN27 is netuid 15 there",
                c.chain.netuid
            ),
        ),
        Network::Finney if c.chain.netuid != 27 => out.warn(
            &["chain", "netuid"],
            &format!("netuid {} on finney; SN27 is netuid 27", c.chain.netuid),
        ),
        _ => {}
    }

    if !(c.chain.max_burn.is_finite() && c.chain.max_burn >= 0.0) {
        out.error(
            &["chain", "max_burn"],
            "must be a non-negative amount of TAO",
        );
    } else if c.chain.auto_register && c.chain.max_burn <= 0.0 {
        out.error(
            &["chain", "max_burn"],
            "auto_register is on: set the most TAO a registration may burn",
        );
    }
    if let Err(e) = Wallet::new(c.wallet.root(), &c.wallet.name, &c.wallet.hotkey) {
        let field = if c.wallet.name.is_empty() || c.wallet.name.contains('/') {
            "name"
        } else {
            "hotkey"
        };
        out.error(&["wallet", field], &e.to_string());
    }
    if c.wallet.password_env.is_some() && c.wallet.password_file.is_some() {
        out.error(
            &["wallet", "password_file"],
            "set either password_env or password_file, not both",
        );
    }
    if c.wallet.password_env.as_deref().is_some_and(str::is_empty) {
        out.error(
            &["wallet", "password_env"],
            "must name an environment variable",
        );
    }

    port(&mut out, &["axon", "port"], c.axon.port);
    if let Some(p) = c.axon.external_port {
        port(&mut out, &["axon", "external_port"], p);
    }
    if let Some(ip) = c.axon.external_ip {
        if ip.is_unspecified() {
            out.error(
                &["axon", "external_ip"],
                "0.0.0.0 cannot be published: validators skip axons at that address",
            );
        } else if let Some(reason) = crate::chain::types::unreachable_reason(ip) {
            // Fine on the devnet (one machine); a real network's validators cannot reach it.
            if c.chain.network != Network::Devnet {
                out.warn(
                    &["axon", "external_ip"],
                    &format!(
                        "{ip} is {reason}: validators on the internet cannot reach it, and \
                         `sn27 serve-axon` and `sn27 run` refuse to publish it on {}; set the \
                         public address of this machine",
                        c.chain.network
                    ),
                );
            }
        }
    }

    port(&mut out, &["miner", "ssh_port"], c.miner.ssh_port);
    if c.miner.ssh_port == c.axon.port && c.miner.ssh_port != 0 {
        out.error(
            &["miner", "ssh_port"],
            &format!("conflicts with axon.port ({})", c.axon.port),
        );
    }
    let inside = super::USER_PORTS_INSIDE;
    if c.miner.user_ports.len() > inside.len() {
        out.error(
            &["miner", "user_ports"],
            &format!(
                "at most {} ports (the container's {:?}); {} given",
                inside.len(),
                inside,
                c.miner.user_ports.len()
            ),
        );
    }
    let mut seen = HashSet::new();
    for (i, &p) in c.miner.user_ports.iter().enumerate() {
        let key = ["miner".to_string(), "user_ports".to_string(), i.to_string()];
        let key: Vec<&str> = key.iter().map(String::as_str).collect();
        port(&mut out, &key, p);
        if p == 0 {
            continue;
        }
        if !seen.insert(p) {
            out.error(&key, &format!("port {p} is listed twice"));
        } else if p == c.miner.ssh_port {
            out.error(&key, &format!("port {p} is already miner.ssh_port"));
        } else if p == c.axon.port {
            out.error(&key, &format!("port {p} is already axon.port"));
        }
    }
    percentage(
        &mut out,
        &["miner", "whitelist_updated_threshold"],
        c.miner.whitelist_updated_threshold,
    );
    non_negative(
        &mut out,
        &["miner", "min_validator_stake"],
        c.miner.min_validator_stake,
    );
    for (section, field, list) in [
        ("miner", "hotkey_whitelist", &c.miner.hotkey_whitelist),
        ("miner", "hotkey_blacklist", &c.miner.hotkey_blacklist),
        ("miner", "coldkey_whitelist", &c.miner.coldkey_whitelist),
        ("miner", "coldkey_blacklist", &c.miner.coldkey_blacklist),
        (
            "validator",
            "hotkey_blacklist",
            &c.validator.hotkey_blacklist,
        ),
        (
            "validator",
            "coldkey_blacklist",
            &c.validator.coldkey_blacklist,
        ),
    ] {
        for (i, address) in list.iter().enumerate() {
            if let Err(e) = PublicKey::from_ss58(address) {
                out.error(&[section, field, &i.to_string()], &e.to_string());
            }
        }
    }

    let container = &c.miner.container;
    if container.base_image.trim().is_empty() {
        out.error(
            &["miner", "container", "base_image"],
            "must name an image, e.g. pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime",
        );
    }
    non_negative(
        &mut out,
        &["miner", "container", "reserve_memory_gb"],
        container.reserve_memory_gb,
    );
    if container.pids_limit < 64 {
        out.error(
            &["miner", "container", "pids_limit"],
            "must be at least 64 (sshd and a shell need a few dozen processes)",
        );
    }
    positive(
        &mut out,
        &["miner", "container", "test_lifetime_secs"],
        container.test_lifetime_secs,
    );

    percentage(
        &mut out,
        &["validator", "whitelist_updated_threshold"],
        c.validator.whitelist_updated_threshold,
    );
    positive(
        &mut out,
        &["validator", "weights_interval_blocks"],
        c.validator.weights_interval_blocks.into(),
    );
    if let Some(url) = &c.validator.live_config_url {
        if let Err(e) = super::http_url(url) {
            out.error(&["validator", "live_config_url"], &e);
        }
    }
    positive(
        &mut out,
        &["validator", "live_config_interval_secs"],
        c.validator.live_config_interval_secs,
    );
    let pog = &c.validator.pog;
    if pog.base_image.trim().is_empty() {
        out.error(
            &["validator", "pog", "base_image"],
            "must name an image, e.g. pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime",
        );
    }
    for (field, value) in [
        ("interval_blocks", u64::from(pog.interval_blocks)),
        ("concurrency", u64::from(pog.concurrency)),
        ("attempt_timeout_secs", pog.attempt_timeout_secs),
    ] {
        positive(&mut out, &["validator", "pog", field], value);
    }
    let worst_case = (u64::from(pog.retry_limit) + 1)
        .saturating_mul(
            pog.attempt_timeout_secs
                .saturating_add(pog.retry_interval_secs),
        )
        .saturating_add(pog.max_random_delay_secs);
    let round = u64::from(pog.interval_blocks) * 12;
    if worst_case > round {
        out.warn(
            &["validator", "pog", "retry_limit"],
            &format!(
                "a start delay of up to {} s and {} attempts of up to {} s with {} s pauses can \
                 take {worst_case} s, longer than a round of {} blocks ({round} s); a miner's \
                 retries may still run when the next round starts",
                pog.max_random_delay_secs,
                pog.retry_limit + 1,
                pog.attempt_timeout_secs,
                pog.retry_interval_secs,
                pog.interval_blocks
            ),
        );
    }

    if pog.cpu_test_mode {
        out.warn(
            &["validator", "pog", "cpu_test_mode"],
            "on: miners are tested with the worker's CPU mode, which proves no GPU; for tests \
             and demos only, never on a real subnet",
        );
    }

    scoring(&mut out, config);
    wandb(&mut out, config);

    if let Err(e) = tracing_subscriber::EnvFilter::try_new(&c.log.filter) {
        out.error(&["log", "filter"], &format!("not a valid log filter: {e}"));
    }
    out.0
}

fn scoring(out: &mut Findings, config: &Config) {
    let s = &config.scoring;
    if s.profile != ScoringProfile::Default {
        profile_departures(out, s);
    }
    if !(s.merkle_buffer.is_finite() && s.merkle_buffer > 0.0 && s.merkle_buffer <= 0.5) {
        out.error(
            &["scoring", "merkle_buffer"],
            &format!(
                "must be above 0 and at most 0.5 (two matrices of this share of the memory), found {}",
                s.merkle_buffer
            ),
        );
    }
    if !(s.total_miner_emission.is_finite() && (0.0..=1.0).contains(&s.total_miner_emission)) {
        out.error(
            &["scoring", "total_miner_emission"],
            &format!("is a share from 0 to 1, found {}", s.total_miner_emission),
        );
    }
    positive(out, &["scoring", "max_gpus"], s.max_gpus.into());
    positive(out, &["scoring", "history"], s.history.into());
    non_negative(out, &["scoring", "full_score"], s.full_score);
    non_negative(
        out,
        &["scoring", "allocation_multiplier"],
        s.allocation_multiplier,
    );
    if !(s.cap > 0.0 && s.cap <= 100.0) {
        out.error(
            &["scoring", "cap"],
            &format!(
                "must be above 0 and at most 100 (100 points = weight 1.0), found {}",
                s.cap
            ),
        );
    }
    if s.gpu.is_empty() {
        out.error(
            &["scoring", "gpu"],
            "the GPU table is empty: no GPU could be identified",
        );
    }
    let mut names = HashSet::new();
    for (i, model) in s.gpu.iter().enumerate() {
        let index = i.to_string();
        let key = |field: &'static str| ["scoring", "gpu", index.as_str(), field].map(String::from);
        if model.name.trim().is_empty() {
            out.error_at(key("name"), "must not be empty");
        } else if !names.insert(model.name.as_str()) {
            out.error_at(
                key("name"),
                &format!("{:?} appears twice in the table", model.name),
            );
        }
        for (field, value) in [
            ("fp16_tflops", model.fp16_tflops),
            ("fp32_tflops", model.fp32_tflops),
            ("vram_gb", model.vram_gb),
        ] {
            if !(value.is_finite() && value > 0.0) {
                out.error_at(
                    key(field),
                    &format!("must be a number above 0, found {value}"),
                );
            }
        }
        for (field, value) in [("score", model.score), ("weight", model.weight)] {
            if !(value.is_finite() && value >= 0.0) {
                out.error_at(key(field), &format!("must be 0 or more, found {value}"));
            }
        }
    }
    // The profile's own pairs may name models an operator's table left out: they then simply
    // never apply. Pairs the operator wrote are checked for typos.
    let own_pairs = s.tolerance_pairs != ScoringConfig::for_profile(s.profile).tolerance_pairs;
    for (i, pair) in s.tolerance_pairs.iter().enumerate() {
        let key = ["scoring", "tolerance_pairs", &i.to_string()].map(String::from);
        if pair[0] == pair[1] {
            out.error_at(key.clone(), "a pair needs two different models");
        }
        let missing: Vec<String> = pair
            .iter()
            .filter(|name| !names.contains(name.as_str()))
            .map(|name| format!("{name:?}"))
            .collect();
        if own_pairs && !missing.is_empty() {
            out.warn_at(
                key,
                &format!(
                    "names models missing from scoring.gpu: {}; the pair never applies",
                    missing.join(", ")
                ),
            );
        }
    }
}

/// Warns about each setting that departs from a compatibility profile: the point of such a
/// profile is to compute what that release's validators compute, which a changed value
/// defeats.
fn profile_departures(out: &mut Findings, s: &ScoringConfig) {
    let profile = ScoringConfig::for_profile(s.profile);
    let name = s.profile.name();
    let note =
        format!("departs from the {name} profile, so scores no longer reproduce its validators");
    let numbers = [
        (
            "max_gpus",
            f64::from(s.max_gpus),
            f64::from(profile.max_gpus),
        ),
        ("full_score", s.full_score, profile.full_score),
        (
            "allocation_multiplier",
            s.allocation_multiplier,
            profile.allocation_multiplier,
        ),
        ("cap", s.cap, profile.cap),
        ("history", f64::from(s.history), f64::from(profile.history)),
        ("merkle_buffer", s.merkle_buffer, profile.merkle_buffer),
        (
            "total_miner_emission",
            s.total_miner_emission,
            profile.total_miner_emission,
        ),
    ];
    for (field, value, expected) in numbers {
        if value != expected {
            out.warn(
                &["scoring", field],
                &format!("{value} {note} (profile value {expected})"),
            );
        }
    }
    if s.gpu != profile.gpu {
        out.warn(&["scoring", "gpu"], &format!("the GPU table {note}"));
    }
    if s.tolerance_pairs != profile.tolerance_pairs {
        out.warn(&["scoring", "tolerance_pairs"], &format!("the list {note}"));
    }
    let switches = [
        (
            "require_reported_name",
            s.require_reported_name != profile.require_reported_name,
        ),
        ("pass_rule", s.pass_rule != profile.pass_rule),
        ("health_check", s.health_check != profile.health_check),
        ("weights", s.weights != profile.weights),
    ];
    for (field, departs) in switches {
        if departs {
            out.warn(&["scoring", field], &format!("this setting {note}"));
        }
    }
}

struct Findings(Vec<Finding>);

impl Findings {
    fn error(&mut self, path: &[&str], message: &str) {
        self.error_at(
            path.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            message,
        );
    }

    fn error_at(&mut self, path: impl Into<Vec<String>>, message: &str) {
        self.0
            .push((Severity::Error, path.into(), message.to_owned()));
    }

    fn warn_at(&mut self, path: impl Into<Vec<String>>, message: &str) {
        self.0
            .push((Severity::Warning, path.into(), message.to_owned()));
    }

    fn warn(&mut self, path: &[&str], message: &str) {
        self.0.push((
            Severity::Warning,
            path.iter().map(|s| s.to_string()).collect(),
            message.to_owned(),
        ));
    }
}

fn port(out: &mut Findings, path: &[&str], value: u16) {
    if value == 0 {
        out.error(path, "must be a port from 1 to 65535, found 0");
    }
}

fn percentage(out: &mut Findings, path: &[&str], value: u8) {
    if value > 100 {
        out.error(
            path,
            &format!("is a percentage from 0 to 100, found {value}"),
        );
    }
}

fn wandb(out: &mut Findings, c: &Config) {
    let w = &c.wandb;
    match w.base_url.parse::<hyper::Uri>() {
        Ok(uri) if matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some() => {}
        _ => out.error(
            &["wandb", "base_url"],
            "must be an http:// or https:// address, e.g. https://api.wandb.ai",
        ),
    }
    for (key, value) in [
        ("entity", &w.entity),
        ("project", &w.project),
        ("penalty_run", &w.penalty_run),
    ] {
        if value.trim().is_empty() || value.contains('/') {
            out.error(&["wandb", key], "must be a W&B name, without '/'");
        }
    }
    positive(out, &["wandb", "heartbeat_secs"], w.heartbeat_secs);
    if w.heartbeat_secs > 120 {
        out.error(
            &["wandb", "heartbeat_secs"],
            &format!(
                "{} s: W&B counts a run without a heartbeat for a few minutes as crashed, and \
                 validators then score the miner 0; at most 120",
                w.heartbeat_secs
            ),
        );
    }
    if w.enabled
        && c.role == Some(super::Role::Validator)
        && c.scoring.profile != ScoringProfile::Sn27V221
    {
        out.warn(
            &["wandb", "enabled"],
            &format!(
                "the W&B specs gate and penalty list are rules of SN27 v2.2.1 validators; with \
                 scoring profile {} they make this validator's weights depart from that \
                 profile's",
                c.scoring.profile.name()
            ),
        );
    }
    positive(
        out,
        &["wandb", "read_interval_blocks"],
        w.read_interval_blocks.into(),
    );
    if let Err(e) = PublicKey::from_ss58(&w.penalty_hotkey) {
        out.error(
            &["wandb", "penalty_hotkey"],
            &format!("not an ss58 address: {e}"),
        );
    }
    if w.enabled {
        if let Err(e) = w.api_key() {
            out.warn(
                &["wandb", "enabled"],
                &format!("{e}; until sn27 finds one it publishes and reads nothing"),
            );
        }
    }
}

fn positive(out: &mut Findings, path: &[&str], value: u64) {
    if value == 0 {
        out.error(path, "must be at least 1, found 0");
    }
}

fn non_negative(out: &mut Findings, path: &[&str], value: f64) {
    if !(value.is_finite() && value >= 0.0) {
        out.error(path, &format!("must be 0 or more, found {value}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Role;

    fn valid() -> Config {
        Config {
            role: Some(Role::Miner),
            ..Config::default()
        }
    }

    fn keys(config: &Config, severity: Severity) -> Vec<String> {
        validate(config)
            .into_iter()
            .filter(|(s, _, _)| *s == severity)
            .map(|(_, path, _)| path.join("."))
            .collect()
    }

    #[test]
    fn defaults_with_a_role_are_valid() {
        assert!(validate(&valid()).is_empty(), "{:?}", validate(&valid()));
        assert_eq!(keys(&Config::default(), Severity::Error), ["role"]);
    }

    #[test]
    fn out_of_range_values_are_errors() {
        let mut c = valid();
        c.axon.port = 0;
        c.miner.whitelist_updated_threshold = 101;
        c.validator.whitelist_updated_threshold = 200;
        c.miner.min_validator_stake = -1.0;
        c.scoring.gpu[2].score = -0.5;
        c.scoring.cap = 150.0;
        c.miner.hotkey_blacklist = vec!["not-an-address".into()];
        c.log.filter = "info,=[".into();
        let errors = keys(&c, Severity::Error);
        for expected in [
            "axon.port",
            "miner.whitelist_updated_threshold",
            "validator.whitelist_updated_threshold",
            "miner.min_validator_stake",
            "scoring.gpu.2.score",
            "scoring.cap",
            "miner.hotkey_blacklist.0",
            "log.filter",
        ] {
            assert!(
                errors.contains(&expected.to_string()),
                "{expected} in {errors:?}"
            );
        }
    }

    #[test]
    fn conflicts_and_inconsistencies_are_errors() {
        let mut c = valid();
        c.miner.ssh_port = c.axon.port;
        c.miner.user_ports = vec![27015, 27015, c.axon.port, 27020, 27021];
        c.wallet.password_env = Some("PW".into());
        c.wallet.password_file = Some("/pw".into());
        c.scoring
            .tolerance_pairs
            .push(["NVIDIA H200".into(), "NVIDIA B300".into()]);
        c.scoring.gpu.push(c.scoring.gpu[0].clone());
        let errors = keys(&c, Severity::Error);
        for expected in [
            "miner.ssh_port",
            "miner.user_ports",
            "miner.user_ports.1",
            "miner.user_ports.2",
            "wallet.password_file",
            "scoring.gpu.17.name",
        ] {
            assert!(
                errors.contains(&expected.to_string()),
                "{expected} in {errors:?}"
            );
        }
        // A pair the operator wrote naming a model the table lacks is a likely typo.
        assert!(keys(&c, Severity::Warning).contains(&"scoring.tolerance_pairs.5".to_string()));
    }

    /// A table of one's own does not make the profile's pairs an error: pairs naming models
    /// the table lacks never apply.
    #[test]
    fn the_profiles_pairs_may_name_models_a_table_lacks() {
        let mut c = valid();
        c.scoring.gpu.truncate(1);
        assert!(keys(&c, Severity::Error).is_empty(), "{:?}", validate(&c));
        assert!(!keys(&c, Severity::Warning)
            .iter()
            .any(|k| k.starts_with("scoring.tolerance_pairs")));
    }

    #[test]
    fn departing_from_the_compatibility_profile_warns() {
        let mut c = valid();
        c.scoring = ScoringConfig::for_profile(ScoringProfile::Sn27V183);
        assert!(validate(&c).is_empty());
        c.scoring.full_score = 50.0;
        c.scoring.gpu[4].score = 1.65;
        assert_eq!(
            keys(&c, Severity::Warning),
            ["scoring.full_score", "scoring.gpu"]
        );
        c.scoring = ScoringConfig::for_profile(ScoringProfile::Sn27V221);
        assert!(validate(&c).is_empty(), "{:?}", validate(&c));
        c.scoring.health_check = false;
        c.scoring.history = 4;
        assert_eq!(
            keys(&c, Severity::Warning),
            ["scoring.history", "scoring.health_check"]
        );
        c.scoring.total_miner_emission = 1.5;
        c.scoring.merkle_buffer = 0.0;
        c.scoring.gpu[0].weight = -1.0;
        let errors = keys(&c, Severity::Error);
        for expected in [
            "scoring.merkle_buffer",
            "scoring.total_miner_emission",
            "scoring.gpu.0.weight",
        ] {
            assert!(errors.contains(&expected.to_string()), "{errors:?}");
        }
    }

    #[test]
    fn test_network_with_wrong_netuid_warns() {
        let mut c = valid();
        c.chain.network = Network::Test;
        assert_eq!(keys(&c, Severity::Warning), ["chain.netuid"]);
        c.chain.netuid = 15;
        assert!(keys(&c, Severity::Warning).is_empty());
    }
}
