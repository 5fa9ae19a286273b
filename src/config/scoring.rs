//! The `[scoring]` section: GPU identification data and the scoring table, as configuration.
//!
//! Both rule sets of `sn27-protocol.md` §7 are one formula with different parameters:
//! `points = min(cap, base(model) · min(N, max_gpus) · full_score / (max_gpus · max_base) ·
//! (allocation_multiplier if rented else 1))`, and the final score is `points / 100`.
//! Rule set A (the project default) uses `full_score = 50` and `allocation_multiplier = 2`;
//! the compatibility profile `sn27-v1.8.3` (rule set B) uses the reference's v1.8.3 base scores,
//! `full_score = 100` and no rental bonus. The profile only chooses the defaults: every value
//! stays overridable in the file.

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

    /// The largest base score in the table (the top model), or 0 for an all-zero table.
    pub fn max_base(&self) -> f64 {
        self.gpu.iter().map(|m| m.score).fold(0.0, f64::max)
    }

    /// Base score of a model name; models missing from the table score 0.
    pub fn base(&self, model: &str) -> f64 {
        self.gpu
            .iter()
            .find(|m| m.name == model)
            .map_or(0.0, |m| m.score)
    }

    /// Points (0 to `cap`) for a miner proven to have `gpus` GPUs of `model`.
    pub fn points(&self, model: &str, gpus: u32, rented: bool) -> f64 {
        let max_base = self.max_base();
        if max_base <= 0.0 || self.max_gpus == 0 {
            return 0.0;
        }
        let counted = f64::from(gpus.min(self.max_gpus));
        let bonus = if rented {
            self.allocation_multiplier
        } else {
            1.0
        };
        let points = self.base(model) * counted * self.full_score
            / (f64::from(self.max_gpus) * max_base)
            * bonus;
        points.min(self.cap)
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

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    /// The worked examples of rule set A (`sn27-protocol.md` §7.2).
    #[test]
    fn rule_set_a_examples() {
        let s = ScoringConfig::default();
        assert!(close(s.points("NVIDIA H200", 8, false), 50.0));
        assert!(close(s.points("NVIDIA H200", 8, true), 100.0));
        assert!(close(s.points("NVIDIA H100", 4, false), 17.5));
        assert!(close(s.points("NVIDIA H100", 4, true), 35.0));
        assert!(close(s.points("NVIDIA RTX 4090", 1, false), 1.0625));
        assert!(close(s.points("NVIDIA A100-SXM4-80GB", 10, false), 23.75));
        assert!(close(s.points("NVIDIA A100-SXM4-40GB", 8, false), 0.0));
        assert!(close(s.points("NVIDIA GeForce RTX 5090", 8, false), 0.0));
    }

    /// Per-GPU normalised values of rule set B (`sn27-protocol.md` §7.3).
    #[test]
    fn rule_set_b_per_gpu_values() {
        let s = ScoringConfig::for_profile(ScoringProfile::Sn27V183);
        for (model, per_gpu) in [
            ("NVIDIA H200", 0.125),
            ("NVIDIA H100 80GB HBM3", 0.103125),
            ("NVIDIA H100", 0.0875),
            ("NVIDIA A100-SXM4-80GB", 0.059375),
            ("NVIDIA L40s", 0.0),
        ] {
            assert!(close(s.points(model, 1, false) / 100.0, per_gpu), "{model}");
            // No rental bonus in v1.8.3.
            assert!(close(s.points(model, 1, true) / 100.0, per_gpu), "{model}");
        }
        assert!(close(s.points("NVIDIA H200", 8, false), 100.0));
    }

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
