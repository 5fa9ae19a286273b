//! Talking to systemd as a `Type=notify` service (the `sd_notify` protocol): `READY=1` once
//! serving, `STATUS=` lines with the current state, `WATCHDOG=1` while the service is alive,
//! `RELOADING=1`/`READY=1` around a reload, `STOPPING=1` on the way out.
//!
//! systemd passes the socket in `NOTIFY_SOCKET` (a path, or an abstract name starting with
//! `@`) and, with `WatchdogSec=`, the interval in `WATCHDOG_USEC` for the process in
//! `WATCHDOG_PID`. Outside systemd there is no socket and every call does nothing. A message
//! that cannot be sent is logged once; it never stops the service.

use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The notification socket of this process, if systemd gave one.
#[derive(Debug)]
pub struct Notifier {
    socket: Option<(UnixDatagram, String)>,
    warned: AtomicBool,
}

impl Notifier {
    /// From `NOTIFY_SOCKET`; without it (not under systemd), a notifier that does nothing.
    pub fn from_env() -> Notifier {
        let socket = std::env::var("NOTIFY_SOCKET")
            .ok()
            .filter(|s| !s.is_empty())
            .and_then(|path| UnixDatagram::unbound().ok().map(|s| (s, path)));
        Notifier {
            socket,
            warned: AtomicBool::new(false),
        }
    }

    /// Whether systemd is listening.
    pub fn active(&self) -> bool {
        self.socket.is_some()
    }

    /// Sends `state` (newline-separated `KEY=value` assignments).
    pub fn send(&self, state: &str) {
        let Some((socket, path)) = &self.socket else {
            return;
        };
        let sent = match path.strip_prefix('@') {
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
                    .and_then(|addr| socket.send_to_addr(state.as_bytes(), &addr))
            }
            None => socket.send_to(state.as_bytes(), path),
        };
        if let Err(error) = sent {
            if !self.warned.swap(true, Ordering::Relaxed) {
                tracing::warn!(%error, socket = %path, "cannot notify systemd");
            }
        }
    }

    /// The service is up.
    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={}", one_line(status)));
    }

    /// What the service is doing now (`systemctl status` shows it).
    pub fn status(&self, status: &str) {
        self.send(&format!("STATUS={}", one_line(status)));
    }

    /// Still alive.
    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }

    /// A reload (SIGHUP) begins; `ready` ends it.
    pub fn reloading(&self) {
        let monotonic = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
            .map(|t| t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1_000)
            .unwrap_or(0);
        self.send(&format!("RELOADING=1\nMONOTONIC_USEC={monotonic}"));
    }

    /// The service is stopping.
    pub fn stopping(&self) {
        self.send("STOPPING=1");
    }
}

/// How often systemd expects `WATCHDOG=1`, when it does (for this process).
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.parse::<u32>().ok()? != std::process::id() {
            return None;
        }
    }
    (usec > 0).then(|| Duration::from_micros(usec))
}

fn one_line(text: &str) -> String {
    text.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake systemd: a datagram socket in a temporary directory.
    #[test]
    fn messages_reach_the_socket_named_in_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        listener
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let notifier = Notifier {
            socket: Some((
                UnixDatagram::unbound().unwrap(),
                path.to_string_lossy().into_owned(),
            )),
            warned: AtomicBool::new(false),
        };
        notifier.ready("serving\non 8091");
        notifier.watchdog();
        notifier.stopping();
        let mut buffer = [0u8; 256];
        let mut received = Vec::new();
        for _ in 0..3 {
            let n = listener.recv(&mut buffer).unwrap();
            received.push(String::from_utf8_lossy(&buffer[..n]).into_owned());
        }
        assert_eq!(
            received,
            [
                "READY=1\nSTATUS=serving on 8091",
                "WATCHDOG=1",
                "STOPPING=1"
            ]
        );
    }

    #[test]
    fn without_systemd_nothing_is_sent() {
        let notifier = Notifier {
            socket: None,
            warned: AtomicBool::new(false),
        };
        assert!(!notifier.active());
        notifier.ready("x");
    }
}
