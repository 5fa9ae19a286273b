//! The scoring of `sn27-protocol.md` §7 and `sn27-v2.md` §5.2 over the `[scoring]` table, and
//! the weights that follow (§9 there, §5.3 here).
//!
//! Both rule sets are `points = min(cap, base(model) · min(N, max_gpus) · full_score /
//! (max_gpus · max_base) · (allocation_multiplier if rented else 1))`, and a miner's score is
//! `points / 100`. Per uid ([`score_table`]): a uid that is not queryable scores 0; otherwise
//! the newest passing Proof-of-GPU result among the kept ones is scored, and a uid without
//! one scores 0 — each zero with its reason. The table (and so the rule set) is
//! configuration; this module only computes.
//!
//! Weights are proportional to scores, or — `weights = "capped-by-gpu"` — each GPU model's
//! miners share at most `weight / Σ weights · total_miner_emission`, split by score, and the
//! rest goes to the subnet owner's uid ([`ScoreTable::owner`]).

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use super::selection::{Excluded, Selection};
use super::state::{Spec, TestResult, ValidatorState};
use super::weights::{normalize, to_u16, WeightsError};
use crate::chain::Metagraph;
use crate::config::{ScoringConfig, WeightsRule};
use crate::keys::PublicKey;

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

/// One GPU model's group under `weights = "capped-by-gpu"`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GpuCap {
    pub model: String,
    /// The model's `weight` in the table.
    pub weight: f64,
    /// Its most: `weight / Σ weights · total_miner_emission`.
    pub cap: f64,
    /// Uids proven to have this model with a score above 0.
    pub members: usize,
    /// What the group receives: `cap` with members, 0 without.
    pub share: f64,
}

/// The subnet owner's part under `weights = "capped-by-gpu"`: what the groups leave.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OwnerShare {
    pub uid: u16,
    pub hotkey: String,
    /// `max(0, 1 − Σ shares)`.
    pub share: f64,
}

/// Every uid's score and weight, and under capped weights the groups and the owner's part.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreTable {
    pub rows: Vec<UidScore>,
    /// Under capped weights: each model with a weight above 0, in table order.
    pub caps: Vec<GpuCap>,
    pub owner: Option<OwnerShare>,
    /// Why no weights can be set from this table (then every weight is 0).
    pub blocked: Option<String>,
}

/// Scores every uid of `metagraph`, and the weights they make. Results of a round still
/// running do not count yet. `owner` is the subnet owner's hotkey (the chain's
/// `SubnetOwnerHotkey`), which capped weights need.
pub fn score_table(
    metagraph: &Metagraph,
    selection: &Selection,
    state: &ValidatorState,
    rented: &HashSet<String>,
    table: &ScoringConfig,
    owner: Option<&PublicKey>,
) -> Result<ScoreTable, WeightsError> {
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
            (None, Some(spec)) => match state.wandb.as_ref().and_then(|w| w.zeroes(&hotkey)) {
                Some(reason) => (0.0, Some(reason)),
                None => {
                    let points = points(table, &spec.model, spec.gpus, is_rented);
                    let reason = (points <= 0.0)
                        .then(|| format!("{} earns nothing in the [scoring] table", spec.model));
                    (points, reason)
                }
            },
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
    let mut out = ScoreTable {
        rows,
        caps: Vec::new(),
        owner: None,
        blocked: None,
    };
    let raw: Vec<f64> = match table.weights {
        WeightsRule::Proportional => out.rows.iter().map(|r| r.score).collect(),
        WeightsRule::CappedByGpu => match capped(&mut out, metagraph, table, owner) {
            Some(raw) => raw,
            None => return Ok(out),
        },
    };
    let weights = normalize(&raw);
    let uids: Vec<u16> = out.rows.iter().map(|r| r.uid).collect();
    let (dests, values) = to_u16(&uids, &weights)?;
    for (row, weight) in out.rows.iter_mut().zip(&weights) {
        row.weight = f64::from(*weight);
        if let Some(at) = dests.iter().position(|&d| d == row.uid) {
            row.weight_u16 = values[at];
        }
    }
    Ok(out)
}

