//! The `[scoring]` section: GPU identification data, the scoring table and the rules that
//! judge a test and turn scores into weights, as configuration.
//!
//! The rule sets of `sn27-protocol.md` §7 and `sn27-v2.md` §5 are one formula (in
//! `validator::scoring`) with different parameters, held here. Rule set A (the project
//! default) uses `full_score = 50` and `allocation_multiplier = 2`; the compatibility profile
//! `sn27-v1.8.3` (rule set B) uses the reference's v1.8.3 base scores, `full_score = 100` and
//! no rental bonus; `sn27-v2.2.1` uses that release's table and names, keeps two results,
//! requires the reported GPU name, checks the user ports, and caps each GPU model's share of
//! the weights, the rest going to the subnet owner. The profile only chooses the defaults:
//! every value stays overridable in the file.

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
    /// Reproduces what SN27 v2.2.1 validators compute (`sn27-v2.md` §5).
    #[serde(rename = "sn27-v2.2.1")]
    Sn27V221,
}

impl ScoringProfile {
    /// The name the file uses (`profile = "…"`).
    pub fn name(self) -> &'static str {
        match self {
            ScoringProfile::Default => "default",
            ScoringProfile::Sn27V183 => "sn27-v1.8.3",
            ScoringProfile::Sn27V221 => "sn27-v2.2.1",
        }
    }

    /// Whose weights the profile's defaults reproduce, for `sn27 config check`.
    pub fn reproduces(self) -> &'static str {
        match self {
            ScoringProfile::Default => {
                "the project's own rule set (rule set A); no reference validator computes it"
            }
            ScoringProfile::Sn27V183 => "SN27 v1.8.3 validators' weights (rule set B)",
            ScoringProfile::Sn27V221 => {
                "SN27 v2.2.1 validators' weights, given the same inputs: their live /config \
                 ([validator] live_config_url) and W&B inputs ([wandb] enabled) are read only \
                 when configured; otherwise the release's YAML defaults stand in for them"
            }
        }
    }
}

impl ScoringProfile {
    /// Inputs the profile's validators use that this build does not read, so that weights
    /// can differ from theirs where those inputs say otherwise.
    pub fn missing_inputs(
        self,
        live_config_read: bool,
        specs_runs_read: bool,
        penalty_list_read: bool,
    ) -> Vec<&'static str> {
        match self {
            ScoringProfile::Default | ScoringProfile::Sn27V183 => Vec::new(),
            ScoringProfile::Sn27V221 => {
                let live = "the subnet owner's live /config (emission share, GPU weights and \
                            tables; [validator] live_config_url): the release's YAML defaults \
                            are used";
                let mut missing = Vec::new();
                if !specs_runs_read {
                    missing.push(
                        "W&B miner specs runs ([wandb] enabled): every miner is scored as if it \
                         kept a signed run",
                    );
                }
                if !penalty_list_read {
                    missing.push(
                        "the W&B penalty list (Sybil round results; [wandb] enabled): no miner \
                         is zeroed by it",
                    );
                }
                if !live_config_read {
                    missing.insert(0, live);
                }
                missing
            }
        }
    }
}

/// How many of a miner's GPUs must pass verification for all of them to count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PassRequirement {
    /// v1.x: 3 of 4; ⌈¾·N⌉ above 4; all below.
    #[serde(rename = "three-of-four")]
    ThreeOfFour,
    /// v2.x: all up to 4; ⌈¾·N⌉ above.
    #[serde(rename = "all-up-to-four")]
    AllUpToFour,
}

/// How scores become the weight vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WeightsRule {
    /// Weights proportional to scores (v1.x).
    #[serde(rename = "proportional")]
    Proportional,
    /// Each GPU model's group shares at most `weight / Σ weights · total_miner_emission`,
    /// split by score; the remainder goes to the subnet owner's uid (v2.x, `sn27-v2.md` §5.3).
    #[serde(rename = "capped-by-gpu")]
    CappedByGpu,
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
    /// The model's share of the miners' emission under `weights = "capped-by-gpu"` (v2.x
    /// `gpu_weights`); 0: none.
    #[serde(default)]
    pub weight: f64,
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
    /// A test fails when the benchmark identifies another model than the driver reports
    /// (after the tolerance pairs), as v2.1+ validators rule; otherwise the identified model
    /// is scored.
    pub require_reported_name: bool,
    /// Share of a GPU's memory estimate the test matrices use (0.10 in v1.x, 0.05 in v2.x).
    pub merkle_buffer: f64,
    pub pass_rule: PassRequirement,
    /// After a passing test, check every user port the miner announced (a server inside the
    /// container on each, reached from here on the host port); failing it fails the test.
    pub health_check: bool,
    pub weights: WeightsRule,
    /// Under `weights = "capped-by-gpu"`: the share (0–1) of the weights all miners together
    /// may receive; the rest goes to the subnet owner's uid.
    pub total_miner_emission: f64,
    /// Pairs of model names that are hard to tell apart by benchmark; when the benchmark
    /// identifies one of a pair and the driver reports the other, the reported name is kept.
    pub tolerance_pairs: Vec<[String; 2]>,
    /// The identification table, in identification order (ties go to the earlier row).
    pub gpu: Vec<GpuModel>,
}

