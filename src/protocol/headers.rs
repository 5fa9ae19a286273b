//! Synapse headers: `name`, `timeout`, the `bt_header_{axon,dendrite}_*` terminal fields,
//! `bt_header_input_obj_*` and `computed_body_hash`.
//!
//! Names are lower-case on the wire both ways (the Python parser matches lower-case prefixes
//! case-sensitively). Values are strings: integers in decimal, floats as Python `str(float)`.

use std::fmt;

use base64::Engine as _;

use super::body_hash::python_float_repr;
use super::synapse::{Synapse, SynapseFields, TerminalInfo};

/// What a request's headers claim, parsed before anything else is trusted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestHeaders {
    pub name: Option<String>,
    pub timeout: f64,
    pub dendrite: TerminalInfo,
    pub axon: TerminalInfo,
    pub computed_body_hash: Option<String>,
}

/// A header that is present but unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderError {
    pub header: String,
    pub reason: String,
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "header {}: {}", self.header, self.reason)
    }
}

impl std::error::Error for HeaderError {}

const TERMINAL_FIELDS: [&str; 10] = [
    "status_code",
    "status_message",
    "process_time",
    "ip",
    "port",
    "version",
    "nonce",
    "uuid",
    "hotkey",
    "signature",
];

impl RequestHeaders {
    /// Parses the synapse headers out of `(name, value)` pairs; unrelated headers are ignored.
    pub fn parse<'a>(
        headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<RequestHeaders, HeaderError> {
        let mut parsed = RequestHeaders {
            timeout: 12.0,
            ..RequestHeaders::default()
        };
        for (name, raw) in headers {
            let Some(target) = classify(name) else {
                continue;
            };
            let value = std::str::from_utf8(raw).map_err(|_| HeaderError {
                header: name.to_owned(),
                reason: "not UTF-8".into(),
            })?;
            match target {
                Target::Name => parsed.name = Some(value.to_owned()),
                Target::Timeout => parsed.timeout = parse_float(name, value)?,
                Target::BodyHash => parsed.computed_body_hash = Some(value.to_owned()),
                Target::Axon(field) => set_terminal(&mut parsed.axon, field, name, value)?,
                Target::Dendrite(field) => set_terminal(&mut parsed.dendrite, field, name, value)?,
            }
        }
        if !(parsed.timeout.is_finite() && parsed.timeout >= 0.0) {
            return Err(HeaderError {
                header: "timeout".into(),
                reason: format!("{} is not a usable timeout", parsed.timeout),
            });
        }
        Ok(parsed)
    }
}