/// `sn27-v2.md` §5.3: the raw weight of every row (same order), with the groups and the
/// owner's part recorded in `out`; `None` (and `out.blocked`) when the owner has no uid.
fn capped(
    out: &mut ScoreTable,
    metagraph: &Metagraph,
    table: &ScoringConfig,
    owner: Option<&PublicKey>,
) -> Option<Vec<f64>> {
    let emission = table.total_miner_emission.clamp(0.0, 1.0);
    let total: f64 = table
        .gpu
        .iter()
        .map(|m| m.weight)
        .filter(|w| *w > 0.0)
        .sum();
    // Each model's members (row indices) and the sum of their scores.
    let mut groups: BTreeMap<&str, (Vec<usize>, f64)> = BTreeMap::new();
    for (index, row) in out.rows.iter().enumerate() {
        if let Some(spec) = &row.spec {
            if row.score > 0.0 {
                let group = groups.entry(spec.model.as_str()).or_default();
                group.0.push(index);
                group.1 += row.score;
            }
        }
    }
    let mut raw = vec![0.0; out.rows.len()];
    for model in table.gpu.iter().filter(|m| m.weight > 0.0) {
        let cap = model.weight / total * emission;
        let (members, sum) = groups.get(model.name.as_str()).cloned().unwrap_or_default();
        let share = if sum > 0.0 { cap } else { 0.0 };
        for &index in &members {
            raw[index] = cap * out.rows[index].score / sum;
        }
        out.caps.push(GpuCap {
            model: model.name.clone(),
            weight: model.weight,
            cap,
            members: members.len(),
            share,
        });
    }
    let burn = (1.0 - out.caps.iter().map(|c| c.share).sum::<f64>()).max(0.0);
    let Some(owner) = owner else {
        out.blocked = Some(
            "the chain names no subnet owner: capped weights give the remainder to the owner's \
             uid"
            .into(),
        );
        return None;
    };
    let Some(index) = out.rows.iter().position(|r| {
        metagraph
            .neurons
            .iter()
            .any(|n| n.uid == r.uid && n.hotkey == *owner)
    }) else {
        out.blocked = Some(format!(
            "the subnet owner {owner} holds no uid on netuid {}: capped weights give the \
             remainder ({burn:.5}) to the owner's uid, so none are set",
            metagraph.netuid
        ));
        return None;
    };
    // The owner's part replaces whatever its uid had.
    raw[index] = burn;
    let row = &mut out.rows[index];
    row.reason = Some(match row.reason.take() {
        Some(reason) => format!("subnet owner, receives the remainder; {reason}"),
        None => "subnet owner, receives the remainder".into(),
    });
    out.owner = Some(OwnerShare {
        uid: out.rows[index].uid,
        hotkey: owner.to_ss58(),
        share: burn,
    });
    Some(raw)
}

