//! The .deb and its unit under a real systemd: Debian bookworm with systemd 252 as PID 1 in a
//! container of this machine's Docker engine (`sn27-test-systemd:bookworm-minimal`, built
//! by `tests/setup-packaging.sh`: systemd and nothing more, no procps). Not `--privileged`, which this host refuses, but with
//! CAP_SYS_ADMIN, without which systemd silently skips the unit's mount namespace
//! (ProtectSystem, PrivateTmp, ...); the host's cgroup tree is mounted read-only.
//!
//! install.sh installs the .deb without starting anything. A devnet validator (the devnet is a
//! file) is then enabled and started: active after READY with its status line, in the journal
//! under its identifier, reloaded with a changed filter, restarted by the watchdog when hung
//! (SIGSTOP), stopped cleanly. A devnet miner then starts under the same sandbox and reaches
//! the engine's Docker socket, mounted in, through the `docker` group. Installing again
//! changes nothing; an upgrade restarts the running service and keeps the configuration;
//! removal and purge keep the state.

use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::support::packaging::{artifacts, repo, require_image, Container};
use crate::support::{stderr, stdout};

const IMAGE: &str = "sn27-test-systemd:bookworm-minimal";

/// `systemctl show -p NAME --value sn27`.
fn property(container: &Container, name: &str) -> String {
    container
        .sh(&format!("systemctl show -p {name} --value sn27"))
        .trim()
        .to_string()
}

/// Polls `check` every half second until it holds or `limit` passes.
fn wait_for(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        sleep(Duration::from_millis(500));
    }
    check()
}

/// The unit's journal, every field of every entry (`-o verbose`).
fn journal(container: &Container) -> String {
    container.sh("journalctl -u sn27 --no-pager -o verbose")
}

fn config(filter: &str) -> String {
    format!(
        "role = \"validator\"\n[chain]\nnetwork = \"devnet\"\n\
         devnet_path = \"/var/lib/sn27/devnet.sqlite\"\n[log]\nfilter = \"{filter}\"\n"
    )
}

/// A devnet miner whose containers come from the engine's test base image.
fn miner_config() -> String {
    let image = std::env::var("SN27_TEST_BASE_IMAGE")
        .unwrap_or_else(|_| "sn27-test-base:bookworm-py".to_string());
    format!(
        "role = \"miner\"\n[chain]\nnetwork = \"devnet\"\n\
         devnet_path = \"/var/lib/sn27/devnet.sqlite\"\n\
         [axon]\nport = 18091\nexternal_ip = \"127.0.0.1\"\n[miner]\nssh_port = 14444\n\
         [miner.container]\nbase_image = \"{image}\"\nreserve_cpus = 0\nreserve_memory_gb = 0.5\n"
    )
}

/// The sandbox systemd built for the main process: `/` read-only, the state directory
/// writable, no capabilities, no new privileges, a system-call filter.
fn assert_sandboxed(container: &Container, pid: &str) {
    let mounts = container.sh(&format!("cat /proc/{pid}/mountinfo"));
    let options = |point: &str| {
        mounts
            .lines()
            .rev()
            .map(|l| l.split(' ').collect::<Vec<_>>())
            .find(|f| f.len() > 5 && f[4] == point)
            .map(|f| f[5].to_string())
            .unwrap_or_else(|| panic!("{point} is not a mount point:\n{mounts}"))
    };
    assert!(options("/").starts_with("ro"), "{mounts}");
    assert!(options("/var/lib/sn27").starts_with("rw"), "{mounts}");
    assert!(options("/home").starts_with("ro"), "{mounts}");
    let status = container.sh(&format!("cat /proc/{pid}/status"));
    for line in ["CapBnd:\t0000000000000000", "NoNewPrivs:\t1", "Seccomp:\t2"] {
        assert!(status.contains(line), "no {line:?} in:\n{status}");
    }
}

