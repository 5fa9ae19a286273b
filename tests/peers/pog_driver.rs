//! The validator's Proof-of-GPU steps (`validator::proof_of_gpu`) against the real worker in
//! its CPU test mode, run by the pinned Python on this machine through a local shell, and
//! against miners that cheat: each tampering below must fail the test at the step it breaks.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sn27::pog::check::PassRule;
use sn27::pog::identify::ModelSpec;
use sn27::pog::sizes::MERKLE_BUFFER_V1;
use sn27::validator::proof_of_gpu::{
    run, LocalShell, PogFailure, PogSettings, Remote, RemoteOutput, CONTAINER_WORK_DIR,
};

/// A miner that changes what the worker says, or how long it takes.
struct Cheat<F> {
    inner: LocalShell,
    tamper: F,
}

#[async_trait]
impl<F> Remote for Cheat<F>
where
    F: Fn(&str, &mut RemoteOutput) + Send + Sync,
{
    async fn run(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
        limit: usize,
        timeout: Duration,
    ) -> Result<RemoteOutput, String> {
        let mut out = self.inner.run(command, stdin, limit, timeout).await?;
        (self.tamper)(command, &mut out);
        Ok(out)
    }
}

fn settings() -> PogSettings {
    PogSettings {
        python: crate::support::python().to_string_lossy().into_owned(),
        // The cheats below rewrite the inputs where a container has them.
        work_dir: CONTAINER_WORK_DIR.into(),
        cpu_test_mode: true,
        merkle_buffer: MERKLE_BUFFER_V1,
        pass_rule: PassRule::V1,
        time_tolerance_secs: 5.0,
        step_timeout: Duration::from_secs(60),
        compute_timeout: Duration::from_secs(120),
        models: vec![
            ModelSpec {
                name: "NVIDIA H100 80GB HBM3".into(),
                fp16_tflops: 570.0,
                fp32_tflops: 49.0,
                vram_gb: 34.36,
            },
            ModelSpec {
                name: "CPU (test)".into(),
                fp16_tflops: 1.0,
                fp32_tflops: 1.0,
                vram_gb: 0.0001,
            },
        ],
        tolerance_pairs: Vec::new(),
        require_reported_name: true,
    }
}

/// The driver writes its files at fixed paths; one test at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn an_honest_worker_passes_and_is_identified() {
    runtime().block_on(async {
        let _turn = ONE_AT_A_TIME.lock().await;
        let verified = run(&LocalShell, &settings()).await.unwrap();
        assert_eq!(verified.model, "CPU (test)");
        assert_eq!(verified.gpus, 1);
        assert_eq!(verified.reported, "CPU (test)");
        assert_eq!(verified.n, 32);
        assert!(verified.compute_secs > 0.0);
    });
}

fn cheat(tamper: impl Fn(&str, &mut RemoteOutput) + Send + Sync + 'static) -> Arc<dyn Remote> {
    Arc::new(Cheat {
        inner: LocalShell,
        tamper,
    })
}

/// Replaces the first 64-hex string after `"key":"` in a JSON line.
fn replace_hex(out: &mut RemoteOutput, key: &str, with: &str) {
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    let marker = format!("\"{key}\": \"");
    let marker = if text.contains(&marker) {
        marker
    } else {
        format!("\"{key}\":\"")
    };
    let at = text.find(&marker).expect("field present") + marker.len();
    let mut changed = text.clone();
    changed.replace_range(at..at + with.len(), with);
    out.stdout = changed.into_bytes();
}

