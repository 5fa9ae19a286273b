//! `sn27 demo`: the main job on an embedded default, on this machine only. A throwaway
//! directory gets a local devnet, a miner and a validator; the miner registers and publishes
//! its axon, serves (`sn27 run`), is rented from and released, then tested by the validator's
//! Proof-of-GPU round (the worker in its CPU test mode), scored, and weighted on the devnet.
//! That needs a Docker engine with the base image: when none answers, the demo sets them up
//! itself as root (or with `--setup`, through `sudo`; see [`super::demo_setup`]), else it
//! does the chain part and stops, naming the command that runs the rest. A short live report
//! shows each step; everything started is stopped and removed at the end (the directory too,
//! unless `--keep`; the image stays for the next run).
//!
//! Every step runs this very binary with a generated configuration, exactly as an operator
//! would, so the demo is also a smoke test of the commands.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;

use super::demo_setup::{terminate, Permission, Setup, DEMO_IMAGE};

/// `sn27 demo`'s arguments.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Work in this directory (created) instead of a new temporary one.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Keep the directory (configs, wallets, devnet, logs) afterwards.
    #[arg(long)]
    keep: bool,
    /// Image the miner's containers are built from (no registry is needed for the default,
    /// which the demo builds with debootstrap when it is missing).
    #[arg(long, value_name = "IMAGE", default_value = DEMO_IMAGE)]
    base_image: String,
    /// Set up a missing Docker engine and base image even when not root (the privileged
    /// steps run through `sudo`); root does so without asking.
    #[arg(long, conflicts_with = "no_setup")]
    setup: bool,
    /// Never install or start anything: without an engine, stop after the chain part.
    #[arg(long)]
    no_setup: bool,
}

/// The demo's processes and files, cleaned up when dropped.
struct Demo {
    dir: PathBuf,
    temporary: Option<tempfile::TempDir>,
    children: Vec<(String, Child)>,
    started: Instant,
    /// The engine and image set up for the demo, if it had to (its engine stops last).
    setup: Option<Setup>,
}

impl Demo {
    fn step(&self, text: &str) {
        println!("[{:>5.1}s] {text}", self.started.elapsed().as_secs_f64());
    }

    fn config(&self, name: &str) -> String {
        self.dir
            .join(format!("{name}.toml"))
            .to_string_lossy()
            .into_owned()
    }

