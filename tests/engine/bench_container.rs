//! `sn27 bench --container`: the validator's Proof-of-GPU steps inside the miner's runtime
//! image on the real engine, with the worker's CPU test mode (this host has no GPU); the
//! container is gone afterwards.

use std::process::Command;

use crate::support::{sn27, stderr, stdout};

fn base_image() -> String {
    std::env::var("SN27_TEST_BASE_IMAGE").unwrap_or_else(|_| "sn27-test-base:bookworm-py".into())
}

fn bench_containers() -> Vec<String> {
    let out = Command::new("docker")
        .args([
            "ps",
            "-a",
            "--filter",
            "label=sn27.kind=bench",
            "--format",
            "{{.Names}}",
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn the_validators_steps_run_in_the_runtime_image() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sn27.toml");
    std::fs::write(
        &config,
        format!(
            "role = \"miner\"\nstate_dir = \"{}\"\n[miner.container]\nbase_image = \"{}\"\n\
             reserve_memory_gb = 0.25\n[[scoring.gpu]]\nname = \"NVIDIA H200\"\n\
             fp16_tflops = 610.0\nfp32_tflops = 49.6\nvram_gb = 68.72\nscore = 4.0\n\
             [[scoring.gpu]]\nname = \"CPU (test)\"\nfp16_tflops = 1.0\nfp32_tflops = 1.0\n\
             vram_gb = 0.0001\nscore = 1.0\n",
            dir.path().join("state").display(),
            base_image()
        ),
    )
    .unwrap();
    let before = bench_containers();
    let out = sn27(
        &[
            "--config",
            config.to_str().unwrap(),
            "bench",
            "--container",
            "--cpu-test",
            "--json",
        ],
        &[],
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["passed"], true, "{report}");
    assert_eq!(report["identified"], "CPU (test)");
    assert_eq!(report["count"], 1);
    assert_eq!(report["n"], 32);
    // One GPU of a model scored 1.0 in a table whose best is 4.0: 1 · 50 / (8 · 4) points.
    assert!(
        (report["points"].as_f64().unwrap() - 1.5625).abs() < 1e-9,
        "{report}"
    );
    assert_eq!(bench_containers(), before, "the bench container is removed");
}
