//! Strict parsers for the JSON our PoG worker (`worker/sn27_pog_worker.py`) prints and
//! writes; the worker's docstring is the protocol's documentation.
//!
//! The worker runs inside a miner's container, under the miner's Python, so everything it
//! prints is untrusted: a dishonest miner can replace the interpreter or the script. Every
//! parser here therefore bounds the input size, refuses unknown fields, checks the
//! protocol version first (so a different worker fails with a clear message rather than a
//! schema error), bounds every count, length and string, and turns hex into exact bytes.
//! Floats of opened rows travel as hex of their little-endian bit patterns, so a row is
//! hashed exactly as the worker hashed it.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use thiserror::Error;

use crate::pog::identify::Benchmark;
use crate::pog::merkle::{proof_len, Node};

/// Version of the worker's JSON protocol this crate reads; every output carries it.
pub const PROTOCOL_VERSION: u32 = 1;
/// Most GPUs a worker may report (and most GPU entries in any output).
pub const MAX_GPUS: usize = 64;
/// Longest GPU name, in characters.
pub const MAX_NAME_CHARS: usize = 256;
/// Longest output directory or file path, in characters.
pub const MAX_PATH_CHARS: usize = 256;
/// Largest Merkle-round matrix side accepted.
pub const MAX_N: u64 = 200_000;
/// Largest benchmark matrix side accepted.
pub const MAX_BENCH_SIDE: u64 = 1_000_000;
/// Largest VRAM estimate accepted, in GB.
pub const MAX_VRAM_GB: f64 = 1e6;
/// Most opened rows in one responses file.
pub const MAX_RESPONSES: usize = 256;
/// Size limit of the one-line outputs (gpu_info, benchmark, compute, proof).
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// Size limit of a responses file (about 8·n bytes per opened row, so a validator keeps
/// `challenges · 8n` well below it).
pub const MAX_RESPONSES_BYTES: usize = 256 << 20;
/// Longest worker error message kept, in characters.
pub const MAX_ERROR_CHARS: usize = 1024;
/// Prefix of the worker's private output directory name.
pub const DIR_PREFIX: &str = "sn27-pog-";

/// Why a worker output was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OutputError {
    /// The text is larger than the limit for its kind.
    #[error("worker {what} output is {found} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// Which output.
        what: &'static str,
        /// The limit in bytes.
        limit: usize,
        /// The size received.
        found: usize,
    },
    /// Not JSON, or JSON of the wrong shape (unknown or missing field, wrong type).
    #[error("worker {what} output is not valid: {detail}")]
    Json {
        /// Which output.
        what: &'static str,
        /// serde_json's description, which names the field and position.
        detail: String,
    },
    /// No `protocol` field: not our worker (perhaps the reference script).
    #[error("worker output has no `protocol` field; it was not printed by the sn27 PoG worker")]
    MissingProtocol,
    /// A `protocol` other than [`PROTOCOL_VERSION`].
    #[error("worker protocol version {found}, expected {PROTOCOL_VERSION}")]
    ProtocolVersion {
        /// The value found, as JSON text (cut to 64 characters).
        found: String,
    },
    /// The worker failed and said why.
    #[error("worker reported an error: {message}")]
    Worker {
        /// Its message, cut to [`MAX_ERROR_CHARS`] with control characters replaced.
        message: String,
    },
    /// Valid output, but of another mode.
    #[error("worker output is for mode {found:?}, expected {expected:?}")]
    WrongMode {
        /// The mode the caller parses.
        expected: &'static str,
        /// The mode found (cut to 64 characters).
        found: String,
    },
    /// A field has a value outside what the protocol allows.
    #[error("worker output field `{field}`: {problem}")]
    Field {
        /// Path of the field, e.g. `responses[2].proof[4]`.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
}

fn field_err(field: impl Into<String>, problem: impl Into<String>) -> OutputError {
    OutputError::Field {
        field: field.into(),
        problem: problem.into(),
    }
}

