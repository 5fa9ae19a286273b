//! End-to-end run of our PoG worker (`src/pog/worker.py --cpu-test`) as a validator
//! would drive it: gpu_info → benchmark → compute (n from the benchmark's V) → proof on
//! random challenges, with every output parsed by `worker_output` and every opened row
//! checked with `merkle` and `check`. Runs with numpy and with numpy hidden (the
//! pure-Python path), and checks that failures are one clean JSON error line.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};

use rand::{Rng, SeedableRng};
use sn27::pog::check::{expected_value, isclose, ATOL_V1, RTOL_V1};
use sn27::pog::merkle::{verify_proof, MerkleTree};
use sn27::pog::prng::{value, Conversion};
use sn27::pog::sizes::{Sizes, MERKLE_BUFFER_V1};
use sn27::pog::worker_output::{
    BenchmarkOutput, ComputeOutput, GpuInfo, OutputError, ProofResponses, ProofWritten,
};

/// How the worker's Python is started.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Flavour {
    /// The interpreter as is (numpy importable).
    Numpy,
    /// The same interpreter with `import numpy` made to fail, forcing pure Python.
    NumpyHidden,
    /// GPU mode (no `--cpu-test`) against `tests/python/fake_torch`, a numpy stand-in for torch
    /// with two fake CUDA devices.
    FakeTorch,
}

fn worker_path() -> PathBuf {
    crate::support::pog::crate_path("src/pog/worker.py")
}

fn run_worker(python: &Path, flavour: Flavour, args: &[&str]) -> Output {
    let script = worker_path();
    let script = script.to_str().expect("utf-8 path");
    match flavour {
        Flavour::Numpy => {
            let mut all = vec![script];
            all.extend_from_slice(args);
            crate::support::pog::run(python, &all, "")
        }
        Flavour::FakeTorch => {
            let mut all = vec![script];
            all.extend(args.iter().copied().filter(|a| *a != "--cpu-test"));
            let fake = crate::support::pog::crate_path("tests/python/fake_torch");
            crate::support::pog::run_with_env(python, &all, "", &[("PYTHONPATH", &fake)])
        }
        Flavour::NumpyHidden => {
            let code = "import sys, runpy\n\
                        sys.modules['numpy'] = None\n\
                        path = sys.argv[1]\n\
                        sys.argv = sys.argv[1:]\n\
                        runpy.run_path(path, run_name='__main__')";
            let mut all = vec!["-c", code, script];
            all.extend_from_slice(args);
            crate::support::pog::run(python, &all, "")
        }
    }
}

/// Runs a mode that must succeed: exit 0, exactly one stdout line, empty stderr.
fn run_ok(python: &Path, flavour: Flavour, args: &[&str]) -> String {
    let out = run_worker(python, flavour, args);
    let stdout = String::from_utf8(out.stdout).expect("utf-8 stdout");
    assert!(out.status.success(), "worker {args:?} failed: {stdout}");
    assert!(
        out.stderr.is_empty(),
        "worker {args:?} wrote to stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.lines().count(),
        1,
        "worker {args:?} printed more than one line: {stdout}"
    );
    stdout
}

/// Runs a mode that must fail: non-zero exit, one JSON error line, empty stderr.
fn run_err(python: &Path, args: &[&str]) -> String {
    let out = run_worker(python, Flavour::Numpy, args);
    let stdout = String::from_utf8(out.stdout).expect("utf-8 stdout");
    assert!(
        !out.status.success(),
        "worker {args:?} should fail: {stdout}"
    );
    assert!(out.stderr.is_empty(), "worker {args:?} wrote to stderr");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    stdout
}

/// A file or directory the test created, removed when dropped (also when the test panics).
struct Scratch(PathBuf);

