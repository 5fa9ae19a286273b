//! What `sn27 demo` needs beyond this binary, made on a fresh Debian-family machine when no
//! Docker engine answers: the engine (`docker.io` from the distribution, started with the
//! flags that work in containers and VMs alike) and the demo's base image, a minimal Debian
//! rootfs with sshd and python3 made by debootstrap from the Debian mirror and imported (no
//! image registry is needed). The same steps as `tests/setup-docker.sh`, with progress, a
//! log, and privileged commands through `sudo` when not run as root.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// The base image the demo builds when it is missing (and the test suite uses).
pub const DEMO_IMAGE: &str = "sn27-test-base:bookworm-py";

/// What the image holds: sshd and SFTP for renters, python3 for the Proof-of-GPU worker.
const IMAGE_PACKAGES: &str = "openssh-server,openssh-sftp-server,procps,python3-minimal,python3";
const MIRROR: &str = "http://deb.debian.org/debian";

/// How often a slow step says it is still running.
const PROGRESS_EVERY: Duration = Duration::from_secs(15);

/// Whether the demo may set the engine up itself, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Permission {
    /// Root, or `--setup` (privileged steps then go through `sudo`).
    Allowed { sudo: bool },
    /// Not root and no `--setup`.
    NotRoot,
    /// `--no-setup`.
    Refused,
    /// `DOCKER_HOST` names another engine: that one is the operator's to start.
    OtherEngine(String),
}

impl Permission {
    pub fn decide(root: bool, setup: bool, no_setup: bool, docker_host: Option<&str>) -> Self {
        if no_setup {
            return Permission::Refused;
        }
        if let Some(host) = docker_host.filter(|h| !h.is_empty()) {
            if host != "unix:///var/run/docker.sock" && host != "unix:///run/docker.sock" {
                return Permission::OtherEngine(host.to_string());
            }
        }
        match (root, setup) {
            (true, _) => Permission::Allowed { sudo: false },
            (false, true) => Permission::Allowed { sudo: true },
            (false, false) => Permission::NotRoot,
        }
    }

    /// This process's own case.
    pub fn of_this_process(setup: bool, no_setup: bool) -> Self {
        let docker_host = std::env::var("DOCKER_HOST").ok();
        Permission::decide(
            nix::unistd::geteuid().is_root(),
            setup,
            no_setup,
            docker_host.as_deref(),
        )
    }
}

/// The engine and image work: its log file and the engine it started, if any.
pub struct Setup {
    log: PathBuf,
    sudo: bool,
    started: Instant,
    /// `dockerd`, when this setup started it (stopped by [`Setup::stop_engine`]).
    engine: Option<Child>,
}

impl Setup {
    pub fn new(dir: &Path, sudo: bool) -> anyhow::Result<Setup> {
        let log = dir.join("setup.log");
        File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        Ok(Setup {
            log,
            sudo,
            started: Instant::now(),
            engine: None,
        })
    }

    fn say(&self, text: &str) {
        println!(
            "[setup {:>5.1}s] {text}",
            self.started.elapsed().as_secs_f64()
        );
    }

