//! The typed model of an SN27 `Allocate` (`sn27-protocol.md` §2–§3, `sn27-v2.md` §2): what a
//! caller asks for and what a miner answers.
//!
//! On the wire the payload fields are Python dicts ([`Allocate`] keeps them as JSON maps, so a
//! body that a Python peer accepts is never refused by the transport). Both sides read and
//! write them through this module: the miner parses a request with [`AllocateRequest::parse`],
//! which refuses any malformed field by name; a renting validator builds its requests with
//! [`AllocateRequest::to_fields`]; [`AllocateOutput`] is the answer in both directions. Every
//! body field is untrusted: SN27 bodies are not covered by the signature (their body hash is
//! the constant of an empty field list), so sizes and shapes are checked here.

use std::fmt;

use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::Allocate;

/// Largest values accepted, far above any machine, to keep arithmetic sane.
pub const MAX_CPUS: u64 = 4096;
pub const MAX_BYTES: u64 = 1 << 50;
pub const MAX_LEASE_DAYS: i64 = 3650;
/// Longest string accepted in a field (a PEM key or an SSH key line is far shorter).
const MAX_TEXT: usize = 16 * 1024;

/// A field of an `Allocate` body that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct PayloadError {
    /// Dotted path of the field, e.g. `device_requirement.cpu.count`.
    pub field: String,
    pub reason: String,
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> PayloadError {
    PayloadError {
        field: field.into(),
        reason: reason.into(),
    }
}

/// What a caller asks, one variant per branch of `sn27-protocol.md` §3.1.
#[derive(Debug, Clone, PartialEq)]
pub enum AllocateRequest {
    /// A: is the miner free to allocate? (`checking`, `timeline > 0`)
    CheckAvailability { days: i64 },
    /// B: does `public_key` own the current allocation? (`checking`, `timeline ≤ 0`)
    CheckOwnership { public_key: String },
    /// C: a lifecycle action on the caller's allocation (`docker_change`).
    Action {
        public_key: String,
        action: DockerAction,
    },
    /// D: allocate for `days` days.
    Allocate {
        days: i64,
        public_key: String,
        device: DeviceRequirement,
        docker: DockerRequirement,
    },
    /// E: release the caller's allocation.
    Release { public_key: String },
}

impl AllocateRequest {
    /// Reads the branch and validates every field it uses.
    pub fn parse(fields: &Allocate) -> Result<Self, PayloadError> {
        let public_key = || -> Result<String, PayloadError> {
            if fields.public_key.len() > MAX_TEXT {
                return Err(invalid("public_key", "longer than 16 KiB"));
            }
            Ok(fields.public_key.trim().to_string())
        };
        match (fields.checking, fields.docker_change, fields.timeline > 0) {
            (true, _, true) => Ok(AllocateRequest::CheckAvailability {
                days: fields.timeline,
            }),
            (true, _, false) => Ok(AllocateRequest::CheckOwnership {
                public_key: public_key()?,
            }),
            (false, true, _) => Ok(AllocateRequest::Action {
                public_key: public_key()?,
                action: DockerAction::from_json(&fields.docker_action)?,
            }),
            (false, false, true) => {
                if fields.timeline > MAX_LEASE_DAYS {
                    return Err(invalid(
                        "timeline",
                        format!("{} days is longer than {MAX_LEASE_DAYS}", fields.timeline),
                    ));
                }
                Ok(AllocateRequest::Allocate {
                    days: fields.timeline,
                    public_key: public_key()?,
                    device: DeviceRequirement::from_json(&fields.device_requirement)?,
                    docker: DockerRequirement::from_json(&fields.docker_requirement)?,
                })
            }
            (false, false, false) => Ok(AllocateRequest::Release {
                public_key: public_key()?,
            }),
        }
    }