#[test]
fn cheating_miners_fail_at_the_step_they_break() {
    runtime().block_on(async {
        let _turn = ONE_AT_A_TIME.lock().await;
        let cases: Vec<(&str, Arc<dyn Remote>)> = vec![
            (
                // A root that is not the tree's.
                "verification",
                cheat(|command, out| {
                    if command.contains("--mode compute") {
                        replace_hex(out, "root", &"0".repeat(64));
                    }
                }),
            ),
            (
                // Results computed with other seeds: the opened row's value is wrong.
                "verification",
                cheat(|command, _out| {
                    if command.starts_with("umask 077; cat > /tmp/sn27-pog-seeds.json") {
                        // The seeds file the worker reads is rewritten after the upload.
                        std::fs::write(
                            "/tmp/sn27-pog-seeds.json",
                            br#"{"n": 32, "seeds": [[0, 1, 2]]}"#,
                        )
                        .unwrap();
                    }
                }),
            ),
            (
                // A proof for another row than the one challenged.
                "verification",
                cheat(|command, _out| {
                    if command.starts_with("umask 077; cat > /tmp/sn27-pog-challenges.json") {
                        let text =
                            std::fs::read_to_string("/tmp/sn27-pog-challenges.json").unwrap();
                        let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
                        let i = doc["challenges"][0][1].as_u64().unwrap();
                        doc["challenges"][0][1] = ((i + 1) % 32).into();
                        std::fs::write("/tmp/sn27-pog-challenges.json", doc.to_string())
                            .unwrap();
                    }
                }),
            ),
            (
                // Slower than its own benchmark allows, as the validator measures it.
                "timing",
                cheat(|command, out| {
                    if command.contains("--mode compute") {
                        out.elapsed += Duration::from_secs(30);
                    }
                }),
            ),
            (
                // Any stderr text fails the step.
                "benchmark",
                cheat(|command, out| {
                    if command.contains("--mode benchmark") {
                        out.stderr = b"UserWarning: something\n".to_vec();
                    }
                }),
            ),
            (
                // Not the protocol's output.
                "gpu_info",
                cheat(|command, out| {
                    if command.contains("--mode gpu_info") {
                        out.stdout = b"{\"protocol\": 1, \"surprise\": true}\n".to_vec();
                    }
                }),
            ),
            (
                // The driver reports a model the benchmark does not support.
                "identification",
                cheat(|command, out| {
                    if command.contains("--mode gpu_info") {
                        out.stdout = br#"{"protocol":1,"mode":"gpu_info","num_gpus":1,"gpu_names":["NVIDIA H100 80GB HBM3"]}"#.to_vec();
                    }
                }),
            ),
        ];
        for (step, remote) in cases {
            let failure: PogFailure = run(remote.as_ref(), &settings())
                .await
                .expect_err("a cheating miner must fail");
            assert_eq!(failure.step(), step, "{failure}");
        }
    });
}

/// Where `key`'s value starts in a JSON text (`"key":` or `"key": `, then the value).
fn value_at(text: &str, key: &str) -> usize {
    for marker in [format!("\"{key}\":"), format!("\"{key}\": ")] {
        if let Some(at) = text.find(&marker) {
            let rest = &text[at + marker.len()..];
            return at + marker.len() + (rest.len() - rest.trim_start().len());
        }
    }
    panic!("no {key} in {text}")
}

/// `text` with the hex digit at `at` replaced by another one (`by` in 1..16 steps away).
fn flip_hex(text: &str, at: usize, by: u64) -> String {
    let digit = text.as_bytes()[at] as char;
    let value = digit.to_digit(16).expect("a hex digit") as u64;
    let other = std::char::from_digit(((value + 1 + by % 15) % 16) as u32, 16).unwrap();
    let mut changed = text.to_string();
    changed.replace_range(at..at + 1, &other.to_string());
    changed
}

/// One way of changing an honest answer in a single field, and the step that must refuse it.
#[derive(Debug, Clone, Copy)]
enum Change {
    /// One hex digit of the committed Merkle root.
    Root,
    /// One hex digit of one node of the opened row's proof.
    ProofNode,
    /// One hex digit of the opened row (one float32 of it changes).
    RowValue,
    /// The reported mean multiplication time, above the benchmark's own t32.
    MultiplicationTime,
    /// The compute step's run time as the validator sees it, past the bound.
    ComputeTime,
    /// The driver's name of the GPU, another model of the table.
    GpuName,
}