    /// Runs `sn27 --config <name>.toml args…`; its stdout, or the failure with its output.
    fn sn27(&self, name: &str, args: &[&str]) -> anyhow::Result<String> {
        let out = Command::new(std::env::current_exe()?)
            .arg("--config")
            .arg(self.config(name))
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .output()?;
        if !out.status.success() {
            bail!(
                "`sn27 {}` failed: {}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Starts `sn27 run` for `name`, logging to `<name>.log`.
    fn start(&mut self, name: &str) -> anyhow::Result<()> {
        let log = std::fs::File::create(self.dir.join(format!("{name}.log")))?;
        let child = Command::new(std::env::current_exe()?)
            .args([
                "--config",
                &self.config(name),
                "--log-format",
                "text",
                "run",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .env_remove("NOTIFY_SOCKET")
            .spawn()?;
        self.children.push((name.to_string(), child));
        Ok(())
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default()
    }

    /// Stops every started process with SIGTERM (then SIGKILL after 30 s).
    fn stop_all(&mut self) {
        let mut children: Vec<Child> = self.children.drain(..).map(|(_, c)| c).collect();
        terminate(&mut children, Duration::from_secs(30));
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        self.stop_all();
        drop(self.setup.take());
        if let Some(dir) = self.temporary.take() {
            let _ = dir.close();
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `n` distinct ports free now on every interface, below the kernel's ephemeral range
/// (32768–60999) so that no outgoing connection takes one before the rental publishes it.
fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    let start = 20_000 + (std::process::id() % 1000) as u16 * 10;
    let ports: Vec<u16> = (start..32_000)
        .filter(|&p| TcpListener::bind(("0.0.0.0", p)).is_ok())
        .take(n)
        .collect();
    anyhow::ensure!(ports.len() == n, "no {n} free ports below 32000");
    Ok(ports)
}

fn wait_for_port(port: u16, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

fn json_field(text: &str, field: &str) -> anyhow::Result<String> {
    let value: serde_json::Value = serde_json::from_str(text)?;
    value[field]
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("no {field} in {text}"))
}

pub fn run(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    let (dir, temporary) = match &args.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            (dir.clone(), None)
        }
        None => {
            let temp = tempfile::Builder::new().prefix("sn27-demo.").tempdir()?;
            if args.keep {
                (temp.keep(), None)
            } else {
                (temp.path().to_path_buf(), Some(temp))
            }
        }
    };
    let mut demo = Demo {
        dir: dir.clone(),
        temporary,
        children: Vec::new(),
        started: Instant::now(),
        setup: None,
    };
    println!(
        "sn27 demo in {} (a local devnet; nothing leaves this machine)",
        dir.display()
    );
    // The engine first: when it has to be set up, that is the slow part.
    let docker = match docker_ready(&args.base_image) {
        Ok(()) => Ok(()),
        Err(why) => match Permission::of_this_process(args.setup, args.no_setup) {
            Permission::Allowed { sudo } => {
                demo.step(&format!("{why}: setting it up"));
                set_up(&mut demo, &args.base_image, sudo)?;
                docker_ready(&args.base_image).map_err(|why| (why, None))
            }
            refused => Err((why, Some(refused))),
        },
    };
    write_configs(&dir, &args.base_image)?;

    demo.sn27("miner", &["devnet", "init", "--block-time", "1"])?;
    for name in ["miner", "validator"] {
        demo.sn27(
            name,
            &["wallet", "create", "--no-password", "--no-print-mnemonic"],
        )?;
    }
    let miner = demo.sn27("miner", &["wallet", "show", "--json"])?;
    let (miner_hotkey, miner_coldkey) = (
        json_field(&miner, "hotkey")?,
        json_field(&miner, "coldkey")?,
    );
    let validator = demo.sn27("validator", &["wallet", "show", "--json"])?;
    let validator_hotkey = json_field(&validator, "hotkey")?;
    demo.step("devnet created; a miner and a validator wallet");
    demo.sn27("miner", &["devnet", "fund", &miner_coldkey, "5"])?;
    demo.sn27("miner", &["register", "--yes"])?;
    demo.sn27(
        "miner",
        &["devnet", "register", &validator_hotkey, "--stake", "2000"],
    )?;
    demo.step(&format!(
        "registered: miner {miner_hotkey} (burned 1 TAO), validator {validator_hotkey} (2000 TAO staked)"
    ));

    if let Err((why, refused)) = docker {
        let Some(refused) = refused else {
            bail!("the Docker engine set up for the demo is not usable: {why}");
        };
        demo.sn27("miner", &["serve-axon"])?;
        demo.step("axon published on the devnet");
        println!("{}", demo.sn27("miner", &["metagraph"])?);
        demo.step(&format!(
            "stopped before the miner service, the rental and the validation round: {why}"
        ));
        println!(
            "incomplete (chain part only): {}",
            how_to_continue(&refused)
        );
        return Ok(ExitCode::from(2));
    }

    demo.start("miner")?;
    let axon_port: u16 = read_port(&dir.join("miner.toml"), "port")?;
    if !wait_for_port(axon_port, Duration::from_secs(600)) {
        bail!("the miner did not start serving:\n{}", demo.log("miner"));
    }
    demo.step("miner serving (sn27 run): runtime image ready, axon published");

    let rent = demo.sn27(
        "validator",
        &[
            "rent",
            "--hotkey",
            &miner_hotkey,
            "--cpus",
            "1",
            "--ram",
            "0.5",
            "--days",
            "1",
        ],
    )?;
    let ssh = rent
        .lines()
        .find_map(|l| l.strip_prefix("ssh"))
        .unwrap_or_default()
        .trim();
    demo.step(&format!("rented a container from the miner: {ssh}"));
    demo.sn27("validator", &["release", &miner_hotkey])?;
    demo.step("released it");

    demo.start("validator")?;
    demo.step("validator running (sn27 run): a Proof-of-GPU round on the miner, CPU test mode");
    let deadline = Instant::now() + Duration::from_secs(300);
    let scores = loop {
        let scores = demo.sn27("validator", &["scores", "--json"])?;
        let value: serde_json::Value = serde_json::from_str(&scores)?;
        if value["last_weights_block"].is_u64() {
            break scores;
        }
        if Instant::now() > deadline {
            bail!("no weights within 5 minutes:\n{}", demo.log("validator"));
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    let value: serde_json::Value = serde_json::from_str(&scores)?;
    demo.step(&format!(
        "round done and weights set at block {}",
        value["last_weights_block"]
    ));
    println!("{}", demo.sn27("validator", &["scores"])?);
    println!("{}", demo.sn27("validator", &["weights", "show"])?);
    demo.stop_all();
    let left = leftover_containers(&miner_hotkey);
    if left.is_empty() {
        demo.step("stopped the miner and the validator; no container is left");
    } else {
        demo.step(&format!(
            "stopped; removing containers left behind: {left:?}"
        ));
    }
    println!(
        "done{}",
        if args.keep {
            format!("; everything kept in {}", dir.display())
        } else {
            String::new()
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// Sets up the engine and, when missing, the default base image.
fn set_up(demo: &mut Demo, image: &str, sudo: bool) -> anyhow::Result<()> {
    let mut setup = Setup::new(&demo.dir, sudo)?;
    if !engine_answers() {
        setup.engine(engine_answers)?;
    }
    if docker_ready(image).is_err() {
        if image != DEMO_IMAGE {
            bail!(
                "the Docker engine has no {image}; the demo builds only {DEMO_IMAGE}: build \
                 {image} yourself or leave out --base-image"
            );
        }
        setup.image()?;
    }
    let started = setup.started_engine();
    // Kept until the demo ends: dropping it stops the engine it started.
    demo.setup = Some(setup);
    demo.step(&format!(
        "engine and base image ready{}",
        if started {
            " (the demo stops the engine it started at the end; the image stays)"
        } else {
            ""
        }
    ));
    Ok(())
}

/// The one command that lets the demo run the rest, for a case it may not set up itself.
fn how_to_continue(refused: &Permission) -> String {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "sn27".into());
    match refused {
        Permission::NotRoot => format!(
            "run `sudo {exe} demo`, which installs and starts a Docker engine (docker.io) and \
             builds the base image from the Debian mirror, then runs everything"
        ),
        Permission::Refused => {
            format!("run `{exe} demo` without --no-setup to let it set up the Docker engine")
        }
        Permission::OtherEngine(host) => format!(
            "DOCKER_HOST={host} is not this machine's engine, so the demo leaves it alone: \
             start that engine with the image, or run `env -u DOCKER_HOST {exe} demo`"
        ),
        Permission::Allowed { .. } => "set up the Docker engine".into(),
    }
}

/// Whether a Docker engine answers at all.
fn engine_answers() -> bool {
    let Ok(runtime) = super::runtime() else {
        return false;
    };
    runtime.block_on(async {
        match crate::docker::ContainerEngine::connect().await {
            Ok(engine) => engine.host().await.is_ok(),
            Err(_) => false,
        }
    })
}

/// The miner's containers still on the engine (none, when every allocation was released);
/// whatever is found is removed.
fn leftover_containers(miner: &str) -> Vec<String> {
    let Ok(runtime) = super::runtime() else {
        return Vec::new();
    };
    runtime.block_on(async {
        let Ok(engine) = crate::docker::ContainerEngine::connect().await else {
            return Vec::new();
        };
        let found = engine.labeled(miner).await.unwrap_or_default();
        for container in &found {
            let _ = engine.remove(&container.id).await;
        }
        found.into_iter().map(|c| c.name).collect()
    })
}

/// Whether a Docker engine answers and holds `image`; why not otherwise.
fn docker_ready(image: &str) -> Result<(), String> {
    let runtime = super::runtime().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let engine = crate::docker::ContainerEngine::connect()
            .await
            .map_err(|e| format!("no Docker engine answers ({})", crate::report::Report(&e)))?;
        if !engine.image_present(image).await {
            return Err(format!("the Docker engine has no {image}"));
        }
        Ok(())
    })
}

fn read_port(config: &Path, key: &str) -> anyhow::Result<u16> {
    let text = std::fs::read_to_string(config)?;
    let value: toml::Value = toml::from_str(&text)?;
    value["axon"][key]
        .as_integer()
        .and_then(|p| u16::try_from(p).ok())
        .context("axon port in the demo's config")
}

fn write_configs(dir: &Path, base_image: &str) -> anyhow::Result<()> {
    let chain = format!(
        "[chain]\nnetwork = \"devnet\"\ndevnet_path = \"{}\"\n",
        dir.join("devnet.sqlite").display()
    );
    let wallets = dir.join("wallets");
    let ssh_and_user = free_ports(5)?;
    std::fs::write(
        dir.join("miner.toml"),
        format!(
            "role = \"miner\"\nstate_dir = \"{}\"\n{chain}[wallet]\nname = \"miner\"\n\
             path = \"{}\"\n[axon]\nport = {}\nexternal_ip = \"127.0.0.1\"\n[miner]\n\
             ssh_port = {}\nuser_ports = {:?}\nmin_validator_stake = 1000.0\n[miner.container]\n\
             base_image = \"{base_image}\"\nreserve_memory_gb = 0.25\n",
            dir.join("miner").display(),
            wallets.display(),
            free_port()?,
            ssh_and_user[0],
            &ssh_and_user[1..],
        ),
    )?;
    std::fs::write(
        dir.join("validator.toml"),
        format!(
            "role = \"validator\"\nstate_dir = \"{}\"\n{chain}[wallet]\nname = \"validator\"\n\
             path = \"{}\"\n[miner.container]\nbase_image = \"{base_image}\"\n\
             [validator]\none_uid_per_ip = false\nweights_interval_blocks = 5\n\
             [validator.pog]\ninterval_blocks = 600\nmax_random_delay_secs = 0\n\
             attempt_timeout_secs = 90\nretry_limit = 1\nretry_interval_secs = 5\n\
             cpu_test_mode = true\n\
             [[scoring.gpu]]\nname = \"NVIDIA H200\"\nfp16_tflops = 610.0\nfp32_tflops = 49.6\n\
             vram_gb = 68.72\nscore = 4.0\n\
             [[scoring.gpu]]\nname = \"CPU (test)\"\nfp16_tflops = 1.0\nfp32_tflops = 1.0\n\
             vram_gb = 0.0001\nscore = 1.0\n",
            dir.join("validator").display(),
            wallets.display(),
        ),
    )?;
    Ok(())
}
