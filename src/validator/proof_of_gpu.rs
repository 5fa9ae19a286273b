//! One Proof-of-GPU test inside a miner's container (`sn27-protocol.md` §6.1 steps 4–11),
//! with our own worker ([`crate::pog::WORKER`]): upload it and check its hash, read the GPUs
//! and the benchmark, identify the model, send seeds and time the compute ourselves, open
//! one challenged row per GPU, and verify each opening with [`crate::pog`].
//!
//! The test talks to the container through a [`Remote`] — SSH for a miner's allocation,
//! `docker exec` for `sn27 bench --container`, a local shell for `sn27 bench --local` — so
//! all run the same steps. Everything the
//! container prints is untrusted and parsed strictly; any text on stderr fails the step (the
//! rule SN27 validators apply). Renting and releasing the container is the caller's business.

use std::time::Duration;

use async_trait::async_trait;
use rand::RngCore;

use crate::pog::check::{
    expected_value, isclose, required_passes, timing_ok, PassRule, ATOL_V1, RTOL_V1,
};
use crate::pog::identify::{identify, Benchmark, ModelSpec};
use crate::pog::merkle::{proof_len, verify_proof};
use crate::pog::sizes::Sizes;
use crate::pog::worker_output::{
    BenchmarkOutput, ComputeOutput, GpuInfo, OutputError, ProofResponses, ProofWritten,
    MAX_LINE_BYTES, MAX_RESPONSES_BYTES,
};

/// The interpreter every SN27 container provides (the runtime image links it when the base
/// image has only `python3`).
pub const CONTAINER_PYTHON: &str = "/opt/conda/bin/python";

/// Where the worker and its inputs go inside the container (under [`CONTAINER_WORK_DIR`]).
pub const WORKER_PATH: &str = "/tmp/sn27-pog-worker.py";
/// The directory of the worker and its inputs in a container.
pub const CONTAINER_WORK_DIR: &str = "/tmp";
const WORKER_FILE: &str = "sn27-pog-worker.py";
const SEEDS_FILE: &str = "sn27-pog-seeds.json";
const CHALLENGES_FILE: &str = "sn27-pog-challenges.json";

/// What a command run in the container returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteOutput {
    pub status: Option<i64>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Measured on the validator's side, from sending the command to its end.
    pub elapsed: Duration,
}

/// A shell inside the container under test.
#[async_trait]
pub trait Remote: Send + Sync {
    /// Runs `command` through the container's shell with `stdin`, collecting at most `limit`
    /// bytes of each output stream, within `timeout`.
    async fn run(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
        limit: usize,
        timeout: Duration,
    ) -> Result<RemoteOutput, String>;
}

#[async_trait]
impl Remote for crate::ssh::Session {
    async fn run(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
        limit: usize,
        timeout: Duration,
    ) -> Result<RemoteOutput, String> {
        let out = crate::ssh::Session::run(self, command, stdin, limit, timeout)
            .await
            .map_err(|e| e.to_string())?;
        Ok(RemoteOutput {
            status: out.status.map(i64::from),
            stdout: out.stdout,
            stderr: out.stderr,
            elapsed: out.elapsed,
        })
    }
}

/// A container on this host's engine, driven with `docker exec` (`sn27 bench --container`
/// runs the validator's steps this way, without SSH).
pub struct ContainerShell {
    pub engine: crate::docker::ContainerEngine,
    pub id: String,
}

#[async_trait]
impl Remote for ContainerShell {
    async fn run(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
        limit: usize,
        timeout: Duration,
    ) -> Result<RemoteOutput, String> {
        let started = std::time::Instant::now();
        let argv = ["sh", "-c", command];
        let exec = self.engine.exec_bytes(&self.id, &argv, stdin, limit);
        let out = tokio::time::timeout(timeout, exec)
            .await
            .map_err(|_| format!("no end within {timeout:?}"))?
            .map_err(|e| crate::report::Report(&e).to_string())?;
        Ok(RemoteOutput {
            status: Some(out.exit_code),
            stdout: out.stdout,
            stderr: out.stderr,
            elapsed: started.elapsed(),
        })
    }
}

/// This host, driven with `sh -c` (`sn27 bench --local`: the worker on the GPUs of the
/// machine sn27 runs on, through the same steps and checks as a round). Output is bounded as
/// over SSH: more than `limit` bytes on a stream, or no end within the timeout, fails the
/// command and kills it.
pub struct LocalShell;

