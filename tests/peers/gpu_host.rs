//! `benches/gpu-host.sh`, the check of a GPU host, as it runs on this machine without a GPU:
//! no NVML and, for torch, `tests/python/fake_torch` (a numpy stand-in with two fake CUDA
//! devices). Every step that needs the GPU fails with its own named error rather than
//! rotting unnoticed, the worker's GPU mode still runs the validator's whole sequence on a
//! local shell, and the script exits non-zero.

use std::path::Path;

use serde_json::Value;

use crate::support::{python, sn27_command};

#[test]
fn the_gpu_host_check_names_what_a_host_without_a_gpu_lacks() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gpu-host.json");
    let run = sn27_command("bash")
        .arg(repo.join("benches/gpu-host.sh"))
        .arg(env!("CARGO_BIN_EXE_sn27"))
        .arg(python())
        .arg(&out)
        .env("PYTHONPATH", repo.join("tests/python/fake_torch"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{said}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let step = |name: &str| &report["steps"][name];
    assert_eq!(report["ok"], false);

    // NVML and the CUDA driver are missing, and each step says so.
    let check = step("check");
    assert_eq!(check["ok"], false, "{check}");
    assert!(
        check["error"]
            .as_str()
            .unwrap()
            .starts_with("gpus: no NVIDIA driver"),
        "{check}"
    );
    for name in ["bench-1", "bench-2", "bench-3", "bench-v2"] {
        let bench = step(name);
        assert_eq!(bench["exit"], 1, "{name}: {bench}");
        assert!(
            bench["error"]
                .as_str()
                .unwrap()
                .starts_with("no NVIDIA driver"),
            "{name}: {bench}"
        );
    }
    assert_eq!(
        report["identified_default"],
        serde_json::json!([null, null, null])
    );
    assert_eq!(report["identification_stable"], false);

    // The worker in GPU mode on the stand-in: the validator's steps ran to the end (its two
    // fake GPUs reported, benchmarked, computed, opened and verified), and the verdict is the
    // table's: no model of the default table is a "Fake GPU".
    let worker = step("worker");
    let output = &worker["output"];
    assert!(output.is_object(), "{worker}");
    if output["passed"] == true {
        assert_eq!(output["reported"], "Fake GPU 0", "{worker}");
        assert_eq!(output["count"], 2, "{worker}");
    } else {
        assert_eq!(output["step"], "identification", "{worker}");
    }

    // No cudarc figures to compare torch's with.
    let gemm = step("gemm");
    assert_eq!(gemm["ok"], false, "{gemm}");
    assert_eq!(
        gemm["error"], "sn27 bench measured nothing to compare with",
        "{gemm}"
    );
}
