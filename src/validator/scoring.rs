//! The scoring of `sn27-protocol.md` §7 over the `[scoring]` table, and the weights that
//! follow (§9).
//!
//! Both rule sets are `points = min(cap, base(model) · min(N, max_gpus) · full_score /
//! (max_gpus · max_base) · (allocation_multiplier if rented else 1))`, and a miner's score is
//! `points / 100`. Per uid ([`score_table`]): a uid that is not queryable scores 0; otherwise
//! the newest passing Proof-of-GPU result among the kept ones is scored, and a uid without
//! one scores 0 — each zero with its reason. The table (and so the rule set) is
//! configuration; this module only computes.

use std::collections::HashSet;

use serde::Serialize;

use super::selection::{Excluded, Selection};
use super::state::{Spec, TestResult, ValidatorState};
use super::weights::{normalize, to_u16, WeightsError};
use crate::chain::Metagraph;
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

/// One uid's score, and why it is what it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UidScore {
    pub uid: u16,
    pub hotkey: String,
    /// The result scored: the newest passing one kept.
    pub spec: Option<Spec>,
    /// The results kept, oldest first (a running round's once it ends).
    pub results: Vec<TestResult>,
    /// Rented by this validator: not tested, scored with its last result and the multiplier.
    pub rented: bool,
    pub points: f64,
    /// `points / 100`, in [0, 1].
    pub score: f64,
    /// The share of the weight vector (L1-normalised float32, as the SDK computes it).
    pub weight: f64,
    /// What goes on chain after the SDK's u16 conversion (0: left out).
    pub weight_u16: u16,
    /// Why the score is zero.
    pub reason: Option<String>,
}

/// Scores every uid of `metagraph`, and the weights they make. Results of a round still
/// running do not count yet.
pub fn score_table(
    metagraph: &Metagraph,
    selection: &Selection,
    state: &ValidatorState,
    rented: &HashSet<String>,
    table: &ScoringConfig,
) -> Result<Vec<UidScore>, WeightsError> {
    let mut neurons: Vec<_> = metagraph.neurons.iter().collect();
    neurons.sort_by_key(|n| n.uid);
    let mut rows = Vec::with_capacity(neurons.len());
    let running = state.running_round();
    for neuron in neurons {
        let hotkey = neuron.hotkey.to_ss58();
        let record = state.miners.get(&hotkey);
        let is_rented = rented.contains(&hotkey);
        let results = record.map(|r| r.counted(running)).unwrap_or_default();
        let spec = results.iter().rev().find_map(|r| r.spec.clone());
        let (points, reason) = match (selection.excluded.get(&neuron.uid), &spec) {
            (Some(Excluded::Own), _) => (0.0, Some("this validator".to_string())),
            (Some(excluded), _) => (0.0, Some(excluded.to_string())),
            (None, Some(spec)) => {
                let points = points(table, &spec.model, spec.gpus, is_rented);
                let reason = (points <= 0.0)
                    .then(|| format!("{} earns nothing in the [scoring] table", spec.model));
                (points, reason)
            }
            (None, None) => {
                let reason = match results.last() {
                    None => "not tested yet".to_string(),
                    Some(last) => format!(
                        "no passing test in the last {}: {}",
                        results.len(),
                        last.failure.as_deref().unwrap_or("failed")
                    ),
                };
                (0.0, Some(reason))
            }
        };
        rows.push(UidScore {
            uid: neuron.uid,
            hotkey,
            spec,
            results,
            rented: is_rented,
            points,
            score: points / 100.0,
            weight: 0.0,
            weight_u16: 0,
            reason,
        });
    }
    let scores: Vec<f64> = rows.iter().map(|r| r.score).collect();
    let weights = normalize(&scores);
    let uids: Vec<u16> = rows.iter().map(|r| r.uid).collect();
    let (dests, values) = to_u16(&uids, &weights)?;
    for (row, weight) in rows.iter_mut().zip(&weights) {
        row.weight = f64::from(*weight);
        if let Some(at) = dests.iter().position(|&d| d == row.uid) {
            row.weight_u16 = values[at];
        }
    }
    Ok(rows)
}

/// The `(dests, weights)` of a score table, as `set_weights` carries them.
pub fn weights_of(rows: &[UidScore]) -> (Vec<u16>, Vec<u16>) {
    rows.iter()
        .filter(|r| r.weight_u16 > 0)
        .map(|r| (r.uid, r.weight_u16))
        .unzip()
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

    /// `sn27-protocol.md` §9's example through the whole pipeline: rule set B, one GPU each
    /// of H200, H100 and A100-SXM4-80GB give `[65535, 45875, 31129]` (45875 only when the
    /// normalisation is done in float32, as the SDK does).
    #[test]
    fn the_weights_example_comes_out_exactly() {
        use crate::chain::{AxonInfo, Metagraph, NeuronInfo};
        use crate::keys::Keypair;
        use crate::validator::selection::{select, SelectionRules};
        use crate::validator::state::{Spec, TestResult, ValidatorState};

        let neurons: Vec<NeuronInfo> = (0..5u16)
            .map(|uid| NeuronInfo {
                uid,
                hotkey: Keypair::generate(12).unwrap().public(),
                coldkey: Keypair::generate(12).unwrap().public(),
                stake: 0,
                alpha_stake: 0,
                tao_stake: Some(0),
                validator_permit: uid == 0,
                last_update: 0,
                registered_at: 0,
                axon: if uid == 0 {
                    AxonInfo::default()
                } else {
                    AxonInfo::for_address(format!("203.0.113.{uid}").parse().unwrap(), 8091, 183)
                },
                prometheus: Default::default(),
                incentive: None,
                emission: None,
                trust: None,
            })
            .collect();
        let metagraph = Metagraph {
            netuid: 27,
            block: 10,
            neurons,
        };
        let me = metagraph.neurons[0].hotkey;
        let selection = select(&metagraph, &me, &SelectionRules::default());
        let mut state = ValidatorState::default();
        for (uid, model) in [
            (1, "NVIDIA H200"),
            (2, "NVIDIA H100"),
            (3, "NVIDIA A100-SXM4-80GB"),
        ] {
            let result = TestResult {
                block: 5,
                spec: Some(Spec {
                    model: model.into(),
                    gpus: 1,
                }),
                failure: None,
            };
            state.record(
                &metagraph.neurons[uid].hotkey.to_ss58(),
                uid as u16,
                result,
                4,
            );
        }
        let table = ScoringConfig::for_profile(ScoringProfile::Sn27V183);
        let rows = score_table(&metagraph, &selection, &state, &HashSet::new(), &table).unwrap();
        let scores: Vec<f64> = rows.iter().map(|r| r.score).collect();
        assert!(close(scores[1], 0.125) && close(scores[2], 0.0875) && close(scores[3], 0.059375));
        assert_eq!(
            weights_of(&rows),
            (vec![1, 2, 3], vec![65535, 45875, 31129])
        );
        assert_eq!(rows[0].reason.as_deref(), Some("this validator"));
        assert_eq!(rows[4].reason.as_deref(), Some("not tested yet"));
        // Rented by this validator: rule set A doubles the points.
        let a = ScoringConfig::default();
        let rented: HashSet<String> = [metagraph.neurons[1].hotkey.to_ss58()].into();
        let rows = score_table(&metagraph, &selection, &state, &rented, &a).unwrap();
        assert!(rows[1].rented && close(rows[1].points, 2.0 * 6.25));
    }
}
