//! Fuzzes the parsers of what the Proof-of-GPU worker prints inside a miner's container
//! (`pog::worker_output`) and of the reference benchmark line, then the arithmetic the
//! validator does with what they accept: identification, sizes, the timing rule, the value
//! check and the Merkle proof check.
//!
//! Input layout: the first byte selects the mode (`b % 6`; the seeds use the digits `0`–`5`),
//! the rest is the worker's output, read as UTF-8 (lossily):
//!
//! - `0`: `gpu_info` line; `1`: `benchmark` line; `2`: `compute` line; `3`: the `proof` line
//!   (where the responses were written);
//! - `4`: a `compute` line, `\n`, then a responses file: the responses are checked against
//!   the roots the compute line committed to, as the validator checks them;
//! - `5`: the reference script's six-token benchmark line.
//!
//! Besides "never panics", the target asserts the guarantees the parsers document (paths
//! safe for a command line, ids ascending, rows and proofs of the agreed lengths).

#![no_main]

use std::borrow::Cow;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sn27::config::{Config, PogConfig, ScoringConfig, ScoringProfile};
use sn27::pog::check::{
    expected_value, isclose, required_passes, timing_ok, PassRule, ATOL_V1, RTOL_V1,
};
use sn27::pog::identify::{identify, Benchmark, ModelSpec};
use sn27::pog::merkle::{proof_len, verify_proof};
use sn27::pog::sizes::{round_vram, Sizes, MERKLE_BUFFER_V1, MERKLE_BUFFER_V2};
use sn27::pog::worker_output::{
    BenchmarkOutput, ComputeOutput, GpuInfo, ProofResponses, ProofWritten, DIR_PREFIX, MAX_GPUS,
    MAX_N, MAX_NAME_CHARS, MAX_RESPONSES, MAX_RESPONSES_BYTES,
};
use sn27::validator::proof_of_gpu::PogSettings;

/// The identification tables of two rule sets, with their tolerance pairs.
type Table = (Vec<ModelSpec>, Vec<(String, String)>);

fn tables() -> &'static [Table; 2] {
    static TABLES: OnceLock<[Table; 2]> = OnceLock::new();
    TABLES.get_or_init(|| {
        // The tables as the validator's test reads them.
        let table = |scoring: &ScoringConfig| -> Table {
            let settings = PogSettings::from_config(&PogConfig::default(), scoring);
            (settings.models, settings.tolerance_pairs)
        };
        [
            table(&Config::default().scoring),
            table(&ScoringConfig::for_profile(ScoringProfile::Sn27V221)),
        ]
    })
}

/// What `validator::proof_of_gpu` computes from an accepted benchmark.
fn judge_benchmark(benchmark: Benchmark, reported: &str) {
    let (fp16, fp32) = (benchmark.fp16_tflops(), benchmark.fp32_tflops());
    for (models, pairs) in tables() {
        if let Some(model) = identify(fp16, fp32, benchmark.vram_gb, reported, models, pairs) {
            assert!(
                model == reported || models.iter().any(|m| m.name == model),
                "identified {model:?}, which is neither reported nor in the table"
            );
        }
    }
    let _ = round_vram(benchmark.vram_gb);
    for buffer in [MERKLE_BUFFER_V1, MERKLE_BUFFER_V2] {
        let _ = Sizes::for_vram(benchmark.vram_gb, buffer);
    }
    let gpus = benchmark.gpus as usize;
    for rule in [PassRule::V1, PassRule::V2] {
        assert!(required_passes(gpus, rule) <= gpus);
    }
    let _ = timing_ok(1.0, gpus, benchmark.t32, benchmark.t16, 5.0);
}

fn assert_safe_path(path: &str) {
    assert!(path.starts_with('/'), "{path:?} is not absolute");
    assert!(
        path.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b'.')),
        "{path:?} has a character a command line must not see"
    );
    assert!(!path.split('/').any(|part| part == ".."), "{path:?} climbs");
}