fn shorten(s: &str, max: usize) -> String {
    s.chars()
        .take(max)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// The fields every output carries, read leniently first so that version and error
/// reports win over schema complaints.
#[derive(Deserialize)]
struct Envelope {
    protocol: Option<serde_json::Value>,
    mode: Option<serde_json::Value>,
    error: Option<serde_json::Value>,
}

/// Size check, envelope check, then the strict parse into `R`.
fn parse_strict<R: DeserializeOwned>(
    text: &str,
    what: &'static str,
    mode: &'static str,
    limit: usize,
) -> Result<R, OutputError> {
    if text.len() > limit {
        return Err(OutputError::TooLarge {
            what,
            limit,
            found: text.len(),
        });
    }
    let json_err = |e: serde_json::Error| OutputError::Json {
        what,
        detail: e.to_string(),
    };
    let envelope: Envelope = serde_json::from_str(text).map_err(json_err)?;
    let protocol = envelope.protocol.ok_or(OutputError::MissingProtocol)?;
    if protocol.as_u64() != Some(u64::from(PROTOCOL_VERSION)) {
        return Err(OutputError::ProtocolVersion {
            found: shorten(&protocol.to_string(), 64),
        });
    }
    if let Some(error) = envelope.error {
        let message = match error {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        return Err(OutputError::Worker {
            message: shorten(&message, MAX_ERROR_CHARS),
        });
    }
    match envelope.mode {
        Some(serde_json::Value::String(found)) if found == mode => {}
        Some(other) => {
            let found = match other {
                serde_json::Value::String(s) => s,
                v => v.to_string(),
            };
            return Err(OutputError::WrongMode {
                expected: mode,
                found: shorten(&found, 64),
            });
        }
        None => return Err(field_err("mode", "missing")),
    }
    serde_json::from_str(text).map_err(json_err)
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Decodes exactly 64 lower-case hex characters into a node.
fn node_from_hex(field: impl Fn() -> String, s: &str) -> Result<Node, OutputError> {
    if s.len() != 64 {
        return Err(field_err(
            field(),
            format!("has {} characters, expected 64 lower-case hex", s.len()),
        ));
    }
    if !is_lower_hex(s) {
        return Err(field_err(field(), "is not lower-case hex"));
    }
    let mut node = [0u8; 32];
    hex::decode_to_slice(s, &mut node).map_err(|e| field_err(field(), e.to_string()))?;
    Ok(node)
}

/// Decodes `8n` lower-case hex characters into `n` little-endian f32 values.
fn row_from_hex(field: &str, s: &str, n: usize) -> Result<Vec<f32>, OutputError> {
    if s.len() != 8 * n {
        return Err(field_err(
            field,
            format!(
                "has {} hex characters, expected 8n = {} (n = {n} f32 values)",
                s.len(),
                8 * n
            ),
        ));
    }
    if !is_lower_hex(s) {
        return Err(field_err(field, "is not lower-case hex"));
    }
    let bytes = hex::decode(s).map_err(|e| field_err(field, e.to_string()))?;
    Ok(bytes
        .chunks_exact(4)
        .map(|w| f32::from_le_bytes([w[0], w[1], w[2], w[3]]))
        .collect())
}

fn check_count(field: &str, found: usize, min: usize, max: usize) -> Result<(), OutputError> {
    if (min..=max).contains(&found) {
        Ok(())
    } else {
        Err(field_err(
            field,
            format!("has {found} entries, expected {min} to {max}"),
        ))
    }
}

fn check_positive(field: &str, v: f64, max: f64) -> Result<(), OutputError> {
    if v.is_finite() && v > 0.0 && v <= max {
        Ok(())
    } else {
        Err(field_err(
            field,
            format!("is {v}, expected above 0 and at most {max}"),
        ))
    }
}

fn check_side(field: &str, v: u64, max: u64) -> Result<usize, OutputError> {
    if (1..=max).contains(&v) {
        usize::try_from(v).map_err(|_| field_err(field, "does not fit this machine"))
    } else {
        Err(field_err(field, format!("is {v}, expected 1 to {max}")))
    }
}

fn check_gpu_id(field: &str, id: u32) -> Result<(), OutputError> {
    if (id as usize) < MAX_GPUS {
        Ok(())
    } else {
        Err(field_err(
            field,
            format!("is {id}, expected below {MAX_GPUS}"),
        ))
    }
}

/// Paths are echoed back into a shell command line by the validator, so only a plain
/// absolute path of safe characters is accepted.
fn check_path(field: &str, path: &str) -> Result<(), OutputError> {
    let safe = path
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b'.'));
    if path.is_empty() || path.len() > MAX_PATH_CHARS {
        return Err(field_err(
            field,
            format!(
                "has {} characters, expected 1 to {MAX_PATH_CHARS}",
                path.len()
            ),
        ));
    }
    if !safe || !path.starts_with('/') || path.split('/').any(|part| part == "..") {
        return Err(field_err(
            field,
            "must be an absolute path of letters, digits, '/', '_', '-', '.' without '..'",
        ));
    }
    Ok(())
}

/// `gpu_info` output: the GPUs the worker sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuInfo {
    /// Names in device order; its length is the GPU count (0 to [`MAX_GPUS`]).
    pub gpu_names: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GpuInfoRaw {
    #[allow(dead_code)]
    protocol: u32,
    #[allow(dead_code)]
    mode: String,
    num_gpus: u64,
    gpu_names: Vec<String>,
}

impl GpuInfo {
    /// Parses `{"protocol":1,"mode":"gpu_info","num_gpus":N,"gpu_names":[...]}`;
    /// `num_gpus` must equal the number of names, and each name must have 1 to
    /// [`MAX_NAME_CHARS`] characters and no control characters.
    pub fn parse(text: &str) -> Result<GpuInfo, OutputError> {
        let raw: GpuInfoRaw = parse_strict(text, "gpu_info", "gpu_info", MAX_LINE_BYTES)?;
        check_count("gpu_names", raw.gpu_names.len(), 0, MAX_GPUS)?;
        if raw.num_gpus != raw.gpu_names.len() as u64 {
            return Err(field_err(
                "num_gpus",
                format!(
                    "is {} but gpu_names has {} entries",
                    raw.num_gpus,
                    raw.gpu_names.len()
                ),
            ));
        }
        for (k, name) in raw.gpu_names.iter().enumerate() {
            let chars = name.chars().count();
            if chars == 0 || chars > MAX_NAME_CHARS || name.chars().any(char::is_control) {
                return Err(field_err(
                    format!("gpu_names[{k}]"),
                    format!("must have 1 to {MAX_NAME_CHARS} characters and no control characters"),
                ));
            }
        }
        Ok(GpuInfo {
            gpu_names: raw.gpu_names,
        })
    }

    /// Number of GPUs reported.
    pub fn num_gpus(&self) -> usize {
        self.gpu_names.len()
    }

    /// The name the validator compares identification against: the first GPU's.
    pub fn reported_name(&self) -> Option<&str> {
        self.gpu_names.first().map(String::as_str)
    }
}

/// `benchmark` output; convert with [`Benchmark::from`] for identification.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BenchmarkOutput {
    /// GPUs the worker sees (1 to [`MAX_GPUS`]).
    pub num_gpus: u32,
    /// VRAM estimate in GB (positive, at most [`MAX_VRAM_GB`]).
    pub vram_gb: f64,
    /// fp16 matmul side (1 to [`MAX_BENCH_SIDE`]).
    pub size16: u64,
    /// fp16 matmul seconds (positive, finite).
    pub t16: f64,
    /// fp32 matmul side (1 to [`MAX_BENCH_SIDE`]).
    pub size32: u64,
    /// fp32 matmul seconds (positive, finite).
    pub t32: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BenchmarkRaw {
    #[allow(dead_code)]
    protocol: u32,
    #[allow(dead_code)]
    mode: String,
    num_gpus: u64,
    vram_gb: f64,
    size16: u64,
    t16: f64,
    size32: u64,
    t32: f64,
}

impl BenchmarkOutput {
    /// Parses `{"protocol":1,"mode":"benchmark","num_gpus":N,"vram_gb":V,"size16":..,
    /// "t16":..,"size32":..,"t32":..}` with the bounds documented on each field.
    ///
    /// The sizes are not required to match `V` (the reference does not either); a caller
    /// wanting that compares them with [`crate::pog::sizes::Sizes::for_vram`].
    pub fn parse(text: &str) -> Result<BenchmarkOutput, OutputError> {
        let raw: BenchmarkRaw = parse_strict(text, "benchmark", "benchmark", MAX_LINE_BYTES)?;
        let num_gpus = match u32::try_from(raw.num_gpus) {
            Ok(g) if (1..=MAX_GPUS as u32).contains(&g) => g,
            _ => {
                return Err(field_err(
                    "num_gpus",
                    format!("is {}, expected 1 to {MAX_GPUS}", raw.num_gpus),
                ))
            }
        };
        check_positive("vram_gb", raw.vram_gb, MAX_VRAM_GB)?;
        check_side("size16", raw.size16, MAX_BENCH_SIDE)?;
        check_side("size32", raw.size32, MAX_BENCH_SIDE)?;
        check_positive("t16", raw.t16, f64::MAX)?;
        check_positive("t32", raw.t32, f64::MAX)?;
        Ok(BenchmarkOutput {
            num_gpus,
            vram_gb: raw.vram_gb,
            size16: raw.size16,
            t16: raw.t16,
            size32: raw.size32,
            t32: raw.t32,
        })
    }
}

impl From<BenchmarkOutput> for Benchmark {
    fn from(b: BenchmarkOutput) -> Benchmark {
        Benchmark {
            gpus: b.num_gpus,
            vram_gb: b.vram_gb,
            size16: b.size16,
            t16: b.t16,
            size32: b.size32,
            t32: b.t32,
        }
    }
}

/// Seconds the worker reports for each phase of one GPU's compute run (all finite, ≥ 0).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timings {
    /// Generating A and B on the device.
    pub generation: f64,
    /// The matmul `C = A·B` (the figure the timing rule compares with `t32`).
    pub multiplication: f64,
    /// Copying C to the host.
    pub transfer: f64,
    /// Building the Merkle tree.
    pub merkle: f64,
}