impl ScoringConfig {
    /// The defaults of a profile.
    pub fn for_profile(profile: ScoringProfile) -> Self {
        let pairs = |pairs: &[(&str, &str)]| -> Vec<[String; 2]> {
            pairs
                .iter()
                .map(|(a, b)| [a.to_string(), b.to_string()])
                .collect()
        };
        let v1 = |score: fn(&GpuRow) -> f64| -> Vec<GpuModel> {
            GPU_TABLE
                .iter()
                .map(|row| GpuModel {
                    name: row.name.to_owned(),
                    fp16_tflops: row.fp16,
                    fp32_tflops: row.fp32,
                    vram_gb: row.vram,
                    score: score(row),
                    weight: 0.0,
                })
                .collect()
        };
        let base = ScoringConfig {
            profile,
            max_gpus: 8,
            full_score: 100.0,
            allocation_multiplier: 1.0,
            cap: 100.0,
            history: 4,
            require_reported_name: false,
            merkle_buffer: 0.10,
            pass_rule: PassRequirement::ThreeOfFour,
            health_check: false,
            weights: WeightsRule::Proportional,
            total_miner_emission: 1.0,
            tolerance_pairs: pairs(&TOLERANCE_PAIRS),
            gpu: Vec::new(),
        };
        match profile {
            ScoringProfile::Default => ScoringConfig {
                full_score: 50.0,
                allocation_multiplier: 2.0,
                gpu: v1(|r| r.score_default),
                ..base
            },
            ScoringProfile::Sn27V183 => ScoringConfig {
                gpu: v1(|r| r.score_v183),
                ..base
            },
            ScoringProfile::Sn27V221 => ScoringConfig {
                history: 2,
                require_reported_name: true,
                merkle_buffer: 0.05,
                pass_rule: PassRequirement::AllUpToFour,
                health_check: true,
                weights: WeightsRule::CappedByGpu,
                total_miner_emission: 0.05,
                tolerance_pairs: pairs(&TOLERANCE_PAIRS_V2),
                gpu: GPU_TABLE_V2
                    .iter()
                    .map(|&(name, fp16, fp32, vram, score, weight)| GpuModel {
                        name: name.to_owned(),
                        fp16_tflops: fp16,
                        fp32_tflops: fp32,
                        vram_gb: vram,
                        score,
                        weight,
                    })
                    .collect(),
                ..base
            },
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

/// `sn27-v2.md` §5.1 in identification order: name, FP16, FP32, VRAM, `gpu_scores`,
/// `gpu_weights` (a model without a score or weight has 0).
#[rustfmt::skip]
const GPU_TABLE_V2: [(&str, f64, f64, f64, f64, f64); 20] = [
    ("NVIDIA B200", 1205.0, 67.2, 68.72, 4.80, 23.0),
    ("NVIDIA H200", 610.0, 49.6, 68.72, 3.99, 19.0),
    ("NVIDIA H100 80GB HBM3", 570.0, 49.0, 34.36, 2.99, 18.0),
    ("NVIDIA H100 PCIe", 330.0, 37.2, 34.36, 2.79, 16.0),
    ("NVIDIA H100 NVL", 218.0, 32.0, 34.36, 3.15, 15.0),
    ("NVIDIA A100-SXM4-80GB", 238.8, 18.2, 34.36, 1.89, 10.0),
    ("NVIDIA A100 80GB PCIe", 197.0, 16.9, 34.36, 1.64, 9.0),
    ("NVIDIA A100-SXM4-40GB", 257.0, 18.2, 17.18, 0.0, 0.0),
    ("NVIDIA GeForce RTX 5090", 220.0, 65.0, 17.18, 0.92, 5.0),
    ("NVIDIA L40S", 171.0, 35.5, 17.18, 1.03, 8.0),
    ("NVIDIA L40", 116.0, 27.0, 17.18, 0.99, 7.0),
    ("NVIDIA RTX 6000 Ada Generation", 112.0, 26.0, 17.18, 0.88, 4.0),
    ("NVIDIA RTX A6000", 48.5, 21.28, 17.18, 0.76, 3.0),
    ("NVIDIA RTX A5000", 60.0, 15.8, 8.59, 0.26, 2.0),
    ("NVIDIA RTX A4500", 44.0, 14.3, 8.59, 0.34, 2.0),
    ("NVIDIA RTX 4000 Ada Generation", 70.0, 14.6, 8.59, 0.0, 1.0),
    ("NVIDIA A40", 40.0, 22.8, 17.18, 0.39, 6.0),
    ("NVIDIA GeForce RTX 4090", 157.0, 48.5, 8.59, 0.69, 1.0),
    ("NVIDIA GeForce RTX 3090", 66.4, 21.7, 8.59, 0.43, 0.5),
    ("NVIDIA L4", 51.0, 9.0, 8.59, 0.43, 0.5),
];

/// v2.2.1's `gpu_tolerance_pairs`, a map the reference reads in both directions, as pairs.
/// Its key `NVIDIA H100"` (a stray quote) matches no driver name and is left out.
const TOLERANCE_PAIRS_V2: [(&str, &str); 8] = [
    ("NVIDIA L40s", "NVIDIA L40S"),
    ("NVIDIA RTX 4090", "NVIDIA GeForce RTX 4090"),
    ("NVIDIA H100 NVL", "NVIDIA H100 PCIe"),
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

    /// `sn27-v2.md` §5.3: Σ of the configured positive `gpu_weights` is 150.
    #[test]
    fn the_v2_weights_sum_to_150() {
        let s = ScoringConfig::for_profile(ScoringProfile::Sn27V221);
        let total: f64 = s.gpu.iter().map(|m| m.weight).filter(|w| *w > 0.0).sum();
        assert_eq!(total, 150.0);
        assert_eq!(s.gpu.len(), 20);
        assert!(s.gpu.iter().all(|m| m.name.starts_with("NVIDIA ")));
    }
}
