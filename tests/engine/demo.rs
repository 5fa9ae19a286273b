//! `sn27 demo`, the README's first command: with the engine and the base image it goes all the
//! way (serve, rent, release, a validation round, scores, weights) and leaves nothing behind;
//! with no engine it may not set up (here: `DOCKER_HOST` names another one) it does the chain
//! part, stops with exit status 2, and names what would let it go on. (Setting the engine up
//! on a machine without one is measured by hand, README: this suite's engine is shared.)

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
fn without_an_engine_it_may_set_up_the_demo_stops_and_names_the_way_on() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("demo");
    let out = sn27(
        &["demo", "--dir", work.to_str().unwrap()],
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(2), "{text}{}", stderr(&out));
    assert!(text.contains("axon published on the devnet"), "{text}");
    assert!(
        text.contains(
            "stopped before the miner service, the rental and the validation round: no Docker \
             engine answers"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "incomplete (chain part only): DOCKER_HOST=unix:///nonexistent/docker.sock is not \
             this machine's engine"
        ),
        "{text}"
    );
    assert!(!text.contains("setting it up"), "{text}");

    // --no-setup: the same stop, with its own way on.
    let work = dir.path().join("demo-no-setup");
    let out = sn27(
        &["demo", "--no-setup", "--dir", work.to_str().unwrap()],
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stdout(&out).contains("without --no-setup"),
        "{}",
        stdout(&out)
    );
}