#[async_trait]
impl Remote for LocalShell {
    async fn run(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
        limit: usize,
        timeout: Duration,
    ) -> Result<RemoteOutput, String> {
        use std::process::Stdio;
        use tokio::io::AsyncWriteExt;
        let started = std::time::Instant::now();
        let mut child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("starting sh: {e}"))?;
        let input = child.stdin.take();
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        let work = async {
            if let (Some(mut pipe), Some(bytes)) = (input, stdin) {
                pipe.write_all(bytes)
                    .await
                    .map_err(|e| format!("writing stdin: {e}"))?;
            }
            let (out, err) = tokio::try_join!(
                read_bounded(stdout, limit, "stdout"),
                read_bounded(stderr, limit, "stderr")
            )?;
            let status = child.wait().await.map_err(|e| format!("waiting: {e}"))?;
            Ok::<_, String>((status, out, err))
        };
        let (status, stdout, stderr) = tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| format!("no end within {timeout:?}"))??;
        Ok(RemoteOutput {
            status: status.code().map(i64::from),
            stdout,
            stderr,
            elapsed: started.elapsed(),
        })
    }
}

/// A child's stream to its end, refused past `limit` bytes.
async fn read_bounded(
    stream: Option<impl tokio::io::AsyncRead + Unpin>,
    limit: usize,
    name: &str,
) -> Result<Vec<u8>, String> {
    use tokio::io::AsyncReadExt;
    let Some(stream) = stream else {
        return Ok(Vec::new());
    };
    let mut kept = Vec::new();
    stream
        .take(limit as u64 + 1)
        .read_to_end(&mut kept)
        .await
        .map_err(|e| format!("reading {name}: {e}"))?;
    if kept.len() > limit {
        return Err(format!("more than {limit} bytes on {name}"));
    }
    Ok(kept)
}

/// How a test is run and judged.
#[derive(Debug, Clone)]
pub struct PogSettings {
    /// The container's interpreter (`/opt/conda/bin/python` in every SN27 container).
    pub python: String,
    /// Where the worker and its inputs are written ([`CONTAINER_WORK_DIR`] in containers; a
    /// private directory on a local host). A plain absolute path: it is part of commands.
    pub work_dir: String,
    /// Run the worker's torch-free CPU mode (tests only: reports one `CPU (test)` device).
    pub cpu_test_mode: bool,
    /// Share of the VRAM estimate the Merkle matrices use (0.10 in v1, 0.05 in v2).
    pub merkle_buffer: f64,
    pub pass_rule: PassRule,
    /// Seconds of slack in the timing rule (`elapsed < tolerance + N·t32`).
    pub time_tolerance_secs: f64,
    /// Limit of each step but the compute.
    pub step_timeout: Duration,
    /// Limit of the compute step (the timing rule judges it; this only bounds the wait).
    pub compute_timeout: Duration,
    /// The identification table, in order.
    pub models: Vec<ModelSpec>,
    pub tolerance_pairs: Vec<(String, String)>,
    /// The identified model must be the reported one (after the tolerance pairs), as v2.1+
    /// validators require.
    pub require_reported_name: bool,
}

impl PogSettings {
    /// The settings `[validator.pog]` and `[scoring]` describe.
    pub fn from_config(
        pog: &crate::config::PogConfig,
        scoring: &crate::config::ScoringConfig,
    ) -> Self {
        PogSettings {
            python: CONTAINER_PYTHON.into(),
            work_dir: CONTAINER_WORK_DIR.into(),
            cpu_test_mode: pog.cpu_test_mode,
            merkle_buffer: scoring.merkle_buffer,
            pass_rule: match scoring.pass_rule {
                crate::config::PassRequirement::ThreeOfFour => PassRule::V1,
                crate::config::PassRequirement::AllUpToFour => PassRule::V2,
            },
            time_tolerance_secs: pog.time_tolerance_secs as f64,
            step_timeout: Duration::from_secs(pog.attempt_timeout_secs.clamp(10, 120)),
            compute_timeout: Duration::from_secs(pog.attempt_timeout_secs.max(10)),
            models: scoring
                .gpu
                .iter()
                .map(|m| ModelSpec {
                    name: m.name.clone(),
                    fp16_tflops: m.fp16_tflops,
                    fp32_tflops: m.fp32_tflops,
                    vram_gb: m.vram_gb,
                })
                .collect(),
            tolerance_pairs: scoring
                .tolerance_pairs
                .iter()
                .map(|[a, b]| (a.clone(), b.clone()))
                .collect(),
            require_reported_name: scoring.require_reported_name,
        }
    }
}

