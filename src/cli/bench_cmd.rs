//! `sn27 bench`: what a validator's Proof-of-GPU test will measure on this machine, and the
//! model and score that follow from the configured `[scoring]` table.
//!
//! Plain `sn27 bench` measures the GPUs directly (CUDA driver and cuBLAS); `--container`
//! runs the validator's own worker inside the miner's runtime image exactly as a validator
//! runs it, which is the faithful answer to "what will validators see"; `--local` runs the
//! same steps on this host's own Python (torch and the GPUs, no Docker), for a GPU host
//! checked before its containers exist.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use serde_json::json;

use super::{load_config_or_defaults, runtime};
use crate::config::Config;
use crate::docker::{ContainerEngine, ContainerSpec, LABEL_KIND};
use crate::gpu::bench::{self, DeviceBench};
use crate::gpu::inventory::Inventory;
use crate::gpu::GpuUnavailable;
use crate::pog::identify::identify;
use crate::report::Report;
use crate::validator::proof_of_gpu::{
    self, ContainerShell, LocalShell, PogFailure, PogSettings, Verified,
};
use crate::validator::scoring;

/// `sn27 bench`'s arguments.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Run the validator's worker inside the miner's runtime image (needs Docker).
    #[arg(long, conflicts_with = "local")]
    container: bool,
    /// Run the validator's worker on this host with --python (torch and CUDA there), through
    /// the same steps and checks as a validator's round.
    #[arg(long)]
    local: bool,
    /// With --local: the interpreter that runs the worker.
    #[arg(
        long,
        value_name = "PATH",
        default_value = "python3",
        requires = "local"
    )]
    python: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// With --container or --local: the worker's CPU test mode (tests only; proves no GPU).
    #[arg(long, hide = true)]
    cpu_test: bool,
}

pub fn run(source: &crate::config::ConfigSource, args: &BenchArgs) -> anyhow::Result<ExitCode> {
    // A miner measures the host before configuring it: without the default file, the
    // built-in defaults (the scoring table validators use unless told otherwise).
    let (config, _) = load_config_or_defaults(source)?;
    if args.container {
        return in_container(&config, args);
    }
    if args.local {
        return on_this_host(&config, args);
    }
    let inventory = match Inventory::read() {
        Ok(inventory) => inventory,
        Err(absent) => return Ok(unavailable(&absent, args.json)),
    };
    let count = match bench::devices() {
        Ok(count) => count,
        Err(absent) => return Ok(unavailable(&absent, args.json)),
    };
    let mut measured = Vec::new();
    for index in 0..count {
        eprintln!("measuring GPU {index} (the VRAM estimate and two large GEMMs take a while)…");
        measured.push(bench::measure(index, config.scoring.merkle_buffer)?);
    }
    let settings = PogSettings::from_config(&config.validator.pog, &config.scoring);
    // Validators identify the model from GPU 0 and credit every GPU with it.
    let first = &measured[0];
    let model = identify(
        first.fp16_tflops,
        first.fp32_tflops,
        first.vram_gb,
        &first.name,
        &settings.models,
        &settings.tolerance_pairs,
    );
    let points = model
        .as_deref()
        .map(|m| scoring::points(&config.scoring, m, count as u32, false))
        .unwrap_or(0.0);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "driver_version": inventory.driver_version,
                "cuda_version": inventory.cuda_version,
                "inventory": inventory.gpus,
                "gpus": measured,
                "identified": model,
                "count": count,
                "points": points,
                "score": points / 100.0,
            }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "driver {}, CUDA {}",
        inventory.driver_version,
        inventory.cuda_version.as_deref().unwrap_or("unknown")
    );
    for device in &measured {
        print_device(device);
    }
    print_verdict(&config, model.as_deref(), count as u32, points);
    Ok(ExitCode::SUCCESS)
}

fn print_device(d: &DeviceBench) {
    println!("GPU {}  {}", d.index, d.name);
    println!("  VRAM estimate    {:.2} GB", d.vram_gb);
    println!(
        "  FP16 GEMM        {}² in {:.6} s = {:.1} TFLOPS",
        d.size16, d.t16, d.fp16_tflops
    );
    println!(
        "  FP32 GEMM        {}² in {:.6} s = {:.1} TFLOPS",
        d.size32, d.t32, d.fp32_tflops
    );
    println!(
        "  compute n={}    generation {:.2} s, transfer {:.2} s, multiplication {:.3} s, Merkle {:.2} s",
        d.compute.n,
        d.compute.generation_secs,
        d.compute.transfer_secs,
        d.compute.multiplication_secs,
        d.compute.merkle_secs
    );
    println!("  Merkle root      {}", d.compute.root);
}

fn print_verdict(config: &Config, model: Option<&str>, count: u32, points: f64) {
    match model {
        Some(model) => {
            println!("validators identify: {count} × {model}");
            println!(
                "score with this [scoring] table (profile {:?}): {:.2} points = weight share {:.4}{}",
                config.scoring.profile.name(),
                points,
                points / 100.0,
                if points == 0.0 {
                    " (this model earns nothing in the table)"
                } else {
                    ""
                }
            );
        }
        None => println!("validators identify: nothing (the [scoring] table is empty)"),
    }
}

/// Says which part is missing; exit 1.
fn unavailable(absent: &GpuUnavailable, json: bool) -> ExitCode {
    if json {
        println!(
            "{}",
            json!({"error": absent.to_string(), "gpus": [], "score": 0.0})
        );
    } else {
        eprintln!("error: {absent}");
        eprintln!("sn27 bench measures NVIDIA GPUs; without one a validator scores this machine 0");
    }
    ExitCode::FAILURE
}

