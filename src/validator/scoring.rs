//! The scoring formula of `sn27-protocol.md` §7 over the `[scoring]` table.
//!
//! Both rule sets are `points = min(cap, base(model) · min(N, max_gpus) · full_score /
//! (max_gpus · max_base) · (allocation_multiplier if rented else 1))`, and a miner's score is
//! `points / 100`. The table (and so the rule set) is configuration; this module only computes.

use crate::config::ScoringConfig;

/// The largest base score in the table (the top model), or 0 for an all-zero table.
pub fn max_base(table: &ScoringConfig) -> f64 {
    table.gpu.iter().map(|m| m.score).fold(0.0, f64::max)
}

/// Base score of a model name; models missing from the table score 0.
pub fn base(table: &ScoringConfig, model: &str) -> f64 {
    table
        .gpu
        .iter()
        .find(|m| m.name == model)
        .map_or(0.0, |m| m.score)
}

/// Points (0 to `cap`) for a miner proven to have `gpus` GPUs of `model`.
pub fn points(table: &ScoringConfig, model: &str, gpus: u32, rented: bool) -> f64 {
    let max_base = max_base(table);
    if max_base <= 0.0 || table.max_gpus == 0 {
        return 0.0;
    }
    let counted = f64::from(gpus.min(table.max_gpus));
    let bonus = if rented {
        table.allocation_multiplier
    } else {
        1.0
    };
    let points = base(table, model) * counted * table.full_score
        / (f64::from(table.max_gpus) * max_base)
        * bonus;
    points.min(table.cap)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ScoringProfile;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    /// The worked examples of rule set A (`sn27-protocol.md` §7.2).
    #[test]
    fn rule_set_a_examples() {
        let s = ScoringConfig::default();
        assert!(close(points(&s, "NVIDIA H200", 8, false), 50.0));
        assert!(close(points(&s, "NVIDIA H200", 8, true), 100.0));
        assert!(close(points(&s, "NVIDIA H100", 4, false), 17.5));
        assert!(close(points(&s, "NVIDIA H100", 4, true), 35.0));
        assert!(close(points(&s, "NVIDIA RTX 4090", 1, false), 1.0625));
        assert!(close(points(&s, "NVIDIA A100-SXM4-80GB", 10, false), 23.75));
        assert!(close(points(&s, "NVIDIA A100-SXM4-40GB", 8, false), 0.0));
        assert!(close(points(&s, "NVIDIA GeForce RTX 5090", 8, false), 0.0));
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
            assert!(
                close(points(&s, model, 1, false) / 100.0, per_gpu),
                "{model}"
            );
            // No rental bonus in v1.8.3.
            assert!(
                close(points(&s, model, 1, true) / 100.0, per_gpu),
                "{model}"
            );
        }
        assert!(close(points(&s, "NVIDIA H200", 8, false), 100.0));
    }
}