/// Why a test failed: the step and what went wrong there.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PogFailure {
    #[error("{step}: {reason}")]
    Remote { step: &'static str, reason: String },
    #[error("{step}: exit status {status:?}: {output}")]
    Exit {
        step: &'static str,
        status: Option<i64>,
        output: String,
    },
    #[error("{step}: wrote to stderr: {text}")]
    Stderr { step: &'static str, text: String },
    #[error("{step}: {error}")]
    Output {
        step: &'static str,
        error: OutputError,
    },
    #[error("upload: the worker hashes to {found} in the container, expected {expected}")]
    WorkerHash { expected: String, found: String },
    #[error("gpu_info: the container reports no GPU")]
    NoGpus,
    #[error("benchmark: reports {benchmark} GPUs but gpu_info {info}")]
    GpuCountMismatch { info: usize, benchmark: u32 },
    #[error("identification: no model of the table fits")]
    Unidentified,
    #[error("identification: the benchmark says {identified}, the driver {reported}")]
    NameMismatch {
        reported: String,
        identified: String,
    },
    #[error("compute: {0}")]
    Compute(String),
    #[error(
        "timing: compute took {elapsed:.2} s (bound {bound:.2} s), mean multiplication \
         {mean:.3} s against t32 {t32:.3} s"
    )]
    Timing {
        elapsed: f64,
        bound: f64,
        mean: f64,
        t32: f64,
    },
    #[error("verification: {passed} of {gpus} GPUs passed, {required} required ({details})")]
    Verification {
        passed: usize,
        gpus: usize,
        required: usize,
        details: String,
    },
}

impl PogFailure {
    /// The step that failed, for `sn27 scores`.
    pub fn step(&self) -> &'static str {
        match self {
            PogFailure::Remote { step, .. }
            | PogFailure::Exit { step, .. }
            | PogFailure::Stderr { step, .. }
            | PogFailure::Output { step, .. } => step,
            PogFailure::WorkerHash { .. } => "upload",
            PogFailure::NoGpus => "gpu_info",
            PogFailure::GpuCountMismatch { .. } => "benchmark",
            PogFailure::Unidentified | PogFailure::NameMismatch { .. } => "identification",
            PogFailure::Compute(_) => "compute",
            PogFailure::Timing { .. } => "timing",
            PogFailure::Verification { .. } => "verification",
        }
    }
}

/// A passed test.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// The model as the table names it.
    pub model: String,
    /// GPUs credited (all of them, when enough passed).
    pub gpus: u32,
    /// What the driver reported for GPU 0.
    pub reported: String,
    pub fp16_tflops: f64,
    pub fp32_tflops: f64,
    pub vram_gb: f64,
    /// Validator-measured wall time of the compute step, seconds.
    pub compute_secs: f64,
    pub n: usize,
}

