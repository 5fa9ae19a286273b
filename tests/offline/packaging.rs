//! The release artifacts (`packaging/build-deb.sh`, here its debug build made by
//! `tests/setup-packaging.sh`): what the .deb holds and declares, what the binary needs from
//! the system, and install.sh's plan and its installation into a scratch root from a local
//! artifact directory. The unit under a real systemd and the binary on an older glibc are
//! tested in the engine group (`packaging_systemd`, `packaging_old_glibc`).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::support::packaging::{artifact, artifacts, repo, require, run, run_ok};
use crate::support::{stderr, stdout};

/// The .deb's data unpacked into a temporary directory.
fn unpacked_deb() -> tempfile::TempDir {
    require("dpkg-deb");
    let dir = tempfile::tempdir().unwrap();
    let deb = artifact(".deb");
    run_ok(
        "dpkg-deb",
        &["-x", deb.to_str().unwrap(), dir.path().to_str().unwrap()],
    );
    dir
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn the_deb_holds_the_binary_unit_and_configuration_and_needs_only_libc() {
    require("dpkg-deb");
    let deb = artifact(".deb");
    let deb = deb.to_str().unwrap();

    // Depends: libc6 only. Nothing starts the service on installation.
    assert_eq!(
        run_ok("dpkg-deb", &["-f", deb, "Depends"]).trim(),
        "libc6 (>= 2.17)"
    );
    assert_eq!(run_ok("dpkg-deb", &["-f", deb, "Package"]).trim(), "sn27");
    assert_eq!(
        run_ok("dpkg-deb", &["-f", deb, "Architecture"]).trim(),
        "amd64"
    );
    let control = tempfile::tempdir().unwrap();
    run_ok("dpkg-deb", &["-e", deb, control.path().to_str().unwrap()]);
    let conffiles = std::fs::read_to_string(control.path().join("conffiles")).unwrap();
    assert_eq!(conffiles.trim(), "/etc/sn27/sn27.toml");
    for script in ["postinst", "prerm", "postrm"] {
        let path = control.path().join(script);
        assert_eq!(mode(&path) & 0o111, 0o111, "{script} is not executable");
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            std::fs::read_to_string(repo().join("packaging/debian").join(script)).unwrap(),
            "{script} differs from packaging/debian/{script}"
        );
    }
    // The commands, not the comments, which tell the operator to start it.
    let postinst = std::fs::read_to_string(control.path().join("postinst")).unwrap();
    let commands: Vec<&str> = postinst
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .collect();
    for forbidden in ["systemctl start", "systemctl enable", "systemctl restart"] {
        assert!(
            !commands.iter().any(|l| l.contains(forbidden)),
            "postinst runs {forbidden}"
        );
    }
    assert!(
        commands.contains(&"systemctl try-restart sn27.service"),
        "{postinst}"
    );

    // The files, where systemd and operators look for them.
    let data = unpacked_deb();
    let at = |p: &str| data.path().join(p);
    assert_eq!(mode(&at("usr/bin/sn27")), 0o755);
    for (file, source) in [
        (
            "usr/lib/systemd/system/sn27.service",
            "systemd/sn27.service",
        ),
        ("usr/lib/sysusers.d/sn27.conf", "systemd/sn27.sysusers"),
        ("usr/lib/tmpfiles.d/sn27.conf", "systemd/sn27.tmpfiles"),
        ("etc/sn27/sn27.toml", "sn27.toml.example"),
        ("usr/share/doc/sn27/sn27.toml.example", "sn27.toml.example"),
        ("usr/share/doc/sn27/operations.md", "docs/operations.md"),
    ] {
        assert_eq!(mode(&at(file)), 0o644, "{file}");
        assert_eq!(
            std::fs::read(at(file)).unwrap(),
            std::fs::read(repo().join(source)).unwrap(),
            "{file} is not {source}"
        );
    }
    // The packaged configuration is the documented example, which the binary prints too.
    let example = run_ok(at("usr/bin/sn27").to_str().unwrap(), &["config", "example"]);
    assert_eq!(
        example,
        std::fs::read_to_string(repo().join("sn27.toml.example")).unwrap()
    );
}