    /// The synapse fields that ask this, as SN27 validators send them.
    pub fn to_fields(&self) -> Allocate {
        let with_key = |key: &str| Allocate {
            public_key: key.to_string(),
            ..Allocate::default()
        };
        match self {
            AllocateRequest::CheckAvailability { days } => Allocate {
                timeline: (*days).max(1),
                checking: true,
                ..Allocate::default()
            },
            AllocateRequest::CheckOwnership { public_key } => Allocate {
                timeline: 0,
                checking: true,
                ..with_key(public_key)
            },
            AllocateRequest::Action { public_key, action } => Allocate {
                timeline: 1,
                checking: false,
                docker_change: true,
                docker_action: action.to_json(),
                ..with_key(public_key)
            },
            AllocateRequest::Allocate {
                days,
                public_key,
                device,
                docker,
            } => Allocate {
                timeline: *days,
                checking: false,
                device_requirement: device.to_json(),
                // Proof-of-GPU requests carry only the image (sn27-protocol §6.1 step 3).
                docker_requirement: docker.to_json(!device.testing),
                ..with_key(public_key)
            },
            AllocateRequest::Release { public_key } => Allocate {
                timeline: 0,
                checking: false,
                ..with_key(public_key)
            },
        }
    }

    /// The branch's name, for logs.
    pub fn label(&self) -> &'static str {
        match self {
            AllocateRequest::CheckAvailability { .. } => "availability check",
            AllocateRequest::CheckOwnership { .. } => "ownership check",
            AllocateRequest::Action { .. } => "lifecycle action",
            AllocateRequest::Allocate { .. } => "allocation",
            AllocateRequest::Release { .. } => "release",
        }
    }
}

/// `device_requirement` (§2.2): minimums the caller asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRequirement {
    pub cpu_count: u64,
    /// `None` is `"gpu": {}` (no preference).
    pub gpu: Option<GpuRequirement>,
    pub disk_bytes: u64,
    pub ram_bytes: u64,
    /// A Proof-of-GPU test allocation rather than a rental.
    pub testing: bool,
}

/// `device_requirement.gpu` when not empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuRequirement {
    pub count: u64,
    /// Memory per GPU, MB.
    pub capacity_mb: u64,
    /// The model as the driver reports it; empty for any.
    pub model: String,
}

impl DeviceRequirement {
    /// What validators send for a Proof-of-GPU test (§2.2).
    pub fn proof_of_gpu() -> Self {
        DeviceRequirement {
            cpu_count: 1,
            gpu: Some(GpuRequirement {
                count: 1,
                capacity_mb: 0,
                model: String::new(),
            }),
            disk_bytes: 1 << 30,
            ram_bytes: 1 << 30,
            testing: true,
        }
    }

    pub fn to_json(&self) -> Map<String, Value> {
        let gpu = match &self.gpu {
            Some(g) => json!({"count": g.count, "capacity": g.capacity_mb, "type": g.model}),
            None => json!({}),
        };
        let mut map = object(json!({
            "cpu": {"count": self.cpu_count},
            "gpu": gpu,
            "hard_disk": {"capacity": self.disk_bytes},
            "ram": {"capacity": self.ram_bytes},
        }));
        if self.testing {
            map.insert("testing".into(), Value::Bool(true));
        }
        map
    }

    /// Reads the four sections the reference requires (a missing one refuses the request
    /// there too) and the optional `testing` flag.
    pub fn from_json(device: &Map<String, Value>) -> Result<Self, PayloadError> {
        for section in ["cpu", "gpu", "hard_disk", "ram"] {
            match device.get(section) {
                Some(Value::Object(_)) => {}
                Some(_) => {
                    return Err(invalid(
                        format!("device_requirement.{section}"),
                        "not an object",
                    ))
                }
                None => return Err(invalid(format!("device_requirement.{section}"), "missing")),
            }
        }
        let testing = match device.get("testing") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(invalid("device_requirement.testing", "not a boolean")),
        };
        let gpu_section = device.get("gpu").and_then(Value::as_object);
        let gpu = match gpu_section {
            Some(section) if !section.is_empty() => Some(GpuRequirement {
                count: number(device, "gpu", "count", 0, MAX_CPUS)?,
                capacity_mb: number(device, "gpu", "capacity", 0, MAX_BYTES)?,
                model: match section.get("type") {
                    None | Some(Value::Null) => String::new(),
                    Some(Value::String(s)) if s.len() <= 256 => s.clone(),
                    Some(Value::String(_)) => {
                        return Err(invalid(
                            "device_requirement.gpu.type",
                            "longer than 256 characters",
                        ))
                    }
                    Some(_) => return Err(invalid("device_requirement.gpu.type", "not a string")),
                },
            }),
            _ => None,
        };
        Ok(DeviceRequirement {
            cpu_count: number(device, "cpu", "count", 1, MAX_CPUS)?.max(1),
            gpu,
            disk_bytes: number(device, "hard_disk", "capacity", 1 << 30, MAX_BYTES)?,
            ram_bytes: number(device, "ram", "capacity", 1 << 30, MAX_BYTES)?,
            testing,
        })
    }

    /// GPUs asked for (0 when the caller has no preference).
    pub fn gpu_count(&self) -> u64 {
        self.gpu.as_ref().map_or(0, |g| g.count)
    }
}

