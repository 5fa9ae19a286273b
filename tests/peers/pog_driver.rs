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