impl ScoreTable {
    /// The `(dests, weights)` to set, as `set_weights` carries them; `None` when blocked.
    pub fn weights(&self) -> Option<(Vec<u16>, Vec<u16>)> {
        if self.blocked.is_some() {
            return None;
        }
        Some(
            self.rows
                .iter()
                .filter(|r| r.weight_u16 > 0)
                .map(|r| (r.uid, r.weight_u16))
                .unzip(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ScoringProfile;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    /// The score table when this validator rents nobody.
    fn unrented(
        metagraph: &Metagraph,
        selection: &Selection,
        state: &ValidatorState,
        table: &ScoringConfig,
        owner: Option<&PublicKey>,
    ) -> ScoreTable {
        score_table(metagraph, selection, state, &HashSet::new(), table, owner).unwrap()
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
        let scored_now = unrented(&metagraph, &selection, &state, &table, None);
        let rows = &scored_now.rows;
        let scores: Vec<f64> = rows.iter().map(|r| r.score).collect();
        assert!(close(scores[1], 0.125) && close(scores[2], 0.0875) && close(scores[3], 0.059375));
        assert_eq!(
            scored_now.weights(),
            Some((vec![1, 2, 3], vec![65535, 45875, 31129]))
        );
        assert_eq!(rows[0].reason.as_deref(), Some("this validator"));
        assert_eq!(rows[4].reason.as_deref(), Some("not tested yet"));
        // Rented by this validator: rule set A doubles the points.
        let a = ScoringConfig::default();
        let rented: HashSet<String> = [metagraph.neurons[1].hotkey.to_ss58()].into();
        let rows = score_table(&metagraph, &selection, &state, &rented, &a, None)
            .unwrap()
            .rows;
        assert!(rows[1].rented && close(rows[1].points, 2.0 * 6.25));

        // With W&B read: uid 2 has no specs run, uid 3 is on the penalty list.
        let hotkey = |uid: usize| metagraph.neurons[uid].hotkey.to_ss58();
        state.wandb = Some(super::super::wandb_inputs::WandbInputs {
            specs_reads: vec![[hotkey(1), hotkey(3)].into()],
            penalized: Some(vec![hotkey(3)]),
            ..Default::default()
        });
        let gated = unrented(&metagraph, &selection, &state, &table, None);
        let rows = &gated.rows;
        assert!(close(rows[1].score, 0.125), "{:?}", rows[1]);
        assert_eq!(rows[2].points, 0.0);
        assert_eq!(
            rows[2].reason.as_deref(),
            Some("no signed, running W&B specs run in the last 1 read(s)")
        );
        assert_eq!(rows[3].points, 0.0);
        assert_eq!(rows[3].reason.as_deref(), Some("on the W&B penalty list"));
        assert_eq!(gated.weights(), Some((vec![1], vec![65535])));
    }
    /// A distinct key per `(kind, uid)` (no key generation: the tests only compare keys).
    fn key_of(kind: u8, uid: u16) -> PublicKey {
        let mut bytes = [kind; 32];
        bytes[..2].copy_from_slice(&uid.to_le_bytes());
        PublicKey(bytes)
    }

    fn metagraph_of(count: u16, serving: &[u16]) -> Metagraph {
        use crate::chain::{AxonInfo, NeuronInfo};
        let neurons = (0..count)
            .map(|uid| NeuronInfo {
                uid,
                hotkey: key_of(1, uid),
                coldkey: key_of(2, uid),
                stake: 0,
                alpha_stake: 0,
                tao_stake: Some(0),
                validator_permit: false,
                last_update: 0,
                registered_at: 0,
                axon: if serving.contains(&uid) {
                    AxonInfo::for_address("203.0.113.7".parse().unwrap(), 8091 + uid, 221)
                } else {
                    AxonInfo::default()
                },
                incentive: None,
                emission: None,
                trust: None,
                prometheus: Default::default(),
            })
            .collect();
        Metagraph {
            netuid: 27,
            block: 10,
            neurons,
        }
    }

    fn proven(state: &mut ValidatorState, metagraph: &Metagraph, uid: u16, model: &str, gpus: u32) {
        let result = TestResult {
            block: 5,
            spec: Some(Spec {
                model: model.into(),
                gpus,
            }),
            failure: None,
        };
        state.record(
            &metagraph.neurons[uid as usize].hotkey.to_ss58(),
            uid,
            result,
            2,
        );
    }

    fn v2_rules() -> crate::validator::selection::SelectionRules {
        crate::validator::selection::SelectionRules {
            min_miner_version: 221,
            updated_threshold: 20,
            ..Default::default()
        }
    }

    /// `sn27-v2.md` §5.2 and §5.3's example: burn uid 0, uid 5 = 8×H200, uids 6 and 7 = 4× and
    /// 2× H100 80GB HBM3 (all behind one IP: no IP rule in v2.2.1) → `[65535, 420, 265, 133]`.
    #[test]
    fn the_capped_weights_example_comes_out_exactly() {
        use crate::validator::selection::select;
        let metagraph = metagraph_of(8, &[5, 6, 7]);
        let me = metagraph.neurons[1].hotkey;
        let owner = metagraph.neurons[0].hotkey;
        let selection = select(&metagraph, &me, &v2_rules());
        let mut state = ValidatorState::default();
        proven(&mut state, &metagraph, 5, "NVIDIA H200", 8);
        proven(&mut state, &metagraph, 6, "NVIDIA H100 80GB HBM3", 4);
        proven(&mut state, &metagraph, 7, "NVIDIA H100 80GB HBM3", 2);
        let table = ScoringConfig::for_profile(ScoringProfile::Sn27V221);
        let scored = unrented(&metagraph, &selection, &state, &table, Some(&owner));
        // §5.2: gpu_scores · min(N, 8) / (8 · 4.80).
        assert!(close(scored.rows[5].score, 3.99 * 8.0 / 38.4));
        assert!(close(scored.rows[6].score, 2.99 * 4.0 / 38.4));
        assert!(close(scored.rows[7].score, 2.99 * 2.0 / 38.4));
        assert_eq!(
            scored.weights(),
            Some((vec![0, 5, 6, 7], vec![65535, 420, 265, 133]))
        );
        let owner_share = scored.owner.as_ref().unwrap();
        assert_eq!(owner_share.uid, 0);
        assert!((owner_share.share - 0.987_666_7).abs() < 1e-6);
        for (uid, weight) in [(5, 0.006_333_3), (6, 0.004), (7, 0.002)] {
            assert!((scored.rows[uid].weight - weight).abs() < 1e-6, "{uid}");
        }
        let h200 = scored
            .caps
            .iter()
            .find(|c| c.model == "NVIDIA H200")
            .unwrap();
        assert_eq!((h200.members, h200.weight), (1, 19.0));
        assert!(close(h200.share, 19.0 / 150.0 * 0.05));
        assert_eq!(scored.caps.len(), 19, "every model with a weight above 0");
        assert!(scored.rows[0]
            .reason
            .as_deref()
            .unwrap()
            .starts_with("subnet owner"));
    }

    /// The edges of §5.3: no miner proven (everything to the owner), no weight above 0 (the
    /// same; the reference fails and sets nothing), a model without score (its group earns
    /// nothing), and an owner without a uid (nothing set, with the reason).
    #[test]
    fn capped_weights_edges() {
        use crate::validator::selection::select;
        let metagraph = metagraph_of(6, &[2, 3, 4]);
        let me = metagraph.neurons[1].hotkey;
        let owner = metagraph.neurons[0].hotkey;
        let selection = select(&metagraph, &me, &v2_rules());
        let mut table = ScoringConfig::for_profile(ScoringProfile::Sn27V221);
        let run = |state: &ValidatorState, table: &ScoringConfig, owner: Option<&PublicKey>| {
            unrented(&metagraph, &selection, state, table, owner)
        };

        let empty = ValidatorState::default();
        let scored = run(&empty, &table, Some(&owner));
        assert_eq!(scored.weights(), Some((vec![0], vec![65535])));
        assert_eq!(scored.owner.as_ref().unwrap().share, 1.0);

        let mut state = ValidatorState::default();
        proven(
            &mut state,
            &metagraph,
            2,
            "NVIDIA RTX 4000 Ada Generation",
            8,
        );
        proven(&mut state, &metagraph, 3, "NVIDIA A100-SXM4-40GB", 8);
        let scored = run(&state, &table, Some(&owner));
        assert_eq!(scored.weights(), Some((vec![0], vec![65535])));
        let ada = scored
            .caps
            .iter()
            .find(|c| c.model == "NVIDIA RTX 4000 Ada Generation")
            .unwrap();
        assert_eq!((ada.members, ada.share), (0, 0.0), "score 0: no member");

        for model in &mut table.gpu {
            model.weight = 0.0;
        }
        proven(&mut state, &metagraph, 4, "NVIDIA H200", 8);
        let scored = run(&state, &table, Some(&owner));
        assert!(scored.caps.is_empty());
        assert_eq!(scored.weights(), Some((vec![0], vec![65535])));

        let table = ScoringConfig::for_profile(ScoringProfile::Sn27V221);
        let stranger = key_of(3, 0);
        let scored = run(&state, &table, Some(&stranger));
        assert_eq!(scored.weights(), None);
        assert!(scored.blocked.as_deref().unwrap().contains("holds no uid"));
        assert!(scored.rows.iter().all(|r| r.weight_u16 == 0));
        assert_eq!(run(&state, &table, None).weights(), None);
    }

    /// Whatever the proven GPUs, capped weights sum to 1, the owner gets exactly what the
    /// groups leave, no group exceeds its cap, and the result does not depend on uid order.
    #[test]
    fn capped_weights_properties() {
        use crate::validator::selection::select;
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(27);
        let table = ScoringConfig::for_profile(ScoringProfile::Sn27V221);
        for _ in 0..200 {
            let count = rng.gen_range(3..40u16);
            let serving: Vec<u16> = (2..count).collect();
            let metagraph = metagraph_of(count, &serving);
            // The owner holds a uid of its own (had it proven GPUs too, its part would
            // replace their weight, as the reference has it).
            let owner_uid = 0;
            let owner = metagraph.neurons[owner_uid as usize].hotkey;
            let me = metagraph.neurons[1].hotkey;
            let mut state = ValidatorState::default();
            for uid in 2..count {
                if rng.gen_bool(0.7) {
                    let model = &table.gpu[rng.gen_range(0..table.gpu.len())].name;
                    proven(&mut state, &metagraph, uid, model, rng.gen_range(1..12));
                }
            }
            let selection = select(&metagraph, &me, &v2_rules());
            let scored = unrented(&metagraph, &selection, &state, &table, Some(&owner));
            let sum: f64 = scored.rows.iter().map(|r| r.weight).sum();
            assert!((sum - 1.0).abs() < 1e-5, "sum {sum}");
            let owner_row = &scored.rows[owner_uid as usize];
            let shares: f64 = scored.caps.iter().map(|c| c.share).sum();
            let owner_part = scored.owner.as_ref().unwrap().share;
            assert!((owner_part - (1.0 - shares)).abs() < 1e-12);
            assert!((owner_row.weight - owner_part).abs() < 1e-5);
            for cap in &scored.caps {
                let given: f64 = scored
                    .rows
                    .iter()
                    .filter(|r| r.uid != owner_uid)
                    .filter(|r| r.spec.as_ref().is_some_and(|s| s.model == cap.model))
                    .map(|r| r.weight)
                    .sum();
                assert!(
                    given <= cap.cap + 1e-6,
                    "{} {given} > {}",
                    cap.model,
                    cap.cap
                );
            }
            // The same neurons in reverse order give every hotkey the same weight.
            let mut reversed = metagraph.clone();
            reversed.neurons.reverse();
            let again = unrented(&reversed, &selection, &state, &table, Some(&owner));
            let by_hotkey = |t: &ScoreTable| {
                let mut v: Vec<(String, u16)> = t
                    .rows
                    .iter()
                    .map(|r| (r.hotkey.clone(), r.weight_u16))
                    .collect();
                v.sort();
                v
            };
            assert_eq!(by_hotkey(&scored), by_hotkey(&again));
        }
    }
}
