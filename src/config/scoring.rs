//! The `[scoring]` section: GPU identification data and the scoring table, as configuration.
//!
//! Both rule sets of `sn27-protocol.md` §7 are one formula (in `validator::scoring`) with
//! different parameters, held here. Rule set A (the project default) uses `full_score = 50` and
//! `allocation_multiplier = 2`; the compatibility profile `sn27-v1.8.3` (rule set B) uses the
//! reference's v1.8.3 base scores, `full_score = 100` and no rental bonus. The profile only
//! chooses the defaults: every value stays overridable in the file.

use serde::{Deserialize, Serialize};

/// Which rule set supplies the scoring defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum ScoringProfile {
    /// Rule set A: the project defaults.
    #[default]
    #[serde(rename = "default")]
    Default,
    /// Rule set B: reproduces what neuralinternet/compute-subnet v1.8.3 validators compute.
    #[serde(rename = "sn27-v1.8.3")]
    Sn27V183,
}

impl ScoringProfile {
    /// The name the file uses (`profile = "…"`).
    pub fn name(self) -> &'static str {
        match self {
            ScoringProfile::Default => "default",
            ScoringProfile::Sn27V183 => "sn27-v1.8.3",
        }
    }
}

/// One row of the GPU identification and scoring table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuModel {
    /// The name as the driver reports it (and as the score is looked up, exactly).
    pub name: String,
    /// Reference dense FP16 throughput, TFLOPS.
    pub fp16_tflops: f64,
    /// Reference FP32 throughput, TFLOPS.
    pub fp32_tflops: f64,
    /// Memory the Proof-of-GPU test may allocate on this model, GB.
    pub vram_gb: f64,
    /// Base score of one GPU of this model; 0 means "identified but not rewarded".
    pub score: f64,
}

/// The `[scoring]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScoringConfig {
    pub profile: ScoringProfile,
    /// GPUs counted per miner; more are ignored.
    pub max_gpus: u32,
    /// Points for `max_gpus` GPUs of the best-scored model, before the rental bonus.
    pub full_score: f64,
    /// Factor applied to a miner that is currently rented.
    pub allocation_multiplier: f64,
    /// Upper bound of a miner's points (100 points = score 1.0).
    pub cap: f64,
    /// Proof-of-GPU results kept per miner; the newest passing one among them is scored, so
    /// one failed round does not zero a good miner.
    pub history: u32,
    /// Pairs of model names that are hard to tell apart by benchmark; when the benchmark
    /// identifies one of a pair and the driver reports the other, the reported name is kept.
    pub tolerance_pairs: Vec<[String; 2]>,
    /// The identification table, in identification order (ties go to the earlier row).
    pub gpu: Vec<GpuModel>,
}

impl ScoringConfig {
    /// The defaults of a profile.
    pub fn for_profile(profile: ScoringProfile) -> Self {
        let (full_score, allocation_multiplier) = match profile {
            ScoringProfile::Default => (50.0, 2.0),
            ScoringProfile::Sn27V183 => (100.0, 1.0),
        };
        ScoringConfig {
            profile,
            max_gpus: 8,
            full_score,
            allocation_multiplier,
            cap: 100.0,
            history: 4,
            tolerance_pairs: TOLERANCE_PAIRS
                .iter()
                .map(|(a, b)| [a.to_string(), b.to_string()])
                .collect(),
            gpu: GPU_TABLE
                .iter()
                .map(|row| GpuModel {
                    name: row.name.to_owned(),
                    fp16_tflops: row.fp16,
                    fp32_tflops: row.fp32,
                    vram_gb: row.vram,
                    score: match profile {
                        ScoringProfile::Default => row.score_default,
                        ScoringProfile::Sn27V183 => row.score_v183,
                    },
                })
                .collect(),
        }
    }
}

impl Default for ScoringConfig {
    fn default() -> Self {
        Self::for_profile(ScoringProfile::Default)
    }
}

struct GpuRow {
    name: &'static str,
    fp16: f64,
    fp32: f64,
    vram: f64,
    score_default: f64,
    score_v183: f64,
}

const fn row(
    name: &'static str,
    fp16: f64,
    fp32: f64,
    vram: f64,
    score_default: f64,
    score_v183: f64,
) -> GpuRow {
    GpuRow {
        name,
        fp16,
        fp32,
        vram,
        score_default,
        score_v183,
    }
}

/// `sn27-protocol.md` §6.7, in the reference `config.yaml` order.
const GPU_TABLE: [GpuRow; 17] = [
    row("NVIDIA H200", 610.0, 49.6, 68.72, 4.00, 4.0),
    row("NVIDIA H100 80GB HBM3", 570.0, 49.0, 34.36, 3.30, 3.30),
    row("NVIDIA H100", 330.0, 37.2, 34.36, 2.80, 2.80),
    row("NVIDIA A100-SXM4-80GB", 238.8, 18.2, 34.36, 1.90, 1.90),
    row("NVIDIA A100 80GB PCIe", 197.0, 16.9, 34.36, 1.65, 0.0),
    row("NVIDIA A100-SXM4-40GB", 257.0, 18.2, 17.18, 0.0, 0.0),
    row("NVIDIA L40s", 171.0, 35.5, 17.18, 1.10, 0.0),
    row("NVIDIA L40", 116.0, 27.0, 17.18, 1.00, 0.0),
    row(
        "NVIDIA RTX 6000 Ada Generation",
        112.0,
        26.0,
        17.18,
        0.90,
        0.0,
    ),
    row("NVIDIA RTX A6000", 48.5, 21.28, 17.18, 0.78, 0.0),
    row("NVIDIA RTX A5000", 60.0, 15.8, 8.59, 0.36, 0.0),
    row("NVIDIA RTX A4500", 44.0, 14.3, 8.59, 0.34, 0.0),
    row("NVIDIA RTX 4000 Ada Generation", 70.0, 14.6, 8.59, 0.0, 0.0),
    row("NVIDIA A40", 40.0, 22.8, 17.18, 0.39, 0.0),
    row("NVIDIA RTX 4090", 157.0, 48.5, 8.59, 0.68, 0.0),
    row("NVIDIA GeForce RTX 3090", 66.4, 21.7, 8.59, 0.43, 0.0),
    row("NVIDIA L4", 51.0, 9.0, 8.59, 0.43, 0.0),
];

const TOLERANCE_PAIRS: [(&str, &str); 5] = [
    ("NVIDIA L40", "NVIDIA RTX 6000 Ada Generation"),
    ("NVIDIA RTX 4000 Ada Generation", "NVIDIA RTX A5000"),
    ("NVIDIA A100 80GB PCIe", "NVIDIA A100-SXM4-80GB"),
    ("NVIDIA H100 80GB HBM3", "NVIDIA H100"),
    ("NVIDIA A40", "NVIDIA RTX A6000"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerance_pairs_name_table_models() {
        let s = ScoringConfig::default();
        for pair in &s.tolerance_pairs {
            for name in pair {
                assert!(s.gpu.iter().any(|m| &m.name == name), "{name}");
            }
        }
    }
}
