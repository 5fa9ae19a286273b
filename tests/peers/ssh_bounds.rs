//! The validator's SSH client against a hostile miner's server (`tests/python/hostile_ssh.py`,
//! paramiko): output without end, output a byte at a time, and channels opened towards the
//! validator it never asked for. Each costs the validator a bounded amount of memory and time.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sn27::ssh::{HostKeyPolicy, Login, Session, SshError};

/// The hostile server, killed when dropped.
struct Hostile {
    child: Child,
    port: u16,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Hostile {
    fn start(channels: usize) -> Hostile {
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/hostile_ssh.py");
        let mut child = Command::new(crate::support::python())
            .arg(script)
            .arg(channels.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python starts");
        let (send, lines) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = send.send(line);
            }
        });
        let port = lines
            .recv_timeout(Duration::from_secs(30))
            .expect("the server says its port")
            .parse()
            .expect("a port");
        Hostile { child, port, lines }
    }

    fn login(&self) -> Login {
        Login {
            addr: SocketAddr::from(([127, 0, 0, 1], self.port)),
            username: "root".into(),
            password: "anything".to_string().into(),
            host_key: HostKeyPolicy::Record,
        }
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// This process's resident memory, bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024
}

#[test]
fn a_hostile_ssh_server_costs_the_validator_bounded_memory_and_time() {
    let server = Hostile::start(200);
    // Two workers: the session's task answers the server while this one waits on it.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let session = Session::open(&server.login(), Duration::from_secs(20))
            .await
            .expect("login");

        // The 200 channels the server opened towards us were all refused.
        let said = server
            .lines
            .recv_timeout(Duration::from_secs(30))
            .expect("the server reports its channels");
        assert_eq!(said, "channels: 0 accepted, 200 refused");

        // Output without end: refused at the limit, long before the timeout, and what was
        // read stays near the limit.
        let before = rss();
        let started = Instant::now();
        let error = session
            .run("forever", None, 1 << 20, Duration::from_secs(30))
            .await
            .expect_err("endless output is refused");
        assert!(matches!(error, SshError::TooMuchOutput { .. }), "{error}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        // Let the server keep sending into the abandoned channel for a while: the flow
        // control window bounds what the client takes in.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let grown = rss().saturating_sub(before);
        assert!(grown < 64 << 20, "resident memory grew by {grown} bytes");

        // A byte at a time, forever: the command's timeout ends it, on time.
        let started = Instant::now();
        let error = session
            .run("drip", None, 1 << 20, Duration::from_secs(2))
            .await
            .expect_err("a command without end times out");
        assert!(matches!(error, SshError::CommandTimeout { .. }), "{error}");
        let took = started.elapsed();
        assert!(
            took >= Duration::from_secs(2) && took < Duration::from_secs(4),
            "{took:?}"
        );

        // The session still works for an honest command.
        let out = session
            .run("ok", None, 4096, Duration::from_secs(10))
            .await
            .expect("an honest command after all that");
        assert_eq!(out.stdout, b"ok\n");
        assert_eq!(out.status, Some(0));
        session.close().await;
    });
}
