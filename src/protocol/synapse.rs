//! Synapse bodies: the base fields every synapse carries and the SN27 payloads.
//!
//! Field names, JSON types and defaults are those of the Python classes
//! (`compute/protocol.py` of the reference, `bittensor/core/synapse.py`), because a Python peer
//! validates what we send against them: a missing field reverts to its default there, a wrongly
//! typed one fails the whole call.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{json, Map, Value};

/// One side of a call as the synapse records it (`dendrite` = caller, `axon` = server).
/// Every field is optional; absent ones are omitted from headers and `null` in bodies.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TerminalInfo {
    pub status_code: Option<i64>,
    pub status_message: Option<String>,
    pub process_time: Option<f64>,
    pub ip: Option<String>,
    pub port: Option<i64>,
    pub version: Option<i64>,
    pub nonce: Option<u64>,
    pub uuid: Option<String>,
    pub hotkey: Option<String>,
    pub signature: Option<String>,
}

/// The payload of one synapse class.
pub trait SynapseFields:
    Serialize + DeserializeOwned + Default + Clone + Send + Sync + 'static
{
    /// The Python class name, which is also the request path.
    const NAME: &'static str;
    /// `required_hash_fields` of the class, in order; SN27 classes have none.
    const HASH_FIELDS: &'static [&'static str] = &[];
    /// Fields without a default, with the JSON of an empty value of their type; the dendrite
    /// sends them as `bt_header_input_obj_<field>`. SN27 classes have none.
    const REQUIRED_FIELDS: &'static [(&'static str, &'static str)] = &[];
}

/// A whole synapse: the class payload plus the base fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Synapse<T> {
    #[serde(flatten)]
    pub fields: T,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "default_timeout", deserialize_with = "timeout_or_default")]
    pub timeout: f64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub total_size: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub header_size: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub dendrite: TerminalInfo,
    #[serde(default, deserialize_with = "null_as_default")]
    pub axon: TerminalInfo,
    /// Always `""` in bodies; the real value travels in the header.
    #[serde(default, deserialize_with = "null_as_default")]
    pub computed_body_hash: String,
}

/// Python's `Synapse.timeout` default.
fn default_timeout() -> f64 {
    12.0
}

fn timeout_or_default<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or_else(default_timeout))
}

fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

impl<T: SynapseFields> Synapse<T> {
    pub fn new(fields: T) -> Self {
        Synapse {
            fields,
            name: Some(T::NAME.to_owned()),
            timeout: default_timeout(),
            total_size: 0,
            header_size: 0,
            dendrite: TerminalInfo::default(),
            axon: TerminalInfo::default(),
            computed_body_hash: String::new(),
        }
    }

    /// The payload fields as a JSON object (what the body hash is computed over).
    pub fn fields_json(&self) -> Map<String, Value> {
        match serde_json::to_value(&self.fields) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        }
    }
}

/// `/Synapse`: the ping route every axon has; no payload.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ping {}

impl SynapseFields for Ping {
    const NAME: &'static str = "Synapse";
}

/// `Allocate` (`sn27-protocol.md` §2.1): rent, check, act on and release a container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Allocate {
    /// Days; `> 0` allocates or checks availability, `≤ 0` deallocates or checks ownership.
    pub timeline: i64,
    pub device_requirement: Map<String, Value>,
    /// `true` only asks; `false` acts.
    pub checking: bool,
    /// Written by the miner: `status`, `port`, and `info` (the encrypted credentials).
    pub output: Map<String, Value>,
    /// The caller's RSA public key (PEM).
    pub public_key: String,
    pub docker_requirement: Map<String, Value>,
    /// `true`: a lifecycle action (`docker_action`) on the existing container.
    pub docker_change: bool,
    pub docker_action: Map<String, Value>,
}

impl Default for Allocate {
    fn default() -> Self {
        let object = |value: Value| match value {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        Allocate {
            timeline: 0,
            device_requirement: Map::new(),
            checking: true,
            output: Map::new(),
            public_key: String::new(),
            docker_requirement: object(json!({
                "base_image": "ubuntu",
                "ssh_key": "",
                "ssh_port": 4444,
                "volume_path": "/tmp",
                "dockerfile": "",
            })),
            docker_change: false,
            docker_action: object(json!({"action": "", "ssh_key": "", "key_type": ""})),
        }
    }
}

impl SynapseFields for Allocate {
    const NAME: &'static str = "Allocate";
}

/// `Challenge` (§2.4): the legacy proof-of-work synapse; miners answer it unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Challenge {
    pub challenge_hash: String,
    pub challenge_salt: String,
    pub challenge_mode: String,
    pub challenge_chars: String,
    pub challenge_mask: String,
    pub challenge_difficulty: i64,
    pub output: Map<String, Value>,
}

