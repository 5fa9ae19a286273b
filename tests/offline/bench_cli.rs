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

/// A miner measures the host before configuring it: with no file at the default path,
/// `sn27 bench` and `sn27 check` run on the built-in defaults, say so, and name what the host
/// lacks (here, the GPU) rather than the file.
#[test]
fn on_a_host_without_a_config_file_bench_and_check_measure_the_host() {
    let default = std::path::Path::new("/etc/sn27/sn27.toml");
    assert!(
        !default.exists(),
        "this test needs a host without {}",
        default.display()
    );
    let out = sn27(&["bench", "--json"], &[]);
    let said = stderr(&out);
    assert!(
        said.contains("no configuration file at /etc/sn27/sn27.toml; using the built-in defaults"),
        "{said}"
    );
    assert!(!said.contains("config file not found"), "{said}");
    let report: serde_json::Value = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("JSON expected ({e}): {}{said}", stdout(&out)));
    if let Some(error) = report["error"].as_str() {
        assert_eq!(out.status.code(), Some(1), "{report}");
        assert!(
            error.starts_with("no NVIDIA driver") || error.starts_with("no cuBLAS"),
            "the missing GPU part is named: {error}"
        );
    } else {
        assert!(out.status.success(), "{report}");
    }

    let out = sn27(&["check", "--json"], &[]);
    let report: serde_json::Value = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("JSON expected ({e}): {}{}", stdout(&out), stderr(&out)));
    let checks = report["checks"].as_array().unwrap();
    let names: Vec<&str> = checks.iter().filter_map(|c| c["check"].as_str()).collect();
    for expected in ["config", "clock", "gpus", "docker"] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    assert!(!names.contains(&"wallet"), "{names:?}");
    let config = &checks[0];
    assert_eq!(config["verdict"], "fail", "{config}");
    assert!(
        config["detail"]
            .as_str()
            .unwrap()
            .starts_with("no configuration file at /etc/sn27/sn27.toml"),
        "{config}"
    );
    assert_eq!(out.status.code(), Some(1));

    // A file named on the command line must exist.
    let out = sn27(&["--config", "/nonexistent/sn27.toml", "bench"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("/nonexistent/sn27.toml: config file not found"),
        "{}",
        stderr(&out)
    );
}