/// Runs the whole test over `remote`.
pub async fn run(remote: &dyn Remote, settings: &PogSettings) -> Result<Verified, PogFailure> {
    let python = &settings.python;
    let worker = format!("{}/{WORKER_FILE}", settings.work_dir);
    let seeds_path = format!("{}/{SEEDS_FILE}", settings.work_dir);
    let challenges_path = format!("{}/{CHALLENGES_FILE}", settings.work_dir);
    let mode = |mode: &str| {
        let test = if settings.cpu_test_mode {
            " --cpu-test"
        } else {
            ""
        };
        format!("{python} {worker} --mode {mode}{test}")
    };

    // Upload, then check the hash with the container's own Python (weak: the interpreter is
    // the miner's, but it catches a broken upload).
    put(
        remote,
        "upload",
        &worker,
        crate::pog::WORKER.as_bytes(),
        settings,
    )
    .await?;
    let check = format!(
        "{python} -c \"import hashlib;print(hashlib.sha256(open('{worker}','rb').read()).hexdigest())\""
    );
    let out = step(remote, "upload", &check, None, 4096, settings.step_timeout).await?;
    let found = last_line(&out.stdout);
    let expected = crate::pog::worker_sha256();
    if found != expected {
        return Err(PogFailure::WorkerHash { expected, found });
    }

    let (info, _) = parsed_step(
        remote,
        "gpu_info",
        &mode("gpu_info"),
        MAX_LINE_BYTES,
        settings.step_timeout,
        GpuInfo::parse,
    )
    .await?;
    let reported = info.reported_name().ok_or(PogFailure::NoGpus)?.to_string();

    let (benchmark, _) = parsed_step(
        remote,
        "benchmark",
        &mode("benchmark"),
        MAX_LINE_BYTES,
        settings.step_timeout,
        BenchmarkOutput::parse,
    )
    .await?;
    let benchmark: Benchmark = benchmark.into();
    if benchmark.gpus as usize != info.num_gpus() {
        return Err(PogFailure::GpuCountMismatch {
            info: info.num_gpus(),
            benchmark: benchmark.gpus,
        });
    }
    let (fp16, fp32) = (benchmark.fp16_tflops(), benchmark.fp32_tflops());
    let model = identify(
        fp16,
        fp32,
        benchmark.vram_gb,
        &reported,
        &settings.models,
        &settings.tolerance_pairs,
    )
    .ok_or(PogFailure::Unidentified)?;
    if settings.require_reported_name && model != reported {
        return Err(PogFailure::NameMismatch {
            reported,
            identified: model,
        });
    }

    // Seeds from the operating system's CSPRNG, one pair per GPU the benchmark counted.
    let n = Sizes::for_vram(benchmark.vram_gb, settings.merkle_buffer).n as usize;
    if n == 0 {
        return Err(PogFailure::Compute(format!(
            "a VRAM estimate of {} GB gives an empty matrix",
            benchmark.vram_gb
        )));
    }
    let gpus = benchmark.gpus as usize;
    let mut rng = rand::rngs::OsRng;
    let seeds: Vec<(u32, u64, u64)> = (0..gpus as u32)
        .map(|id| (id, rng.next_u64(), rng.next_u64()))
        .collect();
    let seeds_json = serde_json::json!({
        "n": n,
        "seeds": seeds.iter().map(|(id, a, b)| serde_json::json!([id, a, b])).collect::<Vec<_>>(),
    });
    put(
        remote,
        "compute",
        &seeds_path,
        seeds_json.to_string().as_bytes(),
        settings,
    )
    .await?;
    let compute = format!("{} --seeds {seeds_path}", mode("compute"));
    let (computed, elapsed) = parsed_step(
        remote,
        "compute",
        &compute,
        MAX_LINE_BYTES,
        settings.compute_timeout,
        ComputeOutput::parse,
    )
    .await?;
    let elapsed = elapsed.as_secs_f64();
    let ids: Vec<u32> = computed.gpus.iter().map(|g| g.id).collect();
    let sent: Vec<u32> = seeds.iter().map(|s| s.0).collect();
    if ids != sent {
        return Err(PogFailure::Compute(format!(
            "results for GPUs {ids:?}, seeds were sent for {sent:?}"
        )));
    }
    if computed.n() != n {
        return Err(PogFailure::Compute(format!(
            "computed with n = {}, {n} was asked",
            computed.n()
        )));
    }
    let mean = computed.mean_multiplication_secs();
    if !timing_ok(
        elapsed,
        gpus,
        benchmark.t32,
        mean,
        settings.time_tolerance_secs,
    ) {
        return Err(PogFailure::Timing {
            elapsed,
            bound: settings.time_tolerance_secs + gpus as f64 * benchmark.t32,
            mean,
            t32: benchmark.t32,
        });
    }

    // One challenged element per GPU, uniform over the matrix.
    let challenges: Vec<(u32, usize, usize)> = seeds
        .iter()
        .map(|(id, _, _)| {
            (
                *id,
                (rng.next_u64() % n as u64) as usize,
                (rng.next_u64() % n as u64) as usize,
            )
        })
        .collect();
    let challenges_json = serde_json::json!({
        "challenges": challenges.iter().map(|(id, i, j)| serde_json::json!([id, i, j])).collect::<Vec<_>>(),
    });
    put(
        remote,
        "proof",
        &challenges_path,
        challenges_json.to_string().as_bytes(),
        settings,
    )
    .await?;
    let proof = format!(
        "{python} {worker} --mode proof --dir {} --challenges {challenges_path}",
        computed.dir
    );
    let (written, _) = parsed_step(
        remote,
        "proof",
        &proof,
        MAX_LINE_BYTES,
        settings.step_timeout,
        ProofWritten::parse,
    )
    .await?;
    // Each response is the row's hex (8n) plus its proof; anything much larger is not ours.
    let expected_size = gpus * (8 * n + 70 * proof_len(n) + 512) + 4096;
    let limit = (2 * expected_size).min(MAX_RESPONSES_BYTES);
    let (responses, _) = parsed_step(
        remote,
        "proof",
        &format!("cat {}", written.file),
        limit,
        settings.step_timeout,
        ProofResponses::parse,
    )
    .await?;

    let pass_rule = settings.pass_rule;
    let verdict = tokio::task::spawn_blocking(move || {
        verify(&computed, &responses, &seeds, &challenges, n, pass_rule)
    })
    .await
    .map_err(|e| PogFailure::Compute(format!("verification task: {e}")))?;
    verdict?;
    Ok(Verified {
        model,
        gpus: benchmark.gpus,
        reported,
        fp16_tflops: fp16,
        fp32_tflops: fp32,
        vram_gb: benchmark.vram_gb,
        compute_secs: elapsed,
        n,
    })
}