/// The dynamic section and imported symbol versions of the packaged binary.
#[test]
fn the_packaged_binary_needs_nothing_but_glibc_2_17() {
    require("readelf");
    require("objdump");
    let data = unpacked_deb();
    let binary = data.path().join("usr/bin/sn27");
    let binary = binary.to_str().unwrap();

    let dynamic = run_ok("readelf", &["-d", binary]);
    let needed: Vec<&str> = dynamic
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| l.split('[').nth(1)?.split(']').next())
        .collect();
    let glibc = [
        "libc.so.6",
        "libm.so.6",
        "libpthread.so.0",
        "libdl.so.2",
        "librt.so.1",
        "libutil.so.1",
        "ld-linux-x86-64.so.2",
        "libgcc_s.so.1",
    ];
    assert!(needed.contains(&"libc.so.6"), "{dynamic}");
    for library in &needed {
        assert!(
            glibc.contains(library),
            "the binary needs {library} (not glibc): {needed:?}"
        );
    }

    let symbols = run_ok("objdump", &["-T", binary]);
    let mut newest = (0u32, 0u32);
    for version in symbols.split("(GLIBC_").skip(1) {
        let version = version.split(')').next().unwrap();
        let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap());
        let v = (parts.next().unwrap(), parts.next().unwrap_or(0));
        newest = newest.max(v);
    }
    assert!(
        newest <= (2, 17),
        "the binary imports a GLIBC_{}.{} symbol:\n{}",
        newest.0,
        newest.1,
        symbols
            .lines()
            .filter(|l| l.contains("GLIBC_2.") && !l.contains("GLIBC_2.2.5"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    // packaging/check-binary.sh, which build-deb.sh runs, agrees.
    let check = run(
        "bash",
        &[
            repo().join("packaging/check-binary.sh").to_str().unwrap(),
            binary,
        ],
    );
    assert!(check.status.success(), "{}", stderr(&check));
}

/// install.sh run with `args` and the artifact directory; returns (success, output).
fn install_sh(args: &[&str]) -> (bool, String) {
    let script = repo().join("install.sh");
    let base = artifacts();
    let mut all = vec![script.to_str().unwrap()];
    all.extend_from_slice(args);
    all.push(base.to_str().unwrap());
    let out = run("sh", &all);
    (
        out.status.success(),
        format!("{}{}", stdout(&out), stderr(&out)),
    )
}

#[test]
fn install_sh_dry_run_prints_the_plan_and_changes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let target = root.path().join("target");
    let (ok, plan) = install_sh(&["--dry-run", "--root", target.to_str().unwrap()]);
    assert!(ok, "{plan}");
    assert!(!target.exists(), "a dry run wrote {}", target.display());
    for expected in [
        "Dry run",
        "==> 1. Detect the operating system and architecture",
        "SHA256SUMS",
        "$ install -D -m 755",
        "/usr/local/bin/sn27",
        "/etc/systemd/system/sn27.service",
        "sn27 check",
        "systemctl enable --now sn27",
        "journalctl -u sn27 -f",
    ] {
        assert!(plan.contains(expected), "no {expected:?} in:\n{plan}");
    }
    // The optional steps appear only when asked for, each explained.
    assert!(!plan.contains("docker.io"), "{plan}");
    let (ok, plan) = install_sh(&[
        "--dry-run",
        "--method",
        "deb",
        "--with-docker",
        "--with-nvidia-toolkit",
        "--with-firewall",
    ]);
    assert!(ok, "{plan}");
    for expected in [
        "apt-get install -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold",
        "Install Docker (docker.io)",
        "usermod -a -G docker sn27",
        "nvidia-ctk runtime configure --runtime=docker",
        "Open the configured ports",
    ] {
        assert!(plan.contains(expected), "no {expected:?} in:\n{plan}");
    }
    // Nothing installed to ask: the example's ports, a miner's user ports among them.
    for port in ["8091", "4444", "27015", "27016", "27017", "27018"] {
        assert!(plan.contains(port), "no port {port} in:\n{plan}");
    }
    // An unknown option is refused, not ignored.
    let (ok, out) = install_sh(&["--with-dockr"]);
    assert!(!ok && out.contains("unknown option --with-dockr"), "{out}");
}

#[test]
fn install_sh_installs_into_a_scratch_root_and_again_changes_nothing() {
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path();
    let (ok, out) = install_sh(&["--root", root.to_str().unwrap()]);
    assert!(ok, "{out}");
    let at = |p: &str| root.join(p);
    assert_eq!(mode(&at("usr/local/bin/sn27")), 0o755);
    let unit = std::fs::read_to_string(at("etc/systemd/system/sn27.service")).unwrap();
    assert!(
        unit.contains("ExecStart=/usr/local/bin/sn27 --config /etc/sn27/sn27.toml run"),
        "{unit}"
    );
    assert_eq!(
        std::fs::read_to_string(at("etc/sn27/sn27.toml")).unwrap(),
        std::fs::read_to_string(repo().join("sn27.toml.example")).unwrap()
    );
    for file in [
        "etc/sysusers.d/sn27.conf",
        "etc/tmpfiles.d/sn27.conf",
        "usr/local/share/doc/sn27/operations.md",
    ] {
        assert!(at(file).exists(), "{file} missing:\n{out}");
    }
    let version = run_ok(at("usr/local/bin/sn27").to_str().unwrap(), &["--version"]);
    assert!(version.starts_with("sn27 "), "{version}");
    assert!(out.contains("systemctl enable --now sn27"), "{out}");

    // The firewall step reads the ports from the installed binary's effective configuration:
    // the axon port, and for a miner the SSH port and the user ports (the example's defaults,
    // then a miner's own).
    let firewall = firewall_plan(root);
    for port in [8091, 4444, 27015, 27016, 27017, 27018] {
        assert!(
            firewall.contains(&format!("$ ufw allow {port}/tcp")),
            "no rule for {port}:\n{firewall}"
        );
    }
    std::fs::write(
        at("etc/sn27/sn27.toml"),
        "role = \"miner\"\n[axon]\nport = 9100\n[miner]\nssh_port = 2200\n\
         user_ports = [30001, 30002]\n",
    )
    .unwrap();
    let firewall = firewall_plan(root);
    for port in [9100, 2200, 30001, 30002] {
        assert!(
            firewall.contains(&format!("$ ufw allow {port}/tcp")),
            "no rule for {port}:\n{firewall}"
        );
    }
    assert_eq!(firewall.matches("$ ufw allow").count(), 4, "{firewall}");

    // Again, with an edited configuration: nothing is replaced, the configuration is kept.
    let edited = "role = \"validator\"\n";
    std::fs::write(at("etc/sn27/sn27.toml"), edited).unwrap();
    let (ok, again) = install_sh(&["--root", root.to_str().unwrap()]);
    assert!(ok, "{again}");
    assert!(
        again.contains("/usr/local/bin/sn27: already up to date")
            && again.contains("sn27.service: already up to date")
            && again.contains("exists: kept as it is"),
        "{again}"
    );
    assert!(!again.contains("$ install -D"), "{again}");
    assert_eq!(
        std::fs::read_to_string(at("etc/sn27/sn27.toml")).unwrap(),
        edited
    );
    // A validator serves nothing that peers call: no rule.
    let firewall = firewall_plan(root);
    assert!(firewall.contains("nothing to open"), "{firewall}");
    assert_eq!(firewall.matches("$ ufw allow").count(), 0, "{firewall}");
}

/// The plan of `install.sh --dry-run --root ROOT --with-firewall` for what is installed under
/// `root`, with a `ufw` on PATH that the dry run must not call.
fn firewall_plan(root: &Path) -> String {
    let bin = tempfile::tempdir().unwrap();
    let called = bin.path().join("called");
    let ufw = bin.path().join("ufw");
    std::fs::write(&ufw, format!("#!/bin/sh\ntouch {}\n", called.display())).unwrap();
    std::fs::set_permissions(&ufw, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // The installed sn27 reads `SN27_*` variables as configuration and refuses unknown
    // ones: the test harness's own (`SN27_TEST_*`) stay out of the operator's environment.
    let out = crate::support::sn27_command("sh")
        .arg(repo().join("install.sh"))
        .args(["--dry-run", "--with-firewall", "--root"])
        .arg(root)
        .arg(artifacts())
        .env("PATH", path)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let plan = format!("{}{}", stdout(&out), stderr(&out));
    assert!(out.status.success(), "{plan}");
    assert!(plan.contains("Open the configured ports"), "{plan}");
    assert!(!called.exists(), "the dry run ran ufw:\n{plan}");
    plan
}

/// A corrupted artifact is refused before anything is installed.
#[test]
fn install_sh_refuses_an_artifact_whose_checksum_does_not_match() {
    let base = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(artifacts()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, base.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    let tarball = std::fs::read_dir(base.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .unwrap();
    std::fs::write(&tarball, b"not the release").unwrap();
    let root = tempfile::tempdir().unwrap();
    let script = repo().join("install.sh");
    let url = format!("file://{}", base.path().display());
    let out = run(
        "sh",
        &[
            script.to_str().unwrap(),
            "--root",
            root.path().to_str().unwrap(),
            &url,
        ],
    );
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("checksum"), "{text}");
    assert!(!root.path().join("usr").exists(), "{text}");
}

/// The shell scripts operators and CI run are shellcheck-clean.
#[test]
fn the_packaging_scripts_are_shellcheck_clean() {
    require("shellcheck");
    let scripts = [
        "install.sh",
        "packaging/build-deb.sh",
        "packaging/check-binary.sh",
        "packaging/tools.sh",
        "packaging/debian/postinst",
        "packaging/debian/prerm",
        "packaging/debian/postrm",
        "tests/setup-packaging.sh",
    ];
    let paths: Vec<String> = scripts
        .iter()
        .map(|s| repo().join(s).to_string_lossy().into_owned())
        .collect();
    let args: Vec<&str> = paths.iter().map(String::as_str).collect();
    let out = run("shellcheck", &args);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
}
