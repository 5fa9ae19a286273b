//! What an `Allocate` synapse asks for (`sn27-protocol.md` §2–§3), validated before anything
//! changes. Every field of the body is untrusted (SN27 bodies are not covered by the signature's
//! body hash), so each is checked for type, range and shape here, and a refusal names the field.

use serde_json::{Map, Value};

use crate::credentials::CallerKey;
use crate::protocol::Allocate;

/// The five branches of §3.1.
#[derive(Debug)]
pub enum Intent {
    /// A: is this miner free to allocate?
    CheckAvailable,
    /// B: does `key` own the current allocation?
    CheckOwnership { key: String },
    /// C: a lifecycle action on the caller's allocation.
    Action { key: String, action: Action },
    /// D: allocate.
    Allocate(Box<AllocationRequest>),
    /// E: release the caller's allocation.
    Release { key: String },
}

/// `docker_action.action`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Restart,
    Pause,
    Unpause,
    /// Replace line 1 (`user`) or 2 (`terminal`) of `authorized_keys`.
    ExchangeKey {
        line: usize,
        key: SshPublicKey,
    },
}

/// A validated allocation request.
#[derive(Debug)]
pub struct AllocationRequest {
    pub caller_key: CallerKey,
    /// The caller's PEM as sent, kept to prove ownership later.
    pub caller_pem: String,
    /// Proof-of-GPU test (`device_requirement.testing`).
    pub testing: bool,
    pub lease_days: i64,
    pub cpus: u32,
    pub memory_bytes: u64,
    pub disk_bytes: u64,
    pub gpus: u32,
    pub ssh_key: Option<SshPublicKey>,
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
    /// names the same type (as the wire format begins with it).
    pub fn parse(text: &str) -> Result<Self, String> {
        let line = text.trim();
        if line.is_empty() {
            return Err("empty".into());
        }
        if line.len() > 16 * 1024 {
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
        use base64::Engine;
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

/// Largest values accepted, far above any machine, to keep arithmetic sane.
const MAX_CPUS: u64 = 4096;
const MAX_BYTES: u64 = 1 << 50;
const MAX_LEASE_DAYS: i64 = 3650;

/// Reads the intent of `synapse`, or says which field is wrong.
pub fn parse(synapse: &Allocate) -> Result<Intent, String> {
    let key = synapse.public_key.trim().to_string();
    match (
        synapse.checking,
        synapse.docker_change,
        synapse.timeline > 0,
    ) {
        (true, _, true) => Ok(Intent::CheckAvailable),
        (true, _, false) => Ok(Intent::CheckOwnership { key }),
        (false, true, _) => Ok(Intent::Action {
            action: action(&synapse.docker_action)?,
            key,
        }),
        (false, false, true) => Ok(Intent::Allocate(Box::new(allocation(synapse)?))),
        (false, false, false) => Ok(Intent::Release { key }),
    }
}

fn action(fields: &Map<String, Value>) -> Result<Action, String> {
    let name = fields.get("action").and_then(Value::as_str).unwrap_or("");
    match name {
        "restart" => Ok(Action::Restart),
        "pause" => Ok(Action::Pause),
        "unpause" | "resume" => Ok(Action::Unpause),
        "exchange_key" => {
            let line = match fields.get("key_type").and_then(Value::as_str) {
                Some("user") => 0,
                Some("terminal") => 1,
                other => {
                    return Err(format!(
                        "docker_action.key_type must be \"user\" or \"terminal\", not {other:?}"
                    ))
                }
            };
            let text = fields
                .get("ssh_key")
                .and_then(Value::as_str)
                .ok_or("docker_action.ssh_key is missing")?;
            let key = SshPublicKey::parse(text)
                .map_err(|e| format!("docker_action.ssh_key is not an OpenSSH public key: {e}"))?;
            Ok(Action::ExchangeKey { line, key })
        }
        other => Err(format!("docker_action.action {other:?} is not one of restart, pause, unpause, resume, exchange_key")),
    }
}

fn allocation(synapse: &Allocate) -> Result<AllocationRequest, String> {
    let caller_key =
        CallerKey::from_pem(&synapse.public_key).map_err(|e| format!("public_key: {e}"))?;
    let device = &synapse.device_requirement;
    // The reference refuses a request without these four keys; so do we.
    for section in ["cpu", "gpu", "hard_disk", "ram"] {
        match device.get(section) {
            Some(Value::Object(_)) => {}
            Some(_) => return Err(format!("device_requirement.{section} is not an object")),
            None => return Err(format!("device_requirement.{section} is missing")),
        }
    }
    let testing = match device.get("testing") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("device_requirement.testing is not a boolean".into()),
    };
    let cpus = number(device, "cpu", "count", 1, MAX_CPUS)?.max(1) as u32;
    let memory_bytes = number(device, "ram", "capacity", 1 << 30, MAX_BYTES)?;
    let disk_bytes = number(device, "hard_disk", "capacity", 1 << 30, MAX_BYTES)?;
    let gpus = number(device, "gpu", "count", 0, MAX_CPUS)? as u32;
    if synapse.timeline > MAX_LEASE_DAYS {
        return Err(format!(
            "timeline {} days is longer than {MAX_LEASE_DAYS}",
            synapse.timeline
        ));
    }
    let ssh_key = match synapse.docker_requirement.get("ssh_key") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(SshPublicKey::parse(s).map_err(|e| {
            format!("docker_requirement.ssh_key is not an OpenSSH public key: {e}")
        })?),
        Some(_) => return Err("docker_requirement.ssh_key is not a string".into()),
    };
    Ok(AllocationRequest {
        caller_pem: synapse.public_key.clone(),
        caller_key,
        testing,
        lease_days: synapse.timeline,
        cpus,
        memory_bytes,
        disk_bytes,
        gpus,
        ssh_key,
    })
}

/// `device_requirement.<section>.<field>` as a non-negative integer ≤ `max`, `default` when
/// absent (the reference's PoG request sends `"gpu": {}` for "no preference").
fn number(
    device: &Map<String, Value>,
    section: &str,
    field: &str,
    default: u64,
    max: u64,
) -> Result<u64, String> {
    let value = device.get(section).and_then(|s| s.get(field));
    match value {
        None | Some(Value::Null) => Ok(default),
        Some(v) => match v.as_u64() {
            Some(n) if n <= max => Ok(n),
            Some(n) => Err(format!(
                "device_requirement.{section}.{field} = {n} is larger than {max}"
            )),
            None => Err(format!(
                "device_requirement.{section}.{field} must be a non-negative integer, not {v}"
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ED25519: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl test@host";

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
        assert!(matches!(parse(&s), Ok(Intent::CheckAvailable)));
        s.timeline = 0;
        assert!(matches!(parse(&s), Ok(Intent::CheckOwnership { .. })));
        s.checking = false;
        assert!(matches!(parse(&s), Ok(Intent::Release { .. })));
        s.docker_change = true;
        s.docker_action = json!({"action": "pause"}).as_object().unwrap().clone();
        assert!(matches!(
            parse(&s),
            Ok(Intent::Action {
                action: Action::Pause,
                ..
            })
        ));
        s.docker_action = json!({"action": "format-disk"})
            .as_object()
            .unwrap()
            .clone();
        assert!(parse(&s).unwrap_err().contains("format-disk"));
        s.docker_action = json!({"action": "exchange_key", "key_type": "root", "ssh_key": ED25519})
            .as_object()
            .unwrap()
            .clone();
        assert!(parse(&s).unwrap_err().contains("key_type"));
    }

    #[test]
    fn allocation_requests_are_validated() {
        let pem = crate::credentials::RentalKey::generate()
            .unwrap()
            .public_pem();
        let device = |v: Value| v.as_object().unwrap().clone();
        let mut s = Allocate {
            timeline: 1,
            checking: false,
            public_key: pem,
            device_requirement: device(
                json!({"cpu": {"count": 2}, "gpu": {}, "hard_disk": {"capacity": 1 << 30},
                "ram": {"capacity": 2u64 << 30}}),
            ),
            ..Allocate::default()
        };
        let Intent::Allocate(request) = parse(&s).unwrap() else {
            panic!()
        };
        assert_eq!(
            (request.cpus, request.memory_bytes, request.gpus),
            (2, 2 << 30, 0)
        );
        assert!(!request.testing && request.ssh_key.is_none());

        s.device_requirement =
            device(json!({"cpu": {"count": -1}, "gpu": {}, "hard_disk": {}, "ram": {}}));
        assert!(parse(&s).unwrap_err().contains("cpu.count"));
        s.device_requirement = device(
            json!({"cpu": {"count": 1}, "gpu": {}, "hard_disk": {}, "ram": {"capacity": 1u64 << 60}}),
        );
        assert!(parse(&s).unwrap_err().contains("larger than"));
        s.device_requirement = device(json!({"cpu": {"count": 1}, "gpu": {}, "ram": {}}));
        assert!(parse(&s).unwrap_err().contains("hard_disk is missing"));
        s.device_requirement = device(json!({"cpu": {}, "gpu": {}, "hard_disk": {}, "ram": {}}));
        s.public_key = "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----".into();
        assert!(parse(&s).unwrap_err().starts_with("public_key"));
    }
}
