//! The packaged binary on a system older than the build host: Debian bullseye (glibc 2.31;
//! the build host is bookworm, 2.36) without systemd (`sn27-test-oldglibc:bullseye`, built by
//! `tests/setup-packaging.sh`). install.sh installs the .deb there with dpkg's maintainer
//! scripts taking their no-systemd path (useradd, install -d); the zigbuild binary runs, and
//! the binary cargo builds on this host does not, which is why the release is built by zig.

use crate::support::packaging::{artifacts, repo, require_image, Container};
use crate::support::{stderr, stdout};

const IMAGE: &str = "sn27-test-oldglibc:bullseye";

#[test]
fn the_packaged_binary_runs_on_an_older_glibc_and_the_host_build_does_not() {
    require_image(IMAGE);
    let base = artifacts();
    let mount = format!("{}:/artifacts:ro", base.display());
    let script = format!("{}:/install.sh:ro", repo().join("install.sh").display());
    let host_binary = format!("{}:/host-sn27:ro", env!("CARGO_BIN_EXE_sn27"));
    let container = Container::start(
        IMAGE,
        &["-v", &mount, "-v", &script, "-v", &host_binary],
        &["sleep", "infinity"],
    );
    let glibc = container.sh("ldd --version | head -n 1");
    assert!(glibc.contains("2.31"), "{glibc}");

    let installed = container.sh("sh /install.sh /artifacts 2>&1");
    assert!(installed.contains("the .deb package"), "{installed}");
    let version = container.sh("sn27 --version");
    assert!(version.starts_with("sn27 "), "{version}");
    let example = container.sh("sn27 config example");
    assert_eq!(
        example,
        std::fs::read_to_string(repo().join("sn27.toml.example")).unwrap()
    );
    container.sh("sn27 config check --config /etc/sn27/sn27.toml > /dev/null");
    // The maintainer scripts without systemd: the user and the state directory all the same.
    container.sh("id sn27 && test \"$(stat -c %U:%G:%a /var/lib/sn27)\" = sn27:sn27:750");

    // The control: the same program built by plain cargo on this host needs a newer glibc.
    let host = container.exec(&["/host-sn27", "--version"]);
    assert!(
        !host.status.success() && stderr(&host).contains("GLIBC_2."),
        "the host build ran on glibc 2.31 (the control is void): {}{}",
        stdout(&host),
        stderr(&host)
    );
}