    /// `program args…`, as root (through `sudo` when this process is not root).
    fn privileged(&self, program: &str, args: &[&str]) -> Command {
        let mut command = if self.sudo {
            let mut c = Command::new("sudo");
            c.arg(program);
            c
        } else {
            Command::new(program)
        };
        command
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null());
        command
    }

    /// Runs `command` to its end with its output in the log, saying every
    /// [`PROGRESS_EVERY`] that `what` is still going; an error names `what` and ends with
    /// the log's last lines.
    fn run(&self, what: &str, mut command: Command) -> anyhow::Result<()> {
        let log = File::options().append(true).open(&self.log)?;
        let mut child = command
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("{what}: starting {:?}", command.get_program()))?;
        let began = Instant::now();
        let mut next = began + PROGRESS_EVERY;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if Instant::now() >= next {
                self.say(&format!(
                    "  … still {what} ({} s; log {})",
                    began.elapsed().as_secs(),
                    self.log.display()
                ));
                next += PROGRESS_EVERY;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        if !status.success() {
            bail!("{what} failed ({status}):\n{}", self.log_tail(20));
        }
        Ok(())
    }

    fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// `apt-get install packages`, after `apt-get update` when the first try fails (a fresh
    /// machine's package lists may be missing or stale).
    fn apt_install(&self, what: &str, packages: &[&str]) -> anyhow::Result<()> {
        if find_program("apt-get").is_none() {
            bail!(
                "{what}: this machine has no apt-get; install {} yourself and run the demo again",
                packages.join(" ")
            );
        }
        let mut args = vec!["install", "-y", "-q"];
        args.extend_from_slice(packages);
        if self.run(what, self.privileged("apt-get", &args)).is_ok() {
            return Ok(());
        }
        self.run(
            "updating the package lists",
            self.privileged("apt-get", &["update", "-q"]),
        )?;
        self.run(what, self.privileged("apt-get", &args))
    }

    /// Makes a Docker engine answer: installs `docker.io` when there is no `dockerd`, and
    /// starts `dockerd` when installing it did not (no systemd, as in a container).
    pub fn engine(&mut self, answers: impl Fn() -> bool) -> anyhow::Result<()> {
        if find_program("dockerd").is_none() {
            self.say("no Docker engine on this machine: installing docker.io with apt-get");
            self.apt_install("installing docker.io", &["docker.io"])?;
            self.say("docker.io installed");
            if wait_until(Duration::from_secs(10), &answers) {
                self.say("the Docker engine answers (started by the package)");
                return Ok(());
            }
        }
        let dockerd = find_program("dockerd").context("dockerd is still missing")?;
        let log = self.log.with_file_name("dockerd.log");
        self.say(&format!(
            "starting dockerd (vfs storage, no iptables; log {})",
            log.display()
        ));
        let out = File::create(&log)?;
        let child = self
            .privileged(
                &dockerd.to_string_lossy(),
                &["--storage-driver=vfs", "--iptables=false"],
            )
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .context("starting dockerd")?;
        self.engine = Some(child);
        if !wait_until(Duration::from_secs(60), &answers) {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            bail!(
                "dockerd did not answer within 60 s; its log ends:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        self.say("dockerd answers");
        Ok(())
    }

    /// Builds [`DEMO_IMAGE`]: a minbase Debian bookworm rootfs by debootstrap, imported.
    pub fn image(&self) -> anyhow::Result<()> {
        if find_program("debootstrap").is_none() {
            self.say("installing debootstrap with apt-get");
            self.apt_install("installing debootstrap", &["debootstrap"])?;
        }
        if find_program("docker").is_none() {
            bail!("importing the image needs the docker command, which is missing");
        }
        let rootfs = tempfile::Builder::new()
            .prefix("sn27-rootfs.")
            .tempdir()
            .context("a directory for the image's rootfs")?;
        let target = rootfs.path().to_string_lossy().into_owned();
        self.say(&format!(
            "building {DEMO_IMAGE}: debootstrap of Debian bookworm with sshd and python3 from \
             {MIRROR} (a few minutes)"
        ));
        let include = format!("--include={IMAGE_PACKAGES}");
        self.run(
            "building the base image with debootstrap",
            self.privileged(
                "debootstrap",
                &["--variant=minbase", &include, "bookworm", &target, MIRROR],
            ),
        )?;
        self.say(&format!("importing the rootfs as {DEMO_IMAGE}"));
        let log = File::options().append(true).open(&self.log)?;
        let mut tar = self
            .privileged("tar", &["-C", &target, "-c", "."])
            .stdout(Stdio::piped())
            .stderr(log.try_clone()?)
            .spawn()
            .context("starting tar")?;
        let archive = tar.stdout.take().context("tar's output")?;
        let mut import = Command::new("docker");
        import
            .args(["import", "-", DEMO_IMAGE])
            .stdin(archive)
            .stdout(log.try_clone()?)
            .stderr(log);
        let imported = self.run("importing the base image", import);
        let packed = tar.wait()?;
        imported?;
        if !packed.success() {
            bail!(
                "packing the rootfs failed ({packed}):\n{}",
                self.log_tail(20)
            );
        }
        // The rootfs holds root-owned files; as root the TempDir removes them itself.
        if self.sudo {
            let _ = self.privileged("rm", &["-rf", &target]).status();
        }
        drop(rootfs);
        self.say(&format!("{DEMO_IMAGE} is ready"));
        Ok(())
    }

    /// Stops the engine this setup started (images stay for the next run).
    pub fn stop_engine(&mut self) {
        if let Some(child) = self.engine.take() {
            terminate(&mut [child], Duration::from_secs(30));
        }
    }

    /// Whether this setup started the engine (and so will stop it).
    pub fn started_engine(&self) -> bool {
        self.engine.is_some()
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.stop_engine();
    }
}

/// Stops `children`: SIGTERM to each, then SIGKILL to those still running after `grace`.
pub fn terminate(children: &mut [Child], grace: Duration) {
    for child in children.iter() {
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    for child in children.iter_mut() {
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// `program` on `PATH`, or in the system directories a non-login root shell may lack.
fn find_program(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/sbin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|candidate| {
            use std::os::unix::fs::PermissionsExt;
            candidate
                .metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

fn wait_until(limit: Duration, check: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_may_set_the_engine_up() {
        use Permission::*;
        assert_eq!(
            Permission::decide(true, false, false, None),
            Allowed { sudo: false }
        );
        assert_eq!(
            Permission::decide(false, true, false, None),
            Allowed { sudo: true }
        );
        assert_eq!(Permission::decide(false, false, false, None), NotRoot);
        assert_eq!(Permission::decide(true, true, true, None), Refused);
        assert_eq!(
            Permission::decide(true, false, false, Some("tcp://10.0.0.2:2375")),
            OtherEngine("tcp://10.0.0.2:2375".into())
        );
        // The default socket named explicitly is still this machine's own engine.
        assert_eq!(
            Permission::decide(true, false, false, Some("unix:///var/run/docker.sock")),
            Allowed { sudo: false }
        );
        assert_eq!(
            Permission::decide(true, false, false, Some("")),
            Allowed { sudo: false }
        );
    }

    #[test]
    fn programs_are_found_on_the_path_or_in_system_directories() {
        assert!(find_program("sh").is_some());
        assert!(find_program("no-such-program-sn27").is_none());
    }
}
