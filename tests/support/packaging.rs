//! What the packaging tests share: the release artifacts that `tests/setup-packaging.sh` builds
//! (`packaging/build-deb.sh --debug`), the tools they need (missing is a failure that says how
//! to install it, never a skip), and test containers that are removed even when a test fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The repository root.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The artifact directory install.sh takes as its BASE_URL: the .deb, the tarball and
/// SHA256SUMS, as `packaging/build-deb.sh --debug` writes them (`SN27_TEST_ARTIFACTS` names
/// another).
pub fn artifacts() -> PathBuf {
    let dir = std::env::var_os("SN27_TEST_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/debian/debug"));
    assert!(
        dir.join("SHA256SUMS").exists(),
        "no packaged sn27 in {}: run `bash tests/setup-packaging.sh` (or \
         `packaging/build-deb.sh --debug`) first",
        dir.display()
    );
    dir
}

/// The one file in [`artifacts`] whose name ends with `suffix` (`.deb`, `.tar.gz`).
pub fn artifact(suffix: &str) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(artifacts())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one *{suffix} expected in the artifacts: {found:?}"
    );
    found.into_iter().next().unwrap()
}

/// Asserts that `tool` is on PATH; the message says which setup script installs it.
pub fn require(tool: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "`{tool}` is not installed: run `bash tests/setup-packaging.sh` (tests/run.sh does)"
    );
}

/// Runs `program` with `args`; returns the output, whatever the exit status.
pub fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program} does not run: {e}"))
}

/// [`run`] that must succeed; returns stdout.
pub fn run_ok(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "{program} {args:?}: {}\n{}{}",
        out.status,
        super::stdout(&out),
        super::stderr(&out)
    );
    super::stdout(&out)
}

/// A Docker image the setup script builds; missing is a failure naming the script.
pub fn require_image(image: &str) {
    require("docker");
    let out = run("docker", &["image", "inspect", image]);
    assert!(
        out.status.success(),
        "the test image {image} is missing: run `bash tests/setup-packaging.sh` (tests/run.sh does)"
    );
}

/// A detached test container, removed (with its volumes) when dropped, pass or fail.
pub struct Container {
    pub name: String,
}

impl Container {
    /// `docker run -d --name <unique> <args> <image> <command>`.
    pub fn start(image: &str, args: &[&str], command: &[&str]) -> Container {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "sn27-test-pkg-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut all = vec!["run", "-d", "--name", &name];
        all.extend_from_slice(args);
        all.push(image);
        all.extend_from_slice(command);
        run_ok("docker", &all);
        Container { name }
    }

    /// `docker exec` of `command` (as root); the output, whatever the exit status.
    pub fn exec(&self, command: &[&str]) -> Output {
        self.exec_as("root", command)
    }

    /// `docker exec` of `command` as `user`, with that user's home as HOME.
    pub fn exec_as(&self, user: &str, command: &[&str]) -> Output {
        let mut all = vec!["exec", "-u", user];
        if user != "root" {
            all.extend_from_slice(&["-e", "HOME=/var/lib/sn27"]);
        }
        all.push(&self.name);
        all.extend_from_slice(command);
        run("docker", &all)
    }

    /// A shell script run as root that must succeed; returns its stdout.
    pub fn sh(&self, script: &str) -> String {
        let out = self.exec(&["sh", "-c", script]);
        assert!(
            out.status.success(),
            "in {}: {script}: {}\n{}{}",
            self.name,
            out.status,
            super::stdout(&out),
            super::stderr(&out)
        );
        super::stdout(&out)
    }

    /// The container's log (what PID 1 wrote), for failure messages.
    pub fn logs(&self) -> String {
        let out = run("docker", &["logs", "--tail", "50", &self.name]);
        format!("{}{}", super::stdout(&out), super::stderr(&out))
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", "-v", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