/// `device_requirement.<section>.<field>` as a non-negative integer ≤ `max`, `default` when
/// absent.
fn number(
    device: &Map<String, Value>,
    section: &str,
    field: &str,
    default: u64,
    max: u64,
) -> Result<u64, PayloadError> {
    let name = || format!("device_requirement.{section}.{field}");
    match device.get(section).and_then(|s| s.get(field)) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => match v.as_u64() {
            Some(n) if n <= max => Ok(n),
            Some(n) => Err(invalid(name(), format!("{n} is larger than {max}"))),
            None => Err(invalid(
                name(),
                format!("must be a non-negative integer, not {v}"),
            )),
        },
    }
}

/// `docker_requirement` (§2.3). Only the image and the renter's SSH key mean anything: the
/// reference overwrites `ssh_port`, ignores `volume_path`, and its `dockerfile` (a shell step)
/// is never run by sn27 (defect #7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerRequirement {
    pub base_image: String,
    /// Line 1 of the container's `authorized_keys`.
    pub ssh_key: Option<SshPublicKey>,
}

impl DockerRequirement {
    /// `full`: every key a rental request carries; otherwise only `base_image`, as a
    /// Proof-of-GPU request.
    pub fn to_json(&self, full: bool) -> Map<String, Value> {
        if !full {
            return object(json!({"base_image": self.base_image}));
        }
        object(json!({
            "base_image": self.base_image,
            "ssh_key": self.ssh_key.as_ref().map_or("", |k| k.as_str()),
            "ssh_port": 4444,
            "volume_path": "/tmp",
            "dockerfile": "",
        }))
    }

    pub fn from_json(docker: &Map<String, Value>) -> Result<Self, PayloadError> {
        let base_image = match docker.get("base_image") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) if s.len() <= 512 => s.clone(),
            Some(_) => {
                return Err(invalid(
                    "docker_requirement.base_image",
                    "not a string of at most 512 characters",
                ))
            }
        };
        let ssh_key = match docker.get("ssh_key") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => Some(SshPublicKey::parse(s).map_err(|e| {
                invalid(
                    "docker_requirement.ssh_key",
                    format!("not an OpenSSH public key: {e}"),
                )
            })?),
            Some(_) => return Err(invalid("docker_requirement.ssh_key", "not a string")),
        };
        Ok(DockerRequirement {
            base_image,
            ssh_key,
        })
    }
}

/// Which line of `authorized_keys` an `exchange_key` replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySlot {
    /// Line 1, `key_type = "user"`.
    User,
    /// Line 2, `key_type = "terminal"`.
    Terminal,
}

impl KeySlot {
    pub fn line(self) -> usize {
        match self {
            KeySlot::User => 0,
            KeySlot::Terminal => 1,
        }
    }

    fn name(self) -> &'static str {
        match self {
            KeySlot::User => "user",
            KeySlot::Terminal => "terminal",
        }
    }
}

/// `docker_action` (§2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerAction {
    Restart,
    Pause,
    /// `unpause`, or its alias `resume`.
    Unpause,
    ExchangeKey {
        slot: KeySlot,
        key: SshPublicKey,
    },
}

