//! The SN27 reference's live configuration (`sn27-v2.md` §5.4), followed only when the
//! operator sets `[validator] live_config_url`: v2.2.1 validators read `GET /config` from the
//! subnet owner's server every minute, `{"config": {...}}`, whose sections replace those of
//! their YAML. A validator that wants the same weights as theirs follows the same document.
//!
//! What is taken, each section present replacing the configuration's values wholesale as the
//! reference replaces its YAML sections (a key a section leaves out takes the reference's code
//! default, as there):
//! - `gpu_performance`: the identification table (`GPU_TFLOPS_FP16` in its order, with
//!   `GPU_TFLOPS_FP32` and `GPU_AVRAM`), `gpu_scores` (a model without one scores 0) and
//!   `gpu_tolerance_pairs` (none without it);
//! - `subnet_config`: `total_miner_emission` (clamped to 0–1 as the reference does; 0 without
//!   it) and `gpu_weights` (a model without one weighs 0);
//! - `merkle_proof`: `time_tolerance` (default 5 s), `pog_retry_limit` (30),
//!   `pog_retry_interval` (75 s) and `max_random_delay` (1 200 s).
//!
//! Everything else (`gpu_time_models`, which only the Sybil test uses, the script path, the
//! worker-pool size, which the reference reads at start only) is named in the log as unused.
//! A document that does not parse, or whose values do not make a valid configuration, is
//! refused as a whole with the reason and the previous values stay.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::config::{Config, GpuModel};

/// The reference's request timeout.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// The largest document read; the reference's is a few kilobytes.
const MAX_BODY: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum LiveConfigError {
    #[error("{url}: {reason}")]
    Fetch { url: String, reason: String },
    #[error("not a live configuration: {0}")]
    Invalid(String),
}

fn invalid(path: &str, reason: impl std::fmt::Display) -> LiveConfigError {
    LiveConfigError::Invalid(format!("{path}: {reason}"))
}

/// A parsed live configuration: the sections this validator follows.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveConfig {
    performance: Option<Performance>,
    subnet: Option<Subnet>,
    proof: Option<Proof>,
    /// Keys of the document this validator does not use, for the log.
    pub unused: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
struct Performance {
    /// name, FP16, FP32, VRAM, score, in identification order.
    table: Vec<(String, f64, f64, f64, f64)>,
    tolerance_pairs: Vec<[String; 2]>,
}

#[derive(Debug, Clone, PartialEq)]
struct Subnet {
    total_miner_emission: f64,
    gpu_weights: Vec<(String, f64)>,
}

#[derive(Debug, Clone, PartialEq)]
struct Proof {
    time_tolerance_secs: u64,
    retry_limit: u32,
    retry_interval_secs: u64,
    max_random_delay_secs: u64,
}

impl Default for Proof {
    /// The reference validator's code defaults for keys its `merkle_proof` leaves out.
    fn default() -> Self {
        Proof {
            time_tolerance_secs: 5,
            retry_limit: 30,
            retry_interval_secs: 75,
            max_random_delay_secs: 1200,
        }
    }
}

impl LiveConfig {
    /// Reads a `/config` answer.
    pub fn parse(body: &[u8]) -> Result<LiveConfig, LiveConfigError> {
        let document: Value = serde_json::from_slice(body)
            .map_err(|e| LiveConfigError::Invalid(format!("not JSON: {e}")))?;
        let config = document
            .get("config")
            .and_then(Value::as_object)
            .ok_or_else(|| invalid("config", "missing, or not an object"))?;
        let mut unused = Vec::new();
        let mut live = LiveConfig {
            performance: None,
            subnet: None,
            proof: None,
            unused: Vec::new(),
        };
        for (key, value) in config {
            match key.as_str() {
                "gpu_performance" => live.performance = Some(performance(value, &mut unused)?),
                "subnet_config" => live.subnet = Some(subnet(value, &mut unused)?),
                "merkle_proof" => live.proof = Some(proof(value, &mut unused)?),
                other => unused.push(other.to_string()),
            }
        }
        live.unused = unused;
        Ok(live)
    }