enum Target {
    Name,
    Timeout,
    BodyHash,
    Axon(&'static str),
    Dendrite(&'static str),
}

fn classify(name: &str) -> Option<Target> {
    match name {
        "name" => return Some(Target::Name),
        "timeout" => return Some(Target::Timeout),
        "computed_body_hash" => return Some(Target::BodyHash),
        _ => {}
    }
    let (side, field) = if let Some(field) = name.strip_prefix("bt_header_axon_") {
        (true, field)
    } else {
        (false, name.strip_prefix("bt_header_dendrite_")?)
    };
    let field = TERMINAL_FIELDS.iter().find(|known| **known == field)?;
    Some(if side {
        Target::Axon(field)
    } else {
        Target::Dendrite(field)
    })
}

fn set_terminal(
    info: &mut TerminalInfo,
    field: &str,
    header: &str,
    value: &str,
) -> Result<(), HeaderError> {
    let int = || {
        value.trim().parse::<i64>().map_err(|_| HeaderError {
            header: header.to_owned(),
            reason: format!("{value:?} is not an integer"),
        })
    };
    match field {
        "status_code" => info.status_code = Some(int()?),
        "port" => info.port = Some(int()?),
        "version" => info.version = Some(int()?),
        "nonce" => {
            info.nonce = Some(value.trim().parse::<u64>().map_err(|_| HeaderError {
                header: header.to_owned(),
                reason: format!("{value:?} is not a non-negative integer"),
            })?)
        }
        "process_time" => info.process_time = Some(parse_float(header, value)?),
        "status_message" => info.status_message = Some(value.to_owned()),
        "ip" => info.ip = Some(value.to_owned()),
        "uuid" => info.uuid = Some(value.to_owned()),
        "hotkey" => info.hotkey = Some(value.to_owned()),
        "signature" => info.signature = Some(value.to_owned()),
        _ => {}
    }
    Ok(())
}

fn parse_float(header: &str, value: &str) -> Result<f64, HeaderError> {
    value.trim().parse::<f64>().map_err(|_| HeaderError {
        header: header.to_owned(),
        reason: format!("{value:?} is not a number"),
    })
}

fn terminal_headers(prefix: &str, info: &TerminalInfo, out: &mut Vec<(String, String)>) {
    let mut push = |field: &str, value: Option<String>| {
        if let Some(value) = value {
            out.push((format!("{prefix}{field}"), value));
        }
    };
    push("status_code", info.status_code.map(|v| v.to_string()));
    push("status_message", info.status_message.clone());
    push("process_time", info.process_time.map(python_float_repr));
    push("ip", info.ip.clone());
    push("port", info.port.map(|v| v.to_string()));
    push("version", info.version.map(|v| v.to_string()));
    push("nonce", info.nonce.map(|v| v.to_string()));
    push("uuid", info.uuid.clone());
    push("hotkey", info.hotkey.clone());
    push("signature", info.signature.clone());
}

impl<T: SynapseFields> Synapse<T> {
    /// The headers Python's `Synapse.to_headers()` writes for this synapse, with
    /// `computed_body_hash` set to `body_hash`.
    pub fn to_headers(&self, body_hash: &str) -> Vec<(String, String)> {
        let mut out = vec![
            (
                "name".to_owned(),
                self.name.clone().unwrap_or_else(|| T::NAME.to_owned()),
            ),
            ("timeout".to_owned(), python_float_repr(self.timeout)),
        ];
        terminal_headers("bt_header_axon_", &self.axon, &mut out);
        terminal_headers("bt_header_dendrite_", &self.dendrite, &mut out);
        for (field, empty_json) in T::REQUIRED_FIELDS {
            out.push((
                format!("bt_header_input_obj_{field}"),
                base64::engine::general_purpose::STANDARD.encode(empty_json),
            ));
        }
        out.push(("header_size".to_owned(), self.header_size.to_string()));
        out.push(("total_size".to_owned(), self.total_size.to_string()));
        out.push(("computed_body_hash".to_owned(), body_hash.to_owned()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Allocate;

    fn parse(pairs: &[(&str, &str)]) -> Result<RequestHeaders, HeaderError> {
        RequestHeaders::parse(pairs.iter().map(|(n, v)| (*n, v.as_bytes())))
    }

    #[test]
    fn python_dendrite_headers_parse() {
        let headers = parse(&[
            ("name", "Allocate"),
            ("timeout", "12.0"),
            ("bt_header_axon_ip", "127.0.0.1"),
            ("bt_header_axon_port", "8091"),
            ("bt_header_axon_hotkey", "5Axon"),
            ("bt_header_dendrite_version", "10005000"),
            ("bt_header_dendrite_nonce", "1752076800000000000"),
            (
                "bt_header_dendrite_uuid",
                "5ecbd69c-1cec-11ee-b0dc-e29ce36fec1a",
            ),
            ("bt_header_dendrite_hotkey", "5Caller"),
            ("bt_header_dendrite_signature", "0xabcd"),
            ("computed_body_hash", "a7ff"),
            ("content-type", "application/json"),
            ("bt_header_dendrite_unknown_field", "ignored"),
        ])
        .unwrap();
        assert_eq!(headers.name.as_deref(), Some("Allocate"));
        assert_eq!(headers.timeout, 12.0);
        assert_eq!(headers.axon.port, Some(8091));
        assert_eq!(headers.dendrite.version, Some(10_005_000));
        assert_eq!(headers.dendrite.nonce, Some(1_752_076_800_000_000_000));
        assert_eq!(headers.dendrite.hotkey.as_deref(), Some("5Caller"));
        assert_eq!(headers.computed_body_hash.as_deref(), Some("a7ff"));
    }

    #[test]
    fn malformed_values_name_the_header() {
        for (header, value) in [
            ("bt_header_dendrite_nonce", "-5"),
            ("bt_header_dendrite_nonce", "soon"),
            ("bt_header_axon_port", "80.5"),
            ("timeout", "forever"),
            ("timeout", "-1"),
            ("timeout", "inf"),
        ] {
            let err = parse(&[(header, value)]).unwrap_err();
            assert!(err.to_string().contains(header), "{err}");
        }
        let err = RequestHeaders::parse([("name", &[0xffu8][..])]).unwrap_err();
        assert!(err.reason.contains("UTF-8"));
    }

    #[test]
    fn written_headers_parse_back() {
        let mut synapse = Synapse::new(Allocate::default());
        synapse.timeout = 30.0;
        synapse.dendrite.nonce = Some(42);
        synapse.dendrite.hotkey = Some("5Caller".into());
        synapse.dendrite.version = Some(9_000_000);
        synapse.axon.status_code = Some(200);
        synapse.axon.process_time = Some(0.25);
        let headers = synapse.to_headers("a7ff");
        assert!(headers.iter().all(|(n, _)| n == &n.to_lowercase()));
        assert!(headers.contains(&("timeout".into(), "30.0".into())));
        let parsed =
            RequestHeaders::parse(headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes()))).unwrap();
        assert_eq!(parsed.dendrite, synapse.dendrite);
        assert_eq!(parsed.axon, synapse.axon);
        assert_eq!(parsed.timeout, 30.0);
    }
}
