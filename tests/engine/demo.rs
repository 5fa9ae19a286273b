//! `sn27 demo`, the README's first command: with the engine and the base image it goes all the
//! way (serve, rent, release, a validation round, scores, weights) and leaves nothing behind;
//! without an engine it does the chain part and says what it skipped and why.

use crate::support::{sn27, stderr, stdout};

#[test]
fn the_demo_runs_the_main_job_and_leaves_nothing() {
    let image = std::env::var("SN27_TEST_BASE_IMAGE")
        .unwrap_or_else(|_| "sn27-test-base:bookworm-py".into());
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("demo");
    let out = sn27(
        &[
            "demo",
            "--dir",
            work.to_str().unwrap(),
            "--base-image",
            &image,
        ],
        &[],
    );
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    for expected in [
        "registered: miner",
        "miner serving",
        "rented a container from the miner: ssh -p",
        "released it",
        "round done and weights set",
        "1 × CPU (test)",
        "no container is left",
        "done",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
}

#[test]
fn without_an_engine_the_demo_says_what_it_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("demo");
    let out = sn27(
        &["demo", "--dir", work.to_str().unwrap()],
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
    );
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(text.contains("axon published on the devnet"), "{text}");
    assert!(
        text.contains("skipped the miner service, the rental and the validation round: no Docker engine answers"),
        "{text}"
    );
}