    /// `config` with this live configuration over it; an error when the result would not be
    /// a valid configuration (then nothing should change).
    pub fn apply(&self, config: &Config) -> Result<Config, LiveConfigError> {
        let mut out = config.clone();
        let scoring = &mut out.scoring;
        if let Some(performance) = &self.performance {
            let weight_of = |name: &str| {
                scoring
                    .gpu
                    .iter()
                    .find(|m| m.name == name)
                    .map_or(0.0, |m| m.weight)
            };
            scoring.gpu = performance
                .table
                .iter()
                .map(|(name, fp16, fp32, vram, score)| GpuModel {
                    name: name.clone(),
                    fp16_tflops: *fp16,
                    fp32_tflops: *fp32,
                    vram_gb: *vram,
                    score: *score,
                    weight: weight_of(name),
                })
                .collect();
            scoring.tolerance_pairs = performance.tolerance_pairs.clone();
        }
        if let Some(subnet) = &self.subnet {
            scoring.total_miner_emission = subnet.total_miner_emission.clamp(0.0, 1.0);
            let weights = &subnet.gpu_weights;
            // The reference sums every configured weight; one for a model it cannot identify
            // would change every cap, and this table has no row to hold it.
            if let Some((name, _)) = weights
                .iter()
                .find(|(name, w)| *w > 0.0 && !scoring.gpu.iter().any(|m| &m.name == name))
            {
                return Err(invalid(
                    "subnet_config.gpu_weights",
                    format!("weighs {name}, which the identification table lacks"),
                ));
            }
            for model in &mut scoring.gpu {
                model.weight = weights
                    .iter()
                    .find(|(name, _)| *name == model.name)
                    .map_or(0.0, |(_, w)| *w);
            }
        }
        if let Some(proof) = &self.proof {
            let pog = &mut out.validator.pog;
            pog.time_tolerance_secs = proof.time_tolerance_secs;
            pog.retry_limit = proof.retry_limit;
            pog.retry_interval_secs = proof.retry_interval_secs;
            pog.max_random_delay_secs = proof.max_random_delay_secs;
        }
        if let Some(problem) = crate::config::problems(&out).into_iter().next() {
            return Err(LiveConfigError::Invalid(format!(
                "the configuration it makes is not valid: {problem}"
            )));
        }
        Ok(out)
    }
}

fn object<'a>(value: &'a Value, path: &str) -> Result<&'a Map<String, Value>, LiveConfigError> {
    value
        .as_object()
        .ok_or_else(|| invalid(path, "not an object"))
}

fn number(value: &Value, path: &str) -> Result<f64, LiveConfigError> {
    // The reference's YAML and JSON carry numbers; a string is a mistake, not a number.
    match value.as_f64() {
        Some(n) if n.is_finite() && n >= 0.0 => Ok(n),
        _ => Err(invalid(
            path,
            format!("{value} is not a non-negative number"),
        )),
    }
}

/// A whole number of seconds or retries (the reference accepts floats and truncates none of
/// them; a fraction here is refused rather than guessed).
fn whole(value: &Value, path: &str) -> Result<u64, LiveConfigError> {
    let n = number(value, path)?;
    if n.fract() != 0.0 || n > u32::MAX as f64 {
        return Err(invalid(path, format!("{value} is not a whole number")));
    }
    Ok(n as u64)
}

/// A `{model: number}` map, in the document's order.
fn numbers(value: &Value, path: &str) -> Result<Vec<(String, f64)>, LiveConfigError> {
    object(value, path)?
        .iter()
        .map(|(name, v)| {
            if name.trim().is_empty() {
                return Err(invalid(path, "a model name is empty"));
            }
            Ok((name.clone(), number(v, &format!("{path}.{name}"))?))
        })
        .collect()
}