impl Change {
    const ALL: [Change; 6] = [
        Change::Root,
        Change::ProofNode,
        Change::RowValue,
        Change::MultiplicationTime,
        Change::ComputeTime,
        Change::GpuName,
    ];

    fn refused_at(self) -> &'static str {
        match self {
            Change::Root | Change::ProofNode | Change::RowValue => "verification",
            Change::MultiplicationTime | Change::ComputeTime => "timing",
            Change::GpuName => "identification",
        }
    }

    /// The miner that makes this change, at the place `r` picks.
    fn miner(self, r: u64) -> Arc<dyn Remote> {
        cheat(move |command, out| {
            let text = String::from_utf8(out.stdout.clone()).unwrap();
            let responses = command.starts_with("cat ") && command.contains("sn27-pog-");
            let changed = match self {
                Change::Root if command.contains("--mode compute") => {
                    let at = value_at(&text, "root") + 1;
                    Some(flip_hex(&text, at + (r % 64) as usize, r >> 8))
                }
                Change::ProofNode if responses => {
                    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
                    let nodes = doc["responses"][0]["proof"].as_array().unwrap().len();
                    assert!(nodes > 0, "a proof to change: {text}");
                    // `["` then nodes of 64 hex digits separated by `","` (or `", "`).
                    let start = value_at(&text, "proof") + 2;
                    let node = (r % nodes as u64) as usize;
                    let stride = if text[start + 64..].starts_with("\", \"") {
                        68
                    } else {
                        67
                    };
                    let at = start + node * stride + ((r >> 8) % 64) as usize;
                    Some(flip_hex(&text, at, r >> 16))
                }
                Change::RowValue if responses => {
                    let start = value_at(&text, "row") + 1;
                    let len = text[start..].find('"').unwrap();
                    Some(flip_hex(&text, start + (r % len as u64) as usize, r >> 16))
                }
                Change::MultiplicationTime if command.contains("--mode compute") => {
                    let at = value_at(&text, "multiplication");
                    let end = at + text[at..].find([',', '}']).unwrap();
                    let mut changed = text.clone();
                    changed.replace_range(at..end, &format!("{}", 1.0 + (r % 1000) as f64));
                    Some(changed)
                }
                Change::ComputeTime if command.contains("--mode compute") => {
                    out.elapsed += Duration::from_secs(6 + r % 60);
                    None
                }
                Change::GpuName if command.contains("--mode gpu_info") => {
                    Some(text.replace("CPU (test)", "NVIDIA H100 80GB HBM3"))
                }
                _ => None,
            };
            if let Some(changed) = changed {
                assert_ne!(changed, text, "{self:?} changed nothing");
                out.stdout = changed.into_bytes();
            }
        })
    }
}

/// Property: an honest worker's answer is accepted, and the same answer with any single field
/// changed — a digit of the root, of a proof node or of the opened row, a timing, the GPU's
/// name — is refused at the step that checks it. Places are drawn at random (the seed is in
/// the failure message); each change is tried four times.
#[test]
fn any_single_field_changed_in_an_honest_answer_is_refused() {
    use rand::{Rng, SeedableRng};
    runtime().block_on(async {
        let _turn = ONE_AT_A_TIME.lock().await;
        // The name is checked where the rule set requires the reported name (v2.1+).
        let mut strict = settings();
        strict.require_reported_name = true;
        run(&LocalShell, &strict)
            .await
            .expect("the honest answer passes");
        let seed: u64 = rand::random();
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        for round in 0..4 {
            for change in Change::ALL {
                let r: u64 = rng.gen();
                let failure = run(&*change.miner(r), &strict)
                    .await
                    .expect_err(&format!("{change:?} (seed {seed}, round {round}) refused"));
                assert_eq!(
                    failure.step(),
                    change.refused_at(),
                    "{change:?} (seed {seed}, round {round}): {failure}"
                );
            }
        }
    });
}
