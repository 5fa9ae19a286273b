//! `sn27 bench` as an operator runs it on this machine: without an NVIDIA driver it says which
//! part is missing and exits 1; with one, it measures and identifies.

use crate::support::{sn27, stderr, stdout};

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/sn27.toml.example");

#[test]
fn bench_reports_what_is_missing_or_what_it_measured() {
    let out = sn27(&["--config", EXAMPLE, "bench", "--json"], &[]);
    let report: serde_json::Value = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("JSON expected ({e}): {}{}", stdout(&out), stderr(&out)));
    match report.get("error").and_then(|e| e.as_str()) {
        Some(error) => {
            assert_eq!(out.status.code(), Some(1), "{report}");
            assert!(
                error.starts_with("no NVIDIA driver")
                    || error.starts_with("no cuBLAS")
                    || error.contains("reports no GPU"),
                "the missing part is named: {error}"
            );
            assert_eq!(report["score"], 0.0);
            // The human form says the same on stderr and nothing on stdout.
            let out = sn27(&["--config", EXAMPLE, "bench"], &[]);
            assert_eq!(out.status.code(), Some(1));
            assert!(stdout(&out).is_empty());
            assert!(stderr(&out).contains(error), "{}", stderr(&out));
        }
        None => {
            assert!(out.status.success(), "{report}");
            let gpus = report["gpus"].as_array().unwrap();
            assert!(!gpus.is_empty());
            for gpu in gpus {
                assert!(gpu["fp16_tflops"].as_f64().unwrap() > 0.0, "{gpu}");
                assert_eq!(gpu["compute"]["root"].as_str().unwrap().len(), 64);
            }
        }
    }
}