fn performance(value: &Value, unused: &mut Vec<String>) -> Result<Performance, LiveConfigError> {
    let section = object(value, "gpu_performance")?;
    let table_of = |key: &str| -> Result<Vec<(String, f64)>, LiveConfigError> {
        let path = format!("gpu_performance.{key}");
        numbers(
            section.get(key).ok_or_else(|| invalid(&path, "missing"))?,
            &path,
        )
    };
    let fp16 = table_of("GPU_TFLOPS_FP16")?;
    let fp32 = table_of("GPU_TFLOPS_FP32")?;
    let vram = table_of("GPU_AVRAM")?;
    let scores = match section.get("gpu_scores") {
        Some(v) => numbers(v, "gpu_performance.gpu_scores")?,
        None => Vec::new(),
    };
    let find =
        |list: &[(String, f64)], name: &str| list.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
    let mut table = Vec::new();
    for (name, fp16) in &fp16 {
        let path = |key: &str| format!("gpu_performance.{key}.{name}");
        let fp32 = find(&fp32, name).ok_or_else(|| invalid(&path("GPU_TFLOPS_FP32"), "missing"))?;
        let vram = find(&vram, name).ok_or_else(|| invalid(&path("GPU_AVRAM"), "missing"))?;
        if *fp16 == 0.0 || fp32 == 0.0 || vram == 0.0 {
            return Err(invalid(
                &format!("gpu_performance.{name}"),
                "TFLOPS and memory must be above 0",
            ));
        }
        let score = find(&scores, name).unwrap_or(0.0);
        table.push((name.clone(), *fp16, fp32, vram, score));
    }
    if table.is_empty() {
        return Err(invalid("gpu_performance.GPU_TFLOPS_FP16", "names no model"));
    }
    let mut tolerance_pairs: Vec<[String; 2]> = Vec::new();
    if let Some(pairs) = section.get("gpu_tolerance_pairs") {
        for (a, b) in object(pairs, "gpu_performance.gpu_tolerance_pairs")? {
            let b = b.as_str().ok_or_else(|| {
                invalid(
                    &format!("gpu_performance.gpu_tolerance_pairs.{a}"),
                    "not a model name",
                )
            })?;
            // The reference reads the map in both directions; one pair each way is one pair.
            let known = tolerance_pairs
                .iter()
                .any(|[x, y]| (x == a && y == b) || (x == b && y == a));
            if !known {
                tolerance_pairs.push([a.clone(), b.to_string()]);
            }
        }
    }
    for key in section.keys() {
        if !matches!(
            key.as_str(),
            "GPU_TFLOPS_FP16"
                | "GPU_TFLOPS_FP32"
                | "GPU_AVRAM"
                | "gpu_scores"
                | "gpu_tolerance_pairs"
        ) {
            unused.push(format!("gpu_performance.{key}"));
        }
    }
    Ok(Performance {
        table,
        tolerance_pairs,
    })
}

fn subnet(value: &Value, unused: &mut Vec<String>) -> Result<Subnet, LiveConfigError> {
    let section = object(value, "subnet_config")?;
    let mut out = Subnet {
        total_miner_emission: 0.0,
        gpu_weights: Vec::new(),
    };
    for (key, value) in section {
        match key.as_str() {
            "total_miner_emission" => {
                // The reference clamps to 0–1; a negative share is clamped as it does.
                let share = value
                    .as_f64()
                    .filter(|n| n.is_finite())
                    .ok_or_else(|| invalid("subnet_config.total_miner_emission", "not a number"))?;
                out.total_miner_emission = share;
            }
            "gpu_weights" => {
                out.gpu_weights = numbers(value, "subnet_config.gpu_weights")?;
            }
            other => unused.push(format!("subnet_config.{other}")),
        }
    }
    Ok(out)
}

fn proof(value: &Value, unused: &mut Vec<String>) -> Result<Proof, LiveConfigError> {
    let section = object(value, "merkle_proof")?;
    let mut out = Proof::default();
    for (key, value) in section {
        let path = format!("merkle_proof.{key}");
        match key.as_str() {
            "time_tolerance" => out.time_tolerance_secs = whole(value, &path)?,
            "pog_retry_limit" => out.retry_limit = whole(value, &path)? as u32,
            "pog_retry_interval" => out.retry_interval_secs = whole(value, &path)?,
            "max_random_delay" => out.max_random_delay_secs = whole(value, &path)?,
            _ => unused.push(path),
        }
    }
    Ok(out)
}

/// Reads `url` (`http://host[:port]/path`) within [`TIMEOUT`].
pub async fn fetch(url: &str) -> Result<LiveConfig, LiveConfigError> {
    let failed = |reason: String| LiveConfigError::Fetch {
        url: url.to_string(),
        reason,
    };
    let body = tokio::time::timeout(TIMEOUT, get(url))
        .await
        .map_err(|_| failed(format!("no answer within {} s", TIMEOUT.as_secs())))?
        .map_err(failed)?;
    LiveConfig::parse(&body)
}