impl Scratch {
    fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 path")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Best effort: a leftover in /tmp must not turn a passing test into a failure.
        if self.0.is_dir() {
            let _ = std::fs::remove_dir_all(&self.0);
        } else {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

fn scratch_file(tag: &str, content: &str) -> Scratch {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let k = COUNTER.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("pog-test-{}-{k}-{tag}.json", std::process::id()));
    std::fs::write(&path, content).expect("write scratch file");
    Scratch(path)
}

/// C as the pure-Python path computes it: sequential f64 sums of exact products of the
/// miner-converted values, rounded once to f32.
fn pure_python_c(seed_a: u64, seed_b: u64, n: usize) -> Vec<f32> {
    let mut c = Vec::with_capacity(n * n);
    for i in 0..n as u64 {
        for j in 0..n as u64 {
            let mut sum = 0.0f64;
            for k in 0..n as u64 {
                sum += value(seed_a, i, k, Conversion::Miner) as f64
                    * value(seed_b, k, j, Conversion::Miner) as f64;
            }
            c.push(sum as f32);
        }
    }
    c
}

fn round_trip(python: &Path, flavour: Flavour, n_override: Option<usize>, rng: &mut impl Rng) {
    let info = GpuInfo::parse(&run_ok(
        python,
        flavour,
        &["--mode", "gpu_info", "--cpu-test"],
    ))
    .expect("gpu_info parses");
    let (names, vram): (Vec<String>, f64) = if flavour == Flavour::FakeTorch {
        // 2^22 fp16 elements fit the fake's 8 MiB, 2^23 do not: V = 2·2^22/1e9 → 0.01.
        (vec!["Fake GPU 0".into(), "Fake GPU 1".into()], 0.01)
    } else {
        (vec!["CPU (test)".into()], 0.0001)
    };
    assert_eq!(info.gpu_names, names);

    let bench = BenchmarkOutput::parse(&run_ok(
        python,
        flavour,
        &["--mode", "benchmark", "--cpu-test"],
    ))
    .expect("benchmark parses");
    assert_eq!(bench.num_gpus as usize, names.len());
    assert_eq!(bench.vram_gb, vram);
    let sizes = Sizes::for_vram(bench.vram_gb, MERKLE_BUFFER_V1);
    assert_eq!((bench.size16, bench.size32), (sizes.size16, sizes.size32));
    let n = n_override.unwrap_or(sizes.n as usize);
    assert!(n > 0);

    // One seed pair per GPU, listed in reverse to check the output is sorted by id.
    let seeds: Vec<(u32, u64, u64)> = (0..names.len() as u32)
        .rev()
        .map(|id| (id, rng.gen(), rng.gen()))
        .collect();
    let list: Vec<String> = seeds
        .iter()
        .map(|(id, a, b)| format!("[{id}, {a}, {b}]"))
        .collect();
    let seeds_file = scratch_file(
        "seeds",
        &format!(r#"{{"n": {n}, "seeds": [{}]}}"#, list.join(", ")),
    );
    let compute_line = run_ok(
        python,
        flavour,
        &[
            "--mode",
            "compute",
            "--cpu-test",
            "--seeds",
            seeds_file.path(),
        ],
    );
    let compute = ComputeOutput::parse(&compute_line).expect("compute parses");
    assert_eq!(compute.n(), n);
    let ids: Vec<u32> = compute.gpus.iter().map(|g| g.id).collect();
    assert_eq!(ids, (0..names.len() as u32).collect::<Vec<_>>());
    let dir_guard = Scratch(PathBuf::from(&compute.dir));
    let dir = dir_guard.0.clone();
    let mut challenges: Vec<(u32, usize, usize)> = Vec::new();
    for &(id, seed_a, seed_b) in &seeds {
        let gpu = compute.gpu(id).expect("every seeded GPU reports");
        check_commitment(&dir, flavour, id, &gpu.root, (seed_a, seed_b), n);
        challenges.extend((0..3).map(|_| (id, rng.gen_range(0..n), rng.gen_range(0..n))));
        challenges.push((id, n - 1, 0));
    }

    let list: Vec<String> = challenges
        .iter()
        .map(|(id, i, j)| format!("[{id}, {i}, {j}]"))
        .collect();
    let chal = scratch_file(
        "challenges",
        &format!(r#"{{"challenges": [{}]}}"#, list.join(", ")),
    );
    let written = ProofWritten::parse(&run_ok(
        python,
        flavour,
        &[
            "--mode",
            "proof",
            "--dir",
            &compute.dir,
            "--challenges",
            chal.path(),
        ],
    ))
    .expect("proof line parses");
    let body = std::fs::read_to_string(&written.file).expect("responses file");
    assert_eq!(body.len() as u64, written.bytes);
    let responses = ProofResponses::parse(&body).expect("responses parse");
    assert_eq!(responses.n, n);
    assert_eq!(responses.responses.len(), challenges.len());
    for &(id, i, j) in &challenges {
        let &(_, seed_a, seed_b) = seeds.iter().find(|s| s.0 == id).expect("seeded id");
        let root = compute.gpu(id).expect("reported GPU").root;
        let r = responses
            .find(id, i, j)
            .expect("response for every challenge");
        verify_proof(&r.row, r.i, &r.proof, &root, n)
            .expect("proof verifies against the compute root");
        let v = expected_value(seed_a, seed_b, i as u64, j as u64, n as u64);
        assert!(
            isclose(r.row[j], v, ATOL_V1, RTOL_V1),
            "challenged value ({id}, {i}, {j})"
        );
    }
}

/// The committed files of one GPU: C's bytes give the same root in Rust, the tree file
/// holds exactly the crate's node order, and C's entries pass the value check.
fn check_commitment(
    dir: &Path,
    flavour: Flavour,
    id: u32,
    root: &[u8; 32],
    seeds: (u64, u64),
    n: usize,
) {
    let (seed_a, seed_b) = seeds;
    let c_bytes = std::fs::read(dir.join(format!("C_{id}.f32"))).expect("C file");
    let c: Vec<f32> = c_bytes
        .chunks_exact(4)
        .map(|w| f32::from_le_bytes([w[0], w[1], w[2], w[3]]))
        .collect();
    let tree = MerkleTree::build(&c, n).expect("C is n x n");
    assert_eq!(tree.root(), *root, "{flavour:?}: root of C's bytes");
    let tree_bytes = std::fs::read(dir.join(format!("tree_{id}.bin"))).expect("tree file");
    assert_eq!(
        tree_bytes,
        tree.nodes().flatten().copied().collect::<Vec<u8>>()
    );
    // Every entry for small n, a sparse lattice for larger ones (debug builds are slow).
    let step = if n <= 100 { 1 } else { 13 };
    for i in 0..n {
        for j in (i % step..n).step_by(step) {
            let v = expected_value(seed_a, seed_b, i as u64, j as u64, n as u64);
            assert!(
                isclose(c[i * n + j], v, ATOL_V1, RTOL_V1),
                "{flavour:?}: C[{i}][{j}] = {} vs {v}",
                c[i * n + j]
            );
        }
    }
    if flavour == Flavour::NumpyHidden {
        let want: Vec<u32> = pure_python_c(seed_a, seed_b, n)
            .iter()
            .map(|x| x.to_bits())
            .collect();
        let got: Vec<u32> = c.iter().map(|x| x.to_bits()).collect();
        assert_eq!(
            got, want,
            "pure-Python C must be the f64 sums rounded to f32"
        );
    }
}

#[test]
fn cpu_test_round_trip_with_numpy() {
    let python = crate::support::python();
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    round_trip(&python, Flavour::Numpy, None, &mut rng);
    round_trip(&python, Flavour::Numpy, Some(100), &mut rng);
}

#[test]
fn gpu_path_round_trip_with_fake_torch() {
    let python = crate::support::python();
    let mut rng = rand::rngs::StdRng::seed_from_u64(4);
    round_trip(&python, Flavour::FakeTorch, None, &mut rng);
}

#[test]
fn cpu_test_round_trip_pure_python() {
    let python = crate::support::python();
    let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    round_trip(&python, Flavour::NumpyHidden, None, &mut rng);
    round_trip(&python, Flavour::NumpyHidden, Some(45), &mut rng);
    // A system python without numpy, where there is one, takes the same path unforced.
    let system = Path::new("/usr/bin/python3");
    if system.exists() {
        round_trip(system, Flavour::Numpy, Some(7), &mut rng);
    }
}

fn worker_error(line: &str) -> String {
    match ComputeOutput::parse(line) {
        Err(OutputError::Worker { message }) => message,
        other => panic!("expected a worker error, got {other:?} from {line}"),
    }
}

#[test]
fn failures_are_one_json_error_line() {
    let python = crate::support::python();
    let msg = worker_error(&run_err(
        &python,
        &[
            "--mode",
            "compute",
            "--cpu-test",
            "--seeds",
            "/nonexistent/seeds.json",
        ],
    ));
    assert!(msg.contains("cannot read seeds file"), "{msg}");
    let bad_n = scratch_file("bad-n", r#"{"n": 0, "seeds": [[0, 1, 2]]}"#);
    let msg = worker_error(&run_err(
        &python,
        &["--mode", "compute", "--cpu-test", "--seeds", bad_n.path()],
    ));
    assert!(msg.contains("n must be an integer"), "{msg}");
    let bad_gpu = scratch_file("bad-gpu", r#"{"n": 4, "seeds": [[1, 1, 2]]}"#);
    let msg = worker_error(&run_err(
        &python,
        &["--mode", "compute", "--cpu-test", "--seeds", bad_gpu.path()],
    ));
    assert!(msg.contains("gpu id"), "{msg}");
    let extra = scratch_file("extra", r#"{"n": 4, "seeds": [[0, 1, 2]], "x": 1}"#);
    let msg = worker_error(&run_err(
        &python,
        &["--mode", "compute", "--cpu-test", "--seeds", extra.path()],
    ));
    assert!(msg.contains("exactly the keys"), "{msg}");
    let chal = scratch_file("chal", r#"{"challenges": [[0, 0, 0]]}"#);
    let tmp = std::env::temp_dir();
    let msg = worker_error(&run_err(
        &python,
        &[
            "--mode",
            "proof",
            "--dir",
            tmp.to_str().expect("utf-8"),
            "--challenges",
            chal.path(),
        ],
    ));
    assert!(msg.contains("sn27-pog-"), "{msg}");
    let msg = worker_error(&run_err(&python, &["--mode", "nonsense"]));
    assert!(msg.contains("bad arguments"), "{msg}");
    // Without --cpu-test and without torch/CUDA, benchmark must fail cleanly too.
    let probe = run_worker(&python, Flavour::Numpy, &["--mode", "gpu_info"]);
    let info = GpuInfo::parse(&String::from_utf8_lossy(&probe.stdout)).expect("gpu_info parses");
    if info.num_gpus() == 0 {
        let msg = worker_error(&run_err(&python, &["--mode", "benchmark"]));
        assert!(msg.contains("CUDA"), "{msg}");
    }
}

#[test]
fn proof_of_a_tampered_commitment_fails() {
    let python = crate::support::python();
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let n = 33;
    let (seed_a, seed_b): (u64, u64) = (rng.gen(), rng.gen());
    let seeds = scratch_file(
        "seeds-t",
        &format!(r#"{{"n": {n}, "seeds": [[0, {seed_a}, {seed_b}]]}}"#),
    );
    let compute = ComputeOutput::parse(&run_ok(
        &python,
        Flavour::Numpy,
        &["--mode", "compute", "--cpu-test", "--seeds", seeds.path()],
    ))
    .expect("compute parses");
    let dir_guard = Scratch(PathBuf::from(&compute.dir));
    let dir = dir_guard.0.clone();
    // A miner changing C after committing: the opened row no longer proves against the root.
    let c_path = dir.join("C_0.f32");
    let mut c = std::fs::read(&c_path).expect("C file");
    c[4 * n * 5 + 8] ^= 0x01;
    std::fs::write(&c_path, &c).expect("rewrite C");
    let chal = scratch_file("chal-t", r#"{"challenges": [[0, 5, 2]]}"#);
    let written = ProofWritten::parse(&run_ok(
        &python,
        Flavour::Numpy,
        &[
            "--mode",
            "proof",
            "--dir",
            &compute.dir,
            "--challenges",
            chal.path(),
        ],
    ))
    .expect("proof line parses");
    let responses =
        ProofResponses::parse(&std::fs::read_to_string(&written.file).expect("responses"))
            .expect("responses parse");
    let r = &responses.responses[0];
    assert!(verify_proof(&r.row, r.i, &r.proof, &compute.gpus[0].root, n).is_err());
}

/// Busy processes, killed when dropped.
struct Busy(Vec<std::process::Child>);

impl Busy {
    /// `per_core` fresh busy processes per core: load that arrives, as a build's compilers do.
    fn start(per_core: usize) -> Busy {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Busy(
            (0..cores * per_core)
                .map(|_| {
                    std::process::Command::new("sh")
                        .args(["-c", "while :; do :; done"])
                        .stdin(std::process::Stdio::null())
                        .spawn()
                        .expect("sh starts")
                })
                .collect(),
        )
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Where [`assert_multiplication_stays_under_t32`] puts its busy processes.
#[derive(Clone, Copy)]
enum Load {
    /// Started after each benchmark and stopped after its compute step.
    BetweenSteps,
    /// Running through every step of every trial.
    Throughout,
}

/// Runs `trials` benchmark-then-compute pairs and asserts each compute step's mean
/// multiplication stays under its own benchmark's `t32`, with three busy processes per core
/// placed as `load` says. `extra` is appended to both steps' arguments.
fn assert_multiplication_stays_under_t32(
    flavour: Flavour,
    extra: &[&str],
    seeds: &str,
    trials: usize,
    load: Load,
) {
    let python = crate::support::python();
    let seeds = scratch_file("seeds-load", seeds);
    let benchmark_args = [&["--mode", "benchmark"][..], extra].concat();
    let compute_args = [&["--mode", "compute", "--seeds", seeds.path()][..], extra].concat();
    let throughout = matches!(load, Load::Throughout).then(|| Busy::start(3));
    let mut seen = Vec::new();
    for trial in 0..trials {
        let bench = BenchmarkOutput::parse(&run_ok(&python, flavour, &benchmark_args))
            .expect("benchmark parses");
        let between = matches!(load, Load::BetweenSteps).then(|| Busy::start(3));
        let line = run_ok(&python, flavour, &compute_args);
        drop(between);
        let compute = ComputeOutput::parse(&line).expect("compute parses");
        let _dir = Scratch(PathBuf::from(&compute.dir));
        let multiplication = compute.mean_multiplication_secs();
        seen.push(format!(
            "{:.1}/{:.1} ms",
            multiplication * 1e3,
            bench.t32 * 1e3
        ));
        assert!(
            multiplication < bench.t32,
            "trial {trial}: multiplication {multiplication:.4} s, t32 {:.4} s (so far: {seen:?})",
            bench.t32
        );
    }
    drop(throughout);
}

/// The two CPU-test timings the validator's timing rule compares — the benchmark's `t32` and
/// the compute step's multiplication — keep their order when the machine gets busy between
/// the two steps: each trial takes the benchmark on a quiet machine, then starts three busy
/// processes per core and runs the compute step (pure Python, as in the test containers).
/// The products take milliseconds, as long as the scheduler's slices; one interrupted run
/// must not make an honest miner slower than its own benchmark.
#[test]
fn cpu_test_timings_keep_their_order_when_load_arrives_between_the_steps() {
    assert_multiplication_stays_under_t32(
        Flavour::NumpyHidden,
        &["--cpu-test"],
        r#"{"n": 32, "seeds": [[0, 1, 2]]}"#,
        25,
        Load::BetweenSteps,
    );
}

/// The GPU path on the stand-in keeps the timing rule's order on a busy machine: with three
/// busy processes per core during both steps, two fake devices' Proof-of-GPU products (side
/// 352 for the stand-in's memory) stay shorter than the benchmark's float32 product (side
/// 768). The stand-in sleeps out its modelled time as a host thread waits on a GPU; with
/// numpy's own times the two products raced on the host's scheduler and the order flipped
/// in most trials under this load.
#[test]
fn gpu_path_timings_on_the_stand_in_keep_their_order_under_load() {
    assert_multiplication_stays_under_t32(
        Flavour::FakeTorch,
        &[],
        r#"{"n": 352, "seeds": [[0, 1, 2], [1, 3, 4]]}"#,
        5,
        Load::Throughout,
    );
}