#[test]
fn the_deb_runs_under_systemd_as_a_notify_service_with_watchdog_and_reload() {
    require_image(IMAGE);
    let base = artifacts();
    let mount = format!("{}:/artifacts:ro", base.display());
    let script = format!("{}:/install.sh:ro", repo().join("install.sh").display());
    let container = Container::start(
        IMAGE,
        &[
            "--cap-add",
            "SYS_ADMIN",
            "-v",
            "/var/run/docker.sock:/run/docker.sock",
            "--tmpfs",
            "/run",
            "--tmpfs",
            "/run/lock",
            "-v",
            "/sys/fs/cgroup:/sys/fs/cgroup:ro",
            "-v",
            &mount,
            "-v",
            &script,
        ],
        &["/sbin/init"],
    );
    let booted = wait_for(Duration::from_secs(60), || {
        let out = container.exec(&["systemctl", "is-active", "basic.target"]);
        stdout(&out).trim() == "active"
    });
    assert!(booted, "systemd did not boot:\n{}", container.logs());
    assert!(
        container
            .sh("systemctl --version")
            .starts_with("systemd 252"),
        "not systemd 252"
    );

    // A minimal host: no procps, hence no /bin/kill for a unit to lean on.
    container.sh("! command -v ps && test ! -e /bin/kill && test ! -e /usr/bin/kill");

    // The engine's socket belongs to its `docker` group: the same gid here, before the
    // package, whose postinst adds sn27 to it.
    container.sh("groupadd --system --gid \"$(stat -c %g /run/docker.sock)\" docker");

    // install.sh installs the .deb (apt, offline: libc6 is there) and starts nothing.
    let installed = container.sh("sh /install.sh /artifacts 2>&1");
    assert!(
        installed.contains("Install the package with apt")
            && installed.contains("systemctl enable --now sn27"),
        "{installed}"
    );
    assert_eq!(property(&container, "UnitFileState"), "disabled");
    assert_eq!(property(&container, "ActiveState"), "inactive");
    container
        .sh("id -nG sn27 | grep -qw docker && test \"$(stat -c %U:%a /var/lib/sn27)\" = sn27:750");
    let verify = container.exec(&[
        "systemd-analyze",
        "verify",
        "/usr/lib/systemd/system/sn27.service",
    ]);
    assert!(
        verify.status.success() && !stderr(&verify).contains("sn27.service"),
        "systemd-analyze verify: {}{}",
        stdout(&verify),
        stderr(&verify)
    );

    // A devnet validator, set up as the service user.
    container.sh(&format!(
        "cat > /etc/sn27/sn27.toml <<'EOF'\n{}EOF",
        config("info")
    ));
    let as_sn27 = |args: &[&str]| {
        let mut command = vec!["sn27"];
        command.extend_from_slice(args);
        let out = container.exec_as("sn27", &command);
        assert!(
            out.status.success(),
            "sn27 {args:?}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    };
    as_sn27(&["devnet", "init", "--block-time", "1"]);
    as_sn27(&["wallet", "create", "--no-password", "--no-print-mnemonic"]);
    let show: serde_json::Value =
        serde_json::from_str(&as_sn27(&["wallet", "show", "--json"])).unwrap();
    let hotkey = show["hotkey"].as_str().unwrap();
    as_sn27(&["devnet", "register", hotkey, "--stake", "10"]);
    as_sn27(&["config", "check"]);

    // The test's watchdog is short; the installed unit keeps its own 60 s.
    container.sh("mkdir -p /etc/systemd/system/sn27.service.d && \
         printf '[Service]\\nWatchdogSec=10s\\nTimeoutAbortSec=5s\\nRestartSec=1s\\n' \
         > /etc/systemd/system/sn27.service.d/test.conf && systemctl daemon-reload");

    // enable --now returns once sn27 said READY=1.
    container.sh("systemctl enable --now sn27");
    let status = container.sh("systemctl status sn27 --no-pager || true");
    assert!(status.contains("active (running)"), "{status}");
    assert!(
        property(&container, "StatusText").starts_with("validator "),
        "{status}"
    );
    assert_eq!(property(&container, "UnitFileState"), "enabled");
    let first_pid = property(&container, "MainPID");
    let logged = wait_for(Duration::from_secs(10), || {
        journal(&container).contains("MESSAGE=service ready")
    });
    let entries = journal(&container);
    assert!(
        logged && entries.contains("SYSLOG_IDENTIFIER=sn27") && entries.contains("F_STATUS="),
        "{entries}"
    );
    assert!(
        container
            .sh(&format!("stat -c %U /proc/{first_pid}"))
            .trim()
            .starts_with("sn27"),
        "not running as sn27"
    );
    assert_sandboxed(&container, &first_pid);

    // reload: the changed filter applies, in the same process.
    container.sh(&format!(
        "cat > /etc/sn27/sn27.toml <<'EOF'\n{}EOF",
        config("debug")
    ));
    container.sh("systemctl reload sn27");
    let reloaded = wait_for(Duration::from_secs(20), || {
        let entries = journal(&container);
        entries.contains("MESSAGE=configuration reloaded") && entries.contains("log.filter")
    });
    assert!(reloaded, "{}", journal(&container));
    assert_eq!(property(&container, "MainPID"), first_pid);
    assert_eq!(property(&container, "ActiveState"), "active");
    // A debug event, which the "info" filter had hidden, now reaches the journal.
    let debug = wait_for(Duration::from_secs(20), || {
        container
            .sh("journalctl -u sn27 --no-pager -p debug..debug -o cat")
            .lines()
            .any(|l| !l.trim().is_empty())
    });
    assert!(debug, "{}", journal(&container));

    // A hung process (stopped) no longer pings: systemd aborts it and starts a new one.
    container.sh(&format!("kill -STOP {first_pid}"));
    let restarted = wait_for(Duration::from_secs(60), || {
        property(&container, "NRestarts") == "1"
            && property(&container, "ActiveState") == "active"
            && property(&container, "SubState") == "running"
    });
    let entries = container.sh("journalctl -u sn27 --no-pager -o cat");
    assert!(restarted, "{entries}");
    assert_ne!(property(&container, "MainPID"), first_pid);
    assert!(entries.contains("Watchdog timeout"), "{entries}");

    // stop: SIGTERM, a clean exit 0.
    container.sh("systemctl stop sn27");
    assert_eq!(property(&container, "ActiveState"), "inactive");
    assert_eq!(property(&container, "Result"), "success");
    assert_eq!(property(&container, "ExecMainStatus"), "0");
    let entries = journal(&container);
    assert!(entries.contains("MESSAGE=stopping"), "{entries}");

    // A miner, in the same sandbox, reaches Docker: the runtime image and reconciliation are
    // Docker calls made before READY. (Its image build may take a while the first time.)
    container.sh(&format!(
        "cat > /etc/sn27/sn27.toml <<'EOF'\n{}EOF\n\
         printf '[Service]\\nTimeoutStartSec=300s\\n' > /etc/systemd/system/sn27.service.d/start.conf\n\
         systemctl daemon-reload && systemctl start sn27",
        miner_config()
    ));
    let entries = container.sh("journalctl -u sn27 --no-pager -o cat");
    assert_eq!(property(&container, "SubState"), "running", "{entries}");
    assert!(
        property(&container, "StatusText").starts_with("miner "),
        "{entries}"
    );
    assert!(
        entries.contains("allocations reconciled with Docker"),
        "{entries}"
    );
    let miner_pid = property(&container, "MainPID");
    assert_sandboxed(&container, &miner_pid);

    // Installing the same release again changes nothing: the running service and the
    // operator's configuration stay.
    let again = container.sh("sh /install.sh /artifacts 2>&1");
    assert!(again.contains("kept as it was"), "{again}");
    assert!(container
        .sh("cat /etc/sn27/sn27.toml")
        .contains("role = \"miner\""));
    assert_eq!(property(&container, "MainPID"), miner_pid);

    // An upgrade (the same files as a newer version) restarts the running service on the new
    // binary and keeps the configuration and the state.
    container.sh("dpkg-deb -R /artifacts/sn27_*_amd64.deb /tmp/upgrade && \
         sed -i 's/^Version: .*/Version: 0.1.0-99/' /tmp/upgrade/DEBIAN/control && \
         dpkg-deb -Zgzip -z1 -b /tmp/upgrade /tmp/sn27_upgrade_amd64.deb > /dev/null && \
         DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
           -o Dpkg::Options::=--force-confold /tmp/sn27_upgrade_amd64.deb");
    assert!(container
        .sh("dpkg-query -W -f '${Version}' sn27")
        .contains("0.1.0-99"));
    let upgraded = wait_for(Duration::from_secs(60), || {
        property(&container, "SubState") == "running"
            && property(&container, "MainPID") != miner_pid
    });
    assert!(
        upgraded,
        "{}",
        container.sh("journalctl -u sn27 --no-pager -o cat")
    );
    assert!(container
        .sh("cat /etc/sn27/sn27.toml")
        .contains("role = \"miner\""));
    container.sh("test -f /var/lib/sn27/devnet.sqlite");

    container.sh("systemctl stop sn27");
    assert_eq!(property(&container, "Result"), "success");
    assert_eq!(property(&container, "ExecMainStatus"), "0");

    // remove keeps the configuration and the state; purge removes the configuration only.
    container.sh("systemctl start sn27");
    container.sh("DEBIAN_FRONTEND=noninteractive apt-get remove -y -q sn27");
    assert_eq!(property(&container, "ActiveState"), "inactive");
    container.sh("test ! -e /usr/bin/sn27 && test -f /etc/sn27/sn27.toml && \
         test -f /var/lib/sn27/devnet.sqlite && test -d /var/lib/sn27/.bittensor/wallets");
    container.sh("DEBIAN_FRONTEND=noninteractive apt-get purge -y -q sn27");
    container.sh("test ! -e /etc/sn27/sn27.toml && test -f /var/lib/sn27/devnet.sqlite && id sn27");
}