/// The body of a `200` answer to `GET url`, at most [`MAX_BODY`] bytes.
async fn get(url: &str) -> Result<Vec<u8>, String> {
    use http_body_util::{BodyExt, Empty, Limited};
    let (host, port, path) = crate::config::http_url(url)?;
    let stream = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| format!("connecting: {e}"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP: {e}"))?;
    let connection = tokio::spawn(connection);
    let request = hyper::Request::get(path)
        .header(
            "host",
            if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            },
        )
        .header("accept", "application/json")
        .body(Empty::<bytes::Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    let status = response.status();
    let body = Limited::new(response.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| format!("reading the answer: {e}"))?
        .to_bytes();
    connection.abort();
    if status != hyper::StatusCode::OK {
        return Err(format!("HTTP {status}"));
    }
    Ok(body.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Role, ScoringConfig, ScoringProfile};

    fn v2() -> Config {
        Config {
            role: Some(Role::Validator),
            scoring: ScoringConfig::for_profile(ScoringProfile::Sn27V221),
            ..Config::default()
        }
    }

    /// The reference's own YAML sections as its server would send them (a cut of them).
    fn document() -> Value {
        serde_json::json!({"config": {
            "gpu_performance": {
                "GPU_TFLOPS_FP16": {"NVIDIA H200": 610, "NVIDIA L4": 51, "NVIDIA B200": 1205},
                "GPU_TFLOPS_FP32": {"NVIDIA B200": 67.2, "NVIDIA H200": 49.6, "NVIDIA L4": 9},
                "GPU_AVRAM": {"NVIDIA L4": 8.59, "NVIDIA B200": 68.72, "NVIDIA H200": 68.72},
                "gpu_tolerance_pairs": {"NVIDIA L4": "NVIDIA L4 PCIe", "NVIDIA L4 PCIe": "NVIDIA L4"},
                "gpu_scores": {"NVIDIA B200": 5.0, "NVIDIA H200": 4.0}
            },
            "gpu_time_models": {"NVIDIA H200": {"a0": 32.55, "a1": 5.28, "a2": -0.23, "tol": 1.3}},
            "subnet_config": {"total_miner_emission": 0.1, "blocks_per_epoch": 360,
                              "gpu_weights": {"NVIDIA B200": 30, "NVIDIA H200": 20}},
            "merkle_proof": {"time_tolerance": 7, "pog_retry_limit": 3, "max_workers": 64,
                             "miner_script_path": "neurons/Validator/miner_script_m_merkletree.py"}
        }})
    }

    fn parse(value: &Value) -> Result<LiveConfig, LiveConfigError> {
        LiveConfig::parse(value.to_string().as_bytes())
    }

    #[test]
    fn the_sections_replace_the_table_weights_and_proof_settings() {
        let live = parse(&document()).unwrap();
        let config = live.apply(&v2()).unwrap();
        let rows: Vec<(&str, f64, f64)> = config
            .scoring
            .gpu
            .iter()
            .map(|m| (m.name.as_str(), m.score, m.weight))
            .collect();
        assert_eq!(
            rows,
            // The document's order, which is the identification order.
            [
                ("NVIDIA H200", 4.0, 20.0),
                ("NVIDIA L4", 0.0, 0.0),
                ("NVIDIA B200", 5.0, 30.0)
            ]
        );
        assert_eq!(config.scoring.gpu[1].fp32_tflops, 9.0);
        assert_eq!(
            config.scoring.tolerance_pairs,
            [["NVIDIA L4".to_string(), "NVIDIA L4 PCIe".to_string()]]
        );
        assert_eq!(config.scoring.total_miner_emission, 0.1);
        assert_eq!(config.validator.pog.time_tolerance_secs, 7);
        assert_eq!(config.validator.pog.retry_limit, 3);
        // A key the section leaves out takes the reference's code default, not the file's.
        assert_eq!(config.validator.pog.retry_interval_secs, 75);
        assert_eq!(config.validator.pog.max_random_delay_secs, 1200);
        assert_eq!(
            live.unused,
            [
                "gpu_time_models",
                "subnet_config.blocks_per_epoch",
                "merkle_proof.max_workers",
                "merkle_proof.miner_script_path"
            ]
        );
    }

    #[test]
    fn a_section_without_a_key_takes_the_reference_default() {
        let live = parse(&serde_json::json!({"config": {"subnet_config": {
            "gpu_weights": {"NVIDIA H200": 1}}}}))
        .unwrap();
        // `total_miner_emission` left out: the reference's 0.0, whatever the file says.
        assert_eq!(live.apply(&v2()).unwrap().scoring.total_miner_emission, 0.0);
    }

    #[test]
    fn one_section_alone_changes_only_what_it_holds() {
        let live = parse(&serde_json::json!({"config": {"subnet_config": {
            "total_miner_emission": 1.5, "gpu_weights": {"NVIDIA H200": 1}}}}))
        .unwrap();
        let base = v2();
        let config = live.apply(&base).unwrap();
        // Clamped to 1 as the reference clamps it.
        assert_eq!(config.scoring.total_miner_emission, 1.0);
        for (model, before) in config.scoring.gpu.iter().zip(&base.scoring.gpu) {
            assert_eq!(model.name, before.name);
            assert_eq!(model.score, before.score);
            let expected = if model.name == "NVIDIA H200" {
                1.0
            } else {
                0.0
            };
            assert_eq!(model.weight, expected, "{}", model.name);
        }
        assert_eq!(config.scoring.tolerance_pairs, base.scoring.tolerance_pairs);
    }

    #[test]
    fn bad_documents_are_refused_by_name() {
        let cases = [
            (serde_json::json!([1, 2]), "config: missing"),
            (serde_json::json!({"config": 3}), "config: missing"),
            (
                serde_json::json!({"config": {"subnet_config": {"total_miner_emission": "0.05"}}}),
                "subnet_config.total_miner_emission: not a number",
            ),
            (
                serde_json::json!({"config": {"merkle_proof": {"time_tolerance": -1}}}),
                "merkle_proof.time_tolerance: -1 is not a non-negative number",
            ),
            (
                serde_json::json!({"config": {"merkle_proof": {"pog_retry_limit": 2.5}}}),
                "merkle_proof.pog_retry_limit: 2.5 is not a whole number",
            ),
            (
                serde_json::json!({"config": {"gpu_performance": {
                    "GPU_TFLOPS_FP16": {"NVIDIA H200": 610},
                    "GPU_TFLOPS_FP32": {"NVIDIA H200": 49.6}}}}),
                "gpu_performance.GPU_AVRAM: missing",
            ),
            (
                serde_json::json!({"config": {"gpu_performance": {
                    "GPU_TFLOPS_FP16": {"NVIDIA H200": 610},
                    "GPU_TFLOPS_FP32": {},
                    "GPU_AVRAM": {"NVIDIA H200": 68.72}}}}),
                "gpu_performance.GPU_TFLOPS_FP32.NVIDIA H200: missing",
            ),
        ];
        for (document, expected) in cases {
            let error = parse(&document).unwrap_err().to_string();
            assert!(error.contains(expected), "{document}: {error}");
        }
        assert!(LiveConfig::parse(b"<html>")
            .unwrap_err()
            .to_string()
            .contains("not JSON"));
    }

    #[test]
    fn a_weight_for_a_model_the_table_lacks_is_refused() {
        let live = parse(&serde_json::json!({"config": {"subnet_config": {
            "gpu_weights": {"NVIDIA X1": 5}}}}))
        .unwrap();
        let error = live.apply(&v2()).unwrap_err().to_string();
        assert!(
            error.contains("subnet_config.gpu_weights: weighs NVIDIA X1"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_document_is_read_over_http_and_errors_name_the_url() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let body = document().to_string();
        tokio::spawn(async move {
            for status in ["200 OK", "503 Service Unavailable"] {
                let (mut stream, _) = listener.accept().await.unwrap();
                let mut request = [0u8; 1024];
                let n = stream.read(&mut request).await.unwrap();
                assert!(String::from_utf8_lossy(&request[..n]).starts_with("GET /config "));
                let answer = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n\
                     content-length: {}\r\n\r\n{body}",
                    body.len()
                );
                stream.write_all(answer.as_bytes()).await.unwrap();
            }
        });
        let url = format!("http://{addr}/config");
        let live = fetch(&url).await.unwrap();
        assert_eq!(live, parse(&document()).unwrap());
        let error = fetch(&url).await.unwrap_err().to_string();
        assert!(
            error.contains(&url) && error.contains("HTTP 503"),
            "{error}"
        );
        let closed = format!("http://127.0.0.1:{}/config", free_port());
        let error = fetch(&closed).await.unwrap_err().to_string();
        assert!(error.contains("connecting"), "{error}");
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }
}
