//! `sn27 check --json` on this host, for a registered devnet miner: it parses, and what it says
//! of Docker and the GPUs is what the engine and the machine say.

use std::process::Command;

use crate::support::{devnet_with_wallet, free_port, sn27, sn27_ok, stderr, stdout};

#[test]
fn the_doctor_reports_this_hosts_docker_and_gpus_truthfully() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("miner.toml");
    std::fs::write(
        &config,
        format!(
            "role = \"miner\"\nstate_dir = \"{}\"\n[chain]\nnetwork = \"devnet\"\n\
             devnet_path = \"{}\"\n[wallet]\npath = \"{}\"\n[axon]\nport = {}\n\
             external_ip = \"127.0.0.1\"\n[miner]\nssh_port = {}\n[miner.container]\n\
             base_image = \"{}\"\n",
            dir.path().join("state").display(),
            dir.path().join("devnet.sqlite").display(),
            dir.path().join("wallets").display(),
            free_port(),
            free_port(),
            std::env::var("SN27_TEST_BASE_IMAGE")
                .unwrap_or_else(|_| "sn27-test-base:bookworm-py".into()),
        ),
    )
    .unwrap();
    let c = config.to_str().unwrap();
    let show = devnet_with_wallet(c, "1");
    sn27_ok(&[
        "--config",
        c,
        "devnet",
        "fund",
        show["coldkey"].as_str().unwrap(),
        "5",
    ]);
    sn27_ok(&["--config", c, "register", "--yes"]);

    let out = sn27(&["--config", c, "check", "--json"], &[]);
    let report: serde_json::Value = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&out), stderr(&out)));
    let check = |name: &str| -> &serde_json::Value {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == name)
            .unwrap_or_else(|| panic!("{name} in {report}"))
    };
    assert_eq!(report["role"], "miner");
    assert_eq!(out.status.success(), report["ok"] == true, "{report}");
    assert_eq!(check("registration")["verdict"], "ok", "{report}");
    assert!(check("registration")["detail"]
        .as_str()
        .unwrap()
        .starts_with("uid 0"));
    assert_eq!(check("wallet")["verdict"], "ok", "{report}");

    let driver = Command::new("docker")
        .args(["info", "--format", "{{.Driver}}"])
        .output()
        .unwrap();
    let driver = String::from_utf8_lossy(&driver.stdout).trim().to_string();
    let docker = check("docker");
    assert_eq!(docker["verdict"], "ok", "{report}");
    assert!(
        docker["detail"]
            .as_str()
            .unwrap()
            .ends_with(&format!("storage driver {driver}")),
        "{docker}"
    );
    let limits = check("container limits");
    let quota = matches!(driver.as_str(), "btrfs" | "zfs");
    assert_eq!(
        limits["verdict"],
        if quota { "ok" } else { "warn" },
        "{limits}"
    );

    let gpus = check("gpus");
    if std::path::Path::new("/dev/nvidiactl").exists() {
        assert_eq!(gpus["verdict"], "ok", "{gpus}");
    } else {
        assert_eq!(gpus["verdict"], "warn", "{gpus}");
        assert!(
            gpus["detail"]
                .as_str()
                .unwrap()
                .contains("no NVIDIA driver"),
            "{gpus}"
        );
        assert_eq!(check("gpu runtime")["verdict"], "warn");
    }
    // The image check names what this engine holds.
    let image = check("runtime image");
    assert_eq!(image["verdict"], "ok", "{image}");
    // A v2.2.1 miner without its W&B run is told what that costs.
    let wandb = check("w&b");
    assert_eq!(wandb["verdict"], "warn", "{wandb}");
    assert!(
        wandb["detail"].as_str().unwrap().contains("score a miner"),
        "{wandb}"
    );
}