impl DockerAction {
    pub fn name(&self) -> &'static str {
        match self {
            DockerAction::Restart => "restart",
            DockerAction::Pause => "pause",
            DockerAction::Unpause => "unpause",
            DockerAction::ExchangeKey { .. } => "exchange_key",
        }
    }

    pub fn to_json(&self) -> Map<String, Value> {
        let (key, key_type) = match self {
            DockerAction::ExchangeKey { slot, key } => (key.as_str(), slot.name()),
            _ => ("", ""),
        };
        object(json!({"action": self.name(), "ssh_key": key, "key_type": key_type}))
    }

    pub fn from_json(fields: &Map<String, Value>) -> Result<Self, PayloadError> {
        let name = fields.get("action").and_then(Value::as_str).unwrap_or("");
        match name {
            "restart" => Ok(DockerAction::Restart),
            "pause" => Ok(DockerAction::Pause),
            "unpause" | "resume" => Ok(DockerAction::Unpause),
            "exchange_key" => {
                let slot = match fields.get("key_type").and_then(Value::as_str) {
                    Some("user") => KeySlot::User,
                    Some("terminal") => KeySlot::Terminal,
                    other => {
                        return Err(invalid(
                            "docker_action.key_type",
                            format!("must be \"user\" or \"terminal\", not {other:?}"),
                        ))
                    }
                };
                let text = fields
                    .get("ssh_key")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid("docker_action.ssh_key", "missing"))?;
                let key = SshPublicKey::parse(text).map_err(|e| {
                    invalid(
                        "docker_action.ssh_key",
                        format!("not an OpenSSH public key: {e}"),
                    )
                })?;
                Ok(DockerAction::ExchangeKey { slot, key })
            }
            other => Err(invalid(
                "docker_action.action",
                format!("{other:?} is not one of restart, pause, unpause, resume, exchange_key"),
            )),
        }
    }
}

/// One OpenSSH public key line: `type base64 [comment]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshPublicKey(String);