impl Default for Challenge {
    fn default() -> Self {
        Challenge {
            challenge_hash: String::new(),
            challenge_salt: String::new(),
            challenge_mode: String::new(),
            challenge_chars: String::new(),
            challenge_mask: String::new(),
            challenge_difficulty: 7,
            output: Map::new(),
        }
    }
}

impl SynapseFields for Challenge {
    const NAME: &'static str = "Challenge";
}

/// `Specs` (§2.5): legacy; defined for clients, never served by a miner.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Specs {
    pub specs_input: String,
    pub specs_output: String,
}

impl SynapseFields for Specs {
    const NAME: &'static str = "Specs";
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The body a Python 10.5 dendrite sends for `Allocate(timeline=1, checking=True)`.
    const PYTHON_BODY: &str = r#"{"timeline": 1, "device_requirement": {}, "checking": true,
        "output": {}, "public_key": "", "docker_requirement": {"base_image": "ubuntu",
        "ssh_key": "", "ssh_port": 4444, "volume_path": "/tmp", "dockerfile": ""},
        "docker_change": false, "docker_action": {"action": "", "ssh_key": "", "key_type": ""},
        "name": "Allocate", "timeout": 12.0, "total_size": 0, "header_size": 0,
        "dendrite": {"status_code": null, "status_message": null, "process_time": null,
        "ip": null, "port": null, "version": null, "nonce": null, "uuid": null,
        "hotkey": null, "signature": null}, "axon": {"status_code": null, "status_message": null,
        "process_time": null, "ip": null, "port": null, "version": null, "nonce": null,
        "uuid": null, "hotkey": null, "signature": null}, "computed_body_hash": ""}"#;

    #[test]
    fn python_body_parses_and_round_trips() {
        let synapse: Synapse<Allocate> = serde_json::from_str(PYTHON_BODY).unwrap();
        assert_eq!(synapse.fields.timeline, 1);
        assert!(synapse.fields.checking);
        assert_eq!(synapse.name.as_deref(), Some("Allocate"));
        let again: Synapse<Allocate> =
            serde_json::from_str(&serde_json::to_string(&synapse).unwrap()).unwrap();
        assert_eq!(again, synapse);
    }

    #[test]
    fn missing_fields_take_python_defaults() {
        let synapse: Synapse<Allocate> = serde_json::from_str(r#"{"timeline": 2}"#).unwrap();
        assert!(synapse.fields.checking, "checking defaults to true");
        assert_eq!(synapse.fields.docker_requirement["ssh_port"], 4444);
        assert_eq!(synapse.timeout, 12.0);
        let nulls: Synapse<Challenge> =
            serde_json::from_str(r#"{"timeout": null, "dendrite": null}"#).unwrap();
        assert_eq!(nulls.fields.challenge_difficulty, 7);
        assert_eq!(nulls.timeout, 12.0);
    }

    #[test]
    fn wrong_types_are_rejected() {
        for body in [
            r#"{"timeline": "soon"}"#,
            r#"{"checking": 1}"#,
            r#"{"output": []}"#,
            r#"{"timeline": null}"#,
        ] {
            assert!(
                serde_json::from_str::<Synapse<Allocate>>(body).is_err(),
                "{body}"
            );
        }
    }

    /// Fuzz finding: a number that only fits a float (here a 55-digit integer) must read back
    /// as the same float, so that a body we write reads back to itself and a peer's value is
    /// never changed in transit.
    #[test]
    fn large_numbers_round_trip_exactly() {
        for number in [
            "1222222222222222222222222222222222222222222222222222222",
            "1.222222222222222e+54",
            "5.5555111111111095e+137",
            "8.888888888888891e+85",
            "0.1",
            "2.2250738585072014e-308",
        ] {
            let body = format!(r#"{{"output": {{"x": {number}}}}}"#);
            let first: Synapse<Allocate> = serde_json::from_str(&body).unwrap();
            let written = serde_json::to_string(&first).unwrap();
            let second: Synapse<Allocate> = serde_json::from_str(&written).unwrap();
            assert_eq!(serde_json::to_string(&second).unwrap(), written, "{number}");
            let value = first.fields.output["x"].as_f64().unwrap();
            assert_eq!(value, number.parse::<f64>().unwrap(), "{number}");
        }
    }

    #[test]
    fn serialized_body_has_every_python_field() {
        let body = serde_json::to_value(Synapse::new(Allocate::default())).unwrap();
        for field in [
            "timeline",
            "device_requirement",
            "checking",
            "output",
            "public_key",
            "docker_requirement",
            "docker_change",
            "docker_action",
            "name",
            "timeout",
            "total_size",
            "header_size",
            "dendrite",
            "axon",
            "computed_body_hash",
        ] {
            assert!(body.get(field).is_some(), "{field}");
        }
    }
}