/// The guarantees `ComputeOutput` documents, and the accessors the validator calls.
fn judge_compute(computed: &ComputeOutput) {
    assert_safe_path(&computed.dir);
    let last = computed.dir.rsplit('/').next().unwrap_or("");
    assert!(last.starts_with(DIR_PREFIX));
    assert!((1..=MAX_GPUS).contains(&computed.gpus.len()));
    assert!(computed.gpus.windows(2).all(|w| w[0].id < w[1].id));
    let n = computed.n();
    assert!((1..=MAX_N as usize).contains(&n));
    assert!(computed.gpus.iter().all(|g| g.n == n));
    // Finite, non-negative times: their mean is never negative nor NaN (at most infinite).
    let mean = computed.mean_multiplication_secs();
    assert!(mean >= 0.0, "mean multiplication time {mean}");
    let _ = timing_ok(1.0, computed.gpus.len(), 0.5, mean, 5.0);
    for g in &computed.gpus {
        assert_eq!(computed.gpu(g.id).map(|found| found.id), Some(g.id));
    }
    assert!(computed.gpu(MAX_GPUS as u32).is_none());
}

/// The guarantees `ProofResponses` documents, then the validator's checks of each response
/// against the roots of `computed` (or against a zero root without one).
fn judge_responses(responses: &ProofResponses, computed: Option<&ComputeOutput>) {
    let n = responses.n;
    assert!((1..=MAX_N as usize).contains(&n));
    assert!((1..=MAX_RESPONSES).contains(&responses.responses.len()));
    for (k, response) in responses.responses.iter().enumerate() {
        assert!((response.id as usize) < MAX_GPUS);
        assert!(response.i < n && response.j < n);
        assert_eq!(response.row.len(), n);
        assert_eq!(response.proof.len(), proof_len(n));
        let found = responses
            .find(response.id, response.i, response.j)
            .expect("a parsed response is found by its own challenge");
        assert!(found.id == response.id && found.i == response.i && found.j == response.j);
        let root = computed
            .and_then(|c| c.gpu(response.id))
            .map_or([0u8; 32], |g| g.root);
        let _ = verify_proof(&response.row, response.i, &response.proof, &root, n);
        // One value check per input: it costs O(n), as it does in the validator.
        if k == 0 {
            let expected = expected_value(1, 2, response.i as u64, response.j as u64, n as u64);
            let _ = isclose(response.row[response.j], expected, ATOL_V1, RTOL_V1);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text: Cow<'_, str> = String::from_utf8_lossy(rest);
    match mode % 6 {
        0 => {
            if let Ok(info) = GpuInfo::parse(&text) {
                assert!(info.num_gpus() <= MAX_GPUS);
                assert_eq!(info.reported_name().is_some(), info.num_gpus() > 0);
                for name in &info.gpu_names {
                    let chars = name.chars().count();
                    assert!((1..=MAX_NAME_CHARS).contains(&chars));
                    assert!(!name.chars().any(char::is_control));
                }
            }
        }
        1 => {
            if let Ok(output) = BenchmarkOutput::parse(&text) {
                assert!((1..=MAX_GPUS as u32).contains(&output.num_gpus));
                judge_benchmark(Benchmark::from(output), "NVIDIA H100 80GB HBM3");
            }
        }
        2 => {
            if let Ok(computed) = ComputeOutput::parse(&text) {
                judge_compute(&computed);
            }
        }
        3 => {
            if let Ok(written) = ProofWritten::parse(&text) {
                assert_safe_path(&written.file);
                assert!(written.file.ends_with("/responses.json"));
                assert!(written.bytes <= MAX_RESPONSES_BYTES as u64);
            }
        }
        4 => {
            let (compute_line, responses) = text.split_once('\n').unwrap_or((&text, ""));
            let computed = ComputeOutput::parse(compute_line).ok();
            if let Some(computed) = &computed {
                judge_compute(computed);
            }
            if let Ok(parsed) = ProofResponses::parse(responses) {
                judge_responses(&parsed, computed.as_ref());
            }
        }
        _ => {
            if let Ok(benchmark) = Benchmark::parse_reference_line(&text) {
                judge_benchmark(benchmark, "");
            }
        }
    }
});