impl SshPublicKey {
    const TYPES: &'static [&'static str] = &[
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    ];

    /// Accepts exactly one line whose key type is known and whose base64 blob decodes and
    /// names the same type (the wire format begins with it).
    pub fn parse(text: &str) -> Result<Self, String> {
        let line = text.trim();
        if line.is_empty() {
            return Err("empty".into());
        }
        if line.len() > MAX_TEXT {
            return Err("longer than 16 KiB".into());
        }
        if line.chars().any(|c| c.is_control()) {
            return Err("contains a line break or control character".into());
        }
        let mut parts = line.split(' ').filter(|p| !p.is_empty());
        let kind = parts.next().unwrap_or_default();
        if !Self::TYPES.contains(&kind) {
            return Err(format!("unknown key type {kind:?}"));
        }
        let blob = parts.next().ok_or("no key data after the type")?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(blob)
            .map_err(|_| "key data is not base64".to_string())?;
        let inner_len = bytes
            .get(..4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or("key data is too short")?;
        if bytes.get(4..4 + inner_len) != Some(kind.as_bytes()) {
            return Err(format!("key data does not hold a {kind} key"));
        }
        Ok(SshPublicKey(line.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SshPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A miner's answer (`Allocate.output`). Peers read only `status` and `info`; `port` is always
/// present in a miner's answer; `message` is informative (v2 miners add one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllocateOutput {
    /// `Some(true)` only for a JSON `true`: SN27 validators test `status is True`.
    pub status: Option<bool>,
    /// The sealed credentials of a successful allocation.
    pub info: Option<String>,
    /// The miner's SSH host port.
    pub port: Option<u16>,
    pub message: Option<String>,
    /// `SHA256:…` of the rented container's SSH host key, in the clear next to `info` (an
    /// addition peers ignore): credentials with four user ports leave no room for it in the
    /// one RSA block `info` is.
    pub host_key_fingerprint: Option<String>,
}

impl AllocateOutput {
    /// A bare `status`.
    pub fn status(ok: bool) -> Self {
        AllocateOutput {
            status: Some(ok),
            ..AllocateOutput::default()
        }
    }

    /// Whether the answer says yes: a JSON `true`, nothing else.
    pub fn ok(&self) -> bool {
        self.status == Some(true)
    }

    pub fn to_json(&self) -> Map<String, Value> {
        let mut map = Map::new();
        if let Some(status) = self.status {
            map.insert("status".into(), Value::Bool(status));
        }
        if let Some(info) = &self.info {
            map.insert("info".into(), Value::String(info.clone()));
        }
        if let Some(message) = &self.message {
            map.insert("message".into(), Value::String(message.clone()));
        }
        if let Some(port) = self.port {
            map.insert("port".into(), json!(port));
        }
        if let Some(fingerprint) = &self.host_key_fingerprint {
            map.insert(
                "host_key_fingerprint".into(),
                Value::String(fingerprint.clone()),
            );
        }
        map
    }

    /// Reads what a miner sent; anything of the wrong type counts as absent (a `"true"` string
    /// is not a yes).
    pub fn from_json(output: &Map<String, Value>) -> Self {
        AllocateOutput {
            status: output.get("status").and_then(Value::as_bool),
            info: output
                .get("info")
                .and_then(Value::as_str)
                .map(str::to_string),
            port: output
                .get("port")
                .and_then(Value::as_u64)
                .and_then(|p| u16::try_from(p).ok()),
            message: output
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_string),
            host_key_fingerprint: output
                .get("host_key_fingerprint")
                .and_then(Value::as_str)
                .map(str::to_string),
        }
    }
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED25519: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl test@host";
    const PEM: &str = "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n";

    fn map(value: Value) -> Map<String, Value> {
        object(value)
    }

    #[test]
    fn ssh_keys_are_checked_for_shape() {
        assert!(SshPublicKey::parse(ED25519).is_ok());
        assert!(SshPublicKey::parse(&format!("{ED25519}\nssh-rsa AAAA")).is_err());
        assert!(SshPublicKey::parse("ssh-ed25519 not-base64!").is_err());
        assert!(SshPublicKey::parse(
            "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
        )
        .is_err());
        assert!(SshPublicKey::parse("echo pwned").is_err());
        assert!(SshPublicKey::parse("None").is_err());
    }

    #[test]
    fn branches_follow_checking_docker_change_and_timeline() {
        let mut s = Allocate {
            timeline: 1,
            ..Allocate::default()
        };
        assert!(matches!(
            AllocateRequest::parse(&s),
            Ok(AllocateRequest::CheckAvailability { days: 1 })
        ));
        s.timeline = 0;
        assert!(matches!(
            AllocateRequest::parse(&s),
            Ok(AllocateRequest::CheckOwnership { .. })
        ));
        s.checking = false;
        assert!(matches!(
            AllocateRequest::parse(&s),
            Ok(AllocateRequest::Release { .. })
        ));
        s.docker_change = true;
        s.docker_action = map(json!({"action": "pause"}));
        assert!(matches!(
            AllocateRequest::parse(&s),
            Ok(AllocateRequest::Action {
                action: DockerAction::Pause,
                ..
            })
        ));
        s.docker_action = map(json!({"action": "format-disk"}));
        let error = AllocateRequest::parse(&s).unwrap_err();
        assert_eq!(error.field, "docker_action.action");
        assert!(error.reason.contains("format-disk"));
        s.docker_action =
            map(json!({"action": "exchange_key", "key_type": "root", "ssh_key": ED25519}));
        assert_eq!(
            AllocateRequest::parse(&s).unwrap_err().field,
            "docker_action.key_type"
        );
    }

    #[test]
    fn allocation_fields_are_validated_by_name() {
        let mut s = Allocate {
            timeline: 1,
            checking: false,
            public_key: PEM.into(),
            device_requirement: map(json!({"cpu": {"count": 2}, "gpu": {},
                "hard_disk": {"capacity": 1 << 30}, "ram": {"capacity": 2u64 << 30}})),
            ..Allocate::default()
        };
        let AllocateRequest::Allocate { device, docker, .. } = AllocateRequest::parse(&s).unwrap()
        else {
            panic!("an allocation")
        };
        assert_eq!(
            (device.cpu_count, device.ram_bytes, device.gpu),
            (2, 2 << 30, None)
        );
        assert!(!device.testing && docker.ssh_key.is_none());

        for (device, field) in [
            (
                json!({"cpu": {"count": -1}, "gpu": {}, "hard_disk": {}, "ram": {}}),
                "device_requirement.cpu.count",
            ),
            (
                json!({"cpu": {}, "gpu": {}, "hard_disk": {}, "ram": {"capacity": 1u64 << 60}}),
                "device_requirement.ram.capacity",
            ),
            (
                json!({"cpu": {}, "gpu": {}, "ram": {}}),
                "device_requirement.hard_disk",
            ),
            (
                json!({"cpu": {}, "gpu": [], "hard_disk": {}, "ram": {}}),
                "device_requirement.gpu",
            ),
            (
                json!({"cpu": {}, "gpu": {"count": 1, "type": 7}, "hard_disk": {}, "ram": {}}),
                "device_requirement.gpu.type",
            ),
            (
                json!({"cpu": {}, "gpu": {}, "hard_disk": {}, "ram": {}, "testing": "yes"}),
                "device_requirement.testing",
            ),
        ] {
            s.device_requirement = map(device);
            assert_eq!(AllocateRequest::parse(&s).unwrap_err().field, field);
        }
        s.device_requirement = DeviceRequirement::proof_of_gpu().to_json();
        s.docker_requirement = map(json!({"ssh_key": "echo pwned"}));
        assert_eq!(
            AllocateRequest::parse(&s).unwrap_err().field,
            "docker_requirement.ssh_key"
        );
        s.docker_requirement = map(json!({}));
        s.timeline = MAX_LEASE_DAYS + 1;
        assert_eq!(AllocateRequest::parse(&s).unwrap_err().field, "timeline");
    }

    /// What the renting side builds is what the miner side reads, for every branch.
    #[test]
    fn requests_round_trip_through_the_wire_fields() {
        let key = SshPublicKey::parse(ED25519).unwrap();
        let requests = [
            AllocateRequest::CheckAvailability { days: 3 },
            AllocateRequest::CheckOwnership {
                public_key: PEM.trim().into(),
            },
            AllocateRequest::Release {
                public_key: PEM.trim().into(),
            },
            AllocateRequest::Action {
                public_key: PEM.trim().into(),
                action: DockerAction::ExchangeKey {
                    slot: KeySlot::Terminal,
                    key: key.clone(),
                },
            },
            AllocateRequest::Action {
                public_key: PEM.trim().into(),
                action: DockerAction::Restart,
            },
            AllocateRequest::Allocate {
                days: 2,
                public_key: PEM.trim().into(),
                device: DeviceRequirement {
                    cpu_count: 4,
                    gpu: Some(GpuRequirement {
                        count: 1,
                        capacity_mb: 81920,
                        model: "NVIDIA H100 80GB HBM3".into(),
                    }),
                    disk_bytes: 10 << 30,
                    ram_bytes: 16 << 30,
                    testing: false,
                },
                docker: DockerRequirement {
                    base_image: "pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime".into(),
                    ssh_key: Some(key),
                },
            },
            AllocateRequest::Allocate {
                days: 1,
                public_key: PEM.trim().into(),
                device: DeviceRequirement::proof_of_gpu(),
                docker: DockerRequirement {
                    base_image: "pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime".into(),
                    ssh_key: None,
                },
            },
        ];
        for request in requests {
            let fields = request.to_fields();
            // Through JSON, as the dendrite sends it.
            let wire: Allocate =
                serde_json::from_str(&serde_json::to_string(&fields).unwrap()).unwrap();
            assert_eq!(AllocateRequest::parse(&wire).unwrap(), request);
        }
    }

    /// The Proof-of-GPU request is byte for byte what the reference validator sends.
    #[test]
    fn proof_of_gpu_request_matches_the_reference() {
        let request = AllocateRequest::Allocate {
            days: 1,
            public_key: PEM.into(),
            device: DeviceRequirement::proof_of_gpu(),
            docker: DockerRequirement {
                base_image: "pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime".into(),
                ssh_key: None,
            },
        };
        let fields = request.to_fields();
        assert_eq!(
            Value::Object(fields.device_requirement),
            json!({"cpu": {"count": 1}, "gpu": {"count": 1, "capacity": 0, "type": ""},
                   "hard_disk": {"capacity": 1073741824}, "ram": {"capacity": 1073741824},
                   "testing": true})
        );
        assert_eq!(
            Value::Object(fields.docker_requirement),
            json!({"base_image": "pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime"})
        );
    }

    #[test]
    fn output_status_is_true_only_for_json_true() {
        for (output, ok) in [
            (json!({"status": true, "port": 4444}), true),
            (json!({"status": "true"}), false),
            (json!({"status": 1}), false),
            (json!({}), false),
            (json!({"status": false}), false),
        ] {
            assert_eq!(AllocateOutput::from_json(&map(output)).ok(), ok);
        }
        let answer = AllocateOutput {
            status: Some(true),
            info: Some("abc".into()),
            port: Some(4444),
            message: None,
            host_key_fingerprint: None,
        };
        assert_eq!(AllocateOutput::from_json(&answer.to_json()), answer);
        assert_eq!(
            Value::Object(answer.to_json()),
            json!({"status": true, "info": "abc", "port": 4444})
        );
        let pinned = AllocateOutput {
            host_key_fingerprint: Some("SHA256:abc".into()),
            ..answer
        };
        assert_eq!(AllocateOutput::from_json(&pinned.to_json()), pinned);
    }
}