/// Checks every opened row: its challenged element against the value computed here (f64),
/// and its Merkle proof against the root the GPU committed to before the challenge.
fn verify(
    computed: &ComputeOutput,
    responses: &ProofResponses,
    seeds: &[(u32, u64, u64)],
    challenges: &[(u32, usize, usize)],
    n: usize,
    rule: PassRule,
) -> Result<(), PogFailure> {
    let gpus = seeds.len();
    let mut passed = 0;
    let mut problems = Vec::new();
    for &(id, i, j) in challenges {
        let problem = (|| {
            let gpu = computed.gpu(id).ok_or("no commitment")?;
            let response = responses.find(id, i, j).ok_or("no response")?;
            if responses.n != n {
                return Err("responses for another n");
            }
            let &(_, seed_a, seed_b) = seeds.iter().find(|s| s.0 == id).ok_or("no seeds")?;
            let expected = expected_value(seed_a, seed_b, i as u64, j as u64, n as u64);
            let actual = *response.row.get(j).ok_or("row too short")?;
            if !isclose(actual, expected, ATOL_V1, RTOL_V1) {
                return Err("wrong value");
            }
            verify_proof(&response.row, i, &response.proof, &gpu.root, n)
                .map_err(|_| "proof does not reach the root")
        })();
        match problem {
            Ok(()) => passed += 1,
            Err(why) => problems.push(format!("GPU {id}: {why}")),
        }
    }
    let required = required_passes(gpus, rule);
    if passed >= required && passed > 0 {
        Ok(())
    } else {
        Err(PogFailure::Verification {
            passed,
            gpus,
            required,
            details: problems.join(", "),
        })
    }
}

/// Runs one step: a transport failure, a non-zero exit or any stderr text fails it.
async fn step(
    remote: &dyn Remote,
    name: &'static str,
    command: &str,
    stdin: Option<&[u8]>,
    limit: usize,
    timeout: Duration,
) -> Result<RemoteOutput, PogFailure> {
    let out = remote
        .run(command, stdin, limit, timeout)
        .await
        .map_err(|reason| PogFailure::Remote { step: name, reason })?;
    if out.status != Some(0) {
        // The worker explains a failure in one JSON line on stdout.
        let said = if out.stdout.is_empty() {
            text(&out.stderr)
        } else {
            text(&out.stdout)
        };
        return Err(PogFailure::Exit {
            step: name,
            status: out.status,
            output: said.chars().take(300).collect(),
        });
    }
    if !out.stderr.iter().all(u8::is_ascii_whitespace) {
        return Err(PogFailure::Stderr {
            step: name,
            text: text(&out.stderr).chars().take(300).collect(),
        });
    }
    Ok(out)
}

/// A [`step`] whose stdout the worker's format `parse` reads; with the step's run time.
async fn parsed_step<T>(
    remote: &dyn Remote,
    name: &'static str,
    command: &str,
    limit: usize,
    timeout: Duration,
    parse: fn(&str) -> Result<T, OutputError>,
) -> Result<(T, Duration), PogFailure> {
    let out = step(remote, name, command, None, limit, timeout).await?;
    let parsed =
        parse(&text(&out.stdout)).map_err(|error| PogFailure::Output { step: name, error })?;
    Ok((parsed, out.elapsed))
}

/// Writes a file in the container through a command's stdin.
async fn put(
    remote: &dyn Remote,
    name: &'static str,
    path: &str,
    contents: &[u8],
    settings: &PogSettings,
) -> Result<(), PogFailure> {
    let command = format!("umask 077; cat > {path}");
    step(
        remote,
        name,
        &command,
        Some(contents),
        4096,
        settings.step_timeout,
    )
    .await?;
    Ok(())
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn last_line(bytes: &[u8]) -> String {
    text(bytes)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string()
}