/// One GPU's commitment from a `compute` run.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuCompute {
    /// GPU id (below [`MAX_GPUS`]); the seeds the validator sent for this id.
    pub id: u32,
    /// Matrix side the worker used.
    pub n: usize,
    /// Merkle root of C's rows.
    pub root: Node,
    /// Phase timings.
    pub timings: Timings,
}

/// `compute` output: where the results are kept and each GPU's root and timings.
#[derive(Debug, Clone, PartialEq)]
pub struct ComputeOutput {
    /// The worker's private output directory, to pass back to `--mode proof --dir`.
    /// Guaranteed an absolute path of `[A-Za-z0-9/_.-]` whose last component starts
    /// with [`DIR_PREFIX`], so it is safe to place on a command line.
    pub dir: String,
    /// Per GPU, ids strictly ascending, 1 to [`MAX_GPUS`] entries, all with the same `n`.
    pub gpus: Vec<GpuCompute>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ComputeRaw {
    #[allow(dead_code)]
    protocol: u32,
    #[allow(dead_code)]
    mode: String,
    dir: String,
    gpus: Vec<GpuComputeRaw>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GpuComputeRaw {
    id: u32,
    n: u64,
    root: String,
    timings: Timings,
}

impl ComputeOutput {
    /// Parses `{"protocol":1,"mode":"compute","dir":DIR,"gpus":[{"id":k,"n":n,
    /// "root":"<64 hex>","timings":{"generation":s,"multiplication":s,"transfer":s,
    /// "merkle":s}},...]}` with the guarantees documented on the fields.
    pub fn parse(text: &str) -> Result<ComputeOutput, OutputError> {
        let raw: ComputeRaw = parse_strict(text, "compute", "compute", MAX_LINE_BYTES)?;
        check_path("dir", &raw.dir)?;
        let last = raw.dir.rsplit('/').next().unwrap_or("");
        if !last.starts_with(DIR_PREFIX) {
            return Err(field_err(
                "dir",
                format!("last component must start with {DIR_PREFIX:?}"),
            ));
        }
        check_count("gpus", raw.gpus.len(), 1, MAX_GPUS)?;
        let mut gpus = Vec::with_capacity(raw.gpus.len());
        for (k, g) in raw.gpus.into_iter().enumerate() {
            let at = |name: &str| format!("gpus[{k}].{name}");
            check_gpu_id(&at("id"), g.id)?;
            if let Some(prev) = gpus.last().map(|p: &GpuCompute| p.id) {
                if g.id <= prev {
                    return Err(field_err(at("id"), "ids must be strictly ascending"));
                }
            }
            let n = check_side(&at("n"), g.n, MAX_N)?;
            if let Some(first) = gpus.first().map(|p: &GpuCompute| p.n) {
                if n != first {
                    return Err(field_err(
                        at("n"),
                        format!("is {n}, but gpus[0].n is {first}"),
                    ));
                }
            }
            let root = node_from_hex(|| at("root"), &g.root)?;
            let t = g.timings;
            for (name, v) in [
                ("generation", t.generation),
                ("multiplication", t.multiplication),
                ("transfer", t.transfer),
                ("merkle", t.merkle),
            ] {
                if !(v.is_finite() && v >= 0.0) {
                    return Err(field_err(
                        at(&format!("timings.{name}")),
                        format!("is {v}, expected a finite number of at least 0"),
                    ));
                }
            }
            gpus.push(GpuCompute {
                id: g.id,
                n,
                root,
                timings: t,
            });
        }
        Ok(ComputeOutput { dir: raw.dir, gpus })
    }

    /// The common matrix side of all GPUs.
    pub fn n(&self) -> usize {
        self.gpus.first().map_or(0, |g| g.n)
    }

    /// Mean of the reported multiplication times (the second half of the timing rule).
    pub fn mean_multiplication_secs(&self) -> f64 {
        let sum: f64 = self.gpus.iter().map(|g| g.timings.multiplication).sum();
        sum / self.gpus.len().max(1) as f64
    }

    /// The entry for GPU `id`, if the worker reported one.
    pub fn gpu(&self, id: u32) -> Option<&GpuCompute> {
        self.gpus.iter().find(|g| g.id == id)
    }
}

/// The line `--mode proof` prints: where it wrote the responses and how big they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofWritten {
    /// Path of the responses file (same character rules as [`ComputeOutput::dir`]).
    pub file: String,
    /// Its size in bytes (at most [`MAX_RESPONSES_BYTES`]), to check before downloading.
    pub bytes: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProofWrittenRaw {
    #[allow(dead_code)]
    protocol: u32,
    #[allow(dead_code)]
    mode: String,
    file: String,
    bytes: u64,
}

impl ProofWritten {
    /// Parses `{"protocol":1,"mode":"proof","file":"DIR/responses.json","bytes":size}`.
    pub fn parse(text: &str) -> Result<ProofWritten, OutputError> {
        let raw: ProofWrittenRaw = parse_strict(text, "proof", "proof", MAX_LINE_BYTES)?;
        check_path("file", &raw.file)?;
        if !raw.file.ends_with("/responses.json") {
            return Err(field_err("file", "must end with /responses.json"));
        }
        if raw.bytes > MAX_RESPONSES_BYTES as u64 {
            return Err(field_err(
                "bytes",
                format!("is {}, over the limit of {MAX_RESPONSES_BYTES}", raw.bytes),
            ));
        }
        Ok(ProofWritten {
            file: raw.file,
            bytes: raw.bytes,
        })
    }
}

/// One opened row: the answer to challenge `(id, i, j)`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProofResponse {
    /// GPU id (below [`MAX_GPUS`]).
    pub id: u32,
    /// Challenged row (below `n`).
    pub i: usize,
    /// Challenged column (below `n`).
    pub j: usize,
    /// Row `i` of C: exactly `n` values, bit-exact.
    pub row: Vec<f32>,
    /// Its Merkle proof: exactly [`proof_len`]`(n)` nodes.
    pub proof: Vec<Node>,
}

/// The responses file written by `--mode proof`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProofResponses {
    /// Matrix side of every row (1 to [`MAX_N`]); the caller must check it equals the `n`
    /// it asked for.
    pub n: usize,
    /// In challenge-file order, 1 to [`MAX_RESPONSES`] entries.
    pub responses: Vec<ProofResponse>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProofResponsesRaw {
    #[allow(dead_code)]
    protocol: u32,
    #[allow(dead_code)]
    mode: String,
    n: u64,
    responses: Vec<ProofResponseRaw>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProofResponseRaw {
    id: u32,
    i: u64,
    j: u64,
    row: String,
    proof: Vec<String>,
}

impl ProofResponses {
    /// Parses `{"protocol":1,"mode":"proof","n":n,"responses":[{"id":k,"i":i,"j":j,
    /// "row":"<8n hex>","proof":["<64 hex>",...]},...]}` with the guarantees documented
    /// on the fields (input at most [`MAX_RESPONSES_BYTES`]).
    pub fn parse(text: &str) -> Result<ProofResponses, OutputError> {
        let raw: ProofResponsesRaw = parse_strict(text, "responses", "proof", MAX_RESPONSES_BYTES)?;
        let n = check_side("n", raw.n, MAX_N)?;
        check_count("responses", raw.responses.len(), 1, MAX_RESPONSES)?;
        let expected_proof = proof_len(n);
        let mut responses = Vec::with_capacity(raw.responses.len());
        for (k, r) in raw.responses.into_iter().enumerate() {
            let at = |name: &str| format!("responses[{k}].{name}");
            check_gpu_id(&at("id"), r.id)?;
            for (name, v) in [("i", r.i), ("j", r.j)] {
                if v >= raw.n {
                    return Err(field_err(
                        at(name),
                        format!("is {v}, expected below n = {n}"),
                    ));
                }
            }
            let row = row_from_hex(&at("row"), &r.row, n)?;
            if r.proof.len() != expected_proof {
                return Err(field_err(
                    at("proof"),
                    format!(
                        "has {} nodes, expected ceil(log2 n) = {expected_proof}",
                        r.proof.len()
                    ),
                ));
            }
            let proof = r
                .proof
                .iter()
                .enumerate()
                .map(|(p, s)| node_from_hex(|| format!("responses[{k}].proof[{p}]"), s))
                .collect::<Result<Vec<Node>, OutputError>>()?;
            responses.push(ProofResponse {
                id: r.id,
                // Both are below n, which fits usize (checked above).
                i: r.i as usize,
                j: r.j as usize,
                row,
                proof,
            });
        }
        Ok(ProofResponses { n, responses })
    }

    /// The response to challenge `(id, i, j)`, if present.
    pub fn find(&self, id: u32, i: usize, j: usize) -> Option<&ProofResponse> {
        self.responses
            .iter()
            .find(|r| r.id == id && r.i == i && r.j == j)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "29e5bb1e23e306501d3f359f5fbe070aa828eeeecf6a9995ebe5b1a778dd5370";

    fn compute_json(dir: &str, root: &str) -> String {
        format!(
            r#"{{"protocol":1,"mode":"compute","dir":"{dir}","gpus":[{{"id":0,"n":3,"root":"{root}","timings":{{"generation":0.1,"multiplication":0.2,"transfer":0.0,"merkle":0.3}}}}]}}"#
        )
    }

    fn responses_json(row: &str, proof: &[&str]) -> String {
        let proof: Vec<String> = proof.iter().map(|p| format!("\"{p}\"")).collect();
        format!(
            r#"{{"protocol":1,"mode":"proof","n":3,"responses":[{{"id":0,"i":2,"j":1,"row":"{row}","proof":[{}]}}]}}"#,
            proof.join(",")
        )
    }

    const ROW2: &str = "0000e0400000004100001041"; // [7.0, 8.0, 9.0]

    #[test]
    fn parses_valid_outputs() {
        let g = GpuInfo::parse(r#"{"protocol":1,"mode":"gpu_info","num_gpus":2,"gpu_names":["NVIDIA H100","NVIDIA H100"]}"#)
            .expect("valid gpu_info");
        assert_eq!(g.num_gpus(), 2);
        assert_eq!(g.reported_name(), Some("NVIDIA H100"));
        let none =
            GpuInfo::parse(r#"{"protocol":1,"mode":"gpu_info","num_gpus":0,"gpu_names":[]}"#)
                .expect("no GPUs is a valid answer");
        assert_eq!(none.reported_name(), None);

        let b = BenchmarkOutput::parse(r#"{"protocol":1,"mode":"benchmark","num_gpus":8,"vram_gb":34.36,"size16":92672,"t16":3.102551,"size32":46336,"t32":4.29731}"#)
            .expect("valid benchmark");
        let b = Benchmark::from(b);
        assert_eq!((b.gpus, b.size16, b.size32), (8, 92672, 46336));

        let c = ComputeOutput::parse(&compute_json("/dev/shm/sn27-pog-x1_y", ROOT))
            .expect("valid compute");
        assert_eq!(c.n(), 3);
        assert_eq!(hex::encode(c.gpus[0].root), ROOT);
        assert!((c.mean_multiplication_secs() - 0.2).abs() < 1e-12);
        assert!(c.gpu(0).is_some() && c.gpu(1).is_none());

        let w = ProofWritten::parse(
            r#"{"protocol":1,"mode":"proof","file":"/tmp/sn27-pog-a/responses.json","bytes":123}"#,
        )
        .expect("valid proof line");
        assert_eq!(w.bytes, 123);

        let r =
            ProofResponses::parse(&responses_json(ROW2, &[ROOT, ROOT])).expect("valid responses");
        assert_eq!(r.responses[0].row, vec![7.0, 8.0, 9.0]);
        assert_eq!(r.responses[0].proof.len(), 2);
        assert!(r.find(0, 2, 1).is_some());
    }

    fn field_of(e: OutputError) -> String {
        match e {
            OutputError::Field { field, .. } => field,
            other => panic!("expected a field error, got {other}"),
        }
    }

    #[test]
    fn garbage_is_a_clean_error() {
        let e = GpuInfo::parse("not json").unwrap_err();
        assert!(matches!(e, OutputError::Json { .. }), "{e}");
        let e = GpuInfo::parse("").unwrap_err();
        assert!(matches!(e, OutputError::Json { .. }), "{e}");
        let e = GpuInfo::parse("[1,2]").unwrap_err();
        assert!(matches!(e, OutputError::Json { .. }), "{e}");
        let e = GpuInfo::parse(r#"{"num_gpus": 1, "gpu_names": ["x"]}"#).unwrap_err();
        assert_eq!(e, OutputError::MissingProtocol);
        let e = GpuInfo::parse(
            r#"{"protocol":1,"mode":"gpu_info","num_gpus":1,"gpu_names":["x"],"extra":1}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown field `extra`"), "{e}");
        let e =
            GpuInfo::parse(r#"{"protocol":1,"mode":"gpu_info","num_gpus":2,"gpu_names":["x"]}"#)
                .unwrap_err();
        assert_eq!(field_of(e), "num_gpus");
        let long = "x".repeat(257);
        let e = GpuInfo::parse(&format!(
            r#"{{"protocol":1,"mode":"gpu_info","num_gpus":1,"gpu_names":["{long}"]}}"#
        ))
        .unwrap_err();
        assert_eq!(field_of(e), "gpu_names[0]");
        let names = vec!["\"g\""; 65].join(",");
        let e = GpuInfo::parse(&format!(
            r#"{{"protocol":1,"mode":"gpu_info","num_gpus":65,"gpu_names":[{names}]}}"#
        ))
        .unwrap_err();
        assert_eq!(field_of(e), "gpu_names");
        let e = GpuInfo::parse(&" ".repeat(MAX_LINE_BYTES + 1)).unwrap_err();
        assert!(matches!(e, OutputError::TooLarge { .. }), "{e}");
    }

    #[test]
    fn protocol_version_and_worker_errors() {
        let e = GpuInfo::parse(r#"{"protocol":2,"mode":"gpu_info","whatever":true}"#).unwrap_err();
        assert_eq!(e.to_string(), "worker protocol version 2, expected 1");
        let e = GpuInfo::parse(r#"{"protocol":"1","mode":"gpu_info","num_gpus":0,"gpu_names":[]}"#)
            .unwrap_err();
        assert_eq!(e.to_string(), "worker protocol version \"1\", expected 1");
        let e = ComputeOutput::parse(r#"{"protocol":1,"error":"CUDA out of memory\nat line 3"}"#)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "worker reported an error: CUDA out of memory?at line 3"
        );
        let e =
            ComputeOutput::parse(r#"{"protocol":1,"mode":"benchmark","num_gpus":1}"#).unwrap_err();
        assert!(
            matches!(
                e,
                OutputError::WrongMode {
                    expected: "compute",
                    ..
                }
            ),
            "{e}"
        );
        let e = ComputeOutput::parse(r#"{"protocol":1}"#).unwrap_err();
        assert_eq!(field_of(e), "mode");
    }

    #[test]
    fn benchmark_bounds() {
        let line = |gpus: &str, v: &str, t16: &str| {
            format!(
                r#"{{"protocol":1,"mode":"benchmark","num_gpus":{gpus},"vram_gb":{v},"size16":128,"t16":{t16},"size32":64,"t32":0.5}}"#
            )
        };
        BenchmarkOutput::parse(&line("1", "0.0001", "0.1")).expect("cpu-test figures are valid");
        assert_eq!(
            field_of(BenchmarkOutput::parse(&line("0", "1", "1")).unwrap_err()),
            "num_gpus"
        );
        assert_eq!(
            field_of(BenchmarkOutput::parse(&line("65", "1", "1")).unwrap_err()),
            "num_gpus"
        );
        assert_eq!(
            field_of(BenchmarkOutput::parse(&line("1", "-1", "1")).unwrap_err()),
            "vram_gb"
        );
        assert_eq!(
            field_of(BenchmarkOutput::parse(&line("1", "1", "0")).unwrap_err()),
            "t16"
        );
        let e = BenchmarkOutput::parse(&line("1", "1", "1e999")).unwrap_err();
        assert!(matches!(e, OutputError::Json { .. }), "{e}");
    }

    #[test]
    fn compute_bounds() {
        for (dir, why) in [
            ("relative/sn27-pog-a", "relative"),
            ("/tmp/other", "prefix"),
            ("/tmp/sn27-pog-a; rm -rf /", "shell characters"),
            ("/tmp/../sn27-pog-a", "dot-dot"),
        ] {
            let e = ComputeOutput::parse(&compute_json(dir, ROOT)).unwrap_err();
            assert_eq!(field_of(e), "dir", "{why}");
        }
        let with_65 = format!("{ROOT}0");
        let e = ComputeOutput::parse(&compute_json("/tmp/sn27-pog-a", &with_65)).unwrap_err();
        assert_eq!(field_of(e), "gpus[0].root");
        let upper = ROOT.to_uppercase();
        let e = ComputeOutput::parse(&compute_json("/tmp/sn27-pog-a", &upper)).unwrap_err();
        assert_eq!(field_of(e), "gpus[0].root");
        let e = ComputeOutput::parse(&compute_json("/tmp/sn27-pog-a", &ROOT[..62])).unwrap_err();
        assert_eq!(field_of(e), "gpus[0].root");
        let two = format!(
            r#"{{"protocol":1,"mode":"compute","dir":"/tmp/sn27-pog-a","gpus":[{{"id":1,"n":3,"root":"{ROOT}","timings":{{"generation":0,"multiplication":0,"transfer":0,"merkle":0}}}},{{"id":1,"n":3,"root":"{ROOT}","timings":{{"generation":0,"multiplication":0,"transfer":0,"merkle":0}}}}]}}"#
        );
        assert_eq!(
            field_of(ComputeOutput::parse(&two).unwrap_err()),
            "gpus[1].id"
        );
        let big_n = compute_json("/tmp/sn27-pog-a", ROOT).replace(r#""n":3"#, r#""n":200001"#);
        assert_eq!(
            field_of(ComputeOutput::parse(&big_n).unwrap_err()),
            "gpus[0].n"
        );
        let neg_t = compute_json("/tmp/sn27-pog-a", ROOT).replace("0.3", "-0.3");
        assert_eq!(
            field_of(ComputeOutput::parse(&neg_t).unwrap_err()),
            "gpus[0].timings.merkle"
        );
        let no_gpus = r#"{"protocol":1,"mode":"compute","dir":"/tmp/sn27-pog-a","gpus":[]}"#;
        assert_eq!(field_of(ComputeOutput::parse(no_gpus).unwrap_err()), "gpus");
    }

    #[test]
    fn responses_bounds() {
        let e = ProofResponses::parse(&responses_json(&ROW2[..16], &[ROOT, ROOT])).unwrap_err();
        assert_eq!(field_of(e), "responses[0].row");
        let e = ProofResponses::parse(&responses_json(&format!("{ROW2}00000000"), &[ROOT, ROOT]))
            .unwrap_err();
        assert_eq!(field_of(e), "responses[0].row");
        let e = ProofResponses::parse(&responses_json(&ROW2.replace('e', "E"), &[ROOT, ROOT]))
            .unwrap_err();
        assert_eq!(field_of(e), "responses[0].row");
        let e = ProofResponses::parse(&responses_json(ROW2, &[ROOT])).unwrap_err();
        assert_eq!(field_of(e), "responses[0].proof");
        let e = ProofResponses::parse(&responses_json(ROW2, &[ROOT, ROOT, ROOT])).unwrap_err();
        assert_eq!(field_of(e), "responses[0].proof");
        let bad = format!("{ROOT}a");
        let e = ProofResponses::parse(&responses_json(ROW2, &[ROOT, &bad])).unwrap_err();
        assert_eq!(field_of(e), "responses[0].proof[1]");
        let zz = format!("zz{}", &ROOT[2..]);
        let e = ProofResponses::parse(&responses_json(ROW2, &[&zz, ROOT])).unwrap_err();
        assert_eq!(field_of(e), "responses[0].proof[0]");
        let i_out = responses_json(ROW2, &[ROOT, ROOT]).replace(r#""i":2"#, r#""i":3"#);
        assert_eq!(
            field_of(ProofResponses::parse(&i_out).unwrap_err()),
            "responses[0].i"
        );
        let id_out = responses_json(ROW2, &[ROOT, ROOT]).replace(r#""id":0"#, r#""id":64"#);
        assert_eq!(
            field_of(ProofResponses::parse(&id_out).unwrap_err()),
            "responses[0].id"
        );
        let wrong_line =
            r#"{"protocol":1,"mode":"proof","file":"/tmp/sn27-pog-a/responses.json","bytes":1}"#;
        let e = ProofResponses::parse(wrong_line).unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
        let e = ProofWritten::parse(
            r#"{"protocol":1,"mode":"proof","file":"/tmp/x/other.json","bytes":1}"#,
        )
        .unwrap_err();
        assert_eq!(field_of(e), "file");
        let e = ProofWritten::parse(&format!(
            r#"{{"protocol":1,"mode":"proof","file":"/tmp/a/responses.json","bytes":{}}}"#,
            MAX_RESPONSES_BYTES + 1
        ))
        .unwrap_err();
        assert_eq!(field_of(e), "bytes");
    }
}
