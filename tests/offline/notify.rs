//! `sn27 run` as a `Type=notify` service, against a fake systemd: a datagram socket named in
//! `NOTIFY_SOCKET`. READY once serving, WATCHDOG pings at the asked pace (none while the
//! process is stopped), RELOADING and READY around a SIGHUP that applies what can change live
//! and names what cannot, STOPPING and a clean exit on SIGTERM; and its metrics and status
//! endpoint, read by `sn27 status`. Runs a validator on the devnet
//! (no miners: no Docker needed), pinned to one CPU.

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::support::{devnet_with_staked_hotkey, sn27_command};

/// Messages received within `limit`, until one satisfies `done`.
fn receive_until(
    socket: &UnixDatagram,
    limit: Duration,
    done: impl Fn(&str) -> bool,
) -> Vec<String> {
    let deadline = Instant::now() + limit;
    let mut messages = Vec::new();
    let mut buffer = [0u8; 4096];
    while Instant::now() < deadline {
        if let Ok(n) = socket.recv(&mut buffer) {
            let message = String::from_utf8_lossy(&buffer[..n]).into_owned();
            let finished = done(&message);
            messages.push(message);
            if finished {
                break;
            }
        }
    }
    messages
}

/// The body of `GET path` on loopback `port`.
fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text
}

#[test]
fn the_service_speaks_sd_notify() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("validator.toml");
    let write = |netuid: u16, extra: &str| {
        std::fs::write(
            &config,
            format!(
                "role = \"validator\"\nstate_dir = \"{}\"\n[chain]\nnetwork = \"devnet\"\n\
                 netuid = {netuid}\ndevnet_path = \"{}\"\n[wallet]\npath = \"{}\"\n{extra}",
                dir.path().join("state").display(),
                dir.path().join("devnet.sqlite").display(),
                dir.path().join("wallets").display(),
            ),
        )
        .unwrap()
    };
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics = format!("[metrics]\nlisten = \"127.0.0.1:{metrics_port}\"\n");
    write(27, &format!("[log]\nfilter = \"info\"\n{metrics}"));
    let c = config.to_str().unwrap();
    let show = devnet_with_staked_hotkey(c, "1", "10");

    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let log = dir.path().join("validator.log");
    // Pinned to one CPU, where the service runs on the current-thread scheduler (the other
    // tests that run the service see every CPU of the machine).
    let log_file = std::fs::File::create(&log).unwrap();
    let mut child = sn27_command("taskset")
        .args(["-c", "0", env!("CARGO_BIN_EXE_sn27")])
        .args(["--config", c, "--log-format", "text", "run"])
        .env("NOTIFY_SOCKET", &path)
        .env("WATCHDOG_USEC", "400000")
        .env_remove("WATCHDOG_PID")
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file)
        .spawn()
        .unwrap();
    let pid = Pid::from_raw(child.id() as i32);
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();

    let ready = receive_until(&socket, Duration::from_secs(60), |m| {
        m.starts_with("READY=1")
    });
    let first = ready.last().cloned().unwrap_or_default();
    assert!(
        first.starts_with("READY=1\nSTATUS=validator "),
        "{ready:?}\n{}",
        log_text()
    );
    // The metrics and the status the running service serves.
    let text = http_get(metrics_port, "/metrics");
    assert!(
        text.contains("sn27_build_info{role=\"validator\"")
            && text.contains("sn27_chain_calls_total{call=\"metagraph\",outcome=\"ok\"}"),
        "{text}"
    );
    let out = crate::support::sn27(&["--config", c, "status", "--json"], &[]);
    assert!(out.status.success(), "{}", crate::support::stderr(&out));
    let status: serde_json::Value = serde_json::from_str(&crate::support::stdout(&out)).unwrap();
    assert_eq!(status["role"], "validator");
    assert_eq!(status["hotkey"], show["hotkey"]);

    // Pings every 0.2 s while alive.
    let pings = receive_until(&socket, Duration::from_secs(2), |_| false);
    assert!(
        pings.iter().filter(|m| *m == "WATCHDOG=1").count() >= 4,
        "{pings:?}"
    );

    // A stopped (hung) process sends nothing.
    kill(pid, Signal::SIGSTOP).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    while socket.recv(&mut [0u8; 256]).is_ok() {}
    let silent = receive_until(&socket, Duration::from_secs(1), |_| false);
    kill(pid, Signal::SIGCONT).unwrap();
    assert!(silent.is_empty(), "{silent:?}");

    // A reload applies the filter and the validator's settings, and names what waits.
    write(
        28,
        &format!("[log]\nfilter = \"debug\"\n[validator]\nweights_interval_blocks = 7\n{metrics}"),
    );
    // netuid 28 is not a devnet subnet, which only matters after a restart.
    kill(pid, Signal::SIGHUP).unwrap();
    let reload = receive_until(&socket, Duration::from_secs(10), |m| {
        m.starts_with("READY=1")
    });
    assert!(
        reload
            .iter()
            .any(|m| m.starts_with("RELOADING=1\nMONOTONIC_USEC=")),
        "{reload:?}"
    );
    assert!(reload.last().unwrap().starts_with("READY=1"), "{reload:?}");
    let text = log_text();
    assert!(
        text.contains("configuration reloaded")
            && text.contains("log.filter")
            && text.contains("validator.weights_interval_blocks"),
        "{text}"
    );
    assert!(
        text.contains("applies only after a restart") && text.contains("chain.netuid"),
        "{text}"
    );

    kill(pid, Signal::SIGTERM).unwrap();
    let stopping = receive_until(&socket, Duration::from_secs(20), |m| m == "STOPPING=1");
    assert_eq!(stopping.last().map(String::as_str), Some("STOPPING=1"));
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}\n{}", log_text());
}
