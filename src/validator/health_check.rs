//! The health check of `sn27-v2.md` §4.5, run after a passing Proof-of-GPU test: for every
//! user port the miner announced, a small HTTP server ([`SERVER`]) is started inside the
//! container on the container port, must answer there within 15 s, and must then answer
//! `200` from this validator on the host port within 15 s. The servers are stopped
//! afterwards. The first port that fails fails the check.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::proof_of_gpu::Remote;

/// The server script, run with the container's `python3` (standard library only).
pub const SERVER: &str = include_str!("health_server.py");
const SERVER_PATH: &str = "/tmp/sn27-health-server.py";
/// How long each server answers before it exits by itself.
const SERVER_LIFETIME_SECS: u32 = 60;
/// Tries (1 s apart) for a port to answer, inside and from here (the reference's 15).
const TRIES: u32 = 15;
const PAUSE: Duration = Duration::from_secs(1);
/// Limit of one request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the check failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HealthFailure {
    #[error("{what}: {reason}")]
    Remote { what: String, reason: String },
    #[error("container port {inside} never answered inside the container")]
    NotServing { inside: u16 },
    #[error("host port {outside} (container port {inside}) never answered 200 from here: {last}")]
    Unreachable {
        inside: u16,
        outside: u16,
        last: String,
    },
}

/// Runs the check on `host` over `ports` (container port → host port). No ports: passes.
pub async fn check(
    remote: &dyn Remote,
    host: IpAddr,
    ports: &BTreeMap<u16, u16>,
) -> Result<(), HealthFailure> {
    if ports.is_empty() {
        return Ok(());
    }
    let result = serve_and_probe(remote, host, ports).await;
    // Stop the servers whatever happened; they also exit by themselves after a minute.
    let pids: Vec<String> = ports
        .keys()
        .map(|p| format!("/tmp/sn27-health-{p}.pid"))
        .collect();
    let stop = format!(
        "for f in {}; do [ -f \"$f\" ] && kill \"$(cat \"$f\")\" 2>/dev/null; rm -f \"$f\"; done; true",
        pids.join(" ")
    );
    let _ = remote.run(&stop, None, 4096, COMMAND_TIMEOUT).await;
    result
}

async fn serve_and_probe(
    remote: &dyn Remote,
    host: IpAddr,
    ports: &BTreeMap<u16, u16>,
) -> Result<(), HealthFailure> {
    run(
        remote,
        "upload",
        &format!("umask 022; cat > {SERVER_PATH}"),
        Some(SERVER.as_bytes()),
    )
    .await?;
    for inside in ports.keys() {
        run(
            remote,
            "start",
            &format!(
                "nohup python3 {SERVER_PATH} --port {inside} --timeout {SERVER_LIFETIME_SECS} \
                 >/dev/null 2>&1 &"
            ),
            None,
        )
        .await?;
    }
    for &inside in ports.keys() {
        let probe = format!(
            "python3 -c 'import urllib.request; \
             urllib.request.urlopen(\"http://127.0.0.1:{inside}/\", timeout=2)'"
        );
        let mut ready = false;
        for _ in 0..TRIES {
            let out = remote
                .run(&probe, None, 4096, COMMAND_TIMEOUT)
                .await
                .map_err(|reason| HealthFailure::Remote {
                    what: format!("probing container port {inside}"),
                    reason,
                })?;
            if out.status == Some(0) {
                ready = true;
                break;
            }
            tokio::time::sleep(PAUSE).await;
        }
        if !ready {
            return Err(HealthFailure::NotServing { inside });
        }
    }
    for (&inside, &outside) in ports {
        let addr = SocketAddr::new(host, outside);
        let mut last = String::new();
        let mut passed = false;
        for _ in 0..TRIES {
            match get_status(addr).await {
                Ok(200) => {
                    passed = true;
                    break;
                }
                Ok(status) => last = format!("HTTP {status}"),
                Err(e) => last = e,
            }
            tokio::time::sleep(PAUSE).await;
        }
        if !passed {
            return Err(HealthFailure::Unreachable {
                inside,
                outside,
                last,
            });
        }
    }
    Ok(())
}

async fn run(
    remote: &dyn Remote,
    what: &str,
    command: &str,
    stdin: Option<&[u8]>,
) -> Result<(), HealthFailure> {
    let out = remote
        .run(command, stdin, 4096, COMMAND_TIMEOUT)
        .await
        .map_err(|reason| HealthFailure::Remote {
            what: what.into(),
            reason,
        })?;
    if out.status != Some(0) {
        return Err(HealthFailure::Remote {
            what: what.into(),
            reason: format!(
                "exit status {:?}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(())
}

/// `GET /` on `addr` with HTTP/1.0; the status code of the answer.
pub async fn get_status(addr: SocketAddr) -> Result<u16, String> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let request = format!("GET / HTTP/1.0\r\nHost: {addr}\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut head = [0u8; 64];
        let mut len = 0;
        while len < head.len() {
            let n = stream
                .read(&mut head[len..])
                .await
                .map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            len += n;
        }
        status_of(&head[..len]).ok_or_else(|| "not an HTTP answer".to_string())
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("no answer within {REQUEST_TIMEOUT:?}"))?
}

/// The status code of an HTTP/1.x status line.
fn status_of(head: &[u8]) -> Option<u16> {
    let line = head.split(|&b| b == b'\r' || b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split(' ');
    parts.next().filter(|v| v.starts_with("HTTP/1."))?;
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(status_of(b"HTTP/1.0 200 OK\r\nServer: x"), Some(200));
        assert_eq!(status_of(b"HTTP/1.1 404 Not Found\r\n"), Some(404));
        assert_eq!(status_of(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(status_of(b""), None);
    }

    #[tokio::test]
    async fn a_closed_port_is_an_error_and_a_server_answers() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed = listener.local_addr().unwrap();
        drop(listener);
        assert!(get_status(closed).await.is_err());

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 256];
            let _ = socket.read(&mut buf).await;
            socket
                .write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 9\r\n\r\nHealth OK")
                .await
                .unwrap();
        });
        assert_eq!(get_status(addr).await, Ok(200));
    }
}