/// The validator's steps in a container of the runtime image, through `docker exec`.
fn in_container(config: &Config, args: &BenchArgs) -> anyhow::Result<ExitCode> {
    if !args.cpu_test {
        if let Err(absent) = Inventory::read() {
            return Ok(unavailable(&absent, args.json));
        }
    }
    let runtime = runtime()?;
    runtime.block_on(async {
        let engine = ContainerEngine::connect().await?;
        let base = &config.miner.container.base_image;
        eprintln!("preparing the runtime image from {base}…");
        let image = engine
            .ensure_runtime_image(
                base,
                |line| tracing::debug!(target: "sn27::build", "{line}"),
            )
            .await?;
        let host = engine.host().await?;
        let name = format!(
            "sn27-bench-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let memory = host
            .memory_bytes
            .saturating_sub((config.miner.container.reserve_memory_gb * (1u64 << 30) as f64) as u64)
            .max(512 << 20) as i64;
        let spec = ContainerSpec {
            name: name.clone(),
            labels: [(LABEL_KIND.to_string(), "bench".to_string())].into(),
            ssh_port: 0,
            user_ports: Vec::new(),
            cpuset: format!("0-{}", host.cpus.saturating_sub(1)),
            memory_bytes: memory,
            shm_bytes: memory / 2,
            pids_limit: config.miner.container.pids_limit,
            gpus: host.gpu_runtime,
        };
        let id = engine.create_and_start(&image, &spec).await?;
        let mut settings = PogSettings::from_config(&config.validator.pog, &config.scoring);
        settings.cpu_test_mode = args.cpu_test;
        let shell = ContainerShell {
            engine: engine.clone(),
            id: id.clone(),
        };
        eprintln!("running the validator's Proof-of-GPU steps in {name}…");
        let result = proof_of_gpu::run(&shell, &settings).await;
        // Always removed, whatever the test said.
        if let Err(e) = engine.remove(&id).await {
            eprintln!("warning: removing {name}: {}", Report(&e));
        }
        report(config, args, "in the runtime image", result)
    })
}

/// The validator's steps on this host, with `--python` in a private directory; the worker's
/// output directories are removed afterwards.
fn on_this_host(config: &Config, args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let work = tempfile::Builder::new()
        .prefix("sn27-bench.")
        .tempdir()
        .context("a private directory for the worker")?;
    let mut settings = PogSettings::from_config(&config.validator.pog, &config.scoring);
    settings.cpu_test_mode = args.cpu_test;
    settings.python = args.python.clone();
    settings.work_dir = work.path().to_string_lossy().into_owned();
    let before = worker_output_dirs();
    eprintln!(
        "running the validator's Proof-of-GPU steps on this host with {}…",
        args.python
    );
    let result = runtime()?.block_on(proof_of_gpu::run(&LocalShell, &settings));
    for dir in worker_output_dirs().difference(&before) {
        if let Err(e) = std::fs::remove_dir_all(dir) {
            eprintln!("warning: removing {}: {e}", dir.display());
        }
    }
    report(config, args, "on this host", result)
}

/// The worker's output directories now in /dev/shm and /tmp.
fn worker_output_dirs() -> std::collections::BTreeSet<std::path::PathBuf> {
    ["/dev/shm", "/tmp"]
        .iter()
        .filter_map(|base| std::fs::read_dir(base).ok())
        .flatten()
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("sn27-pog-"))
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
        .map(|entry| entry.path())
        .collect()
}

/// What a validator's steps concluded, as text or JSON; exit 1 on a failed test.
fn report(
    config: &Config,
    args: &BenchArgs,
    place: &str,
    result: Result<Verified, PogFailure>,
) -> anyhow::Result<ExitCode> {
    match result {
        Ok(verified) => {
            let points = scoring::points(&config.scoring, &verified.model, verified.gpus, false);
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({
                        "passed": true,
                        "identified": verified.model,
                        "reported": verified.reported,
                        "count": verified.gpus,
                        "fp16_tflops": verified.fp16_tflops,
                        "fp32_tflops": verified.fp32_tflops,
                        "vram_gb": verified.vram_gb,
                        "n": verified.n,
                        "compute_secs": verified.compute_secs,
                        "points": points,
                        "score": points / 100.0,
                    }))
                    .context("printing")?
                );
            } else {
                println!("Proof-of-GPU passed {place}");
                println!(
                    "  driver reports   {} ({} GPU{})",
                    verified.reported,
                    verified.gpus,
                    if verified.gpus == 1 { "" } else { "s" }
                );
                println!(
                    "  measured         FP16 {:.3} TFLOPS, FP32 {:.3} TFLOPS, VRAM {} GB",
                    verified.fp16_tflops, verified.fp32_tflops, verified.vram_gb
                );
                println!(
                    "  compute          n = {}, {:.2} s as the validator measures it",
                    verified.n, verified.compute_secs
                );
                print_verdict(config, Some(&verified.model), verified.gpus, points);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(failure) => {
            if args.json {
                println!(
                    "{}",
                    json!({"passed": false, "step": failure.step(), "error": failure.to_string(), "score": 0.0})
                );
            } else {
                eprintln!(
                    "error: Proof-of-GPU failed at {}: {failure}",
                    failure.step()
                );
            }
            Ok(ExitCode::FAILURE)
        }
    }
}
